//! Is a namespace idle? Only positive evidence over the whole window says so.
//!
//! `idle` needs all of: the namespace is older than the window, metrics history reaches
//! back over the whole window without a gap, and both CPU and network are known and
//! stayed below their thresholds. Any signal above its threshold is `active`. Anything
//! else is `unknown`.

use super::usage::resolve;
use crate::core::config::Config;
use crate::core::model::{rfc3339, Observation};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Idle,
    Active,
    Unknown,
}

impl Verdict {
    /// The verdict's name, as serialized: in tables, CSV, metric labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Idle => "idle",
            Verdict::Active => "active",
            Verdict::Unknown => "unknown",
        }
    }
}

/// One signal's part in the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    /// `cpu` (cores) or `network` (bytes/s).
    pub signal: String,
    /// What was measured, e.g. "highest 5-minute CPU rate over 7d".
    pub statistic: String,
    pub value: Option<f64>,
    pub threshold: f64,
    /// `below`, `above` or `missing`.
    pub status: String,
    /// Why the value is missing, if it is.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Idleness {
    pub verdict: Verdict,
    /// The window the verdict speaks for starts here.
    pub since: DateTime<Utc>,
    pub evidence: Vec<Signal>,
    /// The verdict in one sentence.
    pub summary: String,
}

pub fn assess_idle(obs: &Observation, config: &Config, now: DateTime<Utc>) -> Idleness {
    let idle = &config.idle;
    let since = now - idle.window.as_delta();
    let workload = obs.workload.as_ref();
    let signal = |name: &str, statistic: String, value: Result<f64, String>, threshold: f64| {
        let (value, status, reason) = match value {
            Ok(v) if v < threshold => (Some(v), "below", None),
            Ok(v) => (Some(v), "above", None),
            Err(reason) => (None, "missing", Some(reason)),
        };
        Signal {
            signal: name.into(),
            statistic,
            value,
            threshold,
            status: status.into(),
            reason,
        }
    };
    let evidence = vec![
        signal(
            "cpu",
            format!("highest 5-minute CPU rate over {} (cores)", idle.window),
            resolve(&obs.usage.cpu_max_cores, workload),
            idle.cpu_threshold.0,
        ),
        signal(
            "network",
            format!(
                "highest 5-minute receive+transmit rate over {} (bytes/s)",
                idle.window
            ),
            resolve(&obs.usage.network_max_bytes_per_second, workload),
            idle.network_threshold.0,
        ),
    ];
    let active: Vec<&str> = evidence
        .iter()
        .filter(|s| s.status == "above")
        .map(|s| s.signal.as_str())
        .collect();
    let missing: Vec<&str> = evidence
        .iter()
        .filter(|s| s.status == "missing")
        .map(|s| s.signal.as_str())
        .collect();
    let (verdict, summary) = if !active.is_empty() {
        (
            Verdict::Active,
            format!(
                "active: {} above threshold in the last {}",
                active.join(" and "),
                idle.window
            ),
        )
    } else if obs.namespace.created_at > since {
        (
            Verdict::Unknown,
            format!(
                "unknown: created {}, less than the {} idle window ago",
                rfc3339(obs.namespace.created_at),
                idle.window
            ),
        )
    } else if !missing.is_empty() {
        (
            Verdict::Unknown,
            format!("unknown: no usable {} metrics", missing.join(" or ")),
        )
    } else {
        match obs.usage.history_since {
            Some(start) if start <= since => match obs.usage.history_missing {
                Some(missing) => (
                    Verdict::Unknown,
                    format!(
                        "unknown: no CPU metrics for {missing} of the {} window although its history reaches back further (a scrape gap inside the window)",
                        idle.window
                    ),
                ),
                None => (
                    Verdict::Idle,
                    format!(
                        "idle: CPU and network below thresholds for the whole {} window",
                        idle.window
                    ),
                ),
            },
            Some(start) => (
                Verdict::Unknown,
                format!(
                    "unknown: metrics history starts {}, inside the {} window",
                    rfc3339(start),
                    idle.window
                ),
            ),
            None => (
                Verdict::Unknown,
                format!(
                    "unknown: this namespace's metrics history does not reach back over the whole {} window",
                    idle.window
                ),
            ),
        }
    };
    Idleness {
        verdict,
        since,
        evidence,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::{utc, v, Ns};
    use crate::core::model::Span;

    fn verdict(ns: Ns) -> Idleness {
        assess_idle(&ns.build(), &Config::default(), utc("2026-11-21T12:00:00Z"))
    }

    #[test]
    fn each_verdict_is_named_as_serialized() {
        for verdict in [Verdict::Idle, Verdict::Active, Verdict::Unknown] {
            // Exhaustive: a new variant does not compile here until it is listed above.
            match verdict {
                Verdict::Idle | Verdict::Active | Verdict::Unknown => assert_eq!(
                    serde_json::to_value(verdict).unwrap(),
                    serde_json::Value::from(verdict.as_str())
                ),
            }
        }
    }

    #[test]
    fn a_gap_inside_the_window_is_unknown_and_says_how_much_is_missing() {
        let whole = verdict(Ns::new("n").unused());
        assert_eq!(whole.verdict, Verdict::Idle, "{}", whole.summary);
        let gap = verdict(Ns::new("n").unused().history_missing(Some(Span::hours(26))));
        assert_eq!(gap.verdict, Verdict::Unknown, "{}", gap.summary);
        assert!(
            gap.summary.contains("1d2h of the 7d window") && gap.summary.contains("scrape gap"),
            "{}",
            gap.summary
        );
        // What was measured is still shown.
        assert!(gap.evidence.iter().all(|s| s.status == "below"));
    }

    #[test]
    fn activity_seen_despite_a_gap_is_still_active() {
        let busy = verdict(
            Ns::new("n")
                .unused()
                .cpu(v(0.0), v(0.5))
                .history_missing(Some(Span::days(1))),
        );
        assert_eq!(busy.verdict, Verdict::Active, "{}", busy.summary);
    }
}
