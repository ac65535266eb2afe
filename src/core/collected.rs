//! What one collection returned: the observations and how each source fared. Plain data.

use crate::core::model::Observation;
use crate::core::query::{Series, Statistic};
use serde::Serialize;

/// How each source fared in this run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sources {
    pub kubernetes: SourceReport,
    pub prometheus: SourceReport,
    /// Per statistic, the series it was read from (raw or recorded) and why.
    pub prometheus_series: Vec<SeriesChoice>,
}

/// Which series one statistic was read from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesChoice {
    pub statistic: Statistic,
    /// `None`: no series could be used (`recording_rules: always` without the history).
    pub series: Option<Series>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceReport {
    pub status: SourceStatus,
    /// Requests made (list pages, or PromQL queries with retries).
    pub requests: u32,
    pub problems: Vec<String>,
}

/// How a source fared, as shown in logs, `plan` JSON, `explain` and the reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceStatus {
    #[default]
    Ok,
    /// Some data is missing.
    Partial,
    Unavailable,
}

impl SourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Ok => "ok",
            SourceStatus::Partial => "partial",
            SourceStatus::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for SourceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SourceReport {
    pub fn new(requests: u32, problems: Vec<String>, total_failure: bool) -> Self {
        let status = match (problems.is_empty(), total_failure) {
            (true, _) => SourceStatus::Ok,
            (false, true) => SourceStatus::Unavailable,
            (false, false) => SourceStatus::Partial,
        };
        SourceReport {
            status,
            requests,
            problems,
        }
    }
}

/// Everything one run observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Collected {
    pub observations: Vec<Observation>,
    /// OpenCost's prices (CPU per vCPU-hour, memory per GiB-hour), when asked for.
    pub opencost: Option<Result<(f64, f64), String>>,
    pub sources: Sources,
    pub pods_seen: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_status_is_named_as_serialized() {
        let all = [
            SourceStatus::Ok,
            SourceStatus::Partial,
            SourceStatus::Unavailable,
        ];
        for status in all {
            // Exhaustive: a new variant does not compile here until it is listed above.
            match status {
                SourceStatus::Ok | SourceStatus::Partial | SourceStatus::Unavailable => {
                    assert_eq!(
                        serde_json::to_value(status).unwrap(),
                        serde_json::Value::from(status.as_str())
                    )
                }
            }
        }
    }
}
