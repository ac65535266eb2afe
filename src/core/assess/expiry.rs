//! When a namespace expires, read from its labels and annotations.
//!
//! Keys are read in a fixed order and the first one present decides; a malformed value is
//! kept as a finding and never falls through to a lower key (the owner's intent is
//! unclear, so nothing is assumed):
//!
//! 1. annotation `expires` (RFC 3339 time, or a date)      4. annotation `janitor/expires`
//! 2. label `expires` (`YYYY-MM-DD`)                        5. annotation `janitor/ttl`
//! 3. label `ttl` (from creation, e.g. `30d`)               6. label `cleanup.kyverno.io/ttl`
//!
//! A date without a time means "valid through that day": it expires at the following
//! midnight in the configured time zone. `never` (or kube-janitor's `forever`) opts out.

use crate::core::config::Config;
use crate::core::model::{NamespaceMeta, Span};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;

/// Where an expiry value was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpirySource {
    /// `label` or `annotation`.
    pub kind: KeyKind,
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Label,
    Annotation,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Label => "label",
            KeyKind::Annotation => "annotation",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Expiry {
    /// No expiry key is set.
    None,
    /// The owner opted out of expiry and reclamation.
    Never { source: ExpirySource },
    At {
        at: DateTime<Utc>,
        source: ExpirySource,
    },
    /// A key is set but its value cannot be read. Never a reason to reclaim.
    Malformed { source: ExpirySource, error: String },
}

impl Expiry {
    pub fn at(&self) -> Option<DateTime<Utc>> {
        match self {
            Expiry::At { at, .. } => Some(*at),
            _ => None,
        }
    }

    pub fn opted_out(&self) -> bool {
        matches!(self, Expiry::Never { .. })
    }
}

/// How a key's value is read.
#[derive(Clone, Copy)]
enum Format {
    /// RFC 3339 time or date (our annotation).
    TimeOrDate,
    /// `YYYY-MM-DD` (our label).
    Date,
    /// Duration from creation (our TTL label).
    Ttl,
    /// kube-janitor's `janitor/expires`.
    JanitorExpires,
    /// kube-janitor's `janitor/ttl`.
    JanitorTtl,
    /// Kyverno's `cleanup.kyverno.io/ttl`.
    KyvernoTtl,
}

pub const JANITOR_EXPIRES: &str = "janitor/expires";
pub const JANITOR_TTL: &str = "janitor/ttl";
pub const KYVERNO_TTL: &str = "cleanup.kyverno.io/ttl";

/// Reads the expiry of `ns` as configured.
pub fn assess_expiry(ns: &NamespaceMeta, config: &Config) -> Expiry {
    let keys = &config.keys;
    let mut order: Vec<(KeyKind, &str, Format)> = vec![
        (KeyKind::Annotation, &keys.expires, Format::TimeOrDate),
        (KeyKind::Label, &keys.expires, Format::Date),
        (KeyKind::Label, &keys.ttl, Format::Ttl),
    ];
    if config.compatibility.kube_janitor {
        order.push((KeyKind::Annotation, JANITOR_EXPIRES, Format::JanitorExpires));
        order.push((KeyKind::Annotation, JANITOR_TTL, Format::JanitorTtl));
    }
    if config.compatibility.kyverno {
        order.push((KeyKind::Label, KYVERNO_TTL, Format::KyvernoTtl));
    }
    for (kind, key, format) in order {
        let map = match kind {
            KeyKind::Label => &ns.labels,
            KeyKind::Annotation => &ns.annotations,
        };
        let Some(value) = map.get(key) else { continue };
        let source = ExpirySource {
            kind,
            key: key.to_string(),
            value: value.clone(),
        };
        return match read(value.trim(), format, ns.created_at, config.time_zone.0) {
            Ok(Some(at)) => Expiry::At { at, source },
            Ok(None) => Expiry::Never { source },
            Err(error) => Expiry::Malformed { source, error },
        };
    }
    Expiry::None
}

