//! What the collectors saw. Every field that comes from a source which can fail is
//! optional or a [`Sample`], so that "not known" can never be confused with "zero".

use super::Span;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// Identity and metadata of a namespace, as read from the Kubernetes API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamespaceMeta {
    pub name: String,
    pub uid: String,
    pub created_at: DateTime<Utc>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// When its deletion was requested (`deletionTimestamp`): it is Terminating, waiting
    /// for its finalizers. `None` for a namespace that is not being deleted.
    pub deleting_since: Option<DateTime<Utc>>,
}

/// Requests of the pods that hold resources (not Succeeded or Failed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Workload {
    pub pods: u32,
    pub cpu_request_cores: f64,
    pub memory_request_bytes: f64,
}

/// One ResourceQuota's `requests.cpu` / `requests.memory` (or `cpu` / `memory`) figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaObservation {
    pub name: String,
    pub cpu_hard_cores: Option<f64>,
    pub cpu_used_cores: Option<f64>,
    pub memory_hard_bytes: Option<f64>,
    pub memory_used_bytes: Option<f64>,
}

/// Claims shown one by one in a notice; the rest are only counted.
pub const VOLUME_CLAIMS_LISTED: usize = 20;

/// The PersistentVolumeClaims of a namespace: the data at rest that deleting it destroys.
/// Kept small whatever the number of claims: totals, and the first
/// [`VOLUME_CLAIMS_LISTED`] claims by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Volumes {
    pub claims: u32,
    /// Claims bound to a PersistentVolume (phase `Bound`).
    pub bound: u32,
    /// Sum of the claims' sizes (capacity when bound, else the request), bytes.
    pub bytes: f64,
    pub listed: Vec<VolumeClaim>,
}

/// One PersistentVolumeClaim, as a notice shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeClaim {
    pub name: String,
    pub bound: bool,
    /// Capacity when bound, else the request; `None` when neither can be read.
    pub bytes: Option<f64>,
    pub storage_class: Option<String>,
    /// The bound PersistentVolume's `persistentVolumeReclaimPolicy` (`Delete`, `Retain`);
    /// `None` when unbound or when the PersistentVolumes could not be listed.
    pub reclaim_policy: Option<String>,
}

impl Volumes {
    /// Counts one claim in; only the first few are kept by name.
    pub fn add(&mut self, claim: VolumeClaim) {
        self.claims += 1;
        self.bound += u32::from(claim.bound);
        self.bytes += claim.bytes.unwrap_or(0.0);
        if self.listed.len() < VOLUME_CLAIMS_LISTED {
            self.listed.push(claim);
        }
    }
}

/// One per-namespace statistic from Prometheus.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Sample {
    /// The query answered with a value for this namespace.
    Value { value: f64 },
    /// The query answered, but with no series for this namespace.
    NoSeries,
    /// The query failed or was not made; the reason is for humans.
    Unavailable { reason: String },
}

impl Sample {
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Sample::Unavailable {
            reason: reason.into(),
        }
    }
}

/// Usage statistics over the configured windows, each possibly missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// CPU cores at the configured quantile over the rightsizing window.
    pub cpu_quantile_cores: Sample,
    /// Highest CPU cores over the idle window.
    pub cpu_max_cores: Sample,
    /// Memory bytes by the configured statistic over the rightsizing window.
    pub memory_bytes: Sample,
    /// Highest network throughput (receive + transmit) over the idle window.
    pub network_max_bytes_per_second: Sample,
    /// How far back the metrics history reaches; `None` when unknown.
    pub history_since: Option<DateTime<Utc>>,
    /// How much of the idle window has no CPU series although the history reaches back
    /// over it (a scrape gap), beyond a small tolerance; `None` when no gap was found.
    pub history_missing: Option<Span>,
}

impl Usage {
    /// Usage when the metrics source could not be asked at all.
    pub fn unavailable(reason: &str) -> Self {
        Usage {
            cpu_quantile_cores: Sample::unavailable(reason),
            cpu_max_cores: Sample::unavailable(reason),
            memory_bytes: Sample::unavailable(reason),
            network_max_bytes_per_second: Sample::unavailable(reason),
            history_since: None,
            history_missing: None,
        }
    }
}

/// Everything collected about one namespace: the input of the assess stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub namespace: NamespaceMeta,
    /// `None` when the pods could not be listed.
    pub workload: Option<Workload>,
    /// `None` when the quotas could not be listed; empty when there are none.
    pub quotas: Option<Vec<QuotaObservation>>,
    /// `None` when the PersistentVolumeClaims could not be listed; empty when there are none.
    pub volumes: Option<Volumes>,
    pub usage: Usage,
}
