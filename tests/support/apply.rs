//! Putting a scenario (or a bulk benchmark) into the bed's apiserver with the kube client:
//! namespaces, ResourceQuotas, pods, then pod phases through the status subresource.
//! Everything runs with bounded concurrency; each request is retried (bounded) while the
//! apiserver cannot take it yet (the namespace's `default` ServiceAccount or a quota's
//! status not there yet, throttling, restarts).

use super::scenario::{quantity, Phase, Scenario};
use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Namespace, Pod, ResourceQuota};
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::json;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one object may take to be accepted, retries included.
const OBJECT_DEADLINE: Duration = Duration::from_secs(90);
/// Default number of requests in flight.
pub const CONCURRENCY: usize = 32;

/// A client for the bed's admin kubeconfig. It belongs to the Tokio runtime it is made in.
pub async fn client_from_kubeconfig(path: &Path) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("kubeconfig {} is not usable", path.display()))?;
    Client::try_from(config).context("cannot build the Kubernetes client")
}

/// A pod to create and the phase to give it.
#[derive(Debug, Clone)]
pub struct PodObject {
    pub pod: Pod,
    pub phase: Phase,
}

/// Everything to create, in dependency order.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub namespaces: Vec<Namespace>,
    pub quotas: Vec<ResourceQuota>,
    pub pods: Vec<PodObject>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyStats {
    pub namespaces: usize,
    pub quotas: usize,
    pub pods: usize,
    pub status_patches: usize,
    /// HTTP requests, retries included.
    pub requests: u64,
    pub namespaces_time: Duration,
    pub quotas_time: Duration,
    pub pods_time: Duration,
    pub status_time: Duration,
    pub elapsed: Duration,
}

/// The scenario's objects, placeholders expanded against `at`.
pub fn scenario_objects(scenario: &Scenario, at: DateTime<Utc>) -> Result<Objects> {
    let mut objects = Objects::default();
    for ns in &scenario.namespaces {
        objects.namespaces.push(serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns.name,
                "labels": ns.labels_at(at)?,
                "annotations": ns.annotations_at(at)?,
            }
        }))?);
        for q in &ns.quotas {
            objects.quotas.push(serde_json::from_value(json!({
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": { "name": q.name, "namespace": ns.name },
                "spec": { "hard": q.hard },
            }))?);
        }
    }
    for p in scenario.pods() {
        let containers: Vec<serde_json::Value> = p
            .spec
            .containers
            .iter()
            .map(|c| {
                let mut requests = serde_json::Map::new();
                if let Some(cpu) = &c.cpu_request {
                    quantity(cpu)?;
                    requests.insert("cpu".into(), json!(cpu));
                }
                if let Some(memory) = &c.memory_request {
                    quantity(memory)?;
                    requests.insert("memory".into(), json!(memory));
                }
                Ok(json!({
                    "name": c.name,
                    "image": c.image.clone().unwrap_or_else(|| format!("registry.local/{}:1.0", c.name)),
                    "resources": { "requests": requests },
                }))
            })
            .collect::<Result<_>>()?;
        objects.pods.push(PodObject {
            pod: pod_object(&p.namespace.name, &p.name, &p.spec.name, containers)?,
            phase: p.spec.phase,
        });
    }
    Ok(objects)
}

fn pod_object(
    namespace: &str,
    name: &str,
    app: &str,
    containers: Vec<serde_json::Value>,
) -> Result<Pod> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "namespace": namespace, "labels": { "app": app } },
        "spec": {
            "containers": containers,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
        }
    }))?)
}

pub fn bulk_namespace(n: usize) -> String {
    format!("bulk-{n:05}")
}

pub fn bulk_pod(p: usize) -> String {
    format!("pod-{p}")
}

