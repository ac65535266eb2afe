//! The only writer to the cluster: lifecycle annotations (guarded by resourceVersion),
//! events, tombstones, and the guarded deletion of a namespace; with the fresh read of a
//! namespace that each write is checked against.

use k8s_openapi::api::core::v1::{Event, Namespace, ObjectReference};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    Preconditions,
};
use kube::Client;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the namespace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
}

/// Why a write to the cluster (or the tombstone before a deletion) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Someone changed the namespace since it was read: re-read and re-plan, never overwrite.
    #[error("namespace {0} changed since it was read (resourceVersion conflict)")]
    Conflict(String),
    /// The namespace is gone or is another namespace under the same name.
    #[error("namespace {0} no longer exists, or was re-created under the same name")]
    Gone(String),
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
    #[error("cannot write the tombstone {path}: {source}")]
    Tombstone {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The namespace's objects would make a tombstone larger than the bound.
    #[error("the tombstone {path} would be larger than {limit} bytes: refused")]
    TombstoneTooLarge { path: String, limit: u64 },
}

fn classify(name: &str, e: kube::Error) -> WriteError {
    match &e {
        kube::Error::Api(s) if s.code == 409 => WriteError::Conflict(name.to_string()),
        kube::Error::Api(s) if s.code == 404 => WriteError::Gone(name.to_string()),
        _ => WriteError::Api(e),
    }
}

/// Kinds saved in a tombstone before a namespace is deleted. Never Secrets. Each needs
/// `list` in deploy/base/rbac.yaml (tests/e2e/deploy.rs checks).
pub fn tombstone_kinds() -> Vec<ApiResource> {
    use k8s_openapi::api::{apps, autoscaling, batch, core, networking, policy, rbac};
    vec![
        ApiResource::erase::<apps::v1::Deployment>(&()),
        ApiResource::erase::<apps::v1::StatefulSet>(&()),
        ApiResource::erase::<apps::v1::DaemonSet>(&()),
        ApiResource::erase::<batch::v1::CronJob>(&()),
        ApiResource::erase::<batch::v1::Job>(&()),
        ApiResource::erase::<core::v1::Pod>(&()),
        ApiResource::erase::<core::v1::ConfigMap>(&()),
        ApiResource::erase::<core::v1::Service>(&()),
        ApiResource::erase::<core::v1::ServiceAccount>(&()),
        ApiResource::erase::<core::v1::PersistentVolumeClaim>(&()),
        ApiResource::erase::<core::v1::ResourceQuota>(&()),
        ApiResource::erase::<core::v1::LimitRange>(&()),
        ApiResource::erase::<rbac::v1::Role>(&()),
        ApiResource::erase::<rbac::v1::RoleBinding>(&()),
        ApiResource::erase::<networking::v1::Ingress>(&()),
        ApiResource::erase::<networking::v1::NetworkPolicy>(&()),
        ApiResource::erase::<autoscaling::v2::HorizontalPodAutoscaler>(&()),
        ApiResource::erase::<policy::v1::PodDisruptionBudget>(&()),
    ]
}

/// Objects Kubernetes creates in every namespace by itself; not worth restoring.
fn generated(kind: &str, name: &str) -> bool {
    matches!(
        (kind, name),
        ("ServiceAccount", "default") | ("ConfigMap", "kube-root-ca.crt")
    )
}

/// The largest tombstone written (64 MiB); a namespace whose objects take more is not
/// deleted (README, "Tombstones").
pub const MAX_TOMBSTONE_BYTES: u64 = 64 * 1024 * 1024;

/// Objects per list request of the act stage: a ConfigMap may hold 1 MiB, so a tombstone's
/// page stays within a few tens of MiB whatever the namespace holds.
const PAGE_SIZE: u32 = 20;

/// API groups of custom resources: the built-in groups are the core group, groups
/// without a dot (`apps`, `batch`, ...) and groups under `k8s.io` or `kubernetes.io`
/// (which also hold aggregated APIs such as `metrics.k8s.io`).
fn custom_group(group: &str) -> bool {
    group.contains('.')
        && !["k8s.io", "kubernetes.io"]
            .iter()
            .any(|d| group == *d || group.ends_with(&format!(".{d}")))
}

