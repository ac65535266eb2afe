//! Unit tests of the metrics: the series of every state and verdict, their labels, and the action counters.

use super::*;
use crate::app::act::Done;
use crate::core::collected::{Collected, Sources};
use crate::core::evaluate::evaluate;
use crate::core::fixtures::{utc, Ns};
use std::collections::{BTreeMap, HashSet};

const NOW: &str = "2026-11-21T12:00:00Z";
const TEAM: &str = "kube-reclaimer.io/team";
const EXPIRES: &str = "kube-reclaimer.io/expires";

/// Round prices, so that costs print exactly.
fn config(mode: &str) -> Config {
    Config::from_yaml(
        &format!(
            "mode: {mode}
owners: {{fallback_recipients: [platform@example.com]}}
pricing: {{cpu_per_vcpu_hour: 0.04, memory_per_gib_hour: 0.005, currency: EUR}}
"
        ),
        "test",
    )
    .unwrap()
}

fn evaluation(namespaces: Vec<Ns>, config: &Config) -> Evaluation {
    let collected = Collected {
        observations: namespaces.into_iter().map(Ns::build).collect(),
        opencost: None,
        sources: Sources::default(),
        pods_seen: 0,
    };
    evaluate(collected, config, utc(NOW))
}

fn rendered(namespaces: Vec<Ns>, config: &Config) -> String {
    let metrics = Metrics::new();
    metrics.record_evaluation(&evaluation(namespaces, config), config);
    metrics.render()
}

/// Sample lines mentioning `namespace="NAME"`.
fn lines_of<'a>(text: &'a str, namespace: &str) -> Vec<&'a str> {
    let needle = format!("namespace=\"{namespace}\"");
    text.lines().filter(|l| l.contains(&needle)).collect()
}

fn assert_has(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing line\n  {line}\nin\n{text}"
    );
}

/// Marked for reclamation (expired) at `at`, told at the same time.
fn marked(ns: Ns, at: &str) -> Ns {
    let reclaim_after = (utc(at) + chrono::TimeDelta::days(3)).to_rfc3339();
    ns.ours()
        .annotation("kube-reclaimer.io/marked-at", at)
        .annotation("kube-reclaimer.io/notified-at", at)
        .annotation("kube-reclaimer.io/reclaim-after", &reclaim_after)
        .annotation("kube-reclaimer.io/reason", "expired")
}

