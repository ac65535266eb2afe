//! The recording rules of deploy/prometheus/rules.yaml, backfilled by `promtool tsdb
//! create-blocks-from rules` over the last 7 days and an hour of the sample scenario's
//! history in a Prometheus of this test's own, give every namespace the statistics the
//! raw queries give; `auto` uses them only where their history covers the window;
//! `prometheus.selector` reaches every query.
//!
//! Tolerance: a recorded value at a subquery step is that of the last evaluation at or
//! before it, up to one evaluation interval (1m) older (promtool, like Prometheus itself,
//! evaluates at instants that need not fall on the 5-minute steps). Its 5-minute rate
//! then covers a window shifted by up to a minute: at most a fifth of the window differs,
//! so a statistic may differ by up to 1m/5m = 20% of the larger value, and a series'
//! first and last steps may be missed (one step, 5 minutes, of history). A wrong rule
//! (another metric, pod-level series counted twice, clusters summed) is far outside.
use crate::support::metrics;
use crate::support::own_prometheus::{bed_grid, OwnPrometheus};
use crate::support::Bed;
use kube_reclaimer::core::collected::SeriesChoice;
use kube_reclaimer::core::config::{Config, RecordingRules};
use kube_reclaimer::core::model::{Sample, Span, Usage};
use kube_reclaimer::core::query::{Series, Statistic, RECORDED_CPU};
use kube_reclaimer::io::prometheus::{Prometheus, UsageCollection};
use std::path::Path;
use std::sync::OnceLock;

/// The sample scenario's history with the recording rules backfilled over all of it.
fn with_rules() -> &'static OwnPrometheus {
    static PROMETHEUS: OnceLock<OwnPrometheus> = OnceLock::new();
    PROMETHEUS.get_or_init(|| {
        let bed = Bed::shared();
        let grid = bed_grid(bed);
        let pods = metrics::scenario_pods(&bed.scenario, bed.at).expect("the scenario's pods");
        let prometheus = OwnPrometheus::start("rules", bed, &pods, grid).expect("Prometheus");
        prometheus
            .backfill_rules(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/rules.yaml"),
                bed.at - chrono::Duration::days(7) - chrono::Duration::hours(1),
                bed.at,
                "1m",
                RECORDED_CPU,
            )
            .expect("the rules backfill");
        prometheus
    })
}

fn config(rules: RecordingRules) -> Config {
    let mut c = Config::default();
    c.prometheus.recording_rules = rules;
    c
}

fn collect(bed: &Bed, config: &Config, url: &str) -> UsageCollection {
    bed.block_on(async {
        let prometheus = Prometheus::connect(config, Some(url)).expect("client");
        prometheus.collect(config, bed.at).await
    })
}

fn series_of(c: &UsageCollection) -> Vec<(Statistic, Option<Series>)> {
    c.series
        .iter()
        .map(
            |SeriesChoice {
                 statistic, series, ..
             }| (*statistic, *series),
        )
        .collect()
}

