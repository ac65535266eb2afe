//! Typed configuration values that check themselves when read.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An IANA time zone such as `Europe/Berlin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

/// UTC.
impl Default for TimeZone {
    fn default() -> Self {
        TimeZone(chrono_tz::UTC)
    }
}

impl Serialize for TimeZone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        chrono_tz::Tz::from_str(text.trim()).map(TimeZone).map_err(|_| {
            serde::de::Error::custom(format!(
                "`{text}` is not an IANA time zone (expected e.g. UTC, Europe/Berlin, America/New_York)"
            ))
        })
    }
}

/// A cron expression (5 fields, or 6 with seconds), checked when read.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub expression: String,
    pub cron: croner::Cron,
}

impl Schedule {
    /// For built-in defaults, which are known to parse.
    pub(crate) fn new_unchecked(expression: &str) -> Self {
        match Self::parse(expression) {
            Ok(schedule) => schedule,
            Err(message) => panic!("built-in schedule is invalid: {message}"),
        }
    }

    pub fn parse(expression: &str) -> Result<Self, String> {
        croner::Cron::from_str(expression.trim())
            .map(|cron| Schedule {
                expression: expression.trim().to_string(),
                cron,
            })
            .map_err(|e| {
                format!(
                    "`{expression}` is not a cron expression ({e}); expected 5 fields `minute hour day-of-month month day-of-week`, e.g. `0 8 * * MON`"
                )
            })
    }
}

impl Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expression)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Schedule::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An e-mail address, checked for the shape `local@domain`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub(crate) fn new_unchecked(text: &str) -> Self {
        Email(text.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = String;

    /// Accepts `local@domain` with no spaces, commas or angle brackets.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let ok = match t.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !t.contains(|c: char| c.is_whitespace() || ",<>;\"".contains(c))
            }
            None => false,
        };
        if ok {
            Ok(Email(t.to_string()))
        } else {
            Err(format!(
                "`{text}` is not an e-mail address (expected name@example.com)"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 4217 currency code such as `USD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency("USD".into())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() == 3 && text.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{text}` is not a currency code (expected three capital letters, e.g. USD, EUR)"
            )))
        }
    }
}

/// RFC 1123 label: what a namespace name must be.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A Kubernetes label or annotation key: `[prefix/]name`.
pub fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    name_ok && prefix.is_none_or(is_dns_subdomain)
}

/// An HTTP header field name (RFC 9110 token, restricted to the usual characters).
pub fn is_header_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Labels a selector must not name: they pick namespaces, pods or containers rather than
/// a cluster's series, and a namespace without series would look unused.
const RESERVED_LABELS: [&str; 5] = ["namespace", "pod", "container", "__name__", "le"];

/// Checks `prometheus.selector`: label matchers as inside `{...}`, comma-separated, e.g.
/// `cluster="prod-eu", job="kubelet"`. Returns what is wrong, for the config error.
pub fn check_selector(text: &str) -> Result<(), String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Ok(());
    }
    if rest.starts_with('{') {
        return Err("write the matchers without braces".into());
    }
    loop {
        let name_len = rest
            .char_indices()
            .find(|(i, c)| {
                !(c.is_ascii_alphabetic() || *c == '_' || (*i > 0 && c.is_ascii_digit()))
            })
            .map_or(rest.len(), |(i, _)| i);
        let name = &rest[..name_len];
        if name.is_empty() {
            return Err(format!("expected a label name at `{rest}`"));
        }
        if RESERVED_LABELS.contains(&name) {
            return Err(format!(
                "`{name}` picks namespaces, pods or containers, not a cluster's series; \
                 a namespace left out would look unused"
            ));
        }
        rest = rest[name_len..].trim_start();
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(|| format!("expected =, !=, =~ or !~ after `{name}`"))?;
        rest = rest[op.len()..].trim_start();
        let Some(body) = rest.strip_prefix('"') else {
            return Err(format!("the value of `{name}` must be in double quotes"));
        };
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| format!("the value of `{name}` has no closing quote"))?;
        rest = body[end + 1..].trim_start();
        if rest.is_empty() {
            return Ok(());
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("expected a comma before `{rest}`"))?
            .trim_start();
        if rest.is_empty() {
            return Ok(());
        }
    }
}
