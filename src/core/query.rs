//! The PromQL kube-reclaimer asks, built from the config: pure strings, no client.
//!
//! One query per statistic, each a `sum by (namespace)` inside a subquery over the window,
//! and two for the history's coverage: the number of queries per cycle is fixed whatever
//! the size of the cluster. Each statistic reads either cAdvisor's raw series (the
//! pod-level duplicates `container=""` and pause containers `container="POD"` filtered
//! out) or the series recorded by `deploy/prometheus/rules.yaml`, which hold the same
//! per-namespace sums, evaluated ahead of time. `prometheus.selector` is added to every
//! series selector, raw and recorded, so one metrics store can hold many clusters.

use crate::core::config::{Config, MemoryStatistic};
use crate::core::model::Span;
use serde::Serialize;

/// Rate window and subquery resolution. Suits scrape intervals up to 2 minutes.
pub const RATE: &str = "5m";
const CONTAINERS: &str = r#"container!="", container!="POD""#;

/// Seconds between two subquery steps (`RATE`).
const STEP_SECONDS: i64 = 300;

/// Missing time the coverage check lets pass: the steps lost at the window's edges (the
/// first rate needs two samples; the window need not start on a step) and a Prometheus
/// restart of a few minutes. A longer gap makes the idle verdict `unknown`.
pub const GAP_TOLERANCE: Span = Span::seconds(15 * 60);

/// What is asked, one query each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    CpuQuantile,
    CpuMax,
    Memory,
    NetworkMax,
}

impl Statistic {
    pub const ALL: [Statistic; 4] = [
        Statistic::CpuQuantile,
        Statistic::CpuMax,
        Statistic::Memory,
        Statistic::NetworkMax,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Statistic::CpuQuantile => "CPU quantile",
            Statistic::CpuMax => "CPU maximum",
            Statistic::Memory => "memory",
            Statistic::NetworkMax => "network maximum",
        }
    }

    /// The name used in metrics labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::CpuQuantile => "cpu_quantile",
            Statistic::CpuMax => "cpu_max",
            Statistic::Memory => "memory",
            Statistic::NetworkMax => "network_max",
        }
    }

    /// The recorded series that holds this statistic's per-namespace values.
    pub fn recorded_series(self) -> &'static str {
        match self {
            Statistic::CpuQuantile | Statistic::CpuMax => RECORDED_CPU,
            Statistic::Memory => RECORDED_MEMORY,
            Statistic::NetworkMax => RECORDED_NETWORK,
        }
    }

    /// The window this statistic is taken over.
    pub fn window(self, config: &Config) -> Span {
        match self {
            Statistic::CpuQuantile | Statistic::Memory => config.rightsizing.window,
            Statistic::CpuMax | Statistic::NetworkMax => config.idle.window,
        }
    }
}

/// CPU cores used per namespace: `rate(container_cpu_usage_seconds_total[5m])`, summed.
pub const RECORDED_CPU: &str = "namespace:container_cpu_usage_seconds:sum_rate5m";
/// Working-set bytes per namespace.
pub const RECORDED_MEMORY: &str = "namespace:container_memory_working_set_bytes:sum";
/// Network bytes per second per namespace, received plus transmitted, rate over 5m.
pub const RECORDED_NETWORK: &str = "namespace:container_network_bytes:sum_rate5m";

/// Which series a statistic is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Series {
    /// cAdvisor's series, aggregated by the query itself.
    Raw,
    /// The per-namespace series of the recording rules.
    Recorded,
}

impl Series {
    pub fn as_str(self) -> &'static str {
        match self {
            Series::Raw => "raw",
            Series::Recorded => "recorded",
        }
    }
}

/// `{matchers}` for a series selector: the query's own and the configured selector's.
fn selector(own: &str, config: &Config) -> String {
    let extra = config.prometheus.selector.trim();
    match (own.is_empty(), extra.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("{{{own}}}"),
        (true, false) => format!("{{{extra}}}"),
        (false, false) => format!("{{{own}, {extra}}}"),
    }
}