/// A header line as one comment line: line breaks and other control characters become
/// spaces, so nothing a value holds can end the comment.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A tombstone being written: a private file that counts its bytes against the bound.
struct Partial {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
    limit: u64,
}

impl Partial {
    fn create(path: &Path, limit: u64) -> Result<Partial, WriteError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Partial::io(path, e))?;
        Ok(Partial {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
            written: 0,
            limit,
        })
    }

    fn io(path: &Path, source: std::io::Error) -> WriteError {
        WriteError::Tombstone {
            path: path.display().to_string(),
            source,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        use std::io::Write;
        self.written += bytes.len() as u64;
        if self.written > self.limit {
            return Err(WriteError::TombstoneTooLarge {
                path: self.path.display().to_string(),
                limit: self.limit,
            });
        }
        self.file
            .write_all(bytes)
            .map_err(|e| Partial::io(&self.path, e))
    }

    /// Appends one YAML document.
    fn document(&mut self, value: &serde_json::Value) -> Result<(), WriteError> {
        let mut yaml = serde_saphyr::to_string(value).map_err(|e| {
            Partial::io(
                &self.path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            )
        })?;
        if !yaml.ends_with('\n') {
            yaml.push('\n');
        }
        self.write(b"---\n")?;
        self.write(yaml.as_bytes())
    }

    /// Flushes and syncs the file, renames it to `path` and syncs the directory.
    fn finish(self, path: &Path) -> Result<(), WriteError> {
        let file = self
            .file
            .into_inner()
            .map_err(|e| Partial::io(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| Partial::io(&self.path, e))?;
        drop(file);
        std::fs::rename(&self.path, path).map_err(|e| Partial::io(path, e))?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Partial::io(dir, e))?;
        }
        Ok(())
    }
}

/// Where the apiserver accepts events about namespaces.
pub const EVENTS_NAMESPACE: &str = "default";

pub struct Cluster {
    client: Client,
    /// The size bound of a tombstone, in bytes.
    max_tombstone_bytes: u64,
}

impl Cluster {
    pub fn new(client: Client) -> Cluster {
        Cluster {
            client,
            max_tombstone_bytes: MAX_TOMBSTONE_BYTES,
        }
    }

    /// The same, with another size bound for tombstones than [`MAX_TOMBSTONE_BYTES`].
    pub fn with_max_tombstone_bytes(mut self, limit: u64) -> Cluster {
        self.max_tombstone_bytes = limit;
        self
    }

    fn namespaces(&self) -> Api<Namespace> {
        Api::all(self.client.clone())
    }

    /// The namespace as it is now, if it exists.
    pub async fn read(&self, name: &str) -> Result<Option<Namespace>, ReadError> {
        Ok(self.namespaces().get_opt(name).await?)
    }

