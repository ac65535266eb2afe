//! Reads namespaces, pods, ResourceQuotas, PersistentVolumeClaims and PersistentVolumes
//! from the Kubernetes API. Secrets are never read (not even their names).
//!
//! Lists are paginated and each page is folded into per-namespace aggregates before the
//! next is fetched, so memory grows with the number of namespaces, not with the number of
//! pods or the size of their specs. PersistentVolumes are kept as one small entry each
//! (claim, reclaim policy, capacity) to join them to their claims.

use crate::core::model::{
    parse_quantity, NamespaceMeta, QuotaObservation, VolumeClaim, Volumes, Workload,
};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    Container, Namespace, PersistentVolume, PersistentVolumeClaim, Pod, ResourceQuota,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams, ObjectList};
use kube::Client;
use std::collections::{BTreeMap, HashMap};

/// Objects per list request.
pub const PAGE_SIZE: u32 = 500;

/// What the Kubernetes API said; pods and quotas may each have failed on their own.
#[derive(Debug)]
pub struct Inventory {
    pub namespaces: Vec<NamespaceMeta>,
    pub workloads: Result<HashMap<String, Workload>, String>,
    pub quotas: Result<HashMap<String, Vec<QuotaObservation>>, String>,
    /// PersistentVolumeClaims per namespace; namespaces without any are absent.
    pub volumes: Result<HashMap<String, Volumes>, String>,
    /// Why the PersistentVolumes could not be listed: claims are then known, but not the
    /// reclaim policy of the volumes they are bound to.
    pub persistent_volumes_error: Option<String>,
    /// Pods seen, whether or not they hold resources.
    pub pods_seen: usize,
    pub requests: u32,
}

/// Requests per namespace, folded in page by page.
#[derive(Default)]
struct Workloads(HashMap<String, Workload>);

/// Lists everything the assess stage needs. Fails only when namespaces cannot be listed.
///
/// `at` stands in for a missing creation time: the namespace then counts as brand new,
/// which can only delay an idle verdict or a TTL expiry, never hasten one.
pub async fn inventory(
    client: &Client,
    at: DateTime<Utc>,
    page_size: u32,
) -> Result<Inventory, kube::Error> {
    let mut lister = Lister {
        client,
        page_size,
        requests: 0,
    };
    let namespaces = lister.namespaces(at).await?;
    let (workloads, pods_seen) = lister.workloads().await;
    let quotas = lister.quotas().await;
    let (bound_to, persistent_volumes_error) = lister.bound_volumes().await;
    let volumes = lister.claims(&bound_to).await;
    Ok(Inventory {
        namespaces,
        workloads,
        quotas,
        volumes,
        persistent_volumes_error,
        pods_seen,
        requests: lister.requests,
    })
}

/// Lists one kind after another, page by page, counting the requests.
struct Lister<'a> {
    client: &'a Client,
    page_size: u32,
    requests: u32,
}

