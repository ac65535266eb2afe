//! The JSON shape of `plan --output json` and `explain --output json`. Field names are a
//! stable interface (README, "JSON output"); units are in the names.

use crate::core::assess::{Assessment, Cost, Expiry, Finding, Prices, Signal, Verdict};
use crate::core::collected::Sources;
use crate::core::evaluate::Evaluation;
use crate::core::plan::{Action, NamespacePlan, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
pub struct PlanView<'a> {
    pub at: DateTime<Utc>,
    pub dry_run: bool,
    pub sources: &'a Sources,
    pub prices: &'a Prices,
    pub summary: Summary,
    pub namespaces: Vec<NamespaceView<'a>>,
}

#[derive(Serialize)]
pub struct Summary {
    pub namespaces: usize,
    pub pods: usize,
    pub promql_queries: u32,
    pub states: BTreeMap<&'static str, usize>,
    pub actions: BTreeMap<&'static str, usize>,
    /// Sum over namespaces with known values.
    pub requested_per_hour: f64,
    pub waste_per_hour: f64,
    pub currency: String,
}

#[derive(Serialize)]
pub struct NamespaceView<'a> {
    pub name: &'a str,
    pub uid: &'a str,
    pub state: State,
    pub protected: Option<&'a str>,
    pub pods: Option<u32>,
    pub owner: OwnerView<'a>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expiry: &'a Expiry,
    pub idle: IdleView<'a>,
    pub rightsizing: RightsizingView,
    pub quota: QuotaView<'a>,
    pub cost: &'a Cost,
    pub actions: &'a [Action],
    pub findings: &'a [Finding],
    pub notes: &'a [String],
}

#[derive(Serialize)]
pub struct OwnerView<'a> {
    pub team: Option<&'a str>,
    pub team_known: bool,
    pub emails: &'a [String],
    pub recipients: &'a [String],
    pub recipients_from: &'a crate::core::assess::RecipientSource,
}

#[derive(Serialize)]
pub struct IdleView<'a> {
    pub verdict: Verdict,
    pub since: DateTime<Utc>,
    pub summary: &'a str,
    pub evidence: &'a [Signal],
}

#[derive(Serialize)]
pub struct RightsizingView {
    pub cpu: serde_json::Value,
    pub memory: serde_json::Value,
}

#[derive(Serialize)]
pub struct QuotaView<'a> {
    pub known: bool,
    pub quotas: &'a [String],
    pub cpu: serde_json::Value,
    pub memory: serde_json::Value,
}

/// Serializes `value`, appending `_unit` to the names of its quantity fields, so that
/// CPU reads `requested_cores` and memory `requested_bytes`.
fn with_unit<T: Serialize>(value: &T, unit: &str) -> serde_json::Value {
    const QUANTITIES: [&str; 7] = [
        "requested",
        "used",
        "hard",
        "quota_used",
        "slack",
        "recommended",
        "recommended_request",
    ];
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| {
                let k = match k.as_str() {
                    "recommended_request" => format!("recommended_{unit}"),
                    q if QUANTITIES.contains(&q) => format!("{q}_{unit}"),
                    _ => k,
                };
                (k, v)
            })
            .collect(),
        other => other.unwrap_or_default(),
    }
}

pub fn namespace_view<'a>(a: &'a Assessment, p: &'a NamespacePlan) -> NamespaceView<'a> {
    NamespaceView {
        name: &a.name,
        uid: &a.uid,
        state: p.state,
        protected: a.protected.as_deref(),
        pods: a.pods,
        owner: OwnerView {
            team: a.owner.team.as_deref(),
            team_known: a.owner.team_known,
            emails: &a.owner.emails,
            recipients: &a.owner.recipients,
            recipients_from: &a.owner.recipients_from,
        },
        expires_at: a.expiry.at(),
        expiry: &a.expiry,
        idle: IdleView {
            verdict: a.idle.verdict,
            since: a.idle.since,
            summary: &a.idle.summary,
            evidence: &a.idle.evidence,
        },
        rightsizing: RightsizingView {
            cpu: with_unit(&a.rightsizing.cpu, "cores"),
            memory: with_unit(&a.rightsizing.memory, "bytes"),
        },
        quota: QuotaView {
            known: a.quota.known,
            quotas: &a.quota.quotas,
            cpu: with_unit(&a.quota.cpu, "cores"),
            memory: with_unit(&a.quota.memory, "bytes"),
        },
        cost: &a.cost,
        actions: &p.actions,
        findings: &a.findings,
        notes: &p.notes,
    }
}

pub fn plan_view(e: &Evaluation) -> PlanView<'_> {
    let namespaces: Vec<NamespaceView<'_>> = e
        .assessments
        .iter()
        .zip(&e.plan.namespaces)
        .map(|(a, p)| namespace_view(a, p))
        .collect();
    let mut states = BTreeMap::new();
    let mut actions = BTreeMap::new();
    for n in &namespaces {
        *states.entry(n.state.as_str()).or_insert(0) += 1;
        for a in n.actions {
            *actions.entry(a.kind.as_str()).or_insert(0) += 1;
        }
    }
    let currency = e
        .assessments
        .first()
        .map(|a| a.cost.currency.clone())
        .unwrap_or_default();
    PlanView {
        at: e.at,
        dry_run: e.plan.dry_run,
        sources: &e.sources,
        prices: &e.prices,
        summary: Summary {
            namespaces: namespaces.len(),
            pods: e.pods_seen,
            promql_queries: e.sources.prometheus.requests,
            states,
            actions,
            requested_per_hour: e
                .assessments
                .iter()
                .filter_map(|a| a.cost.requested_per_hour)
                .fold(0.0, |x, y| x + y),
            waste_per_hour: e
                .assessments
                .iter()
                .filter_map(|a| a.cost.waste_per_hour)
                .fold(0.0, |x, y| x + y),
            currency,
        },
        namespaces,
    }
}
