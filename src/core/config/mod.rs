//! The configuration file: every key, its default, and validation at load time.
//!
//! `config/kube-reclaimer.yaml` documents every key. Loading refuses a file with an
//! unknown key, a value of the wrong type, or a value outside what is allowed, and the
//! message names the key, the value and what is allowed.

mod selector;
mod values;

pub use selector::{glob_matches, LabelRequirement, LabelSelector, Operator};
pub use values::{Currency, Email, Schedule, TimeZone};

use crate::core::model::{Quantity, Span};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Whether actions are carried out or only shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Plan and report, write nothing, send nothing, delete nothing.
    #[default]
    DryRun,
    /// Carry out the plan.
    Enforce,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
    /// IANA zone for schedules, for date-only expiry labels and for dates in e-mails.
    pub time_zone: TimeZone,
    /// The namespace the daemon runs in; always protected.
    pub own_namespace: String,
    pub keys: Keys,
    pub compatibility: Compatibility,
    pub owners: Owners,
    pub protection: Protection,
    pub lifecycle: Lifecycle,
    pub rightsizing: Rightsizing,
    pub idle: Idle,
    pub pricing: Pricing,
    pub reports: Reports,
    pub prometheus: Prometheus,
    pub smtp: Smtp,
    pub schedules: Schedules,
    pub daemon: Daemon,
}

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
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            url: "http://prometheus-operated.monitoring.svc:9090".into(),
            bearer_token_file: None,
            headers: BTreeMap::new(),
            timeout: Span::seconds(30),
            retries: 3,
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

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone(chrono_tz::UTC)
    }
}

