//! How figures read for people: money, sums with unknown parts, times, durations,
//! cores, bytes, shares and Kubernetes quantities. One formatter per kind of figure, and
//! one way to write a value that is not known; the options say where outputs differ.

use crate::core::model::format_bytes;
use crate::core::model::Sum;
use chrono::{DateTime, TimeDelta, Utc};

/// A value that is not known, in words.
pub const UNKNOWN: &str = "unknown";

/// How a value that is not known is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// `unknown`: reports, `explain`, the CSV.
    Word,
    /// `?`: the narrow columns of `plan --output table`.
    Mark,
}

impl Unknown {
    pub fn as_str(self) -> &'static str {
        match self {
            Unknown::Word => UNKNOWN,
            Unknown::Mark => "?",
        }
    }
}

/// `v` as `show` writes it, or `unknown` as asked.
pub fn known<T>(v: Option<T>, unknown: Unknown, show: impl FnOnce(T) -> String) -> String {
    v.map_or_else(|| unknown.as_str().to_string(), show)
}

/// What an amount of money is counted over; it decides the decimals shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// Four decimals: `0.0766`.
    Hour,
    /// Two decimals: `55.92`.
    Month,
}

impl Per {
    pub fn decimals(self) -> usize {
        match self {
            Per::Hour => 4,
            Per::Month => 2,
        }
    }

    /// The unit after a currency: `/h`, `/month`.
    pub fn suffix(self) -> &'static str {
        match self {
            Per::Hour => "/h",
            Per::Month => "/month",
        }
    }
}

/// Money: `0.0766`, or with a unit: `0.0766 USD`, `0.0766 USD/h`.
pub fn money(v: f64, per: Per, unit: &str) -> String {
    let decimals = per.decimals();
    if unit.is_empty() {
        format!("{v:.decimals$}")
    } else {
        format!("{v:.decimals$} {unit}")
    }
}

/// [`money`] when it is known, else `unknown` as asked.
pub fn money_or(v: Option<f64>, per: Per, unit: &str, unknown: Unknown) -> String {
    known(v, unknown, |v| money(v, per, unit))
}

/// What a sum with some unknown values writes after its lower bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partial {
    /// `at least 1.2000 USD/h (2 of 5 unknown)`: the report's totals.
    Counted,
    /// `at least 1.2000 USD/h`: table cells, cards' notes, subjects, `report`'s summary.
    AtLeast,
}

/// A sum of money in `currency` per `per`: `5.6789 USD/h`; with unknown values a lower
/// bound, `at least …`; all unknown: `unknown`.
pub fn sum(s: &Sum, per: Per, currency: &str, partial: Partial) -> String {
    let unit = format!("{currency}{}", per.suffix());
    match (s.exact(), s.at_least(), partial) {
        (Some(v), _, _) => money(v, per, &unit),
        (None, Some(v), Partial::AtLeast) => format!("at least {}", money(v, per, &unit)),
        (None, Some(v), Partial::Counted) => format!(
            "at least {} ({} of {} unknown)",
            money(v, per, &unit),
            s.unknown,
            s.known + s.unknown
        ),
        (None, None, _) => UNKNOWN.into(),
    }
}

/// `3 days`, `1 day`.
pub fn plural<N: std::fmt::Display + PartialEq + From<u8>>(n: N, one: &str) -> String {
    let s = if n == N::from(1) { "" } else { "s" };
    format!("{n} {one}{s}")
}