/// `namespaces` namespaces `bulk-NNNNN` with `pods_per_namespace` Running pods each
/// (one container requesting 100m / 128Mi); one namespace in five has a ResourceQuota.
pub fn bulk_objects(namespaces: usize, pods_per_namespace: usize) -> Result<Objects> {
    let mut objects = Objects::default();
    for n in 0..namespaces {
        let ns = bulk_namespace(n);
        objects.namespaces.push(serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "labels": { "kube-reclaimer.io/team": format!("team-{}", n % 17) },
            }
        }))?);
        if n % 5 == 0 {
            objects.quotas.push(serde_json::from_value(json!({
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": { "name": "compute", "namespace": ns },
                "spec": { "hard": { "requests.cpu": "8", "requests.memory": "16Gi" } },
            }))?);
        }
        for p in 0..pods_per_namespace {
            let containers = vec![json!({
                "name": "app",
                "image": "registry.local/app:1.0",
                "resources": { "requests": { "cpu": "100m", "memory": "128Mi" } },
            })];
            objects.pods.push(PodObject {
                pod: pod_object(&ns, &bulk_pod(p), "app", containers)?,
                phase: Phase::Running,
            });
        }
    }
    Ok(objects)
}

/// Creates the scenario in the apiserver.
pub async fn apply_scenario(
    client: &Client,
    scenario: &Scenario,
    at: DateTime<Utc>,
) -> Result<ApplyStats> {
    apply(client, scenario_objects(scenario, at)?, CONCURRENCY).await
}

/// Creates the bulk benchmark's objects (e.g. 2 000 namespaces × 5 pods).
pub async fn create_bulk(
    client: &Client,
    namespaces: usize,
    pods_per_namespace: usize,
    concurrency: usize,
) -> Result<ApplyStats> {
    apply(
        client,
        bulk_objects(namespaces, pods_per_namespace)?,
        concurrency,
    )
    .await
}