#[test]
fn a_namespace_is_exported_with_its_numbers_state_and_verdict() {
    // 2 pods requesting 1 core and 2 GiB, using 0.5 cores and 1 GiB; expires in 4.5 days,
    // within the 7-day reminder period: expiring.
    let text = rendered(
        vec![Ns::new("team-a")
            .label(TEAM, "payments")
            .label(EXPIRES, "2026-11-25")],
        &config("dry-run"),
    );
    let l = r#"namespace="team-a",team="payments""#;
    for line in [
        format!("kube_reclaimer_namespace_requests_cpu_cores{{{l}}} 1.0"),
        format!("kube_reclaimer_namespace_requests_memory_bytes{{{l}}} 2147483648.0"),
        format!("kube_reclaimer_namespace_usage_cpu_cores{{{l}}} 0.5"),
        format!("kube_reclaimer_namespace_usage_memory_bytes{{{l}}} 1073741824.0"),
        format!(r#"kube_reclaimer_namespace_rightsizing_gap_ratio{{{l},resource="cpu"}} 0.5"#),
        format!(r#"kube_reclaimer_namespace_rightsizing_gap_ratio{{{l},resource="memory"}} 0.5"#),
        // used × 1.2
        format!("kube_reclaimer_namespace_recommended_requests_cpu_cores{{{l}}} 0.6"),
        format!("kube_reclaimer_namespace_recommended_requests_memory_bytes{{{l}}} 1288490188.8"),
        // 1 core × 0.04, 0.5 used, 0.5 unused; 2 GiB × 0.005, 1 used, 1 unused
        format!(
            r#"kube_reclaimer_namespace_hourly_cost{{{l},kind="requested",resource="cpu"}} 0.04"#
        ),
        format!(r#"kube_reclaimer_namespace_hourly_cost{{{l},kind="used",resource="cpu"}} 0.02"#),
        format!(r#"kube_reclaimer_namespace_hourly_cost{{{l},kind="waste",resource="cpu"}} 0.02"#),
        format!(
            r#"kube_reclaimer_namespace_hourly_cost{{{l},kind="requested",resource="memory"}} 0.01"#
        ),
        format!(
            r#"kube_reclaimer_namespace_hourly_cost{{{l},kind="used",resource="memory"}} 0.005"#
        ),
        format!(
            r#"kube_reclaimer_namespace_hourly_cost{{{l},kind="waste",resource="memory"}} 0.005"#
        ),
        // valid through 2026-11-25: expires at the next midnight (UTC)
        format!(
            "kube_reclaimer_namespace_expiry_timestamp_seconds{{{l}}} {}.0",
            utc("2026-11-26T00:00:00Z").timestamp()
        ),
        format!(r#"kube_reclaimer_namespace_lifecycle_state{{{l},state="expiring"}} 1"#),
        format!(r#"kube_reclaimer_namespace_lifecycle_state{{{l},state="active"}} 0"#),
        format!(r#"kube_reclaimer_namespace_lifecycle_state{{{l},state="opted-out"}} 0"#),
        format!(r#"kube_reclaimer_namespace_idle{{{l},verdict="active"}} 1"#),
        format!(r#"kube_reclaimer_namespace_idle{{{l},verdict="idle"}} 0"#),
        format!(r#"kube_reclaimer_namespace_idle{{{l},verdict="unknown"}} 0"#),
        r#"kube_reclaimer_pricing_info{currency="EUR",source="config"} 1"#.to_string(),
        "kube_reclaimer_price_cpu_vcpu_hour 0.04".to_string(),
        "kube_reclaimer_price_memory_gib_hour 0.005".to_string(),
    ] {
        assert_has(&text, &line);
    }
    // Nothing else about it: not marked, so no reclaim-after.
    assert_eq!(
        lines_of(&text, "team-a").len(),
        8 + 6 + 1 + 10 + 3,
        "{text}"
    );
}

#[test]
fn a_namespace_without_a_team_has_an_empty_team_label() {
    let text = rendered(vec![Ns::new("loose")], &config("dry-run"));
    assert_has(
        &text,
        r#"kube_reclaimer_namespace_requests_cpu_cores{namespace="loose",team=""} 1.0"#,
    );
}

#[test]
fn unknown_values_have_no_sample_never_a_zero() {
    let text = rendered(
        vec![
            Ns::new("dark").prometheus_down(),
            Ns::new("unlisted").pods_unknown(),
        ],
        &config("dry-run"),
    );
    let dark = lines_of(&text, "dark").join("\n");
    for absent in [
        "usage_",
        "gap_ratio",
        "recommended_",
        "kind=\"used\"",
        "kind=\"waste\"",
    ] {
        assert!(
            !dark.contains(absent),
            "{absent} with metrics down:\n{dark}"
        );
    }
    assert!(dark.contains("kube_reclaimer_namespace_requests_cpu_cores"));
    assert!(dark.contains(r#"kind="requested",resource="cpu""#));
    assert!(dark.contains(r#"verdict="unknown"} 1"#));
    let unlisted = lines_of(&text, "unlisted").join("\n");
    for absent in [
        "namespace_requests_",
        "gap_ratio",
        "kind=\"requested\"",
        "kind=\"waste\"",
    ] {
        assert!(
            !unlisted.contains(absent),
            "{absent} with pods unknown:\n{unlisted}"
        );
    }
    assert!(unlisted.contains("kube_reclaimer_namespace_usage_cpu_cores"));
    assert!(!text.contains("NaN"), "{text}");
    assert!(lines_of(&text, "dark")
        .iter()
        .chain(&lines_of(&text, "unlisted"))
        .all(|l| !l.contains("expiry") && !l.contains("reclaim_after")));
}

#[test]
fn a_namespace_gone_from_the_next_evaluation_disappears() {
    let c = config("dry-run");
    let metrics = Metrics::new();
    metrics.record_evaluation(&evaluation(vec![Ns::new("a"), Ns::new("b")], &c), &c);
    assert!(!lines_of(&metrics.render(), "b").is_empty());
    metrics.record_evaluation(&evaluation(vec![Ns::new("a")], &c), &c);
    let text = metrics.render();
    assert!(lines_of(&text, "b").is_empty(), "{text}");
    assert!(!lines_of(&text, "a").is_empty());
}

#[test]
fn every_state_and_verdict_has_a_series_and_exactly_one_is_set() {
    // The match fails to compile when a state is added without listing it in State::ALL.
    let position = |s: State| match s {
        State::Protected => 0,
        State::OptedOut => 1,
        State::Active => 2,
        State::Expiring => 3,
        State::Expired => 4,
        State::Idle => 5,
        State::Marked => 6,
        State::Due => 7,
        State::Sleeping => 8,
        State::Terminating => 9,
    };
    for (i, s) in State::ALL.iter().enumerate() {
        assert_eq!(position(*s), i);
    }
    let text = rendered(
        vec![
            Ns::new("kube-system"),
            Ns::new("old").label(EXPIRES, "2026-01-01"),
            Ns::new("forever").label(EXPIRES, "never"),
        ],
        &config("dry-run"),
    );
    for (namespace, state) in [
        ("kube-system", "protected"),
        ("old", "expired"),
        ("forever", "opted-out"),
    ] {
        let states: BTreeMap<String, String> = lines_of(&text, namespace)
            .iter()
            .filter(|l| l.starts_with("kube_reclaimer_namespace_lifecycle_state{"))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let state = series.split("state=\"").nth(1)?.trim_end_matches("\"}");
                Some((state.to_string(), value.to_string()))
            })
            .collect();
        assert_eq!(states.len(), State::ALL.len(), "{namespace}: {states:?}");
        let set: Vec<&String> = states
            .iter()
            .filter(|(_, v)| *v == "1")
            .map(|(k, _)| k)
            .collect();
        assert_eq!(set, vec![state], "{namespace}");
        let verdicts = lines_of(&text, namespace)
            .iter()
            .filter(|l| l.starts_with("kube_reclaimer_namespace_idle{"))
            .count();
        assert_eq!(verdicts, 3, "{namespace}");
    }
}

#[test]
fn a_marked_namespace_says_when_it_becomes_due() {
    // Marked and told 2026-11-20T12:00Z: due a grace period (3d) later.
    let text = rendered(
        vec![marked(
            Ns::new("doomed").label(EXPIRES, "2026-11-01"),
            "2026-11-20T12:00:00Z",
        )],
        &config("enforce"),
    );
    let l = r#"namespace="doomed",team="""#;
    assert_has(
        &text,
        &format!(
            "kube_reclaimer_namespace_reclaim_after_timestamp_seconds{{{l}}} {}.0",
            utc("2026-11-23T12:00:00Z").timestamp()
        ),
    );
    assert_has(
        &text,
        &format!(r#"kube_reclaimer_namespace_lifecycle_state{{{l},state="marked"}} 1"#),
    );
}

#[test]
fn counters_start_at_zero_and_what_is_not_known_yet_has_no_sample() {
    let text = Metrics::new().render();
    for source in Source::ALL {
        assert_has(
            &text,
            &format!(
                "kube_reclaimer_errors_total{{source=\"{}\"}} 0",
                source.as_str()
            ),
        );
    }
    for line in [
        r#"kube_reclaimer_namespaces_reclaimed_total{mode="enforce"} 0"#,
        r#"kube_reclaimer_namespaces_reclaimed_total{mode="dry-run"} 0"#,
        "kube_reclaimer_reminders_sent_total 0",
        "kube_reclaimer_prometheus_queries_total 0",
        "kube_reclaimer_cycle_duration_seconds_count 0",
        "kube_reclaimer_leader 0",
    ] {
        assert_has(&text, line);
    }
    // Nothing evaluated yet: no per-namespace series, no prices, no successful cycle.
    for absent in [
        "namespace=",
        "kube_reclaimer_pricing_info",
        "kube_reclaimer_price_cpu_vcpu_hour",
        "kube_reclaimer_price_memory_gib_hour",
        "kube_reclaimer_last_successful_cycle_timestamp_seconds",
    ] {
        assert!(!text.contains(absent), "{absent}:\n{text}");
    }
}

fn done(namespace: &str, kind: Kind, outcome: Outcome, step: Option<Step>) -> Done {
    Done {
        namespace: namespace.into(),
        kind,
        outcome,
        step,
        detail: String::new(),
    }
}

#[test]
fn what_was_done_counts_reminders_reclaims_and_failures_by_step() {
    let metrics = Metrics::new();
    metrics.record_done(&Acted {
        done: vec![
            done("a", Kind::Remind, Outcome::Done, None),
            done("b", Kind::Remind, Outcome::Failed, Some(Step::Mail)),
            done("c", Kind::Reclaim, Outcome::Done, None),
            // a sleep whose notice failed is reported twice: one namespace reclaimed
            done("c", Kind::Reclaim, Outcome::Done, None),
            done("d", Kind::Reclaim, Outcome::Failed, Some(Step::Reclaim)),
            done("e", Kind::Mark, Outcome::Failed, Some(Step::Annotate)),
            done("f", Kind::Namespace, Outcome::Failed, Some(Step::Read)),
            done("g", Kind::Unmark, Outcome::Skipped, None),
        ],
        events_failed: 2,
    });
    metrics.record_error(Source::Lease);
    let text = metrics.render();
    for line in [
        "kube_reclaimer_reminders_sent_total 1",
        r#"kube_reclaimer_namespaces_reclaimed_total{mode="enforce"} 1"#,
        r#"kube_reclaimer_namespaces_reclaimed_total{mode="dry-run"} 0"#,
        r#"kube_reclaimer_errors_total{source="smtp"} 1"#,
        r#"kube_reclaimer_errors_total{source="reclaim"} 1"#,
        r#"kube_reclaimer_errors_total{source="annotate"} 1"#,
        r#"kube_reclaimer_errors_total{source="kubernetes"} 1"#,
        r#"kube_reclaimer_errors_total{source="event"} 2"#,
        r#"kube_reclaimer_errors_total{source="lease"} 1"#,
        r#"kube_reclaimer_errors_total{source="prometheus"} 0"#,
    ] {
        assert_has(&text, line);
    }
}

#[test]
fn a_dry_run_counts_the_reclamations_it_would_do_and_enforce_only_what_was_done() {
    let due = || {
        marked(
            Ns::new("doomed").label(EXPIRES, "2026-11-01"),
            "2026-11-10T12:00:00Z",
        )
    };
    let dry = rendered(vec![due(), Ns::new("fine")], &config("dry-run"));
    assert_has(
        &dry,
        r#"kube_reclaimer_namespaces_reclaimed_total{mode="dry-run"} 1"#,
    );
    assert_has(
        &dry,
        r#"kube_reclaimer_namespace_lifecycle_state{namespace="doomed",team="",state="due"} 1"#,
    );
    let enforce = rendered(vec![due()], &config("enforce"));
    assert_has(
        &enforce,
        r#"kube_reclaimer_namespaces_reclaimed_total{mode="enforce"} 0"#,
    );
    assert_has(
        &enforce,
        r#"kube_reclaimer_namespaces_reclaimed_total{mode="dry-run"} 0"#,
    );
}

#[test]
fn source_problems_and_queries_are_counted() {
    let c = config("dry-run");
    let mut e = evaluation(vec![Ns::new("a")], &c);
    e.sources.kubernetes.problems = vec!["cannot list pods: forbidden".into()];
    e.sources.prometheus.problems = vec!["timeout".into(), "refused".into()];
    e.sources.prometheus.requests = 7;
    let metrics = Metrics::new();
    metrics.record_evaluation(&e, &c);
    metrics.record_evaluation(&e, &c);
    let text = metrics.render();
    assert_has(
        &text,
        r#"kube_reclaimer_errors_total{source="kubernetes"} 2"#,
    );
    assert_has(
        &text,
        r#"kube_reclaimer_errors_total{source="prometheus"} 4"#,
    );
    assert_has(&text, "kube_reclaimer_prometheus_queries_total 14");
}

#[test]
fn a_completed_cycle_sets_the_last_success_and_its_duration() {
    let metrics = Metrics::new();
    metrics.cycle_completed(0.3, utc(NOW));
    metrics.set_leader(true);
    let text = metrics.render();
    assert_has(
        &text,
        &format!(
            "kube_reclaimer_last_successful_cycle_timestamp_seconds {}.0",
            utc(NOW).timestamp()
        ),
    );
    assert_has(&text, "kube_reclaimer_cycle_duration_seconds_count 1");
    assert_has(&text, "kube_reclaimer_cycle_duration_seconds_sum 0.3");
    assert_has(
        &text,
        r#"kube_reclaimer_cycle_duration_seconds_bucket{le="0.25"} 0"#,
    );
    assert_has(
        &text,
        r#"kube_reclaimer_cycle_duration_seconds_bucket{le="0.5"} 1"#,
    );
    assert_has(
        &text,
        r#"kube_reclaimer_cycle_duration_seconds_bucket{le="+Inf"} 1"#,
    );
    assert_has(&text, "kube_reclaimer_leader 1");
}

/// Checks the OpenMetrics text format: families declared once with HELP and TYPE before
/// their samples and never interleaved, sample names that fit their family's type, label
/// sets in braces with quoted values, numeric values, no duplicate series, and `# EOF` as
/// the last line. Returns the family names with their types.
fn check_openmetrics(text: &str) -> BTreeMap<String, String> {
    assert!(text.ends_with("# EOF\n"), "no final # EOF:\n{text}");
    let body = &text[..text.len() - "# EOF\n".len()];
    assert!(!body.contains("# EOF"), "# EOF before the end");
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut series = HashSet::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default().to_string();
            assert!(!families.contains_key(&name), "{name} declared twice");
            current = Some((name, String::new()));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            let Some((family, _)) = &current else {
                panic!("TYPE before HELP: {line}")
            };
            assert_eq!(name, family, "TYPE of another family");
            assert!(
                ["gauge", "counter", "histogram", "info"].contains(&kind),
                "{line}"
            );
            families.insert(name.to_string(), kind.to_string());
            current = Some((name.to_string(), kind.to_string()));
        } else {
            assert!(!line.starts_with('#'), "unexpected comment: {line}");
            let (family, kind) = current.as_ref().expect("a sample before any family");
            let (key, value) = line.rsplit_once(' ').expect("name and value");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value of {line}")),
            };
            assert!(!value.is_nan(), "{line}");
            let (name, labels) = match key.split_once('{') {
                Some((name, labels)) => (name, Some(labels)),
                None => (key, None),
            };
            let suffixes: &[&str] = match kind.as_str() {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "info" => &["_info"],
                _ => &[""],
            };
            assert!(
                suffixes.iter().any(|s| name == format!("{family}{s}")),
                "{name} does not belong to the {kind} {family}"
            );
            if let Some(labels) = labels {
                let labels = labels.strip_suffix('}').expect("closing brace");
                for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").expect("key=\"value\"");
                    assert!(
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "label name {k} in {line}"
                    );
                    assert!(!v.trim_end_matches('"').contains('"'), "{line}");
                }
            }
            assert!(series.insert(key.to_string()), "duplicate series {key}");
        }
    }
    families
}

#[test]
fn the_output_is_openmetrics_with_every_family_declared_once() {
    let c = config("enforce");
    let metrics = Metrics::new();
    metrics.record_evaluation(
        &evaluation(
            vec![
                Ns::new("team-a")
                    .label(TEAM, "payments")
                    .label(EXPIRES, "2026-11-25"),
                marked(
                    Ns::new("doomed").label(EXPIRES, "2026-11-01"),
                    "2026-11-20T12:00:00Z",
                ),
                Ns::new("dark").prometheus_down(),
            ],
            &c,
        ),
        &c,
    );
    metrics.cycle_completed(1.5, utc(NOW));
    let families = check_openmetrics(&metrics.render());
    let expected = [
        ("kube_reclaimer_namespace_requests_cpu_cores", "gauge"),
        ("kube_reclaimer_namespace_requests_memory_bytes", "gauge"),
        ("kube_reclaimer_namespace_usage_cpu_cores", "gauge"),
        ("kube_reclaimer_namespace_usage_memory_bytes", "gauge"),
        ("kube_reclaimer_namespace_rightsizing_gap_ratio", "gauge"),
        (
            "kube_reclaimer_namespace_recommended_requests_cpu_cores",
            "gauge",
        ),
        (
            "kube_reclaimer_namespace_recommended_requests_memory_bytes",
            "gauge",
        ),
        ("kube_reclaimer_namespace_hourly_cost", "gauge"),
        ("kube_reclaimer_namespace_expiry_timestamp_seconds", "gauge"),
        (
            "kube_reclaimer_namespace_reclaim_after_timestamp_seconds",
            "gauge",
        ),
        ("kube_reclaimer_namespace_lifecycle_state", "gauge"),
        ("kube_reclaimer_namespace_idle", "gauge"),
        ("kube_reclaimer_pricing", "info"),
        ("kube_reclaimer_price_cpu_vcpu_hour", "gauge"),
        ("kube_reclaimer_price_memory_gib_hour", "gauge"),
        ("kube_reclaimer_cycle_duration_seconds", "histogram"),
        (
            "kube_reclaimer_last_successful_cycle_timestamp_seconds",
            "gauge",
        ),
        ("kube_reclaimer_errors", "counter"),
        ("kube_reclaimer_prometheus_queries", "counter"),
        ("kube_reclaimer_reminders_sent", "counter"),
        ("kube_reclaimer_namespaces_reclaimed", "counter"),
        ("kube_reclaimer_leader", "gauge"),
        ("kube_reclaimer_clock_skew_exceeded", "gauge"),
    ];
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(families, expected);
    // The checker itself rejects what it should.
    for bad in [
        "# HELP x x\n# TYPE x gauge\nx 1\n",
        "# HELP x x\n# TYPE x gauge\ny 1\n# EOF\n",
        "# HELP x x\n# TYPE x counter\nx 1\n# EOF\n",
        "# HELP x x\n# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n# EOF\n",
    ] {
        let text = bad.to_string();
        assert!(
            std::panic::catch_unwind(|| check_openmetrics(&text)).is_err(),
            "accepted: {bad}"
        );
    }
}
