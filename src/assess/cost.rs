//! What a namespace costs per hour, from the configured prices.

use super::rightsizing::Rightsizing;
use crate::config::Pricing;
use crate::model::GIB;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub currency: String,
    /// Price of what the pods request.
    pub requested_per_hour: Option<f64>,
    /// Price of what they use (CPU at the configured quantile, memory by its statistic).
    pub used_per_hour: Option<f64>,
    /// Requested but unused: Σ max(0, requested − used) × price.
    pub idle_per_hour: Option<f64>,
}

pub fn assess_cost(sizing: &Rightsizing, pricing: &Pricing) -> Cost {
    let price = |cores: f64, bytes: f64| {
        cores * pricing.cpu_per_vcpu_hour + bytes / GIB * pricing.memory_per_gib_hour
    };
    let (cpu, mem) = (&sizing.cpu, &sizing.memory);
    let requested = cpu.requested.zip(mem.requested);
    let used = cpu.used.zip(mem.used);
    Cost {
        currency: pricing.currency.as_str().to_string(),
        requested_per_hour: requested.map(|(c, m)| price(c, m)),
        used_per_hour: used.map(|(c, m)| price(c, m)),
        idle_per_hour: requested
            .zip(used)
            .map(|((rc, rm), (uc, um))| price((rc - uc).max(0.0), (rm - um).max(0.0))),
    }
}