/// The per-namespace instant vector a statistic's subquery runs over.
fn per_namespace(statistic: Statistic, series: Series, config: &Config) -> String {
    match series {
        Series::Recorded => format!(
            "sum by (namespace) ({}{})",
            statistic.recorded_series(),
            selector("", config)
        ),
        Series::Raw => raw_per_namespace(statistic, config),
    }
}

fn raw_per_namespace(statistic: Statistic, config: &Config) -> String {
    let containers = selector(CONTAINERS, config);
    match statistic {
        Statistic::CpuQuantile | Statistic::CpuMax => format!(
            "sum by (namespace) (rate(container_cpu_usage_seconds_total{containers}[{RATE}]))"
        ),
        Statistic::Memory => {
            format!("sum by (namespace) (container_memory_working_set_bytes{containers})")
        }
        Statistic::NetworkMax => {
            let any = selector("", config);
            format!(
                "(sum by (namespace) (rate(container_network_receive_bytes_total{any}[{RATE}])) \
                 + sum by (namespace) (rate(container_network_transmit_bytes_total{any}[{RATE}])))"
            )
        }
    }
}

/// The PromQL for one statistic, evaluated at the instant the query is made for.
pub fn promql(statistic: Statistic, series: Series, config: &Config) -> String {
    let r = &config.rightsizing;
    let inner = per_namespace(statistic, series, config);
    let window = statistic.window(config);
    match statistic {
        Statistic::CpuQuantile => {
            format!(
                "quantile_over_time({}, {inner}[{window}:{RATE}])",
                r.cpu_quantile
            )
        }
        Statistic::Memory => match r.memory_statistic {
            MemoryStatistic::MaxWorkingSet => format!("max_over_time({inner}[{window}:{RATE}])"),
            MemoryStatistic::QuantileWorkingSet => format!(
                "quantile_over_time({}, {inner}[{window}:{RATE}])",
                r.cpu_quantile
            ),
        },
        Statistic::CpuMax | Statistic::NetworkMax => {
            format!("max_over_time({inner}[{window}:{RATE}])")
        }
    }
}

/// Whether a statistic's recorded series covers its window: an answer (one sample) only
/// when the series existed at the window's start and exists now. Two instant selections,
/// so cheap whatever the window.
pub fn recorded_history_promql(statistic: Statistic, config: &Config) -> String {
    let series = format!("{}{}", statistic.recorded_series(), selector("", config));
    format!(
        "count({series} offset {}) and count({series})",
        statistic.window(config)
    )
}

/// Which namespaces had CPU series at the start of the window (evaluated at `at - window`).
/// Always on raw series: an instant selection, cheap either way.
pub fn coverage_promql(config: &Config) -> String {
    format!(
        "count by (namespace) (container_cpu_usage_seconds_total{})",
        selector(CONTAINERS, config)
    )
}

/// For how many 5-minute steps of the idle window each namespace had a CPU rate: the same
/// subquery as the highest CPU, counted. A full window has `window / 5m` steps.
pub fn steps_promql(series: Series, config: &Config) -> String {
    format!(
        "count_over_time({}[{}:{RATE}])",
        per_namespace(Statistic::CpuMax, series, config),
        config.idle.window
    )
}

/// OpenCost's average prices over the window: per vCPU-hour, then per GiB-hour.
/// Each node counts once, whatever its size.
pub fn opencost_promql(config: &Config) -> [String; 2] {
    let w = config.rightsizing.window;
    let sel = selector("", config);
    ["node_cpu_hourly_cost", "node_ram_hourly_cost"]
        .map(|series| format!("avg(avg_over_time({series}{sel}[{w}]))"))
}

/// How much of `window` a series with a value at `steps` subquery steps misses, when that
/// is more than [`GAP_TOLERANCE`].
pub fn missing_time(steps: f64, window: Span) -> Option<Span> {
    let expected = window.as_seconds() / STEP_SECONDS;
    let present = if steps.is_finite() && steps > 0.0 {
        steps.floor() as i64
    } else {
        0
    };
    let missing = (expected - present).max(0) * STEP_SECONDS;
    (missing > GAP_TOLERANCE.as_seconds()).then(|| Span::seconds(missing))
}

#[cfg(test)]
mod tests;