    /// Sets (`Some`) or removes (`None`) annotations, only if the namespace still has
    /// `resource_version`.
    pub async fn annotate(
        &self,
        name: &str,
        resource_version: &str,
        annotations: &BTreeMap<String, Option<String>>,
    ) -> Result<(), WriteError> {
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": resource_version, "annotations": annotations}
        });
        self.namespaces()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|e| classify(name, e))
    }

    /// Records an event about a namespace. The apiserver keeps events about cluster-scoped
    /// objects in `default`: `kubectl events -n default --for namespace/NAME`.
    pub async fn event(
        &self,
        ns: &Namespace,
        reason: &str,
        message: &str,
        warning: bool,
    ) -> Result<(), WriteError> {
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff_now());
        let name = ns.metadata.name.clone().unwrap_or_default();
        let event = Event {
            metadata: kube::api::ObjectMeta {
                generate_name: Some(format!("{name}.kube-reclaimer.")),
                namespace: Some(EVENTS_NAMESPACE.to_string()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Namespace".into()),
                name: Some(name),
                uid: ns.metadata.uid.clone(),
                resource_version: ns.metadata.resource_version.clone(),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.chars().take(1024).collect()),
            type_: Some(if warning { "Warning" } else { "Normal" }.into()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            source: Some(k8s_openapi::api::core::v1::EventSource {
                component: Some("kube-reclaimer".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        Api::<Event>::namespaced(self.client.clone(), EVENTS_NAMESPACE)
            .create(&PostParams::default(), &event)
            .await
            .map(|_| ())
            .map_err(WriteError::Api)
    }

    /// Writes the namespace and its objects (never Secrets) as multi-document YAML into
    /// `dir`, so a team can re-create what it lost: the kinds of [`tombstone_kinds`] and
    /// the namespaced custom resources discovery finds. Objects are listed page by page
    /// and written as they come, never held all at once. The file is private (0600),
    /// synced to disk before it is renamed into place and the directory synced after;
    /// until then it is `*.yaml.partial`, removed on any failure. A tombstone that would
    /// exceed the size bound is refused ([`WriteError::TombstoneTooLarge`]): no tombstone,
    /// no deletion. Every line of `header` is written as a YAML comment. Returns the file.
    pub async fn tombstone(
        &self,
        ns: &Namespace,
        dir: &Path,
        header: &str,
    ) -> Result<PathBuf, WriteError> {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let uid = ns.metadata.uid.clone().unwrap_or_default();
        let io = |path: &Path, source| WriteError::Tombstone {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let path = dir.join(format!("{name}-{uid}-{stamp}.yaml"));
        let partial = path.with_extension("yaml.partial");
        let (custom, not_saved) = self.custom_kinds(&name).await;
        let mut file = Partial::create(&partial, self.max_tombstone_bytes)?;
        let written = async {
            for line in header.lines().chain(not_saved.iter().map(String::as_str)) {
                file.write(format!("# {}\n", one_line(line)).as_bytes())?;
            }
            file.document(&clean(serde_json::to_value(ns).unwrap_or_default()))?;
            for ar in tombstone_kinds().iter().chain(&custom) {
                self.save_kind(&name, ar, &mut file).await?;
            }
            file.finish(&path)
        }
        .await;
        if written.is_err() {
            // A partial tombstone is no tombstone.
            let _ = std::fs::remove_file(&partial);
        }
        written?;
        Ok(path)
    }

    /// Lists `ar` in `namespace` page by page, appending each object to `file`.
    async fn save_kind(
        &self,
        namespace: &str,
        ar: &ApiResource,
        file: &mut Partial,
    ) -> Result<(), WriteError> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, ar);
        each_listed(&api, |object| {
            let owned = object
                .metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| !o.is_empty());
            let object_name = object.metadata.name.clone().unwrap_or_default();
            if owned || generated(&ar.kind, &object_name) {
                return Ok(());
            }
            let mut value = serde_json::to_value(&object).unwrap_or_default();
            value["apiVersion"] = ar.api_version.clone().into();
            value["kind"] = ar.kind.clone().into();
            file.document(&clean(value))
        })
        .await
    }

    /// The namespaced custom resource kinds that support `list` and hold objects in
    /// `namespace` or may (discovery), and a line for each kind that cannot be saved.
    /// Listing a custom kind needs a grant the cluster's administrators give through the
    /// aggregated ClusterRole of deploy/base/rbac.yaml; a kind the daemon may not list
    /// (or whose API does not answer) is named in the tombstone's header as not saved.
    async fn custom_kinds(&self, namespace: &str) -> (Vec<ApiResource>, Vec<String>) {
        let discovery = match kube::discovery::Discovery::new(self.client.clone())
            .run_aggregated()
            .await
        {
            Ok(d) => Ok(d),
            Err(_) => {
                kube::discovery::Discovery::new(self.client.clone())
                    .run()
                    .await
            }
        };
        let discovery = match discovery {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "discovery failed: custom resources are not saved");
                return (
                    Vec::new(),
                    vec![format!(
                        "not saved: custom resources (discovery failed: {e})"
                    )],
                );
            }
        };
        let mut kinds = Vec::new();
        let mut not_saved = Vec::new();
        for group in discovery.groups() {
            if !custom_group(group.name()) {
                continue;
            }
            for (ar, caps) in group.recommended_resources() {
                let listable = caps.scope == kube::discovery::Scope::Namespaced
                    && caps.supports_operation(kube::discovery::verbs::LIST);
                if !listable || ar.kind == "Secret" {
                    continue;
                }
                // One object tells whether the daemon may list the kind here.
                let api: Api<DynamicObject> =
                    Api::namespaced_with(self.client.clone(), namespace, &ar);
                match api.list(&ListParams::default().limit(1)).await {
                    Ok(_) => kinds.push(ar),
                    Err(e) => {
                        let why = match &e {
                            kube::Error::Api(s) if s.code == 403 => {
                                "no permission to list them".to_string()
                            }
                            _ => e.to_string(),
                        };
                        tracing::warn!(namespace, kind = %ar.kind, group = %ar.group, %why,
                            "custom resources not saved in the tombstone");
                        not_saved.push(format!("not saved: {}.{} ({why})", ar.plural, ar.group));
                    }
                }
            }
        }
        (kinds, not_saved)
    }

    /// Deletes the namespace only if it is still the one with `uid`, unchanged since
    /// `resource_version`.
    pub async fn delete(
        &self,
        name: &str,
        uid: &str,
        resource_version: &str,
    ) -> Result<(), WriteError> {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: Some(resource_version.to_string()),
            }),
            ..DeleteParams::default()
        };
        match self.namespaces().delete(name, &params).await {
            Ok(_) => Ok(()),
            // A failed precondition is a 409: another namespace holds the name now, or
            // this one changed since it was read.
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {
                Err(WriteError::Gone(name.to_string()))
            }
            Err(e) => Err(WriteError::Api(e)),
        }
    }
}