impl Lister<'_> {
    async fn each_page<K>(&mut self, fold: impl FnMut(ObjectList<K>)) -> Result<(), kube::Error>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api = Api::<K>::all(self.client.clone());
        paginate(&api, self.page_size, &mut self.requests, fold).await
    }

    async fn namespaces(&mut self, at: DateTime<Utc>) -> Result<Vec<NamespaceMeta>, kube::Error> {
        let mut namespaces = Vec::new();
        self.each_page(|page: ObjectList<Namespace>| {
            namespaces.extend(
                page.items
                    .into_iter()
                    .filter_map(|ns| namespace_meta(ns, at)),
            );
        })
        .await?;
        Ok(namespaces)
    }

    /// Requests per namespace, and how many pods were seen.
    async fn workloads(&mut self) -> (Result<HashMap<String, Workload>, String>, usize) {
        let mut workloads = Workloads::default();
        let mut pods_seen = 0;
        let listed = self
            .each_page(|page: ObjectList<Pod>| {
                pods_seen += page.items.len();
                for pod in page.items {
                    workloads.add(&pod);
                }
            })
            .await
            .map(|()| workloads.0)
            .map_err(|e| format!("cannot list pods: {e}"));
        (listed, pods_seen)
    }

    async fn quotas(&mut self) -> Result<HashMap<String, Vec<QuotaObservation>>, String> {
        let mut quotas: HashMap<String, Vec<QuotaObservation>> = HashMap::new();
        self.each_page(|page: ObjectList<ResourceQuota>| {
            for quota in page.items {
                if let Some(ns) = quota.metadata.namespace.clone() {
                    quotas
                        .entry(ns)
                        .or_default()
                        .push(quota_observation(&quota));
                }
            }
        })
        .await
        .map(|()| quotas)
        .map_err(|e| format!("cannot list resource quotas: {e}"))
    }

    /// PersistentVolumes by the claim they are bound to, and why they could not be
    /// listed, if they could not.
    async fn bound_volumes(&mut self) -> (HashMap<(String, String), BoundVolume>, Option<String>) {
        let mut bound_to: HashMap<(String, String), BoundVolume> = HashMap::new();
        let error = self
            .each_page(|page: ObjectList<PersistentVolume>| {
                for pv in page.items {
                    if let Some((claim, volume)) = bound_volume(pv) {
                        bound_to.insert(claim, volume);
                    }
                }
            })
            .await
            .err()
            .map(|e| format!("cannot list persistent volumes: {e}"));
        (bound_to, error)
    }

    async fn claims(
        &mut self,
        bound_to: &HashMap<(String, String), BoundVolume>,
    ) -> Result<HashMap<String, Volumes>, String> {
        let mut volumes: HashMap<String, Volumes> = HashMap::new();
        self.each_page(|page: ObjectList<PersistentVolumeClaim>| {
            for pvc in page.items {
                if let Some((ns, claim)) = volume_claim(&pvc, bound_to) {
                    volumes.entry(ns).or_default().add(claim);
                }
            }
        })
        .await
        .map(|()| volumes)
        .map_err(|e| format!("cannot list persistent volume claims: {e}"))
    }
}

async fn paginate<K>(
    api: &Api<K>,
    page_size: u32,
    requests: &mut u32,
    mut fold: impl FnMut(ObjectList<K>),
) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(page_size);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        *requests += 1;
        let page = api.list(&params).await?;
        token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        fold(page);
        if token.is_none() {
            return Ok(());
        }
    }
}

fn namespace_meta(ns: Namespace, at: DateTime<Utc>) -> Option<NamespaceMeta> {
    let meta = ns.metadata;
    Some(NamespaceMeta {
        name: meta.name?,
        uid: meta.uid.unwrap_or_default(),
        created_at: meta
            .creation_timestamp
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.0.as_second(), 0))
            .unwrap_or(at),
        labels: meta.labels.unwrap_or_default(),
        annotations: meta.annotations.unwrap_or_default(),
        deleting_since: meta
            .deletion_timestamp
            .map(|t| DateTime::<Utc>::from_timestamp(t.0.as_second(), 0).unwrap_or(at)),
    })
}

/// What a claim needs to know of the PersistentVolume it is bound to.
struct BoundVolume {
    claim_uid: Option<String>,
    reclaim_policy: Option<String>,
    bytes: Option<f64>,
    storage_class: Option<String>,
}

/// The claim (namespace, name) a PersistentVolume is bound to, by its `claimRef`.
fn bound_volume(pv: PersistentVolume) -> Option<((String, String), BoundVolume)> {
    let spec = pv.spec?;
    let claim = spec.claim_ref?;
    let volume = BoundVolume {
        claim_uid: claim.uid,
        reclaim_policy: spec.persistent_volume_reclaim_policy,
        bytes: storage(spec.capacity.as_ref()),
        storage_class: spec.storage_class_name,
    };
    Some(((claim.namespace?, claim.name?), volume))
}