/// `Ok(None)` is an opt-out.
fn read(
    value: &str,
    format: Format,
    created: DateTime<Utc>,
    zone: chrono_tz::Tz,
) -> Result<Option<DateTime<Utc>>, String> {
    let never = value.eq_ignore_ascii_case("never");
    let ttl = |v: &str| -> Result<Option<DateTime<Utc>>, String> {
        let span: Span = v
            .parse()
            .map_err(|e: crate::core::model::SpanError| e.to_string())?;
        Ok(Some(created + span.as_delta()))
    };
    match format {
        Format::TimeOrDate if never => Ok(None),
        Format::TimeOrDate => DateTime::parse_from_rfc3339(value)
            .map(|t| Some(t.with_timezone(&Utc)))
            .or_else(|_| date_end(value, zone).map(Some))
            .map_err(|_| {
                format!("`{value}` is not an RFC 3339 time (e.g. 2026-12-01T18:00:00Z) or a date (e.g. 2026-12-01), nor `never`")
            }),
        Format::Date if never => Ok(None),
        Format::Date => date_end(value, zone).map(Some).map_err(|_| {
            format!("`{value}` is not a date (expected YYYY-MM-DD, e.g. 2026-12-01) nor `never`")
        }),
        Format::Ttl if never => Ok(None),
        Format::Ttl => ttl(value),
        Format::JanitorExpires => DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M").map(|t| t.and_utc())
            })
            .or_else(|_| date_end(value, zone))
            .map(Some)
            .map_err(|_| {
                format!("`{value}` is not a kube-janitor expiry (2026-12-01T18:00:00Z, 2026-12-01T18:00 or 2026-12-01)")
            }),
        Format::JanitorTtl if value == "forever" => Ok(None),
        Format::JanitorTtl => ttl(value),
        Format::KyvernoTtl => NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H%M%SZ")
            .map(|t| Some(t.and_utc()))
            .or_else(|_| date_end(value, zone).map(Some))
            .or_else(|_| ttl(value))
            .map_err(|_| {
                format!("`{value}` is not a Kyverno TTL (a duration such as 4h or 1d, 2026-12-01T180000Z, or 2026-12-01)")
            }),
    }
}

