//! The daemon's Prometheus metrics, rendered as OpenMetrics text for `GET /metrics`.
//!
//! **Per namespace**, what the last cycle assessed and planned: requests, usage,
//! rightsizing gaps and recommendations, cost per hour, expiry, when a marked namespace
//! becomes due, its lifecycle state and its idle verdict. Their labels are `namespace`
//! and `team` (the team label's value, empty when unset), plus at most one label with a
//! fixed set of values (`resource`, `kind`, `state`, `verdict`). An unknown value has no
//! sample, never a 0. The families are emptied and refilled at every cycle, so a
//! namespace that is gone disappears with the next cycle; a scrape never sees a cycle
//! half-written.
//!
//! **For the daemon**: cycle durations, the last successful cycle, errors by source,
//! PromQL queries, reminders sent, namespaces reclaimed, whether this replica leads, and
//! the prices costs are computed with. Counters start at 0 for every label value, so
//! `rate()` works from the first scrape.
//!
//! Every replica exports the per-namespace families (every replica evaluates); the
//! dashboards take `max by (namespace)` before summing.

use crate::app::act::{Acted, Kind, Outcome, Step};
use crate::core::assess::{Assessment, Verdict};
use crate::core::config::Config;
use crate::core::evaluate::{reclaim_after, Evaluation, Pending};
use crate::core::model::Span;
use crate::core::plan::{ActionKind, Lifecycle, NamespacePlan, State};
use chrono::{DateTime, Utc};
use prometheus_client::encoding::{
    text, EncodeGaugeValue, EncodeLabelSet, EncodeMetric, MetricEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the cycle duration buckets, in seconds (10 minutes at most).
pub const CYCLE_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Where an error comes from: the `source` label of `kube_reclaimer_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Listing or reading from the Kubernetes API.
    Kubernetes,
    /// A PromQL query.
    Prometheus,
    /// A mail the SMTP server did not accept.
    Smtp,
    /// Recording lifecycle annotations.
    Annotate,
    /// Writing a Kubernetes event.
    Event,
    /// Reclaiming or waking a namespace.
    Reclaim,
    /// Reaching the leader Lease.
    Lease,
    /// A cycle or report run abandoned at `daemon.cycle_timeout`.
    Deadline,
}

impl Source {
    pub const ALL: [Source; 8] = [
        Source::Kubernetes,
        Source::Prometheus,
        Source::Smtp,
        Source::Annotate,
        Source::Event,
        Source::Reclaim,
        Source::Lease,
        Source::Deadline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Kubernetes => "kubernetes",
            Source::Prometheus => "prometheus",
            Source::Smtp => "smtp",
            Source::Annotate => "annotate",
            Source::Event => "event",
            Source::Reclaim => "reclaim",
            Source::Lease => "lease",
            Source::Deadline => "deadline",
        }
    }
}

impl From<Step> for Source {
    fn from(step: Step) -> Source {
        match step {
            Step::Read => Source::Kubernetes,
            Step::Mail => Source::Smtp,
            Step::Annotate => Source::Annotate,
            Step::Reclaim => Source::Reclaim,
        }
    }
}

/// `mode` of `kube_reclaimer_namespaces_reclaimed_total`.
const ENFORCE: &str = "enforce";
const DRY_RUN: &str = "dry-run";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceLabels {
    namespace: Arc<str>,
    team: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    namespace: Arc<str>,
    team: Arc<str>,
    resource: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CostLabels {
    namespace: Arc<str>,
    team: Arc<str>,
    kind: &'static str,
    resource: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    namespace: Arc<str>,
    team: Arc<str>,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    namespace: Arc<str>,
    team: Arc<str>,
    verdict: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PricingLabels {
    currency: String,
    source: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeriesLabels {
    statistic: &'static str,
    /// raw, recorded, or none (no series usable: `recording_rules: always` too early).
    series: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: &'static str,
}

/// A metric without a sample until it is first set, so an unknown value is never
/// exported as 0: a gauge (`f64`) or an info whose labels may change (prometheus-client's
/// `Info` is fixed at registration).
#[derive(Debug, Clone)]
struct Latest<T>(Arc<RwLock<Option<T>>>);

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Latest(Arc::new(RwLock::new(None)))
    }
}

impl<T> Latest<T> {
    fn set(&self, value: T) {
        *write(&self.0) = Some(value);
    }
}

impl TypedMetric for Latest<f64> {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Latest<f64> {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        match *read(&self.0) {
            Some(value) => encoder.encode_gauge(&value),
            None => Ok(()),
        }
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }

    fn is_empty(&self) -> bool {
        read(&self.0).is_none()
    }
}

impl TypedMetric for Latest<PricingLabels> {
    const TYPE: MetricType = MetricType::Info;
}

impl EncodeMetric for Latest<PricingLabels> {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        match &*read(&self.0) {
            Some(labels) => encoder.encode_info(labels),
            None => Ok(()),
        }
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }

    fn is_empty(&self) -> bool {
        read(&self.0).is_none()
    }
}

/// A family whose samples are appended, not looked up: each cycle sets every label set
/// once (`push`), so there is no map to keep, and no gauge allocated per sample. The
/// labels share their namespace's and team's strings.
#[derive(Debug)]
struct Samples<L, V>(Arc<RwLock<Vec<(L, V)>>>);

impl<L, V> Default for Samples<L, V> {
    fn default() -> Self {
        Samples(Arc::new(RwLock::new(Vec::new())))
    }
}

impl<L, V> Clone for Samples<L, V> {
    fn clone(&self) -> Self {
        Samples(Arc::clone(&self.0))
    }
}

impl<L, V> Samples<L, V> {
    fn push(&self, labels: L, value: V) {
        write(&self.0).push((labels, value));
    }

    fn clear(&self) {
        write(&self.0).clear();
    }
}

impl<L, V> TypedMetric for Samples<L, V> {
    const TYPE: MetricType = MetricType::Gauge;
}

impl<L, V> EncodeMetric for Samples<L, V>
where
    L: EncodeLabelSet + std::fmt::Debug + Send + Sync,
    V: EncodeGaugeValue + std::fmt::Debug + Send + Sync,
{
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (labels, value) in read(&self.0).iter() {
            encoder.encode_family(labels)?.encode_gauge(value)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }

    fn is_empty(&self) -> bool {
        read(&self.0).is_empty()
    }
}

/// The per-namespace families.
#[derive(Default)]
struct Namespaces {
    requests_cpu: Samples<NamespaceLabels, f64>,
    requests_memory: Samples<NamespaceLabels, f64>,
    usage_cpu: Samples<NamespaceLabels, f64>,
    usage_memory: Samples<NamespaceLabels, f64>,
    gap: Samples<ResourceLabels, f64>,
    recommended_cpu: Samples<NamespaceLabels, f64>,
    recommended_memory: Samples<NamespaceLabels, f64>,
    cost: Samples<CostLabels, f64>,
    expiry: Samples<NamespaceLabels, f64>,
    reclaim_after: Samples<NamespaceLabels, f64>,
    state: Samples<StateLabels, i64>,
    idle: Samples<VerdictLabels, i64>,
}

impl Namespaces {
    fn register(&self, r: &mut Registry) {
        r.register(
            "namespace_requests_cpu_cores",
            "CPU requested by the namespace's pods that hold resources, in cores",
            self.requests_cpu.clone(),
        );
        r.register(
            "namespace_requests_memory_bytes",
            "Memory requested by the namespace's pods that hold resources, in bytes",
            self.requests_memory.clone(),
        );
        r.register(
            "namespace_usage_cpu_cores",
            "CPU used: the configured quantile of 5-minute rates over the rightsizing window, in cores",
            self.usage_cpu.clone(),
        );
        r.register(
            "namespace_usage_memory_bytes",
            "Memory used: the working set statistic over the rightsizing window, in bytes",
            self.usage_memory.clone(),
        );
        r.register(
            "namespace_rightsizing_gap_ratio",
            "(requested - used) / requested; flagged above rightsizing.gap_threshold",
            self.gap.clone(),
        );
        r.register(
            "namespace_recommended_requests_cpu_cores",
            "Recommended CPU request: used x (1 + headroom), in cores",
            self.recommended_cpu.clone(),
        );
        r.register(
            "namespace_recommended_requests_memory_bytes",
            "Recommended memory request: used x (1 + headroom), in bytes",
            self.recommended_memory.clone(),
        );
        r.register(
            "namespace_hourly_cost",
            "Cost per hour of what is requested, used, and requested but unused (waste), per resource, in the currency of kube_reclaimer_pricing_info",
            self.cost.clone(),
        );
        r.register(
            "namespace_expiry_timestamp_seconds",
            "When the namespace expires (Unix time), when an expiry is set",
            self.expiry.clone(),
        );
        r.register(
            "namespace_reclaim_after_timestamp_seconds",
            "When a namespace marked for reclamation becomes due (Unix time)",
            self.reclaim_after.clone(),
        );
        r.register(
            "namespace_lifecycle_state",
            "Where the namespace stands: 1 for its state, 0 for every other state",
            self.state.clone(),
        );
        r.register(
            "namespace_idle",
            "Idle verdict over the idle window: 1 for the verdict, 0 for the others",
            self.idle.clone(),
        );
    }

    fn clear(&self) {
        self.requests_cpu.clear();
        self.requests_memory.clear();
        self.usage_cpu.clear();
        self.usage_memory.clear();
        self.gap.clear();
        self.recommended_cpu.clear();
        self.recommended_memory.clear();
        self.cost.clear();
        self.expiry.clear();
        self.reclaim_after.clear();
        self.state.clear();
        self.idle.clear();
    }

    fn fill(&self, a: &Assessment, p: &NamespacePlan, lifecycle: &Lifecycle, grace: Span) {
        let namespace: Arc<str> = Arc::from(a.name.as_str());
        let team: Arc<str> = Arc::from(a.owner.team.as_deref().unwrap_or_default());
        let ns = NamespaceLabels {
            namespace: namespace.clone(),
            team: team.clone(),
        };
        let set = |family: &Samples<NamespaceLabels, f64>, value: Option<f64>| {
            if let Some(v) = value.filter(|v| v.is_finite()) {
                family.push(ns.clone(), v);
            }
        };
        let (cpu, memory) = (&a.rightsizing.cpu, &a.rightsizing.memory);
        set(&self.requests_cpu, cpu.requested);
        set(&self.requests_memory, memory.requested);
        set(&self.usage_cpu, cpu.used);
        set(&self.usage_memory, memory.used);
        set(&self.recommended_cpu, cpu.recommended_request);
        set(&self.recommended_memory, memory.recommended_request);
        for (resource, gap) in [("cpu", cpu.gap), ("memory", memory.gap)] {
            if let Some(v) = gap.filter(|v| v.is_finite()) {
                let labels = ResourceLabels {
                    namespace: namespace.clone(),
                    team: team.clone(),
                    resource,
                };
                self.gap.push(labels, v);
            }
        }
        for (resource, line) in [("cpu", &a.cost.cpu), ("memory", &a.cost.memory)] {
            for (kind, value) in [
                ("requested", line.requested),
                ("used", line.used),
                ("waste", line.waste),
            ] {
                if let Some(v) = value.filter(|v| v.is_finite()) {
                    let labels = CostLabels {
                        namespace: namespace.clone(),
                        team: team.clone(),
                        kind,
                        resource,
                    };
                    self.cost.push(labels, v);
                }
            }
        }
        set(&self.expiry, a.expiry.at().map(seconds));
        let standing = reclaim_after(p, lifecycle, grace, Pending::Standing);
        set(&self.reclaim_after, standing.map(|(t, _)| seconds(t)));
        for state in State::ALL {
            let labels = StateLabels {
                namespace: namespace.clone(),
                team: team.clone(),
                state: state.as_str(),
            };
            self.state.push(labels, i64::from(state == p.state));
        }
        for verdict in Verdict::ALL {
            let labels = VerdictLabels {
                namespace: namespace.clone(),
                team: team.clone(),
                verdict: verdict.as_str(),
            };
            self.idle.push(labels, i64::from(verdict == a.idle.verdict));
        }
    }
}

/// Unix time in seconds, with milliseconds.
fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// The registry and a handle on every metric in it; registered once, updated every cycle.
pub struct Metrics {
    registry: Registry,
    /// Written while a cycle updates the metrics, read while rendering them.
    cycle: RwLock<()>,
    namespaces: Namespaces,
    pricing: Latest<PricingLabels>,
    price_cpu: Latest<f64>,
    price_memory: Latest<f64>,
    cycle_duration: Histogram,
    last_success: Latest<f64>,
    errors: Family<SourceLabels, Counter>,
    prometheus_queries: Counter,
    prometheus_series: Family<SeriesLabels, Gauge>,
    reminders: Counter,
    reclaimed: Family<ModeLabels, Counter>,
    leader: Gauge,
    clock_skew: Latest<f64>,
    clock_skew_exceeded: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kube_reclaimer");
        let metrics = Metrics {
            registry: Registry::default(),
            cycle: RwLock::new(()),
            namespaces: Namespaces::default(),
            pricing: Latest::default(),
            price_cpu: Latest::default(),
            price_memory: Latest::default(),
            cycle_duration: Histogram::new(CYCLE_BUCKETS),
            last_success: Latest::default(),
            errors: Family::default(),
            prometheus_queries: Counter::default(),
            prometheus_series: Family::default(),
            reminders: Counter::default(),
            reclaimed: Family::default(),
            leader: Gauge::default(),
            clock_skew: Latest::default(),
            clock_skew_exceeded: Gauge::default(),
        };
        metrics.namespaces.register(&mut registry);
        metrics.register_prices(&mut registry);
        metrics.register_cycles(&mut registry);
        metrics.register_actions(&mut registry);
        metrics.register_leader(&mut registry);
        // Counters exist from the start, at 0, for every label value.
        for source in Source::ALL {
            metrics.error(source, 0);
        }
        for mode in [ENFORCE, DRY_RUN] {
            metrics.reclaimed(mode);
        }
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Registers the prices costs are computed with.
    fn register_prices(&self, r: &mut Registry) {
        r.register(
            "pricing",
            "The prices costs are computed with: their currency and where they come from",
            self.pricing.clone(),
        );
        r.register(
            "price_cpu_vcpu_hour",
            "Price of one vCPU for one hour, in the currency of kube_reclaimer_pricing_info",
            self.price_cpu.clone(),
        );
        r.register(
            "price_memory_gib_hour",
            "Price of one GiB of memory for one hour, in the currency of kube_reclaimer_pricing_info",
            self.price_memory.clone(),
        );
    }

    /// Registers how cycles go: their durations, the last success, errors and PromQL queries.
    fn register_cycles(&self, r: &mut Registry) {
        r.register(
            "cycle_duration_seconds",
            "Duration of completed cycles: collect, assess, plan and act",
            self.cycle_duration.clone(),
        );
        r.register(
            "last_successful_cycle_timestamp_seconds",
            "When the last cycle completed (Unix time)",
            self.last_success.clone(),
        );
        r.register(
            "errors",
            "Errors by source: kubernetes, prometheus, smtp, annotate, event, reclaim, lease, deadline (a cycle abandoned at daemon.cycle_timeout)",
            self.errors.clone(),
        );
        r.register(
            "prometheus_queries",
            "PromQL queries sent, retries included",
            self.prometheus_queries.clone(),
        );
        r.register(
            "prometheus_series",
            "1 for the series each statistic was read from at the last cycle: raw (cAdvisor's), recorded (deploy/prometheus/rules.yaml) or none",
            self.prometheus_series.clone(),
        );
    }

    /// Registers what the act stage did.
    fn register_actions(&self, r: &mut Registry) {
        r.register(
            "reminders_sent",
            "Expiry reminders the SMTP server accepted",
            self.reminders.clone(),
        );
        r.register(
            "namespaces_reclaimed",
            "Namespaces reclaimed (enforce), or that a dry-run cycle would have reclaimed (dry-run, counted again each cycle)",
            self.reclaimed.clone(),
        );
    }

    /// Registers whether this replica may act: the Lease and the clock.
    fn register_leader(&self, r: &mut Registry) {
        r.register(
            "leader",
            "1 when this replica held the leader Lease at its last cycle (may act), else 0",
            self.leader.clone(),
        );
        r.register(
            "clock_skew_seconds",
            "The apiserver's clock minus this replica's, at the last cycle",
            self.clock_skew.clone(),
        );
        r.register(
            "clock_skew_exceeded",
            "1 when this replica does not act because its clock differs from the apiserver's by more than daemon.max_clock_skew (or could not be compared), else 0",
            self.clock_skew_exceeded.clone(),
        );
    }

    /// Replaces the per-namespace series and the prices with those of `evaluation`;
    /// counts its source problems and PromQL queries and, in dry-run, the reclamations
    /// it plans.
    pub fn record_evaluation(&self, evaluation: &Evaluation, config: &Config) {
        let _cycle = write(&self.cycle);
        self.namespaces.clear();
        let grace = config.lifecycle.grace_period;
        let items = evaluation
            .assessments
            .iter()
            .zip(&evaluation.plan.namespaces)
            .zip(&evaluation.lifecycles);
        for ((assessment, plan), lifecycle) in items {
            self.namespaces.fill(assessment, plan, lifecycle, grace);
        }
        let prices = &evaluation.prices;
        self.pricing.set(PricingLabels {
            currency: prices.currency.clone(),
            source: prices.source,
        });
        self.price_cpu.set(prices.cpu_per_vcpu_hour);
        self.price_memory.set(prices.memory_per_gib_hour);
        let sources = &evaluation.sources;
        self.error(Source::Kubernetes, sources.kubernetes.problems.len() as u64);
        self.error(Source::Prometheus, sources.prometheus.problems.len() as u64);
        self.prometheus_queries
            .inc_by(u64::from(sources.prometheus.requests));
        self.prometheus_series.clear();
        for choice in &sources.prometheus_series {
            self.prometheus_series
                .get_or_create(&SeriesLabels {
                    statistic: choice.statistic.as_str(),
                    series: choice.series.map_or("none", |s| s.as_str()),
                })
                .set(1);
        }
        if evaluation.plan.dry_run {
            let planned = evaluation
                .plan
                .namespaces
                .iter()
                .filter(|n| {
                    n.actions
                        .iter()
                        .any(|a| matches!(a.kind, ActionKind::Reclaim { .. }))
                })
                .count();
            self.reclaimed(DRY_RUN).inc_by(planned as u64);
        }
    }

    /// Counts what the act stage did: reminders sent and namespaces reclaimed (once per
    /// namespace), failures by the step that failed, and events that could not be written.
    pub fn record_done(&self, acted: &Acted) {
        let _cycle = write(&self.cycle);
        let namespaces = |kind: Kind| {
            acted
                .done
                .iter()
                .filter(|d| d.kind == kind && d.outcome == Outcome::Done)
                .map(|d| d.namespace.as_str())
                .collect::<BTreeSet<_>>()
                .len() as u64
        };
        self.reminders.inc_by(namespaces(Kind::Remind));
        self.reclaimed(ENFORCE).inc_by(namespaces(Kind::Reclaim));
        for step in acted
            .done
            .iter()
            .filter(|d| d.outcome == Outcome::Failed)
            .filter_map(|d| d.step)
        {
            self.error(Source::from(step), 1);
        }
        self.error(Source::Event, u64::from(acted.events_failed));
    }

    /// Counts one error from `source`.
    pub fn record_error(&self, source: Source) {
        self.error(source, 1);
    }

    /// A cycle completed at `at` after `seconds`.
    pub fn cycle_completed(&self, seconds_taken: f64, at: DateTime<Utc>) {
        let _cycle = write(&self.cycle);
        self.cycle_duration.observe(seconds_taken);
        self.last_success.set(seconds(at));
    }

    /// Whether this replica holds the leader Lease.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The last comparison with the apiserver's clock (`None`: none could be made), and
    /// whether this replica refuses to act because of it.
    pub fn set_clock_skew(&self, seconds: Option<f64>, exceeded: bool) {
        if let Some(seconds) = seconds {
            self.clock_skew.set(seconds);
        }
        self.clock_skew_exceeded.set(i64::from(exceeded));
    }

    /// Everything, as OpenMetrics text ending in `# EOF`.
    pub fn render(&self) -> String {
        let _cycle = read(&self.cycle);
        let mut out = String::new();
        if let Err(e) = text::encode(&mut out, &self.registry) {
            // Writing into a String does not fail; a metric that fails to encode would.
            tracing::error!(error = %e, "cannot render the metrics");
        }
        out
    }

    fn error(&self, source: Source, count: u64) {
        self.errors
            .get_or_create(&SourceLabels {
                source: source.as_str(),
            })
            .inc_by(count);
    }

    fn reclaimed(&self, mode: &'static str) -> Counter {
        self.reclaimed.get_or_create_owned(&ModeLabels { mode })
    }
}

#[cfg(test)]
mod tests;