/// A claim as a notice shows it, joined to its volume when one is bound to it (the
/// volume's `claimRef` names the claim, with its uid when set).
fn volume_claim(
    pvc: &PersistentVolumeClaim,
    bound_to: &HashMap<(String, String), BoundVolume>,
) -> Option<(String, VolumeClaim)> {
    let ns = pvc.metadata.namespace.clone()?;
    let name = pvc.metadata.name.clone()?;
    let status = pvc.status.as_ref();
    let bound = status.and_then(|s| s.phase.as_deref()) == Some("Bound");
    let volume = bound_to
        .get(&(ns.clone(), name.clone()))
        .filter(|v| v.claim_uid.is_none() || v.claim_uid == pvc.metadata.uid)
        .filter(|_| bound);
    let spec = pvc.spec.as_ref();
    let bytes = storage(status.and_then(|s| s.capacity.as_ref()))
        .or_else(|| volume.and_then(|v| v.bytes))
        .or_else(|| storage(spec.and_then(|s| s.resources.as_ref()?.requests.as_ref())));
    let claim = VolumeClaim {
        name,
        bound,
        bytes,
        storage_class: spec
            .and_then(|s| s.storage_class_name.clone())
            .or_else(|| volume.and_then(|v| v.storage_class.clone())),
        reclaim_policy: volume.and_then(|v| v.reclaim_policy.clone()),
    };
    Some((ns, claim))
}

fn storage(map: Option<&BTreeMap<String, Quantity>>) -> Option<f64> {
    map?.get("storage").and_then(|q| parse_quantity(&q.0).ok())
}

impl Workloads {
    /// Counts a pod that holds resources: every phase but Succeeded and Failed.
    fn add(&mut self, pod: &Pod) {
        let Some(ns) = pod.metadata.namespace.as_ref() else {
            return;
        };
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded") | Some("Failed")) {
            return;
        }
        let (cpu, memory) = pod_requests(pod);
        let w = self.0.entry(ns.clone()).or_insert(Workload {
            pods: 0,
            cpu_request_cores: 0.0,
            memory_request_bytes: 0.0,
        });
        w.pods += 1;
        w.cpu_request_cores += cpu;
        w.memory_request_bytes += memory;
    }
}

/// A pod's effective requests, as the scheduler counts them: the larger of the regular
/// init containers' peak and the long-running containers' sum (app containers plus
/// sidecar init containers), plus the pod overhead.
pub fn pod_requests(pod: &Pod) -> (f64, f64) {
    let Some(spec) = pod.spec.as_ref() else {
        return (0.0, 0.0);
    };
    let request = |c: &Container, name: &str| -> f64 {
        c.resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(name))
            .and_then(|q| parse_quantity(&q.0).ok())
            .unwrap_or(0.0)
    };
    let per = |name: &str| -> f64 {
        let inits = spec.init_containers.as_deref().unwrap_or_default();
        let sidecars: f64 = inits
            .iter()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"))
            .map(|c| request(c, name))
            .sum();
        let init_peak = inits
            .iter()
            .filter(|c| c.restart_policy.as_deref() != Some("Always"))
            .map(|c| request(c, name))
            .fold(0.0, f64::max);
        let app: f64 = spec.containers.iter().map(|c| request(c, name)).sum();
        let overhead = spec
            .overhead
            .as_ref()
            .and_then(|o| o.get(name))
            .and_then(|q| parse_quantity(&q.0).ok())
            .unwrap_or(0.0);
        (app + sidecars).max(init_peak + sidecars) + overhead
    };
    (per("cpu"), per("memory"))
}

