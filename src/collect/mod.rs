//! The collect stage: the only place that reads the cluster and Prometheus. It returns
//! plain [`Observation`]s; whatever could not be read is marked unknown, with the reason
//! kept for the run's report.

pub mod kubernetes;
pub mod prometheus;

use crate::config::Config;
use crate::model::{Observation, Workload};
use chrono::{DateTime, Utc};
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
    fn new(requests: u32, problems: Vec<String>, total_failure: bool) -> Self {
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

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot list namespaces from the Kubernetes API: {0}")]
    Namespaces(#[source] kube::Error),
}

/// Reads the cluster and Prometheus as of `at`. Only a failure to list namespaces is an
/// error; any other failure leaves the affected values unknown and is reported in
/// [`Sources`].
pub async fn collect(
    config: &Config,
    client: &kube::Client,
    prometheus: Result<prometheus::Prometheus, String>,
    at: DateTime<Utc>,
) -> Result<Collected, CollectError> {
    let usage = async {
        match &prometheus {
            Ok(p) => p.collect(config, at).await,
            Err(reason) => prometheus::UsageCollection::unavailable(reason),
        }
    };
    let (inventory, usage) = tokio::join!(
        kubernetes::inventory(client, at, kubernetes::PAGE_SIZE),
        usage
    );
    let inventory = inventory.map_err(CollectError::Namespaces)?;
    Ok(merge(inventory, usage))
}

/// Joins the two sources per namespace.
pub fn merge(inventory: kubernetes::Inventory, usage: prometheus::UsageCollection) -> Collected {
    let mut k8s_problems = Vec::new();
    if let Err(e) = &inventory.workloads {
        k8s_problems.push(e.clone());
    }
    if let Err(e) = &inventory.quotas {
        k8s_problems.push(e.clone());
    }
    if let Err(e) = &inventory.volumes {
        k8s_problems.push(e.clone());
    }
    k8s_problems.extend(inventory.persistent_volumes_error.clone());
    let observations = inventory
        .namespaces
        .into_iter()
        .map(|namespace| {
            let workload = match &inventory.workloads {
                Ok(w) => Some(w.get(&namespace.name).copied().unwrap_or(Workload {
                    pods: 0,
                    cpu_request_cores: 0.0,
                    memory_request_bytes: 0.0,
                })),
                Err(_) => None,
            };
            let quotas = match &inventory.quotas {
                Ok(q) => Some(q.get(&namespace.name).cloned().unwrap_or_default()),
                Err(_) => None,
            };
            let volumes = match &inventory.volumes {
                Ok(v) => Some(v.get(&namespace.name).cloned().unwrap_or_default()),
                Err(_) => None,
            };
            Observation {
                usage: usage.usage_of(&namespace.name),
                namespace,
                workload,
                quotas,
                volumes,
            }
        })
        .collect();
    let all_failed = usage.all_failed();
    Collected {
        opencost: usage.opencost.clone(),
        observations,
        sources: Sources {
            kubernetes: SourceReport::new(inventory.requests, k8s_problems, false),
            prometheus: SourceReport::new(usage.queries, usage.problems.clone(), all_failed),
        },
        pods_seen: inventory.pods_seen,
    }
}