fn samples(u: &Usage) -> [(&'static str, &Sample); 4] {
    [
        ("CPU quantile", &u.cpu_quantile_cores),
        ("CPU maximum", &u.cpu_max_cores),
        ("memory", &u.memory_bytes),
        ("network maximum", &u.network_max_bytes_per_second),
    ]
}

#[test]
fn recorded_series_give_every_namespace_the_raw_statistics() {
    let bed = Bed::shared();
    let prometheus = with_rules();
    let raw = collect(bed, &config(RecordingRules::Never), &prometheus.url);
    let recorded = collect(bed, &config(RecordingRules::Always), &prometheus.url);
    assert!(raw.problems.is_empty(), "{:?}", raw.problems);
    assert!(recorded.problems.is_empty(), "{:?}", recorded.problems);
    assert!(series_of(&raw).iter().all(|(_, s)| *s == Some(Series::Raw)));
    assert!(
        series_of(&recorded)
            .iter()
            .all(|(_, s)| *s == Some(Series::Recorded)),
        "{:?}",
        recorded.series
    );
    let mut compared = 0;
    let mut largest: f64 = 0.0;
    let mut wrong = Vec::new();
    for spec in &bed.scenario.namespaces {
        let (r, c) = (raw.usage_of(&spec.name), recorded.usage_of(&spec.name));
        for ((what, a), (_, b)) in samples(&r).into_iter().zip(samples(&c)) {
            match (a, b) {
                (Sample::Value { value: a }, Sample::Value { value: b }) => {
                    compared += 1;
                    let scale = a.abs().max(b.abs());
                    if scale > 0.0 {
                        largest = largest.max((a - b).abs() / scale);
                    }
                    if (a - b).abs() > 0.2 * scale + 1e-12 {
                        wrong.push(format!("{}: {what} raw {a}, recorded {b}", spec.name));
                    }
                }
                (a, b) if a == b => {}
                (a, b) => wrong.push(format!("{}: {what} raw {a:?}, recorded {b:?}", spec.name)),
            }
        }
        let missing = |u: &Usage| u.history_missing.map_or(0, |m| m.as_seconds());
        if r.history_since != c.history_since || (missing(&r) - missing(&c)).abs() > 300 {
            wrong.push(format!(
                "{}: history raw {:?}/{:?}, recorded {:?}/{:?}",
                spec.name, r.history_since, r.history_missing, c.history_since, c.history_missing
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    crate::support::bed::progress(&format!(
        "recorded against raw: {compared} values, largest difference {:.3}%",
        largest * 100.0
    ));
    assert!(
        compared >= 4 * 5,
        "only {compared} values compared: the scenario has too few namespaces with series"
    );
    // The checks are four more queries, the same for any number of namespaces.
    assert_eq!((raw.queries, recorded.queries), (6, 10));
}

#[test]
fn auto_reads_recorded_series_only_where_their_history_covers_the_window() {
    let bed = Bed::shared();
    let prometheus = with_rules();
    let auto = collect(bed, &config(RecordingRules::Auto), &prometheus.url);
    assert!(series_of(&auto)
        .iter()
        .all(|(_, s)| *s == Some(Series::Recorded)));

    // A rightsizing window longer than the recorded history: those two statistics raw.
    let mut long = config(RecordingRules::Auto);
    long.rightsizing.window = Span::days(15);
    let c = collect(bed, &long, &prometheus.url);
    assert_eq!(
        series_of(&c),
        vec![
            (Statistic::CpuQuantile, Some(Series::Raw)),
            (Statistic::CpuMax, Some(Series::Recorded)),
            (Statistic::Memory, Some(Series::Raw)),
            (Statistic::NetworkMax, Some(Series::Recorded)),
        ]
    );
    let why = &c.series[0].reason;
    assert!(why.contains("does not cover the 15d window"), "{why}");
    // `always` leaves those two unknown instead, and says why.
    long.prometheus.recording_rules = RecordingRules::Always;
    let c = collect(bed, &long, &prometheus.url);
    let u = c.usage_of("sample-busy");
    let Sample::Unavailable { reason } = &u.cpu_quantile_cores else {
        panic!("{:?}", u.cpu_quantile_cores);
    };
    assert!(reason.contains("recording_rules is always"), "{reason}");
    assert!(matches!(u.cpu_max_cores, Sample::Value { .. }));

    // The bed's own Prometheus has no recorded series: auto reads raw ones throughout.
    let c = collect(bed, &config(RecordingRules::Auto), &bed.prometheus_url);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert!(
        c.series
            .iter()
            .all(|s| s.series == Some(Series::Raw)
                && s.reason.contains("does not cover the 7d window")),
        "{:?}",
        c.series
    );
    assert!(matches!(
        c.usage_of("sample-busy").cpu_quantile_cores,
        Sample::Value { .. }
    ));
}

#[test]
fn the_selector_narrows_every_query_and_a_selector_that_matches_nothing_is_said() {
    let bed = Bed::shared();
    let prometheus = with_rules();
    let all = collect(bed, &config(RecordingRules::Never), &prometheus.url);
    for rules in [RecordingRules::Never, RecordingRules::Always] {
        let mut kubelet = config(rules);
        kubelet.prometheus.selector = r#"job="kubelet""#.into();
        let c = collect(bed, &kubelet, &prometheus.url);
        assert!(c.problems.is_empty(), "{rules:?}: {:?}", c.problems);
        for spec in &bed.scenario.namespaces {
            assert_eq!(
                samples(&c.usage_of(&spec.name)).map(|(_, s)| matches!(s, Sample::Value { .. })),
                samples(&all.usage_of(&spec.name)).map(|(_, s)| matches!(s, Sample::Value { .. })),
                "{rules:?} {}",
                spec.name
            );
        }
    }
    let mut none = config(RecordingRules::Auto);
    none.prometheus.selector = r#"cluster="elsewhere""#.into();
    let c = collect(bed, &none, &prometheus.url);
    assert!(
        c.problems
            .iter()
            .any(|p| p.contains(r#"no series matched prometheus.selector `cluster="elsewhere"`"#)),
        "{:?}",
        c.problems
    );
    assert!(c.series.iter().all(|s| s.series == Some(Series::Raw)));
    let u = c.usage_of("sample-idle");
    assert_eq!(u.cpu_max_cores, Sample::NoSeries);
    assert_eq!(
        u.history_since, None,
        "nothing matched: the history is not known to reach back"
    );
}
