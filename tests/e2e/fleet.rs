//! The metrics stores of a fleet, real servers each (tests/support/stores.rs): Thanos
//! over two clusters' Prometheus servers, VictoriaMetrics single-node, Prometheus 3. The
//! sample scenario's history in each; the product's statistics and the binary's plan
//! checked against the scenario's ground truth and against the bed's Prometheus 2.42.

use crate::plan::{kinds, verdicts_that_differ};
use crate::support::stores::{self, Thanos, Victoria, BUSIER, BUSIER_FACTOR};
use crate::support::Bed;
use kube_reclaimer::core::config::{Config, RecordingRules};
use kube_reclaimer::core::model::{Sample, Usage};
use kube_reclaimer::io::prometheus::{Prometheus, UsageCollection};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const STATISTICS: [&str; 4] = ["CPU quantile", "CPU maximum", "memory", "network maximum"];

fn config(selector: &str) -> Config {
    let mut c = Config::default();
    c.prometheus.selector = selector.into();
    c.prometheus.recording_rules = RecordingRules::Auto;
    c
}

fn collect_at(
    bed: &Bed,
    selector: &str,
    url: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> UsageCollection {
    let config = config(selector);
    bed.block_on(async {
        let prometheus = Prometheus::connect(&config, Some(url)).expect("client");
        prometheus.collect(&config, at).await
    })
}

fn collect(bed: &Bed, selector: &str, url: &str) -> UsageCollection {
    collect_at(bed, selector, url, bed.at)
}

fn samples(u: &Usage) -> [&Sample; 4] {
    [
        &u.cpu_quantile_cores,
        &u.cpu_max_cores,
        &u.memory_bytes,
        &u.network_max_bytes_per_second,
    ]
}

fn value(s: &Sample) -> Option<f64> {
    match s {
        Sample::Value { value } => Some(*value),
        _ => None,
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-9)
}

/// Where two collections differ by more than `rel` (relative) for a scenario namespace:
/// values, the kind of sample, or the history.
fn differences(bed: &Bed, x: &UsageCollection, y: &UsageCollection, rel: f64) -> Vec<String> {
    let mut wrong = Vec::new();
    for spec in &bed.scenario.namespaces {
        let (u, v) = (x.usage_of(&spec.name), y.usage_of(&spec.name));
        for (what, (a, b)) in STATISTICS
            .iter()
            .zip(samples(&u).into_iter().zip(samples(&v)))
        {
            match (value(a), value(b)) {
                (Some(a), Some(b)) if close(a, b, rel) => {}
                (None, None) if std::mem::discriminant(a) == std::mem::discriminant(b) => {}
                _ => wrong.push(format!("{}: {what} {a:?} vs {b:?}", spec.name)),
            }
        }
        if (u.history_since, u.history_missing) != (v.history_since, v.history_missing) {
            wrong.push(format!(
                "{}: history {:?}/{:?} vs {:?}/{:?}",
                spec.name, u.history_since, u.history_missing, v.history_since, v.history_missing
            ));
        }
    }
    wrong
}

/// The sample config, with `prometheus.selector` when given, written once per name.
fn config_file(name: &str, selector: &str) -> String {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/sample-config.yaml");
    let mut text = std::fs::read_to_string(sample).expect("sample config");
    if !selector.is_empty() {
        text.push_str(&format!("prometheus:\n  selector: '{selector}'\n"));
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fleet-{name}.yaml"));
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

fn plan(bed: &Bed, url: &str, config: &str) -> (Value, String) {
    crate::plan::plan_with(bed, url, config)
}

fn by_name(plan: &Value) -> BTreeMap<String, Value> {
    crate::plan::by_name(plan)
}

/// The statistics against the scenario's ground truth, with tests/e2e/bed_smoke.rs's
/// tolerances (the scenario's model of a 5m rate is not Prometheus's extrapolation).
fn against_ground_truth(bed: &Bed, c: &UsageCollection) -> Vec<String> {
    let window = chrono::Duration::days(7);
    let mut wrong = Vec::new();
    for spec in &bed.scenario.namespaces {
        let e = bed.scenario.expected_usage(&spec.name, bed.at, window);
        let u = c.usage_of(&spec.name);
        let expected = [e.cpu_p95, e.cpu_max, e.memory_max, e.network_max];
        let tolerance: [(f64, f64); 4] = [(0.10, 0.0005), (0.10, 0.0005), (0.01, 1.0), (0.10, 5.0)];
        for (i, s) in samples(&u).into_iter().enumerate() {
            let (rel, abs) = tolerance[i];
            match (value(s), expected[i]) {
                (Some(a), Some(e)) if (a - e).abs() <= abs.max(rel * e.abs()) => {}
                (None, None) if *s == Sample::NoSeries => {}
                (a, e) => wrong.push(format!(
                    "{}: {} got {a:?}, scenario {e:?}",
                    spec.name, STATISTICS[i]
                )),
            }
        }
    }
    wrong
}

/// Per statistic, the largest relative difference of `x` from `y` over the namespaces
/// both know, and in which namespace.
fn largest_differences(bed: &Bed, x: &UsageCollection, y: &UsageCollection) -> [(f64, String); 4] {
    let mut out: [(f64, String); 4] = Default::default();
    for spec in &bed.scenario.namespaces {
        let (u, v) = (x.usage_of(&spec.name), y.usage_of(&spec.name));
        for (i, (a, b)) in samples(&u).into_iter().zip(samples(&v)).enumerate() {
            if let (Some(a), Some(b)) = (value(a), value(b)) {
                let d = (a - b).abs() / a.abs().max(b.abs()).max(1e-12);
                if d > out[i].0 {
                    out[i] = (d, spec.name.clone());
                }
            }
        }
    }
    out
}

fn show(store: &str, d: &[(f64, String); 4]) {
    for (what, (rel, ns)) in STATISTICS.iter().zip(d) {
        eprintln!("{store}: {what:<16} largest difference from Prometheus 2.42: {rel:.2e} ({ns})");
    }
}

// ------------------------------------------------------------------------------ Thanos

/// Tolerance against Prometheus 2.42 of a store with other rate semantics: Prometheus 3
/// (and Thanos Query, which evaluates with its engine) leaves out a sample exactly at the
/// start of a 5m rate window (left-open ranges); MetricsQL's `rate` starts from the last
/// sample before the window and does not extrapolate. With samples every 2 minutes the
/// samples a rate is taken over shift by up to one minute, so a curved (diurnal) rate
/// moves by at most its slope times 60 s: for the sample scenario's busiest profiles
/// (amplitude a third of the level, over 24 h) under 1.5e-3 relative. Maxima, at the
/// curve's flat top, move far less (~1e-5).
const ENGINE_TOLERANCE: f64 = 3e-3;

#[test]
fn thanos_with_a_cluster_selector_gives_that_clusters_numbers_only() {
    let bed = Bed::shared();
    let thanos = Thanos::shared();
    let started = Instant::now();
    let selected = |cluster: &str| {
        let c = collect(bed, &format!("cluster=\"{cluster}\""), &thanos.query.url);
        assert!(c.problems.is_empty(), "{cluster}: {:?}", c.problems);
        c
    };
    let (via_a, via_b) = (selected("a"), selected("b"));
    // a is a Prometheus 3: through Thanos, exactly its own numbers.
    let direct_a = collect(bed, "", &thanos.a.url);
    let wrong = differences(bed, &via_a, &direct_a, 1e-9);
    assert!(
        wrong.is_empty(),
        "cluster a through Thanos:\n{}",
        wrong.join("\n")
    );
    // b is a Prometheus 2.42: through Thanos, its own numbers within the engines'
    // difference (Thanos evaluates with Prometheus 3's engine).
    let direct_b = collect(bed, "", &thanos.b.url);
    let wrong = differences(bed, &via_b, &direct_b, ENGINE_TOLERANCE);
    assert!(
        wrong.is_empty(),
        "cluster b through Thanos:\n{}",
        wrong.join("\n")
    );
    show(
        "Thanos (cluster b)",
        &largest_differences(bed, &via_b, &direct_b),
    );
    let cpu = |c: &UsageCollection| value(&c.usage_of(BUSIER).cpu_max_cores).expect("known");
    // The clusters differ where the scenario made them differ, so the selector matters.
    assert!(
        close(cpu(&via_b), BUSIER_FACTOR * cpu(&via_a), 1e-6),
        "{} vs {}",
        cpu(&via_b),
        cpu(&via_a)
    );
    eprintln!(
        "thanos selector checks: {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn thanos_without_a_selector_sums_a_namespace_present_in_both_clusters() {
    let bed = Bed::shared();
    let thanos = Thanos::shared();
    let url = &thanos.query.url;
    let (a, b) = (
        collect(bed, r#"cluster="a""#, url),
        collect(bed, r#"cluster="b""#, url),
    );
    let both = collect(bed, "", url);
    assert!(both.problems.is_empty(), "{:?}", both.problems);
    let mut compared = 0;
    for spec in &bed.scenario.namespaces {
        let (ua, ub, u) = (
            a.usage_of(&spec.name),
            b.usage_of(&spec.name),
            both.usage_of(&spec.name),
        );
        for (what, ((x, y), s)) in STATISTICS
            .iter()
            .zip(samples(&ua).into_iter().zip(samples(&ub)).zip(samples(&u)))
        {
            // b's usage is a's times a constant per namespace, so every statistic of the
            // sum is the sum of the statistics.
            match (value(x), value(y), value(s)) {
                (Some(x), Some(y), Some(s)) => {
                    compared += 1;
                    assert!(
                        close(s, x + y, 1e-6),
                        "{}: {what} {s} != {x} + {y}",
                        spec.name
                    );
                }
                (None, None, None) => {}
                other => panic!("{}: {what} {other:?}", spec.name),
            }
        }
    }
    assert!(compared >= 20, "{compared}");
    let cpu = |c: &UsageCollection| value(&c.usage_of(BUSIER).cpu_max_cores).expect("known");
    assert!(close(cpu(&both), (1.0 + BUSIER_FACTOR) * cpu(&a), 1e-6));
    let memory = |c: &UsageCollection| value(&c.usage_of(BUSIER).memory_bytes).expect("known");
    assert!(
        close(memory(&both), 2.0 * memory(&a), 1e-9),
        "double counted"
    );
}

#[test]
fn thanos_plan_of_one_cluster_has_the_scenarios_verdicts() {
    let bed = Bed::shared();
    let thanos = Thanos::shared();
    let (plan_a, stderr) = plan(
        bed,
        &thanos.query.url,
        &config_file("cluster-a", r#"cluster="a""#),
    );
    assert_eq!(plan_a["sources"]["prometheus"]["status"], "ok", "{stderr}");
    let wrong = verdicts_that_differ(bed, &plan_a);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Cluster b: the busier namespace's CPU, three times a's.
    let (plan_b, _) = plan(
        bed,
        &thanos.query.url,
        &config_file("cluster-b", r#"cluster="b""#),
    );
    let used = |p: &Value| {
        by_name(p)[BUSIER]["rightsizing"]["cpu"]["used_cores"]
            .as_f64()
            .expect("known")
    };
    assert!(close(used(&plan_b), BUSIER_FACTOR * used(&plan_a), 1e-6));
}

#[test]
fn thanos_with_a_store_down_leaves_usage_unknown_never_a_smaller_sum() {
    let bed = Bed::shared();
    let thanos = Thanos::shared();
    // A store of this test's own for cluster b, so the shared querier keeps both.
    let mut down = stores::sidecar("sidecar-b-down", &thanos.b).expect("sidecar");
    let endpoints = [thanos.sidecar_a.grpc.as_str(), down.grpc.as_str()];
    let strict = stores::query(&thanos.dir, "query-strict", &endpoints, true).expect("query");
    let loose = stores::query(&thanos.dir, "query-loose", &endpoints, false).expect("query");
    let a = collect(bed, r#"cluster="a""#, &thanos.query.url);
    let b = collect(bed, r#"cluster="b""#, &thanos.query.url);
    let cpu = |c: &UsageCollection| value(&c.usage_of(BUSIER).cpu_max_cores);
    let (cpu_a, cpu_b) = (cpu(&a).expect("known"), cpu(&b).expect("known"));
    for q in [&strict, &loose] {
        let c = collect(bed, "", &q.url);
        assert!(
            close(cpu(&c).expect("known"), cpu_a + cpu_b, 1e-6),
            "both stores up"
        );
    }

    down.server.kill();

    // Strict endpoint: Thanos still asks the store, fails, and with partial_response=false
    // answers an error: every statistic unknown, never a's numbers alone.
    let c = collect(bed, "", &strict.url);
    for spec in &bed.scenario.namespaces {
        let u = c.usage_of(&spec.name);
        for (what, s) in STATISTICS.iter().zip(samples(&u)) {
            let Sample::Unavailable { reason } = s else {
                panic!("{}: {what} {s:?} with a store down", spec.name);
            };
            assert!(reason.contains(&down.grpc), "{reason}");
        }
    }
    assert!(!c.problems.is_empty());
    // A selector that the down store's external labels cannot match: Thanos does not ask
    // it, and cluster a's numbers stay known.
    let only_a = collect(bed, r#"cluster="a""#, &strict.url);
    let wrong = differences(bed, &only_a, &a, 1e-9);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Asked for a partial response, Thanos answers a's numbers alone and a warning: the
    // client never asks for one, and would take the warning as missing data.
    let answer = stores::post_json(
        &format!("{}/api/v1/query", strict.url),
        &[
            (
                "query",
                r#"sum by (namespace) (container_memory_working_set_bytes{container!=""})"#,
            ),
            ("time", &bed.at.timestamp().to_string()),
            ("partial_response", "true"),
        ],
    )
    .expect("an answer");
    assert_eq!(answer["status"], "success", "{answer}");
    let warnings = answer["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains(&down.grpc))),
        "{answer}"
    );
    // The binary: Prometheus unavailable, and the idle namespace is not idle.
    let (plan, stderr) = plan(bed, &strict.url, &config_file("no-selector", ""));
    assert_eq!(
        plan["sources"]["prometheus"]["status"], "unavailable",
        "{stderr}"
    );
    let namespaces = by_name(&plan);
    let idle = &namespaces["sample-idle"];
    assert_eq!(
        idle["idle"]["verdict"], "unknown",
        "{}",
        idle["idle"]["summary"]
    );
    assert!(!kinds(idle).contains(&"mark".to_string()), "{idle}");
    assert!(idle["rightsizing"]["cpu"]["used_cores"].is_null());

    // A non-strict endpoint is dropped once its health check fails, and from then on
    // Thanos answers without it and without any warning: the smaller sum, which no client
    // can tell from a complete one. Hence strict endpoints (README).
    let stores_url = format!("{}/api/v1/stores", loose.url);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stores::healthy_stores(&stores_url) != 1 {
        assert!(
            Instant::now() < deadline,
            "the loose querier never noticed the store down"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let c = collect(bed, "", &loose.url);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert!(
        close(cpu(&c).expect("known"), cpu_a, 1e-9),
        "{:?} vs a alone {cpu_a}",
        cpu(&c)
    );
    // With a selector per cluster, a cluster whose only store was dropped is at least
    // said: nothing matched, and no namespace is idle for want of data.
    let c = collect(bed, r#"cluster="b""#, &loose.url);
    assert!(
        c.problems
            .iter()
            .any(|p| p.contains(r#"no series matched prometheus.selector `cluster="b"`"#)),
        "{:?}",
        c.problems
    );
    let idle = c.usage_of("sample-idle");
    assert_eq!(idle.cpu_max_cores, Sample::NoSeries);
    assert_eq!(idle.history_since, None, "no history known: not idle");
}

/// Checks common to a store that should answer as Prometheus does: the binary's plan has
/// the scenario's verdicts; the statistics match the scenario's ground truth and
/// Prometheus 2.42 within [`ENGINE_TOLERANCE`] (memory, a gauge, exactly), history and
/// gaps included; at an instant on a whole 5 minutes, where Prometheus 2.42's closed
/// subquery range has one step more (2017 for 7d) than Prometheus 3's and MetricsQL's
/// left-open one (2016), the coverage check reads both as complete.
fn answers_as_prometheus(store: &str, url: &str) -> [(f64, String); 4] {
    let bed = Bed::shared();
    let (plan, stderr) = plan(bed, url, &config_file("no-selector", ""));
    assert_eq!(
        plan["sources"]["prometheus"]["status"], "ok",
        "{store}: {stderr}"
    );
    let wrong = verdicts_that_differ(bed, &plan);
    assert!(wrong.is_empty(), "{store}:\n{}", wrong.join("\n"));

    let c = collect(bed, "", url);
    assert!(c.problems.is_empty(), "{store}: {:?}", c.problems);
    let wrong = against_ground_truth(bed, &c);
    assert!(wrong.is_empty(), "{store}:\n{}", wrong.join("\n"));
    let reference = collect(bed, "", &bed.prometheus_url);
    let wrong = differences(bed, &c, &reference, ENGINE_TOLERANCE);
    assert!(
        wrong.is_empty(),
        "{store} vs Prometheus 2.42:\n{}",
        wrong.join("\n")
    );
    let d = largest_differences(bed, &c, &reference);
    show(store, &d);
    assert!(d[2].0 < 1e-12, "{store}: memory differs: {:?}", d[2]);

    let aligned = bed.at - chrono::Duration::seconds(bed.at.timestamp().rem_euclid(300));
    let steps = |url: &str| {
        stores::instant(
            url,
            "count_over_time(vector(1)[7d:5m])",
            aligned.timestamp(),
        )
        .first()
        .and_then(|r| r["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()))
    };
    assert_eq!(steps(&bed.prometheus_url), Some(2017.0), "Prometheus 2.42");
    assert_eq!(steps(url), Some(2016.0), "{store}");
    let (c, reference) = (
        collect_at(bed, "", url, aligned),
        collect_at(bed, "", &bed.prometheus_url, aligned),
    );
    assert!(c.problems.is_empty(), "{store}: {:?}", c.problems);
    let wrong = differences(bed, &c, &reference, ENGINE_TOLERANCE);
    assert!(
        wrong.is_empty(),
        "{store} vs Prometheus 2.42 at {aligned}:\n{}",
        wrong.join("\n")
    );
    let busy = c.usage_of(BUSIER);
    assert!(
        busy.history_since.is_some() && busy.history_missing.is_none(),
        "{store}: {busy:?}"
    );
    d
}

// -------------------------------------------------------------------- VictoriaMetrics

#[test]
fn victoria_metrics_gives_the_scenarios_verdicts_and_statistics() {
    let vm = Victoria::shared();
    eprintln!(
        "VictoriaMetrics: {} samples imported, ready in {:.1}s",
        vm.samples,
        vm.started_in.as_secs_f64()
    );
    answers_as_prometheus("VictoriaMetrics", &vm.url);
}

// ------------------------------------------------------------------------ Prometheus 3

#[test]
fn prometheus_3_gives_the_scenarios_verdicts_and_statistics() {
    let p3 = stores::prometheus_3();
    answers_as_prometheus("Prometheus 3", &p3.url);
}