/// A time in `zone`: `Mon 2026-11-23 09:00 CET`.
pub fn time(t: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    t.with_timezone(&zone)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

/// A date in `zone`: `2026-11-23`.
pub fn date(t: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    t.with_timezone(&zone).format("%Y-%m-%d").to_string()
}

/// How far `t` is ahead of `now`, rounded down: `in 2 days 3 hours`, `due now`.
pub fn until(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = t - now;
    if d <= TimeDelta::zero() {
        return "due now".into();
    }
    match (d.num_days(), d.num_hours() % 24) {
        (0, 0) => format!("in {}", plural(d.num_minutes().max(1), "minute")),
        (0, h) => format!("in {}", plural(h, "hour")),
        (days, 0) => format!("in {}", plural(days, "day")),
        (days, h) => format!("in {} {}", plural(days, "day"), plural(h, "hour")),
    }
}

/// CPU cores to the millicore: `0.360`.
pub fn cores(v: Option<f64>) -> String {
    known(v, Unknown::Word, |v| format!("{v:.3}"))
}

/// Bytes in binary units: `1.00 GiB`.
pub fn bytes(v: Option<f64>) -> String {
    known(v, Unknown::Word, format_bytes)
}

/// A ratio as a whole percentage: `0.456` is `46%`.
pub fn percent(v: Option<f64>) -> String {
    known(v, Unknown::Word, |v| format!("{:.0}%", v * 100.0))
}

/// CPU as a Kubernetes quantity, rounded up to the millicore: `360m`, or whole cores: `4`.
pub fn cpu_quantity(cores: f64) -> String {
    let milli = (cores * 1000.0).ceil().max(1.0);
    if milli % 1000.0 == 0.0 {
        format!("{}", milli / 1000.0)
    } else {
        format!("{milli}m")
    }
}

/// Memory as a Kubernetes quantity, rounded up to the MiB: `1080Mi`, or whole GiB: `8Gi`.
pub fn memory_quantity(bytes: f64) -> String {
    let mib = (bytes / (1024.0 * 1024.0)).ceil().max(1.0);
    if mib % 1024.0 == 0.0 {
        format!("{}Gi", mib / 1024.0)
    } else {
        format!("{mib}Mi")
    }
}

/// `text` with its first letter in upper case.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::utc;

    fn sum_of(values: &[Option<f64>]) -> Sum {
        let mut s = Sum::default();
        for v in values {
            s.add(*v);
        }
        s
    }

    #[test]
    fn money_has_the_decimals_of_its_period_and_its_unit_when_given() {
        assert_eq!(money(0.07661, Per::Hour, ""), "0.0766");
        assert_eq!(money(55.916, Per::Month, "USD"), "55.92 USD");
        assert_eq!(money(0.5, Per::Hour, "EUR/h"), "0.5000 EUR/h");
    }

    #[test]
    fn unknown_is_a_word_or_a_mark() {
        assert_eq!(
            known(None::<f64>, Unknown::Word, |v| v.to_string()),
            "unknown"
        );
        assert_eq!(known(None::<f64>, Unknown::Mark, |v| v.to_string()), "?");
        assert_eq!(known(Some(2), Unknown::Mark, |v| v.to_string()), "2");
    }

    #[test]
    fn sums_with_unknown_values_are_lower_bounds() {
        let partial = sum_of(&[Some(1.2), None]);
        assert_eq!(
            sum(&partial, Per::Hour, "USD", Partial::Counted),
            "at least 1.2000 USD/h (1 of 2 unknown)"
        );
        assert_eq!(
            sum(&partial, Per::Month, "USD", Partial::AtLeast),
            "at least 1.20 USD/month"
        );
        assert_eq!(
            sum(
                &sum_of(&[Some(1.0), Some(2.0)]),
                Per::Hour,
                "USD",
                Partial::Counted
            ),
            "3.0000 USD/h"
        );
        assert_eq!(
            sum(&sum_of(&[None]), Per::Hour, "USD", Partial::AtLeast),
            "unknown"
        );
    }

    #[test]
    fn until_rounds_down_to_the_largest_units() {
        let now = utc("2026-11-23T08:00:00Z");
        assert_eq!(until(utc("2026-11-23T08:00:00Z"), now), "due now");
        assert_eq!(until(utc("2026-11-23T08:00:20Z"), now), "in 1 minute");
        assert_eq!(until(utc("2026-11-23T10:30:00Z"), now), "in 2 hours");
        assert_eq!(until(utc("2026-11-24T08:00:00Z"), now), "in 1 day");
        assert_eq!(until(utc("2026-11-26T11:00:00Z"), now), "in 3 days 3 hours");
    }

    #[test]
    fn quantities_round_up() {
        assert_eq!(cpu_quantity(0.3601), "361m");
        assert_eq!(cpu_quantity(4.0), "4");
        assert_eq!(memory_quantity(8.0 * 1024.0 * 1024.0 * 1024.0), "8Gi");
        assert_eq!(memory_quantity(1.5 * 1024.0 * 1024.0), "2Mi");
    }
}