/// The first instant after `date` in `zone`: a date label is valid through that day.
fn date_end(value: &str, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, ()> {
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| ())?;
    let next = date.succ_opt().ok_or(())?.and_hms_opt(0, 0, 0).ok_or(())?;
    // Midnight can be skipped or repeated by a daylight-saving change; take the earliest
    // instant at or after it.
    let local = zone
        .from_local_datetime(&next)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(next + chrono::TimeDelta::hours(1)))
                .earliest()
        })
        .ok_or(())?;
    Ok(local.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn each_key_kind_is_named_as_serialized() {
        for kind in [KeyKind::Label, KeyKind::Annotation] {
            // Exhaustive: a new variant does not compile here until it is listed above.
            match kind {
                KeyKind::Label | KeyKind::Annotation => assert_eq!(
                    serde_json::to_value(kind).unwrap(),
                    serde_json::Value::from(kind.as_str())
                ),
            }
        }
    }

    fn ns(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> NamespaceMeta {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        NamespaceMeta {
            name: "team-a".into(),
            uid: "uid-1".into(),
            created_at: utc("2026-11-01T10:00:00Z"),
            labels: map(labels),
            annotations: map(annotations),
            deleting_since: None,
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    const EXPIRES: &str = "kube-reclaimer.io/expires";
    const TTL: &str = "kube-reclaimer.io/ttl";

    #[test]
    fn each_key_and_format_gives_the_expected_instant() {
        let cases: Vec<(&str, NamespaceMeta, &str)> = vec![
            (
                "date label is valid through the day",
                ns(&[(EXPIRES, "2026-12-01")], &[]),
                "2026-12-02T00:00:00Z",
            ),
            (
                "annotation with a full time",
                ns(&[], &[(EXPIRES, "2026-12-01T18:30:00+01:00")]),
                "2026-12-01T17:30:00Z",
            ),
            (
                "annotation with a date",
                ns(&[], &[(EXPIRES, "2026-12-01")]),
                "2026-12-02T00:00:00Z",
            ),
            (
                "ttl label from creation",
                ns(&[(TTL, "30d")], &[]),
                "2026-12-01T10:00:00Z",
            ),
            (
                "ttl label in hours",
                ns(&[(TTL, "12h")], &[]),
                "2026-11-01T22:00:00Z",
            ),
            (
                "janitor expires time",
                ns(&[], &[(JANITOR_EXPIRES, "2026-12-01T09:26:14Z")]),
                "2026-12-01T09:26:14Z",
            ),
            (
                "janitor expires minutes",
                ns(&[], &[(JANITOR_EXPIRES, "2026-12-01T09:26")]),
                "2026-12-01T09:26:00Z",
            ),
            (
                "janitor expires date",
                ns(&[], &[(JANITOR_EXPIRES, "2026-12-01")]),
                "2026-12-02T00:00:00Z",
            ),
            (
                "janitor ttl",
                ns(&[], &[(JANITOR_TTL, "2w")]),
                "2026-11-15T10:00:00Z",
            ),
            (
                "kyverno ttl duration",
                ns(&[(KYVERNO_TTL, "1d")], &[]),
                "2026-11-02T10:00:00Z",
            ),
            (
                "kyverno ttl time",
                ns(&[(KYVERNO_TTL, "2026-12-01T183000Z")], &[]),
                "2026-12-01T18:30:00Z",
            ),
            (
                "kyverno ttl date",
                ns(&[(KYVERNO_TTL, "2026-12-01")], &[]),
                "2026-12-02T00:00:00Z",
            ),
        ];
        let config = Config::default();
        for (rule, namespace, expected) in cases {
            let expiry = assess_expiry(&namespace, &config);
            assert_eq!(expiry.at(), Some(utc(expected)), "{rule}: {expiry:?}");
        }
    }

    #[test]
    fn precedence_annotation_then_label_then_ttl_then_compatibility_keys() {
        let config = Config::default();
        let all = ns(
            &[(EXPIRES, "2026-12-05"), (TTL, "1d"), (KYVERNO_TTL, "1h")],
            &[(EXPIRES, "2026-12-10T00:00:00Z"), (JANITOR_TTL, "1h")],
        );
        let e = assess_expiry(&all, &config);
        assert_eq!(e.at(), Some(utc("2026-12-10T00:00:00Z")));
        let label_and_ttl = ns(&[(EXPIRES, "2026-12-05"), (TTL, "1d")], &[]);
        assert_eq!(
            assess_expiry(&label_and_ttl, &config).at(),
            Some(utc("2026-12-06T00:00:00Z"))
        );
        let ttl_and_janitor = ns(&[(TTL, "1d")], &[(JANITOR_EXPIRES, "2026-11-01")]);
        assert_eq!(
            assess_expiry(&ttl_and_janitor, &config).at(),
            Some(utc("2026-11-02T10:00:00Z"))
        );
    }

    #[test]
    fn never_and_forever_opt_out() {
        let config = Config::default();
        for namespace in [
            ns(&[(EXPIRES, "never")], &[]),
            ns(&[], &[(EXPIRES, "Never")]),
            ns(&[(TTL, "never")], &[]),
            ns(&[], &[(JANITOR_TTL, "forever")]),
            ns(&[(EXPIRES, "never"), (TTL, "1d")], &[]),
        ] {
            assert!(
                assess_expiry(&namespace, &config).opted_out(),
                "{namespace:?}"
            );
        }
    }

    #[test]
    fn malformed_values_are_findings_and_do_not_fall_through() {
        let config = Config::default();
        let cases = [
            ns(&[(EXPIRES, "2026-13-01")], &[]),
            ns(&[(EXPIRES, "next-week")], &[(JANITOR_TTL, "1d")]),
            ns(&[(EXPIRES, "12-01-2026")], &[]),
            ns(&[(TTL, "30 days")], &[]),
            ns(&[], &[(EXPIRES, "2026-12-01 18:00")]),
            ns(&[(KYVERNO_TTL, "tomorrow")], &[]),
            ns(&[], &[(JANITOR_EXPIRES, "soon")]),
        ];
        for namespace in cases {
            match assess_expiry(&namespace, &config) {
                Expiry::Malformed { source, error } => {
                    assert!(
                        error.contains(&source.value),
                        "error names the value: {error}"
                    );
                }
                other => panic!("{namespace:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn compatibility_keys_are_ignored_when_switched_off() {
        let mut config = Config::default();
        config.compatibility.kube_janitor = false;
        config.compatibility.kyverno = false;
        let namespace = ns(&[(KYVERNO_TTL, "1d")], &[(JANITOR_TTL, "1d")]);
        assert_eq!(assess_expiry(&namespace, &config), Expiry::None);
    }

    #[test]
    fn date_labels_end_at_midnight_in_the_configured_zone() {
        let mut config = Config::default();
        config.time_zone.0 = chrono_tz::Europe::Berlin;
        let e = assess_expiry(&ns(&[(EXPIRES, "2026-12-01")], &[]), &config);
        assert_eq!(e.at(), Some(utc("2026-12-01T23:00:00Z")));
        // Summer time: UTC+2.
        let e = assess_expiry(&ns(&[(EXPIRES, "2026-07-01")], &[]), &config);
        assert_eq!(e.at(), Some(utc("2026-07-01T22:00:00Z")));
    }

    #[test]
    fn a_namespace_without_keys_has_no_expiry() {
        let e = assess_expiry(&ns(&[("app", "web")], &[]), &Config::default());
        assert_eq!(e, Expiry::None);
    }
}
