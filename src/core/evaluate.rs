//! One evaluation: what was collected, assessed and planned, as of one instant. Pure.

use crate::core::assess::{assess, resolve_prices, Assessment, Prices};
use crate::core::collected::{Collected, Sources};
use crate::core::config::Config;
use crate::core::model::Observation;
use crate::core::plan::{plan, Lifecycle, Plan};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Evaluation {
    pub at: DateTime<Utc>,
    /// In the same order as `plan.namespaces`.
    pub assessments: Vec<Assessment>,
    /// What was observed, in the same order; the act stage re-assesses from it.
    pub observations: Vec<Observation>,
    pub plan: Plan,
    pub sources: Sources,
    /// The prices every cost is computed with.
    pub prices: Prices,
    pub pods_seen: usize,
}

/// Assesses and plans every collected namespace, sorted by name.
///
/// Costs use OpenCost's prices when `pricing.source` asks for them and they were read.
pub fn evaluate(collected: Collected, config: &Config, at: DateTime<Utc>) -> Evaluation {
    let prices = resolve_prices(&config.pricing, collected.opencost.as_ref());
    let priced = Config {
        pricing: prices.apply(&config.pricing),
        ..config.clone()
    };
    let config = &priced;
    let mut observations = collected.observations;
    observations.sort_by(|a, b| a.namespace.name.cmp(&b.namespace.name));
    let items: Vec<(Assessment, Lifecycle)> = observations
        .iter()
        .map(|o| {
            (
                assess(o, config, at),
                Lifecycle::of(&o.namespace, &config.keys.state_prefix),
            )
        })
        .collect();
    let plan = plan(&items, config, at);
    Evaluation {
        at,
        assessments: items.into_iter().map(|(a, _)| a).collect(),
        observations,
        plan,
        sources: collected.sources,
        prices,
        pods_seen: collected.pods_seen,
    }
}