/// The workloads sleep mode scales: listed (deploy/base/rbac.yaml), scaled through their
/// `scale` subresource (deploy/components/sleep).
pub fn scalable_kinds() -> [ApiResource; 2] {
    use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
    [
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<StatefulSet>(&()),
    ]
}

/// A scalable workload as listed: `Kind/name`, its replicas, and the replicas an earlier
/// version of the daemon recorded in an annotation on the workload itself, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub key: String,
    pub replicas: i32,
    pub legacy_record: Option<i32>,
}

impl Cluster {
    /// Every Deployment and StatefulSet in `namespace`, page by page. `legacy_annotation`
    /// is where earlier versions recorded the replicas on the workload.
    pub async fn workloads(
        &self,
        namespace: &str,
        legacy_annotation: &str,
    ) -> Result<Vec<Workload>, ReadError> {
        let mut out = Vec::new();
        for ar in scalable_kinds() {
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
            each_listed::<ReadError>(&api, |object| {
                let Some(name) = object.metadata.name.clone() else {
                    return Ok(());
                };
                // An unset spec.replicas means 1.
                let replicas = object.data["spec"]["replicas"]
                    .as_i64()
                    .and_then(|r| i32::try_from(r).ok())
                    .unwrap_or(1);
                let legacy_record = object
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(legacy_annotation))
                    .and_then(|v| v.trim().parse().ok());
                out.push(Workload {
                    key: format!("{}/{name}", ar.kind),
                    replicas,
                    legacy_record,
                });
                Ok(())
            })
            .await?;
        }
        Ok(out)
    }

    /// Sets the replicas of the workload `key` (`Kind/name`) through its `scale`
    /// subresource. A workload that is gone, or a key of no known kind, is `Ok(false)`.
    pub async fn scale(
        &self,
        namespace: &str,
        key: &str,
        replicas: i32,
    ) -> Result<bool, WriteError> {
        let Some((kind, name)) = key.split_once('/') else {
            return Ok(false);
        };
        let Some(ar) = scalable_kinds().into_iter().find(|ar| ar.kind == kind) else {
            return Ok(false);
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        match api
            .patch_scale(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(WriteError::Api(e)),
        }
    }
}

/// Lists every object of `api`, `PAGE_SIZE` at a time, handing each to `each` as its page
/// arrives (so a namespace's objects are never all held at once).
async fn each_listed<E: From<kube::Error>>(
    api: &Api<DynamicObject>,
    mut each: impl FnMut(DynamicObject) -> Result<(), E>,
) -> Result<(), E> {
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = api.list(&params).await?;
        for object in page.items {
            each(object)?;
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(());
        }
    }
}

fn jiff_now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

/// Drops what the server owns (status, uid, resourceVersion, managedFields, ...), so the
/// object can be applied again.
fn clean(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
        if let Some(meta) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for key in [
                "uid",
                "resourceVersion",
                "managedFields",
                "creationTimestamp",
                "generation",
                "selfLink",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.remove(key);
            }
        }
        if let Some(spec) = object.get_mut("spec").and_then(|s| s.as_object_mut()) {
            // A namespace's finalizers and a service's cluster IPs are the server's.
            for key in ["finalizers", "clusterIP", "clusterIPs"] {
                spec.remove(key);
            }
        }
    }
    value
}
