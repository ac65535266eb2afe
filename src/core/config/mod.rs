//! The configuration file: the top-level [`Config`] and its defaults, with the sections,
//! typed values, parsing and validation in the files below.
//!
//! `config/kube-reclaimer.yaml` documents every key. Parsing refuses text with an
//! unknown key, a value of the wrong type, or a value outside what is allowed, and the
//! message names the key, the value and what is allowed.

mod parse;
mod sections;
mod selector;
mod validate;
mod values;

pub use parse::ConfigError;
pub use sections::{
    Compatibility, Daemon, Idle, Keys, Lifecycle, LogFormat, MemoryStatistic, Owners, PriceSource,
    Pricing, Prometheus, Protection, ReclaimBy, ReclaimWithVolumes, RecordingRules, Reports,
    Rightsizing, Schedules, Smtp, SmtpTls, MAX_IDLE_CPU_CORES, MAX_IDLE_NETWORK_BYTES_PER_SECOND,
    SYSTEM_NAMESPACES,
};
pub use selector::{glob_matches, LabelRequirement, LabelSelector, Operator};
pub use validate::Problem;
pub use values::{Currency, Email, Schedule, TimeZone};

use serde::{Deserialize, Serialize};

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

impl Config {
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
