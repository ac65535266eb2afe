//! The sections of the configuration file: one struct per top-level key, each with its
//! built-in defaults (the values `config/kube-reclaimer.yaml` documents).

use super::{Currency, Email, LabelSelector, Schedule};
use crate::core::model::{Quantity, Span};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Label and annotation keys a team uses on its namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Keys {
    /// Label `YYYY-MM-DD`, or annotation RFC 3339 time; the value `never` opts out.
    pub expires: String,
    /// Label: lifetime counted from the namespace's creation, e.g. `30d`.
    pub ttl: String,
    /// Label: the owning team.
    pub team: String,
    /// Annotation: comma-separated owner e-mail addresses.
    pub owner_email: String,
    /// Prefix of the annotations that hold the lifecycle state.
    pub state_prefix: String,
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            expires: "kube-reclaimer.io/expires".into(),
            ttl: "kube-reclaimer.io/ttl".into(),
            team: "kube-reclaimer.io/team".into(),
            owner_email: "kube-reclaimer.io/owner-email".into(),
            state_prefix: "kube-reclaimer.io/".into(),
        }
    }
}

/// Expiry keys of other tools, read so that teams can migrate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Compatibility {
    /// kube-janitor's `janitor/ttl` and `janitor/expires` annotations.
    pub kube_janitor: bool,
    /// Kyverno's `cleanup.kyverno.io/ttl` label.
    pub kyverno: bool,
}

