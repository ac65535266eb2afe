//! Builders for unit tests, integration tests and benches:
//! `Ns::new("team-a").created("2026-10-01T00:00:00Z").label(..)`.

use crate::core::model::{
    NamespaceMeta, Observation, QuotaObservation, Sample, Span, Usage, VolumeClaim, Workload,
};
use chrono::{DateTime, Utc};

pub fn utc(text: &str) -> DateTime<Utc> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => panic!("test time {text}: {e}"),
    }
}

pub const GIB: f64 = crate::core::model::GIB;

/// An observation under construction; defaults: created 2026-01-01, 2 pods requesting
/// 1 core and 2 GiB, using 0.5 cores (max 0.8) and 1 GiB, 50 kB/s network, metrics since
/// 2025-12-01.
pub struct Ns(pub Observation);

impl Ns {
    pub fn new(name: &str) -> Self {
        Ns(Observation {
            namespace: NamespaceMeta {
                name: name.into(),
                uid: format!("uid-{name}"),
                created_at: utc("2026-01-01T00:00:00Z"),
                labels: Default::default(),
                annotations: Default::default(),
                deleting_since: None,
            },
            workload: Some(Workload {
                pods: 2,
                cpu_request_cores: 1.0,
                memory_request_bytes: 2.0 * GIB,
            }),
            quotas: Some(vec![]),
            volumes: Some(Default::default()),
            usage: Usage {
                cpu_quantile_cores: Sample::Value { value: 0.5 },
                cpu_max_cores: Sample::Value { value: 0.8 },
                memory_bytes: Sample::Value { value: GIB },
                network_max_bytes_per_second: Sample::Value { value: 50_000.0 },
                history_since: Some(utc("2025-12-01T00:00:00Z")),
                history_missing: None,
            },
        })
    }
    pub fn created(mut self, at: &str) -> Self {
        self.0.namespace.created_at = utc(at);
        self
    }
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0.namespace.labels.insert(key.into(), value.into());
        self
    }
    /// Marks the lifecycle annotations as written by the daemon for this very namespace
    /// (`kube-reclaimer.io/uid` holds its uid).
    pub fn ours(self) -> Self {
        let uid = self.0.namespace.uid.clone();
        self.annotation("kube-reclaimer.io/uid", &uid)
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0
            .namespace
            .annotations
            .insert(key.into(), value.into());
        self
    }
    pub fn requests(mut self, pods: u32, cores: f64, bytes: f64) -> Self {
        self.0.workload = Some(Workload {
            pods,
            cpu_request_cores: cores,
            memory_request_bytes: bytes,
        });
        self
    }
    pub fn pods_unknown(mut self) -> Self {
        self.0.workload = None;
        self
    }
    pub fn cpu(mut self, quantile: Sample, max: Sample) -> Self {
        self.0.usage.cpu_quantile_cores = quantile;
        self.0.usage.cpu_max_cores = max;
        self
    }
    pub fn memory(mut self, sample: Sample) -> Self {
        self.0.usage.memory_bytes = sample;
        self
    }
    pub fn network(mut self, sample: Sample) -> Self {
        self.0.usage.network_max_bytes_per_second = sample;
        self
    }
    pub fn history_since(mut self, at: Option<&str>) -> Self {
        self.0.usage.history_since = at.map(utc);
        self
    }
    pub fn history_missing(mut self, missing: Option<Span>) -> Self {
        self.0.usage.history_missing = missing;
        self
    }
    pub fn prometheus_down(mut self) -> Self {
        self.0.usage = Usage::unavailable("connection refused");
        self
    }
    /// Zero usage on every signal: an idle namespace.
    pub fn unused(self) -> Self {
        self.cpu(v(0.0), v(0.001)).memory(v(50e6)).network(v(10.0))
    }
    pub fn quota(mut self, name: &str, cpu_hard: f64, mem_hard: f64) -> Self {
        let quota = QuotaObservation {
            name: name.into(),
            cpu_hard_cores: Some(cpu_hard),
            cpu_used_cores: None,
            memory_hard_bytes: Some(mem_hard),
            memory_used_bytes: None,
        };
        self.0.quotas.get_or_insert_with(Vec::new).push(quota);
        self
    }
    /// A PersistentVolumeClaim bound to a volume of `bytes` in `class` with `policy`.
    pub fn volume(mut self, name: &str, bytes: f64, class: &str, policy: &str) -> Self {
        self.0
            .volumes
            .get_or_insert_with(Default::default)
            .add(VolumeClaim {
                name: name.into(),
                bound: true,
                bytes: Some(bytes),
                storage_class: Some(class.into()),
                reclaim_policy: Some(policy.into()),
            });
        self
    }
    /// A PersistentVolumeClaim that no volume is bound to yet.
    pub fn pending_claim(mut self, name: &str, bytes: f64) -> Self {
        self.0
            .volumes
            .get_or_insert_with(Default::default)
            .add(VolumeClaim {
                name: name.into(),
                bound: false,
                bytes: Some(bytes),
                storage_class: None,
                reclaim_policy: None,
            });
        self
    }
    pub fn volumes_unknown(mut self) -> Self {
        self.0.volumes = None;
        self
    }
    /// Deletion requested at `at`; still Terminating.
    pub fn terminating(mut self, at: &str) -> Self {
        self.0.namespace.deleting_since = Some(utc(at));
        self
    }
    pub fn build(self) -> Observation {
        self.0
    }
}

pub fn v(value: f64) -> Sample {
    Sample::Value { value }
}
