//! Requests against real usage, and the ResourceQuota ledger.

use super::usage::resolve;
use crate::core::config::Config;
use crate::core::model::{Observation, QuotaObservation};
use serde::Serialize;

/// One resource (CPU in cores or memory in bytes): requested against used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sizing {
    pub requested: Option<f64>,
    pub used: Option<f64>,
    /// (requested − used) / requested; `None` when either is unknown or nothing is requested.
    pub gap: Option<f64>,
    /// gap > threshold and requested ≥ the noise floor.
    pub flagged: bool,
    /// used × (1 + headroom).
    pub recommended_request: Option<f64>,
    /// Why `used` is unknown, if it is.
    pub unknown_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rightsizing {
    pub cpu: Sizing,
    pub memory: Sizing,
}

/// One resource in the quota ledger; all quantities in base units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaLine {
    /// Tightest `hard` over the namespace's quotas, if any quota limits this resource.
    pub hard: Option<f64>,
    /// What the quota controller counts as used.
    pub quota_used: Option<f64>,
    pub requested: Option<f64>,
    pub used: Option<f64>,
    /// hard − requested: room left under the quota.
    pub slack: Option<f64>,
    /// used × (1 + headroom): a quota that fits the namespace once rightsized.
    pub recommended: Option<f64>,
    /// Broken expectations of used ≤ requested ≤ hard, in words.
    pub violations: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaLedger {
    /// Whether quotas could be listed at all.
    pub known: bool,
    pub quotas: Vec<String>,
    pub cpu: QuotaLine,
    pub memory: QuotaLine,
}

pub fn assess_rightsizing(obs: &Observation, config: &Config) -> Rightsizing {
    let r = &config.rightsizing;
    let workload = obs.workload.as_ref();
    let sizing = |requested: Option<f64>, used: Result<f64, String>, floor: f64| {
        let gap = match (requested, &used) {
            (Some(req), Ok(used)) if req > 0.0 => Some((req - used) / req),
            _ => None,
        };
        let flagged =
            matches!((gap, requested), (Some(g), Some(req)) if g > r.gap_threshold && req >= floor);
        Sizing {
            requested,
            used: used.as_ref().ok().copied(),
            gap,
            flagged,
            recommended_request: used.as_ref().ok().map(|u| u * (1.0 + r.headroom)),
            unknown_reason: used.err(),
        }
    };
    Rightsizing {
        cpu: sizing(
            workload.map(|w| w.cpu_request_cores),
            resolve(&obs.usage.cpu_quantile_cores, workload),
            r.min_cpu_request.0,
        ),
        memory: sizing(
            workload.map(|w| w.memory_request_bytes),
            resolve(&obs.usage.memory_bytes, workload),
            r.min_memory_request.0,
        ),
    }
}

pub fn assess_quota(obs: &Observation, sizing: &Rightsizing, config: &Config) -> QuotaLedger {
    let headroom = config.rightsizing.headroom;
    let quotas = obs.quotas.as_deref().unwrap_or_default();
    let line = |s: &Sizing,
                hard_of: fn(&QuotaObservation) -> Option<f64>,
                used_of: fn(&QuotaObservation) -> Option<f64>,
                show: fn(f64) -> String| {
        let hard = quotas.iter().filter_map(hard_of).reduce(f64::min);
        let quota_used = quotas.iter().filter_map(used_of).reduce(f64::max);
        let mut violations = Vec::new();
        if let (Some(used), Some(req)) = (s.used, s.requested) {
            if used > req {
                violations.push(format!(
                    "usage {} is above requests {}: pods use more than they reserve",
                    show(used),
                    show(req)
                ));
            }
        }
        if let (Some(req), Some(hard)) = (s.requested, hard) {
            if req > hard {
                violations.push(format!(
                    "requests {} are above the quota's hard limit {}",
                    show(req),
                    show(hard)
                ));
            }
        }
        QuotaLine {
            hard,
            quota_used,
            requested: s.requested,
            used: s.used,
            slack: hard.zip(s.requested).map(|(h, r)| h - r),
            recommended: s.used.map(|u| u * (1.0 + headroom)),
            violations,
        }
    };
    QuotaLedger {
        known: obs.quotas.is_some(),
        quotas: quotas.iter().map(|q| q.name.clone()).collect(),
        cpu: line(
            &sizing.cpu,
            |q| q.cpu_hard_cores,
            |q| q.cpu_used_cores,
            crate::core::model::format_cores,
        ),
        memory: line(
            &sizing.memory,
            |q| q.memory_hard_bytes,
            |q| q.memory_used_bytes,
            crate::core::model::format_bytes,
        ),
    }
}
