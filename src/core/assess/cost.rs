//! What a namespace costs per hour and per month, and the prices that is based on.

use super::rightsizing::Rightsizing;
use crate::core::config::{PriceSource, Pricing};
use crate::core::model::GIB;
use serde::Serialize;

/// Hours in an average month (365 × 24 / 12), for monthly projections.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// One resource's cost per hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostLine {
    pub requested: Option<f64>,
    pub used: Option<f64>,
    /// max(0, requested − used) × price.
    pub waste: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub currency: String,
    /// Price of what the pods request.
    pub requested_per_hour: Option<f64>,
    /// Price of what they use (CPU at the configured quantile, memory by its statistic).
    pub used_per_hour: Option<f64>,
    /// Requested but unused: Σ max(0, requested − used) × price over CPU and memory.
    pub waste_per_hour: Option<f64>,
    /// `requested_per_hour` × 730.
    pub requested_per_month: Option<f64>,
    /// `waste_per_hour` × 730.
    pub waste_per_month: Option<f64>,
    pub cpu: CostLine,
    pub memory: CostLine,
}

pub fn assess_cost(sizing: &Rightsizing, pricing: &Pricing) -> Cost {
    let line = |requested: Option<f64>, used: Option<f64>, price: f64| CostLine {
        requested: requested.map(|r| r * price),
        used: used.map(|u| u * price),
        waste: requested.zip(used).map(|(r, u)| (r - u).max(0.0) * price),
    };
    let (cpu, mem) = (&sizing.cpu, &sizing.memory);
    let cpu = line(cpu.requested, cpu.used, pricing.cpu_per_vcpu_hour);
    let memory = line(
        mem.requested.map(|b| b / GIB),
        mem.used.map(|b| b / GIB),
        pricing.memory_per_gib_hour,
    );
    let sum = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a + b);
    let requested = sum(cpu.requested, memory.requested);
    let waste = sum(cpu.waste, memory.waste);
    Cost {
        currency: pricing.currency.as_str().to_string(),
        requested_per_hour: requested,
        used_per_hour: sum(cpu.used, memory.used),
        waste_per_hour: waste,
        requested_per_month: requested.map(|c| c * HOURS_PER_MONTH),
        waste_per_month: waste.map(|c| c * HOURS_PER_MONTH),
        cpu,
        memory,
    }
}

/// The prices a cycle's costs are computed with, and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prices {
    pub cpu_per_vcpu_hour: f64,
    pub memory_per_gib_hour: f64,
    pub currency: String,
    /// `config` or `opencost`: where the two prices above come from.
    pub source: &'static str,
    /// Why the configured prices stand in for OpenCost's, when they do.
    pub fallback: Option<String>,
}

/// The effective prices: OpenCost's averages (CPU, memory) when configured and read,
/// else the configured ones, saying why.
pub fn resolve_prices(pricing: &Pricing, opencost: Option<&Result<(f64, f64), String>>) -> Prices {
    let configured = |fallback: Option<String>| Prices {
        cpu_per_vcpu_hour: pricing.cpu_per_vcpu_hour,
        memory_per_gib_hour: pricing.memory_per_gib_hour,
        currency: pricing.currency.as_str().to_string(),
        source: "config",
        fallback,
    };
    if pricing.source == PriceSource::Config {
        return configured(None);
    }
    match opencost {
        Some(Ok((cpu, memory))) => Prices {
            cpu_per_vcpu_hour: *cpu,
            memory_per_gib_hour: *memory,
            currency: pricing.currency.as_str().to_string(),
            source: "opencost",
            fallback: None,
        },
        Some(Err(reason)) => configured(Some(format!(
            "OpenCost prices unavailable ({reason}); using the configured prices"
        ))),
        None => configured(Some(
            "OpenCost prices were not read; using the configured prices".into(),
        )),
    }
}

impl Prices {
    /// `pricing` with these prices in place of the configured ones.
    pub fn apply(&self, pricing: &Pricing) -> Pricing {
        Pricing {
            cpu_per_vcpu_hour: self.cpu_per_vcpu_hour,
            memory_per_gib_hour: self.memory_per_gib_hour,
            ..pricing.clone()
        }
    }
}