fn quota_observation(quota: &ResourceQuota) -> QuotaObservation {
    let pick = |map: Option<&BTreeMap<String, Quantity>>, keys: [&str; 2]| {
        let map = map?;
        keys.iter()
            .find_map(|k| map.get(*k))
            .and_then(|q| parse_quantity(&q.0).ok())
    };
    let hard = quota.spec.as_ref().and_then(|s| s.hard.as_ref());
    let used = quota.status.as_ref().and_then(|s| s.used.as_ref());
    QuotaObservation {
        name: quota.metadata.name.clone().unwrap_or_default(),
        cpu_hard_cores: pick(hard, ["requests.cpu", "cpu"]),
        cpu_used_cores: pick(used, ["requests.cpu", "cpu"]),
        memory_hard_bytes: pick(hard, ["requests.memory", "memory"]),
        memory_used_bytes: pick(used, ["requests.memory", "memory"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn effective_requests_follow_scheduler_rules() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {
                "initContainers": [
                    {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
                    {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
                ],
                "containers": [
                    {"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}},
                    {"name": "log", "resources": {"requests": {"cpu": "250m"}}},
                    {"name": "none"}
                ],
                "overhead": {"cpu": "50m"}
            }
        }));
        let (cpu, memory) = pod_requests(&p);
        // CPU: max(0.5 + 0.25 + 0.1, 2 + 0.1) + 0.05; memory: max(256Mi + 64Mi, 1Gi + 64Mi).
        assert!((cpu - 2.15).abs() < 1e-9, "{cpu}");
        assert!(
            (memory - (1024.0 + 64.0) * 1024.0 * 1024.0).abs() < 1.0,
            "{memory}"
        );
    }

    #[test]
    fn only_pods_holding_resources_count() {
        let mut w = Workloads::default();
        for phase in ["Running", "Pending", "Succeeded", "Failed", "Unknown"] {
            w.add(&pod(serde_json::json!({
                "metadata": {"name": phase, "namespace": "n"},
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
                "status": {"phase": phase}
            })));
        }
        let n = &w.0["n"];
        assert_eq!(n.pods, 3);
        assert_eq!(n.cpu_request_cores, 3.0);
    }

    #[test]
    fn claims_are_joined_to_the_volume_bound_to_them() {
        let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pv-1"},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": "standard",
                "claimRef": {"namespace": "n", "name": "data", "uid": "u1"}
            }
        }))
        .unwrap();
        let bound_to: HashMap<_, _> = bound_volume(pv).into_iter().collect();
        let pvc = |name: &str, uid: &str, phase: &str| -> PersistentVolumeClaim {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "n", "uid": uid},
                "spec": {"resources": {"requests": {"storage": "1Gi"}}},
                "status": {"phase": phase}
            }))
            .unwrap()
        };
        let (ns, bound) = volume_claim(&pvc("data", "u1", "Bound"), &bound_to).unwrap();
        assert_eq!(ns, "n");
        assert!(bound.bound);
        assert_eq!(bound.bytes, Some(10.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(bound.storage_class.as_deref(), Some("standard"));
        assert_eq!(bound.reclaim_policy.as_deref(), Some("Delete"));
        // A claim of the same name recreated since (another uid) is not that volume's.
        let (_, other) = volume_claim(&pvc("data", "u2", "Pending"), &bound_to).unwrap();
        assert!(!other.bound);
        assert_eq!(other.bytes, Some(1024.0 * 1024.0 * 1024.0));
        assert_eq!(other.reclaim_policy, None);
    }

    #[test]
    fn quotas_read_requests_keys_or_their_short_forms() {
        let q: ResourceQuota = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "q", "namespace": "n"},
            "spec": {"hard": {"requests.cpu": "4", "memory": "8Gi", "pods": "10"}},
            "status": {"used": {"requests.cpu": "1500m", "memory": "2Gi"}}
        }))
        .unwrap();
        let o = quota_observation(&q);
        assert_eq!(o.cpu_hard_cores, Some(4.0));
        assert_eq!(o.cpu_used_cores, Some(1.5));
        assert_eq!(o.memory_hard_bytes, Some(8.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(o.memory_used_bytes, Some(2.0 * 1024.0 * 1024.0 * 1024.0));
    }
}
