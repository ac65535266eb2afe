//! Collect: reads the cluster and Prometheus (each through its reader in `io`) as of one
//! instant and joins them into plain [`Observation`]s; whatever could not be read is
//! marked unknown, with the reason kept for the run's report.

use crate::core::collected::{Collected, SourceReport, Sources};
use crate::core::config::Config;
use crate::core::model::{Observation, Workload};
use crate::io::{kubernetes, prometheus};
use chrono::{DateTime, Utc};

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
            prometheus_series: usage.series.clone(),
        },
        pods_seen: inventory.pods_seen,
    }
}