/// One setting that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub value: String,
    pub allowed: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}` is not allowed: {}",
            self.key, self.value, self.allowed
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config file {path} has {} invalid setting(s):\n{}", .problems.len(), list(.problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::from_yaml(&text, &shown)
    }

    /// Parses and validates config text; `origin` names it in messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let parsed: Result<Option<Config>, serde_saphyr::Error> =
            serde_saphyr::with_deserializer_from_str(text, |de| {
                serde_path_to_error::deserialize::<_, Option<Config>>(de).map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    let message = if path.is_empty() || path == "." || path == "?" {
                        inner.to_string()
                    } else {
                        format!("key `{path}`: {inner}")
                    };
                    <serde_saphyr::Error as serde::de::Error>::custom(message)
                })
            });
        let config = parsed
            .map_err(|e| ConfigError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?
            .unwrap_or_default();
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config.normalized())
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_string(),
                problems,
            })
        }
    }

    /// Puts lists in their canonical order: reminder offsets longest first.
    fn normalized(mut self) -> Config {
        self.lifecycle.reminder_offsets.sort_by(|a, b| b.cmp(a));
        self.lifecycle.reminder_offsets.dedup();
        self
    }

    /// Every rule a single key's type cannot express.
    fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |key: &str, value: String, allowed: &str| {
            out.push(Problem {
                key: key.to_string(),
                value,
                allowed: allowed.to_string(),
            })
        };
        if !values::is_dns_label(&self.own_namespace) {
            bad(
                "own_namespace",
                self.own_namespace.clone(),
                "a namespace name (lowercase letters, digits and '-', at most 63 characters)",
            );
        }
        let k = &self.keys;
        for (key, value) in [
            ("keys.expires", &k.expires),
            ("keys.ttl", &k.ttl),
            ("keys.team", &k.team),
            ("keys.owner_email", &k.owner_email),
        ] {
            if !values::is_label_key(value) {
                bad(
                    key,
                    value.clone(),
                    "a Kubernetes label key such as example.com/name (prefix optional, name at most 63 characters of letters, digits, '-', '_', '.')",
                );
            }
        }
        if !k.state_prefix.ends_with('/')
            || !values::is_dns_subdomain(&k.state_prefix[..k.state_prefix.len().saturating_sub(1)])
        {
            bad(
                "keys.state_prefix",
                k.state_prefix.clone(),
                "a DNS subdomain followed by '/', e.g. kube-reclaimer.io/",
            );
        }
        for (team, emails) in &self.owners.teams {
            if team.trim().is_empty() {
                bad("owners.teams", team.clone(), "a non-empty team name");
            }
            if emails.is_empty() {
                bad(
                    &format!("owners.teams.{team}"),
                    "[]".into(),
                    "at least one e-mail address (remove the team to use the fallback recipients)",
                );
            }
        }
        if self.mode == Mode::Enforce && self.owners.fallback_recipients.is_empty() {
            bad(
                "owners.fallback_recipients",
                "[]".into(),
                "at least one address in enforce mode, so that namespaces without a known owner are never acted on unannounced",
            );
        }
        let o = &self.owners;
        for (i, domain) in o.allowed_domains.iter().enumerate() {
            if !values::is_dns_subdomain(&domain.to_ascii_lowercase()) {
                bad(
                    &format!("owners.allowed_domains[{i}]"),
                    domain.clone(),
                    "a mail domain such as example.com (it also allows its subdomains)",
                );
            }
        }
        if o.max_recipients == 0 {
            bad(
                "owners.max_recipients",
                "0".into(),
                "at least 1 (the most distinct addresses an owner-email annotation may name)",
            );
        }
        for (i, pattern) in self.protection.namespaces.iter().enumerate() {
            if pattern.trim().is_empty() {
                bad(
                    &format!("protection.namespaces[{i}]"),
                    pattern.clone(),
                    "a namespace name or glob such as kube-*",
                );
            }
        }
        if let Some(selector) = &self.protection.selector {
            if selector.is_empty() {
                bad(
                    "protection.selector",
                    "{}".into(),
                    "at least one matchLabels entry or matchExpressions requirement (an empty selector would protect every namespace); remove the key for no selector",
                );
            }
            for (i, r) in selector.match_expressions.iter().enumerate() {
                let needs_values = matches!(r.operator, Operator::In | Operator::NotIn);
                if needs_values == r.values.is_empty() {
                    bad(
                        &format!("protection.selector.matchExpressions[{i}].values"),
                        format!("{:?}", r.values),
                        "values for In and NotIn, none for Exists and DoesNotExist",
                    );
                }
            }
        }
        let l = &self.lifecycle;
        if l.allow_short_grace_period {
            if l.grace_period < Span::seconds(1) {
                bad(
                    "lifecycle.grace_period",
                    l.grace_period.to_string(),
                    "at least 1s, even with lifecycle.allow_short_grace_period",
                );
            }
        } else if l.grace_period < Span::hours(1) {
            bad(
                "lifecycle.grace_period",
                l.grace_period.to_string(),
                "at least 1h, so owners have time to react to the notice (shorter only with lifecycle.allow_short_grace_period: true, for test clusters)",
            );
        }
        if l.notice_max_age.as_seconds() < l.grace_period.as_seconds() + Span::days(1).as_seconds()
        {
            bad(
                "lifecycle.notice_max_age",
                l.notice_max_age.to_string(),
                "at least lifecycle.grace_period + 1d, or every notice goes stale before it is due",
            );
        }
        if l.tombstone_dir.trim().is_empty() {
            bad(
                "lifecycle.tombstone_dir",
                l.tombstone_dir.clone(),
                "a directory path: namespaces are only deleted after their objects were saved there",
            );
        }
        let i = &self.idle;
        let cpu = i.cpu_threshold.0;
        if !(cpu > 0.0 && cpu <= MAX_IDLE_CPU_CORES) {
            bad(
                "idle.cpu_threshold",
                cpu.to_string(),
                "more than 0 and at most 500m cores: above that busy namespaces count as idle (use idle.reclaim: false to reclaim nothing for idleness)",
            );
        }
        let net = i.network_threshold.0;
        if !(net > 0.0 && net <= MAX_IDLE_NETWORK_BYTES_PER_SECOND) {
            bad(
                "idle.network_threshold",
                net.to_string(),
                "more than 0 and at most 100Ki bytes per second: above that namespaces in use count as idle (use idle.reclaim: false to reclaim nothing for idleness)",
            );
        }
        for (key, window, min, why) in [
            (
                "idle.window",
                i.window,
                Span::days(3),
                "3d: a quiet weekend must not count as idle",
            ),
            (
                "rightsizing.window",
                self.rightsizing.window,
                Span::days(1),
                "1d: a shorter one is no usage profile",
            ),
        ] {
            if window < min || window > Span::days(90) {
                bad(
                    key,
                    window.to_string(),
                    &format!("at least {why}; at most 90d"),
                );
            }
        }
        let r = &self.rightsizing;
        if !(r.cpu_quantile > 0.0 && r.cpu_quantile <= 1.0) {
            bad(
                "rightsizing.cpu_quantile",
                r.cpu_quantile.to_string(),
                "a number in (0, 1], e.g. 0.95 for p95",
            );
        }
        if !(r.gap_threshold > 0.0 && r.gap_threshold < 1.0) {
            bad(
                "rightsizing.gap_threshold",
                r.gap_threshold.to_string(),
                "a fraction in (0, 1), e.g. 0.5 to flag requests more than 50% above usage",
            );
        }
        if !(r.headroom >= 0.0 && r.headroom <= 10.0) {
            bad(
                "rightsizing.headroom",
                r.headroom.to_string(),
                "a fraction from 0 to 10, e.g. 0.2 for 20% above usage",
            );
        }
        let p = &self.pricing;
        for (key, price) in [
            ("pricing.cpu_per_vcpu_hour", p.cpu_per_vcpu_hour),
            ("pricing.memory_per_gib_hour", p.memory_per_gib_hour),
        ] {
            if !(price.is_finite() && price >= 0.0) {
                bad(key, price.to_string(), "a price of zero or more");
            }
        }
        let prom = &self.prometheus;
        if !(prom.url.starts_with("http://") || prom.url.starts_with("https://"))
            || prom.url.len() <= "https://".len()
        {
            bad(
                "prometheus.url",
                prom.url.clone(),
                "an http:// or https:// URL, e.g. http://prometheus.monitoring.svc:9090",
            );
        }
        for name in prom.headers.keys() {
            if !values::is_header_name(name) {
                bad(
                    &format!("prometheus.headers.{name}"),
                    name.clone(),
                    "an HTTP header name (letters, digits and '-')",
                );
            }
        }
        let d = &self.daemon;
        if d.listen.parse::<std::net::SocketAddr>().is_err() {
            bad(
                "daemon.listen",
                d.listen.clone(),
                "an address and port such as 0.0.0.0:8080 or 127.0.0.1:9090",
            );
        }
        if !values::is_dns_subdomain(&d.lease_name) {
            bad(
                "daemon.lease_name",
                d.lease_name.clone(),
                "a Kubernetes object name",
            );
        }
        if d.lease_duration < Span::seconds(5) {
            bad(
                "daemon.lease_duration",
                d.lease_duration.to_string(),
                "at least 5s",
            );
        }
        for (key, value) in [
            ("daemon.request_timeout", d.request_timeout),
            ("daemon.cycle_timeout", d.cycle_timeout),
            ("daemon.max_clock_skew", d.max_clock_skew),
        ] {
            if value < Span::seconds(1) {
                bad(key, value.to_string(), "at least 1s");
            }
        }
        let s = &self.smtp;
        if s.host.trim().is_empty() {
            bad("smtp.host", s.host.clone(), "a host name or address");
        }
        if s.port == 0 {
            bad("smtp.port", "0".into(), "a port from 1 to 65535");
        }
        if s.password_file.is_some() && s.password_env.is_some() {
            bad(
                "smtp.password_env",
                s.password_env.clone().unwrap_or_default(),
                "only one of smtp.password_file and smtp.password_env",
            );
        }
        if (s.password_file.is_some() || s.password_env.is_some()) && s.username.is_none() {
            bad(
                "smtp.username",
                "(unset)".into(),
                "a user name whenever a password is configured",
            );
        }
        if let (Some(user), None, None) = (&s.username, &s.password_file, &s.password_env) {
            bad(
                "smtp.username",
                user.clone(),
                "a user name together with smtp.password_file or smtp.password_env (remove it for a server without authentication)",
            );
        }
        for (key, value) in [
            ("smtp.password_file", &s.password_file),
            ("smtp.password_env", &s.password_env),
            ("smtp.ca_file", &s.ca_file),
            ("smtp.templates_dir", &s.templates_dir),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                bad(
                    key,
                    value.clone().unwrap_or_default(),
                    "a non-empty path or name, or null",
                );
            }
        }
        if let (Some(ca), SmtpTls::None) = (&s.ca_file, s.tls) {
            bad(
                "smtp.ca_file",
                ca.clone(),
                "only with smtp.tls starttls or tls (a plain connection checks no certificate); remove it, or choose a TLS mode",
            );
        }
        out
    }

    /// Names and globs of the protected namespaces: the system ones, then the configured
    /// ones (`own_namespace` and the selector protect too).
    pub fn protected_names(&self) -> Vec<String> {
        let mut names: Vec<String> = SYSTEM_NAMESPACES.map(String::from).to_vec();
        for name in &self.protection.namespaces {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// True when `name` may never be acted on, with the rule that protects it.
    pub fn protection_of(&self, name: &str, labels: &BTreeMap<String, String>) -> Option<String> {
        if name == self.own_namespace {
            return Some("the daemon's own namespace".into());
        }
        if SYSTEM_NAMESPACES.contains(&name) {
            return Some("a Kubernetes system namespace".into());
        }
        if let Some(pattern) = self
            .protection
            .namespaces
            .iter()
            .find(|p| glob_matches(p, name))
        {
            return Some(format!(
                "name matches protection.namespaces entry `{pattern}`"
            ));
        }
        match &self.protection.selector {
            Some(selector) if selector.matches(labels) => {
                Some("labels match protection.selector".into())
            }
            _ => None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::default(),
            time_zone: TimeZone::default(),
            own_namespace: "kube-reclaimer".into(),
            keys: Keys::default(),
            compatibility: Compatibility::default(),
            owners: Owners::default(),
            protection: Protection::default(),
            lifecycle: Lifecycle::default(),
            rightsizing: Rightsizing::default(),
            idle: Idle::default(),
            pricing: Pricing::default(),
            reports: Reports::default(),
            prometheus: Prometheus::default(),
            smtp: Smtp::default(),
            schedules: Schedules::default(),
            daemon: Daemon::default(),
        }
    }
}

#[cfg(test)]
mod tests;