impl Default for Compatibility {
    fn default() -> Self {
        Compatibility {
            kube_janitor: true,
            kyverno: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Owners {
    /// Team name (the team label's value) to its e-mail addresses.
    pub teams: BTreeMap<String, Vec<Email>>,
    /// Who hears about namespaces with no owner e-mail and no known team.
    pub fallback_recipients: Vec<Email>,
    /// Domains the owner-email annotation may name (each also allows its subdomains);
    /// empty: any domain.
    pub allowed_domains: Vec<String>,
    /// An owner-email annotation with more distinct addresses than this is not used.
    pub max_recipients: u32,
}

impl Default for Owners {
    fn default() -> Self {
        Owners {
            teams: BTreeMap::new(),
            fallback_recipients: Vec::new(),
            allowed_domains: Vec::new(),
            max_recipients: 5,
        }
    }
}

/// Kubernetes' own namespaces: always protected, whatever `protection.namespaces` says.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["kube-system", "kube-public", "kube-node-lease", "default"];

/// Idle thresholds and windows outside these bounds are refused: a threshold above them
/// calls busy namespaces idle, a window below them calls a quiet night idle.
pub const MAX_IDLE_CPU_CORES: f64 = 0.5;
pub const MAX_IDLE_NETWORK_BYTES_PER_SECOND: f64 = 100.0 * 1024.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protection {
    /// Names or globs (`*`, `?`) of namespaces never acted on, in addition to
    /// [`SYSTEM_NAMESPACES`] and `own_namespace`.
    pub namespaces: Vec<String>,
    /// Namespaces whose labels match this selector are never acted on.
    pub selector: Option<LabelSelector>,
}

impl Default for Protection {
    fn default() -> Self {
        Protection {
            namespaces: Vec::new(),
            selector: Some(LabelSelector {
                match_labels: [("kube-reclaimer.io/protected".into(), "true".into())].into(),
                match_expressions: vec![],
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifecycle {
    /// How long before expiry each reminder goes out.
    pub reminder_offsets: Vec<Span>,
    /// Time between marking (with notice to the owner) and reclamation.
    pub grace_period: Span,
    /// Accepts a grace period under 1h (down to 1s), for test clusters, demos and soak
    /// tests only: owners cannot react in seconds.
    pub allow_short_grace_period: bool,
    /// A notice older than this is stale: the owners are told again, and the grace period
    /// starts over, before anything is reclaimed.
    pub notice_max_age: Span,
    /// Upper bound on namespaces reclaimed in one cycle.
    pub max_reclaims_per_cycle: u32,
    /// Where a namespace's objects are saved as YAML before it is deleted.
    pub tombstone_dir: String,
    /// What reclaiming does: delete the namespace, or put it to sleep (scale its
    /// Deployments and StatefulSets to zero, restored when the owner extends it).
    pub reclaim_by: ReclaimBy,
    /// Per cause: whether a namespace holding bound PersistentVolumeClaims is deleted.
    pub reclaim_with_volumes: ReclaimWithVolumes,
}

/// Whether a namespace with bound PersistentVolumeClaims may be deleted, per cause.
/// Sleep mode keeps volumes, so this only holds back `reclaim_by: delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReclaimWithVolumes {
    pub expired: bool,
    pub idle: bool,
}

impl Default for ReclaimWithVolumes {
    fn default() -> Self {
        ReclaimWithVolumes {
            expired: true,
            idle: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReclaimBy {
    #[default]
    Delete,
    Sleep,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            reminder_offsets: vec![Span::days(7), Span::days(1)],
            grace_period: Span::days(3),
            allow_short_grace_period: false,
            notice_max_age: Span::days(14),
            max_reclaims_per_cycle: 5,
            tombstone_dir: "/var/lib/kube-reclaimer/tombstones".into(),
            reclaim_by: ReclaimBy::Delete,
            reclaim_with_volumes: ReclaimWithVolumes::default(),
        }
    }
}

/// Which memory statistic stands for "used".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryStatistic {
    /// Highest working set over the window.
    #[default]
    MaxWorkingSet,
    /// Working set at `cpu_quantile`'s quantile over the window.
    QuantileWorkingSet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rightsizing {
    pub window: Span,
    /// Quantile of CPU usage that stands for "used" (0.95 = p95).
    pub cpu_quantile: f64,
    pub memory_statistic: MemoryStatistic,
    /// Flag when (requested − used) / requested exceeds this.
    pub gap_threshold: f64,
    /// Requests below these are noise and never flagged.
    pub min_cpu_request: Quantity,
    pub min_memory_request: Quantity,
    /// Recommended request = used × (1 + headroom).
    pub headroom: f64,
}

impl Default for Rightsizing {
    fn default() -> Self {
        Rightsizing {
            window: Span::days(7),
            cpu_quantile: 0.95,
            memory_statistic: MemoryStatistic::MaxWorkingSet,
            gap_threshold: 0.5,
            min_cpu_request: Quantity(0.1),
            min_memory_request: Quantity(128.0 * 1024.0 * 1024.0),
            headroom: 0.2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Idle {
    /// Whether idle namespaces are marked for reclamation (the verdict is always shown).
    pub reclaim: bool,
    pub window: Span,
    /// Idle only if CPU stayed below this many cores for the whole window.
    pub cpu_threshold: Quantity,
    /// Idle only if network (receive + transmit) stayed below this many bytes/s.
    pub network_threshold: Quantity,
}

impl Default for Idle {
    fn default() -> Self {
        Idle {
            reclaim: true,
            window: Span::days(7),
            cpu_threshold: Quantity(0.01),
            network_threshold: Quantity(1024.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pricing {
    /// Where prices come from: these values, or OpenCost's series in Prometheus.
    pub source: PriceSource,
    pub cpu_per_vcpu_hour: f64,
    pub memory_per_gib_hour: f64,
    pub currency: Currency,
}

/// Where the prices of CPU and memory come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceSource {
    /// `pricing.cpu_per_vcpu_hour` and `pricing.memory_per_gib_hour`.
    #[default]
    Config,
    /// OpenCost's `node_cpu_hourly_cost` and `node_ram_hourly_cost`, averaged over the
    /// rightsizing window and over nodes; the configured prices when they are missing.
    Opencost,
}

impl Default for Pricing {
    /// OpenCost's published default prices.
    fn default() -> Self {
        Pricing {
            source: PriceSource::Config,
            cpu_per_vcpu_hour: 0.031611,
            memory_per_gib_hour: 0.004237,
            currency: Currency::default(),
        }
    }
}

/// The weekly cost reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reports {
    /// Who receives the roll-up across all teams, ranked by waste.
    pub finops_recipients: Vec<Email>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Prometheus {
    pub url: String,
    /// File holding a bearer token, re-read on every cycle (so it can be rotated).
    pub bearer_token_file: Option<String>,
    /// Extra HTTP headers, e.g. `X-Scope-OrgID` for Mimir or Thanos tenants.
    pub headers: BTreeMap<String, String>,
    pub timeout: Span,
    /// Attempts after the first, with exponential backoff.
    pub retries: u32,
    /// Label matchers added to every series selector of every query, e.g.
    /// `cluster="prod-eu", job="kubelet"`: a store holding many clusters, HA replicas or
    /// a second cAdvisor job then answers for this cluster's series only.
    pub selector: String,
    /// Whether statistics read the series of `deploy/prometheus/rules.yaml`.
    pub recording_rules: RecordingRules,
}

/// When the recorded per-namespace series are used instead of cAdvisor's raw series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingRules {
    /// Per statistic, where the recorded series' history covers the window; raw otherwise.
    #[default]
    Auto,
    /// Always; a statistic whose recorded history does not cover its window is unknown.
    Always,
    /// Never: raw series only.
    Never,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            url: "http://prometheus-operated.monitoring.svc:9090".into(),
            bearer_token_file: None,
            headers: BTreeMap::new(),
            timeout: Span::seconds(30),
            retries: 3,
            selector: String::new(),
            recording_rules: RecordingRules::Auto,
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption, for in-cluster relays only.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    /// File holding the password (e.g. a mounted Secret).
    pub password_file: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    pub from: Email,
    pub timeout: Span,
    /// PEM file of extra CA certificates to trust (a private CA of an internal relay),
    /// in addition to the system's.
    pub ca_file: Option<String>,
    /// Directory of operator templates; a file named like a built-in template
    /// (`reminder.txt`, `marked.html`, ...) replaces it.
    pub templates_dir: Option<String>,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            host: "localhost".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password_file: None,
            password_env: None,
            from: Email::new_unchecked("kube-reclaimer@localhost"),
            timeout: Span::seconds(30),
            ca_file: None,
            templates_dir: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Schedules {
    /// When the reconcile cycle runs (cron, in `time_zone`).
    pub cycle: Schedule,
    /// When the weekly cost reports go out (cron, in `time_zone`).
    pub report: Schedule,
}

impl Default for Schedules {
    fn default() -> Self {
        Schedules {
            cycle: Schedule::new_unchecked("*/30 * * * *"),
            report: Schedule::new_unchecked("0 8 * * MON"),
        }
    }
}

/// How the daemon's logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Daemon {
    /// Address of `/healthz`, `/readyz` (and `/metrics`).
    pub listen: String,
    /// Name of the `coordination.k8s.io` Lease in `own_namespace` that elects the replica
    /// allowed to write, e-mail and delete.
    pub lease_name: String,
    /// How long the Lease holds without renewal; renewed every third of it. This replica
    /// stops acting a third of it before its Lease runs out.
    pub lease_duration: Span,
    pub log_format: LogFormat,
    /// Longest wait for any one answer of the apiserver.
    pub request_timeout: Span,
    /// Longest a cycle (or a report run) may take; one that overruns is abandoned.
    pub cycle_timeout: Span,
    /// Largest difference from the apiserver's clock at which this replica still acts.
    pub max_clock_skew: Span,
}

impl Default for Daemon {
    fn default() -> Self {
        Daemon {
            listen: "0.0.0.0:8080".into(),
            lease_name: "kube-reclaimer".into(),
            lease_duration: Span::seconds(30),
            log_format: LogFormat::Text,
            request_timeout: Span::seconds(30),
            cycle_timeout: Span::seconds(20 * 60),
            max_clock_skew: Span::seconds(5),
        }
    }
}
