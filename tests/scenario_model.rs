//! The test support's scenario model and metrics renderer, without a bed: the sample
//! scenario loads, placeholders expand, profiles integrate exactly, and the OpenMetrics
//! output has the shape promtool needs.

mod support;

use chrono::{DateTime, Duration, Utc};
use support::metrics::{self, Grid};
use support::scenario::{expand, quantile, quantity, Instant, Pattern, Profile, Span};
use support::{IdleVerdict, Scenario};

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-06T10:17:00Z")
        .expect("fixed time")
        .with_timezone(&Utc)
}

#[test]
fn sample_scenario_loads_with_its_archetypes() {
    let s = Scenario::named("sample").expect("sample.yaml loads");
    assert!(s.namespaces.len() >= 12);
    assert!(s.namespaces.iter().all(|n| n.name.starts_with("sample-")));
    let idle = s.namespace("sample-idle").expect("sample-idle");
    assert_eq!(idle.expect.idle, IdleVerdict::Idle);
    assert_eq!(idle.expect.actions, vec!["mark".to_string()]);
    let batch = s.namespace("sample-batch").expect("sample-batch");
    let (cpu, memory) = batch.requests();
    assert!(
        (cpu - 0.2).abs() < 1e-9,
        "terminal pods do not count: {cpu}"
    );
    assert!((memory - 256.0 * 1048576.0).abs() < 1.0);
    assert_eq!(batch.expect.extra["pods_counted"], serde_json::json!(1));
    let expired = s.namespace("sample-expired").expect("sample-expired");
    assert_eq!(
        expired.labels_at(at()).expect("expands")["kube-reclaimer.io/expires"],
        "2026-12-03"
    );
}

#[test]
fn placeholders_spans_and_quantities() {
    assert_eq!(expand("${at+3d|date}", at()).expect("ok"), "2026-12-09");
    assert_eq!(
        expand("x ${at-2d} y", at()).expect("ok"),
        "x 2026-12-04T10:17:00Z y"
    );
    assert_eq!(
        expand("${at+5h|kyverno}", at()).expect("ok"),
        "2026-12-06T151700Z"
    );
    assert_eq!(
        expand("${at|unix}", at()).expect("ok"),
        at().timestamp().to_string()
    );
    assert!(expand("${at+3x|date}", at()).is_err());
    assert!(expand("${at|weird}", at()).is_err());
    assert_eq!(Span::parse("1d12h").expect("ok").0, Duration::hours(36));
    assert_eq!(Instant::parse("at-1d").expect("ok").0, Duration::days(-1));
    assert_eq!(quantity("250m").expect("ok"), 0.25);
    assert_eq!(quantity("1Gi").expect("ok"), 1073741824.0);
    assert!(quantity("12 parsecs").is_err());
}

#[test]
fn counters_integrate_the_profiles_exactly() {
    let origin = 1_000_000.0;
    let steady = Profile::steady(0.5);
    assert!((steady.integral(origin + 600.0, origin) - 300.0).abs() < 1e-9);
    let diurnal = Profile {
        pattern: Pattern::Diurnal,
        level: 1.0,
        amplitude: 0.5,
        ..Profile::default()
    };
    // a whole day averages to the level
    assert!((diurnal.integral(origin + 86_400.0, origin) - 86_400.0).abs() < 1e-6);
    let bursty = Profile {
        pattern: Pattern::Bursty,
        level: 0.0,
        burst: 2.0,
        every: Some(Span(Duration::hours(1))),
        lasts: Some(Span(Duration::minutes(10))),
        offset: Some(Span(Duration::minutes(5))),
        ..Profile::default()
    };
    // three bursts of 10 minutes in [origin, origin + 3h]
    assert!((bursty.integral(origin + 3.0 * 3600.0, origin) - 3.0 * 600.0 * 2.0).abs() < 1e-9);
    assert_eq!(bursty.level_at(origin + 400.0, origin), 2.0);
    assert_eq!(bursty.level_at(origin + 1000.0, origin), 0.0);
    assert_eq!(quantile(0.5, &[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(quantile(0.95, &[0.0, 10.0]), Some(9.5));
}

#[test]
fn openmetrics_output_is_grouped_ordered_and_terminated() {
    let s = Scenario::named("sample").expect("sample.yaml loads");
    let dir = std::env::temp_dir().join(format!("kube-reclaimer-om-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("sample.om");
    let grid = Grid {
        at: at(),
        history: s.history.0,
        step: Duration::hours(1),
    };
    let pods = metrics::scenario_pods(&s, at()).expect("pods");
    let stats = metrics::render(&file, &pods, grid).expect("renders");
    let text = std::fs::read_to_string(&file).expect("read back");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(stats.bytes as usize, text.len());
    // families are contiguous: each TYPE line once, samples follow their family
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    assert_eq!(
        types,
        vec![
            "# TYPE container_cpu_usage_seconds counter",
            "# TYPE container_memory_working_set_bytes gauge",
            "# TYPE container_network_receive_bytes counter",
            "# TYPE container_network_transmit_bytes counter",
            "# TYPE node_cpu_hourly_cost gauge",
            "# TYPE node_ram_hourly_cost gauge",
        ]
    );
    // per series: timestamps strictly increasing, counters never decrease
    let mut last: std::collections::HashMap<&str, (i64, f64)> = Default::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, rest) = line.rsplit_once("} ").expect("labels");
        let (value, ts) = rest.split_once(' ').expect("value and timestamp");
        let (value, ts): (f64, i64) = (value.parse().expect("value"), ts.parse().expect("ts"));
        if let Some((t0, v0)) = last.insert(series, (ts, value)) {
            assert!(ts > t0, "{series}: time order");
            if !series.starts_with("container_memory") {
                assert!(value >= v0, "{series}: counter decreased");
            }
        }
        assert!(ts <= at().timestamp() && ts >= (at() - s.history.0).timestamp());
    }
    // pod-level series exist beside the container ones
    assert!(text.contains(
        "container_cpu_usage_seconds_total{container=\"\",instance=\"bed-node-1:10250\",job=\"kubelet\",namespace=\"sample-busy\",node=\"bed-node-1\",pod=\"web-0\"}"
    ));
    assert!(text.contains("interface=\"eth0\""));
    assert!(!text.contains("namespace=\"sample-empty\""));
    // the finished job's series stop at at-10d
    let migrate_last = last
        .iter()
        .filter(|(k, _)| k.contains("pod=\"migrate\""))
        .map(|(_, (t, _))| *t)
        .max()
        .expect("migrate has series");
    assert!(migrate_last <= (at() - Duration::days(10)).timestamp());
}

#[test]
fn expected_usage_follows_the_profiles() {
    let s = Scenario::named("sample").expect("sample.yaml loads");
    let u = s.expected_usage("sample-overprovisioned", at(), Duration::days(7));
    assert!((u.cpu_p95.expect("cpu") - 0.3).abs() < 1e-6);
    assert!((u.memory_max.expect("memory") - 900.0 * 1048576.0).abs() < 1.0);
    let b = s.expected_usage("sample-bursty-cpu", at(), Duration::days(7));
    assert!((b.cpu_max.expect("cpu max") - 0.08).abs() < 1e-6);
    assert!(b.cpu_p95.expect("cpu p95") < 0.002);
    let e = s.expected_usage("sample-empty", at(), Duration::days(7));
    assert_eq!(e.cpu_max, None);
    let batch = s.expected_usage("sample-batch", at(), Duration::days(7));
    assert!(
        (batch.cpu_max.expect("cpu") - 0.15).abs() < 1e-6,
        "the old job is outside the window"
    );
}