/// Creates `objects` in order (namespaces, quotas, pods, pod phases), each stage with at
/// most `concurrency` requests in flight. Objects that already exist are left as they are.
pub async fn apply(client: &Client, objects: Objects, concurrency: usize) -> Result<ApplyStats> {
    let started = Instant::now();
    let requests = Arc::new(AtomicU64::new(0));
    let mut stats = ApplyStats {
        namespaces: objects.namespaces.len(),
        quotas: objects.quotas.len(),
        pods: objects.pods.len(),
        ..ApplyStats::default()
    };

    let t = Instant::now();
    let (c, r) = (client.clone(), requests.clone());
    for_each_bounded(objects.namespaces, concurrency, move |ns: Namespace| {
        let (c, r) = (c.clone(), r.clone());
        async move {
            let api: Api<Namespace> = Api::all(c);
            let name = ns.metadata.name.clone().unwrap_or_default();
            create(&api, &ns, &r)
                .await
                .with_context(|| format!("namespace {name}"))
        }
    })
    .await?;
    stats.namespaces_time = t.elapsed();

    let t = Instant::now();
    let (c, r) = (client.clone(), requests.clone());
    for_each_bounded(objects.quotas, concurrency, move |q: ResourceQuota| {
        let (c, r) = (c.clone(), r.clone());
        async move {
            let ns = q.metadata.namespace.clone().unwrap_or_default();
            let api: Api<ResourceQuota> = Api::namespaced(c, &ns);
            let name = q.metadata.name.clone().unwrap_or_default();
            create(&api, &q, &r)
                .await
                .with_context(|| format!("resourcequota {ns}/{name}"))
        }
    })
    .await?;
    stats.quotas_time = t.elapsed();

    let t = Instant::now();
    let (c, r) = (client.clone(), requests.clone());
    let pods = objects.pods;
    let to_patch: Vec<PodObject> = pods
        .iter()
        .filter(|p| p.phase != Phase::Pending)
        .cloned()
        .collect();
    stats.status_patches = to_patch.len();
    for_each_bounded(pods, concurrency, move |p: PodObject| {
        let (c, r) = (c.clone(), r.clone());
        async move {
            let ns = p.pod.metadata.namespace.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(c, &ns);
            let name = p.pod.metadata.name.clone().unwrap_or_default();
            create(&api, &p.pod, &r)
                .await
                .with_context(|| format!("pod {ns}/{name}"))
        }
    })
    .await?;
    stats.pods_time = t.elapsed();

    let t = Instant::now();
    let (c, r) = (client.clone(), requests.clone());
    for_each_bounded(to_patch, concurrency, move |p: PodObject| {
        let (c, r) = (c.clone(), r.clone());
        async move {
            let ns = p.pod.metadata.namespace.clone().unwrap_or_default();
            let name = p.pod.metadata.name.clone().unwrap_or_default();
            set_phase(&Api::namespaced(c, &ns), &name, p.phase, &r)
                .await
                .with_context(|| format!("status of pod {ns}/{name}"))
        }
    })
    .await?;
    stats.status_time = t.elapsed();

    stats.requests = requests.load(Ordering::Relaxed);
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// Sets a pod's phase through the status subresource (there is no kubelet to do it).
pub async fn set_phase(
    api: &Api<Pod>,
    name: &str,
    phase: Phase,
    requests: &AtomicU64,
) -> Result<()> {
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut status = json!({ "phase": phase.as_str(), "startTime": now });
    if phase == Phase::Running {
        status["conditions"] =
            json!([{ "type": "Ready", "status": "True", "lastTransitionTime": now }]);
    }
    let patch = json!({ "status": status });
    retrying(requests, || async {
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
    })
    .await
}

async fn create<K>(api: &Api<K>, object: &K, requests: &AtomicU64) -> Result<()>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    retrying(requests, || async {
        match api.create(&PostParams::default(), object).await {
            Ok(_) => Ok(()),
            // an earlier attempt went through after all, or the object was there
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    })
    .await
}

/// Retries what the apiserver may accept a moment later, until [`OBJECT_DEADLINE`].
async fn retrying<F, Fut>(requests: &AtomicU64, mut attempt: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), kube::Error>>,
{
    let deadline = Instant::now() + OBJECT_DEADLINE;
    let mut delay = Duration::from_millis(100);
    loop {
        requests.fetch_add(1, Ordering::Relaxed);
        let error = match attempt().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let transient = match &error {
            kube::Error::Api(s) => {
                let m = s.message.to_lowercase();
                matches!(s.code, 429 | 500 | 502 | 503 | 504)
                    // pods: the namespace's default ServiceAccount or a quota's status is
                    // not there yet
                    || (s.code == 403
                        && (m.contains("service account")
                            || m.contains("serviceaccount")
                            || m.contains("status unknown for quota")))
                    // namespace still being set up or torn down
                    || (s.code == 404 && m.contains("namespace"))
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => true,
            _ => false,
        };
        if !transient {
            return Err(anyhow!(error));
        }
        if Instant::now() + delay > deadline {
            bail!(
                "still failing after {}s: {error}",
                OBJECT_DEADLINE.as_secs()
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Runs `f` on every item with at most `concurrency` at once; the first error stops the
/// remaining items from starting and is returned.
pub async fn for_each_bounded<T, F, Fut>(items: Vec<T>, concurrency: usize, f: F) -> Result<()>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let workers = concurrency.max(1).min(items.len());
    let queue = Arc::new(Mutex::new(items.into_iter()));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (queue, f) = (queue.clone(), f.clone());
        set.spawn(async move {
            loop {
                let next = match queue.lock() {
                    Ok(mut q) => q.next(),
                    Err(_) => return Err(anyhow!("work queue poisoned")),
                };
                let Some(item) = next else { return Ok(()) };
                if let Err(e) = f(item).await {
                    // stop the others from taking more work
                    if let Ok(mut q) = queue.lock() {
                        for _ in q.by_ref() {}
                    }
                    return Err(e);
                }
            }
        });
    }
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        let result = joined
            .map_err(|e| anyhow!("worker task failed: {e}"))
            .and_then(|r| r);
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
