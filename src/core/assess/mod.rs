//! The assess stage: pure functions from what was observed about a namespace to what it
//! means: owner, expiry, idleness, rightsizing, quota and cost. No I/O.

mod cost;
mod expiry;
mod idle;
mod owner;
mod protection;
mod rightsizing;
mod usage;

pub use cost::{resolve_prices, Cost, CostLine, Prices, HOURS_PER_MONTH};
pub use expiry::{Expiry, ExpirySource, KeyKind, JANITOR_EXPIRES, JANITOR_TTL, KYVERNO_TTL};
pub use idle::{Idleness, Signal, Verdict};
pub use owner::{Finding, Owner, RecipientSource};
pub use protection::protection_of;
pub use rightsizing::{QuotaLedger, QuotaLine, Rightsizing, Sizing};

use crate::core::config::Config;
use crate::core::model::{Observation, Volumes};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Everything known about one namespace at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub name: String,
    pub uid: String,
    /// Why the namespace may never be acted on, if it is protected.
    pub protected: Option<String>,
    /// Pods holding resources; `None` when pods could not be listed.
    pub pods: Option<u32>,
    /// Being deleted since then (Terminating, waiting for finalizers).
    pub terminating_since: Option<DateTime<Utc>>,
    /// The data at rest that deleting the namespace destroys: its PersistentVolumeClaims.
    /// `None` when they could not be listed. Secrets are never read, so never counted.
    pub volumes: Option<Volumes>,
    pub owner: Owner,
    pub expiry: Expiry,
    pub idle: Idleness,
    pub rightsizing: Rightsizing,
    pub quota: QuotaLedger,
    pub cost: Cost,
    /// Values on the namespace that could not be read; reported to the owner.
    pub findings: Vec<Finding>,
}

/// Assesses one namespace as of `now`.
pub fn assess(obs: &Observation, config: &Config, now: DateTime<Utc>) -> Assessment {
    let ns = &obs.namespace;
    let (owner, mut findings) = owner::assess_owner(ns, config);
    let expiry = expiry::assess_expiry(ns, config);
    if let Expiry::Malformed { source, error } = &expiry {
        findings.insert(
            0,
            Finding {
                key: source.key.clone(),
                value: source.value.clone(),
                problem: error.clone(),
            },
        );
    }
    let rightsizing = rightsizing::assess_rightsizing(obs, config);
    Assessment {
        name: ns.name.clone(),
        uid: ns.uid.clone(),
        protected: protection_of(config, &ns.name, &ns.labels),
        pods: obs.workload.map(|w| w.pods),
        terminating_since: ns.deleting_since,
        volumes: obs.volumes.clone(),
        owner,
        expiry,
        idle: idle::assess_idle(obs, config, now),
        quota: rightsizing::assess_quota(obs, &rightsizing, config),
        cost: cost::assess_cost(&rightsizing, &config.pricing),
        rightsizing,
        findings,
    }
}

#[cfg(test)]
mod tests;
