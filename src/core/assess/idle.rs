//! Is a namespace idle? Only positive evidence over the whole window says so.
//!
//! `idle` needs all of: the namespace is older than the window, metrics history reaches
//! back over the whole window without a gap, and both CPU and network are known and
//! stayed below their thresholds. Any signal above its threshold is `active`. Anything
//! else is `unknown`.

use super::usage::resolve;
use crate::core::config::Config;
use crate::core::model::{rfc3339, Observation, Span};
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
    /// Every verdict, in the order `/metrics` lists them.
    pub const ALL: [Verdict; 3] = [Verdict::Idle, Verdict::Active, Verdict::Unknown];

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

/// Idle, active or unknown over `idle.window` up to `now`, with the evidence.
pub fn assess_idle(obs: &Observation, config: &Config, now: DateTime<Utc>) -> Idleness {
    let idle = &config.idle;
    let since = now - idle.window.as_delta();
    let evidence = evidence(obs, config);
    let (verdict, summary) = verdict(obs, &evidence, since, idle.window);
    Idleness {
        verdict,
        since,
        evidence,
        summary,
    }
}

/// CPU and network, each against its threshold.
fn evidence(obs: &Observation, config: &Config) -> Vec<Signal> {
    let idle = &config.idle;
    let workload = obs.workload.as_ref();
    vec![
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
    ]
}

fn signal(name: &str, statistic: String, value: Result<f64, String>, threshold: f64) -> Signal {
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
}

/// The names of the signals with `status`.
fn with_status<'a>(evidence: &'a [Signal], status: &str) -> Vec<&'a str> {
    evidence
        .iter()
        .filter(|s| s.status == status)
        .map(|s| s.signal.as_str())
        .collect()
}

/// Any signal above its threshold is active; a namespace younger than the window, or
/// a missing signal, is unknown; otherwise the metrics history decides.
fn verdict(
    obs: &Observation,
    evidence: &[Signal],
    since: DateTime<Utc>,
    window: Span,
) -> (Verdict, String) {
    let active = with_status(evidence, "above");
    let missing = with_status(evidence, "missing");
    if !active.is_empty() {
        (
            Verdict::Active,
            format!(
                "active: {} above threshold in the last {window}",
                active.join(" and "),
            ),
        )
    } else if obs.namespace.created_at > since {
        (
            Verdict::Unknown,
            format!(
                "unknown: created {}, less than the {window} idle window ago",
                rfc3339(obs.namespace.created_at),
            ),
        )
    } else if !missing.is_empty() {
        (
            Verdict::Unknown,
            format!("unknown: no usable {} metrics", missing.join(" or ")),
        )
    } else {
        history_verdict(obs, since, window)
    }
}

/// Every signal below its threshold: idle only if the metrics history covers the whole
/// window without a gap.
fn history_verdict(obs: &Observation, since: DateTime<Utc>, window: Span) -> (Verdict, String) {
    match obs.usage.history_since {
        Some(start) if start <= since => match obs.usage.history_missing {
            Some(missing) => (
                Verdict::Unknown,
                format!(
                    "unknown: no CPU metrics for {missing} of the {window} window although its history reaches back further (a scrape gap inside the window)",
                ),
            ),
            None => (
                Verdict::Idle,
                format!(
                    "idle: CPU and network below thresholds for the whole {window} window",
                ),
            ),
        },
        Some(start) => (
            Verdict::Unknown,
            format!(
                "unknown: metrics history starts {}, inside the {window} window",
                rfc3339(start),
            ),
        ),
        None => (
            Verdict::Unknown,
            format!(
                "unknown: this namespace's metrics history does not reach back over the whole {window} window",
            ),
        ),
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
        for verdict in Verdict::ALL {
            // Exhaustive: a new variant does not compile here until it is named; list it
            // in `Verdict::ALL` too.
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
