//! Human durations as written in labels and configuration: `30d`, `12h`, `1d12h`, `90m`.

use chrono::TimeDelta;
use std::fmt;
use std::str::FromStr;

/// A duration written as one or more `<number><unit>` parts, units `w d h m s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(i64);

/// A duration string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a duration (expected a whole number and a unit, e.g. 30d, 12h, 1d12h, 90m; units w d h m s)")]
pub struct SpanError {
    pub value: String,
}

impl Span {
    pub const fn seconds(seconds: i64) -> Self {
        Span(seconds)
    }
    pub const fn hours(hours: i64) -> Self {
        Span(hours * 3600)
    }
    pub const fn days(days: i64) -> Self {
        Span(days * 86_400)
    }
    pub fn as_seconds(self) -> i64 {
        self.0
    }
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::seconds(self.0)
    }
}

/// Upper bound on a single duration: a century is longer than any namespace should live.
const MAX_SECONDS: i64 = 100 * 366 * 86_400;

impl FromStr for Span {
    type Err = SpanError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || SpanError {
            value: text.to_string(),
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(err());
        }
        let mut total: i64 = 0;
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                'w' => 7 * 86_400,
                'd' => 86_400,
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return Err(err()),
            };
            if digits.is_empty() {
                return Err(err());
            }
            let n: i64 = digits.parse().map_err(|_| err())?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .filter(|v| *v <= MAX_SECONDS)
                .ok_or_else(err)?;
            digits.clear();
        }
        if !digits.is_empty() || total == 0 {
            return Err(err());
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    /// Writes the largest units first: `7d`, `1d12h`, `1h30m` (weeks print as days).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return write!(f, "0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_single_and_compound_durations() {
        let cases = [
            ("30d", 30 * 86_400),
            ("12h", 12 * 3600),
            ("90m", 90 * 60),
            ("45s", 45),
            ("2w", 14 * 86_400),
            ("1d12h", 36 * 3600),
            (" 7d ", 7 * 86_400),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                text.parse::<Span>().unwrap().as_seconds(),
                seconds,
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_malformed_durations() {
        for text in [
            "",
            "7",
            "d",
            "7x",
            "7 d",
            "-7d",
            "0d",
            "1.5d",
            "7dd",
            "999999999999w",
        ] {
            assert!(text.parse::<Span>().is_err(), "{text} should be refused");
        }
    }

    #[test]
    fn prints_what_it_reads() {
        for text in ["7d", "1d", "12h", "1d12h", "1m30s", "1h30m"] {
            assert_eq!(text.parse::<Span>().unwrap().to_string(), text);
        }
    }
}
