//! What one collection returned: the observations and how each source fared. Plain data.

use crate::core::model::Observation;
use serde::Serialize;

/// How each source fared in this run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sources {
    pub kubernetes: SourceReport,
    pub prometheus: SourceReport,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceReport {
    /// `ok`, `partial` (some data missing) or `unavailable`.
    pub status: String,
    /// Requests made (list pages, or PromQL queries with retries).
    pub requests: u32,
    pub problems: Vec<String>,
}

impl SourceReport {
    pub fn new(requests: u32, problems: Vec<String>, total_failure: bool) -> Self {
        let status = match (problems.is_empty(), total_failure) {
            (true, _) => "ok",
            (false, true) => "unavailable",
            (false, false) => "partial",
        };
        SourceReport {
            status: status.into(),
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
