//! The Grafana dashboards in `dashboards/`, without servers: each parses, every panel and
//! target uses the Prometheus datasource variable, the panels filter by the `team` (and
//! `namespace`) variables, and every PromQL expression names only metrics the exporter
//! renders (plus `up`). `tests/showback.rs` runs them against a real Prometheus.

mod support;

use chrono::{DateTime, Duration, Utc};
use kube_reclaimer::app::metrics::Metrics;
use kube_reclaimer::core::collected::{Collected, Sources};
use kube_reclaimer::core::config::Config;
use kube_reclaimer::core::evaluate::evaluate;
use kube_reclaimer::core::fixtures::{v, Ns};
use kube_reclaimer::core::model::Observation;
use std::collections::BTreeSet;
use support::dashboards::{self, BUILTINS};

const DATASOURCE: &str = "${datasource}";

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
        .expect("fixed time")
        .with_timezone(&Utc)
}

/// A namespace that fills every per-namespace family: a team, requests, usage, an expiry
/// (past) and a standing mark.
fn marked_namespace() -> Observation {
    let marked_at = (at() - Duration::days(1)).to_rfc3339();
    let reclaim_after = (at() + Duration::days(2)).to_rfc3339();
    Ns::new("team-a")
        .created(&(at() - Duration::days(30)).to_rfc3339())
        .label("kube-reclaimer.io/team", "payments")
        .label("kube-reclaimer.io/expires", "2026-11-01")
        .annotation("kube-reclaimer.io/marked-at", &marked_at)
        .annotation("kube-reclaimer.io/notified-at", &marked_at)
        .annotation("kube-reclaimer.io/reclaim-after", &reclaim_after)
        .annotation("kube-reclaimer.io/reason", "expired")
        .ours()
        .requests(2, 1.0, 2e9)
        .cpu(v(0.2), v(0.4))
        .memory(v(5e8))
        .network(v(1e4))
        .history_since(Some(&(at() - Duration::days(20)).to_rfc3339()))
        .build()
}

/// Sample names the exporter renders once every family has a sample.
fn exported() -> BTreeSet<String> {
    let config = Config::from_yaml(
        "mode: enforce\nowners: {fallback_recipients: [platform@example.com]}\n",
        "test",
    )
    .expect("config");
    let collected = Collected {
        observations: vec![marked_namespace()],
        opencost: None,
        sources: Sources::default(),
        pods_seen: 2,
    };
    let metrics = Metrics::new();
    metrics.record_evaluation(&evaluate(collected, &config, at()), &config);
    metrics.cycle_completed(1.0, at());
    let names: BTreeSet<String> = metrics
        .render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(String::from)
        .collect();
    for name in [
        "kube_reclaimer_namespace_reclaim_after_timestamp_seconds",
        "kube_reclaimer_namespace_expiry_timestamp_seconds",
        "kube_reclaimer_namespace_usage_cpu_cores",
        "kube_reclaimer_pricing_info",
        "kube_reclaimer_last_successful_cycle_timestamp_seconds",
        "kube_reclaimer_cycle_duration_seconds_bucket",
        "kube_reclaimer_errors_total",
    ] {
        assert!(names.contains(name), "{name} not rendered: {names:?}");
    }
    names
}

fn all() -> Vec<(String, serde_json::Value)> {
    let all = dashboards::load().expect("dashboards load");
    assert!(all.len() >= 4, "{} dashboards", all.len());
    all
}

#[test]
fn every_dashboard_parses_and_every_panel_uses_the_datasource_variable() {
    let mut uids = BTreeSet::new();
    for (file, d) in all() {
        assert!(
            uids.insert(d["uid"].as_str().expect("uid").to_string()),
            "{file}: uid reused"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
            "{file}"
        );
        let datasource = d["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{file}: no datasource variable"));
        assert_eq!(datasource["type"], "datasource", "{file}");
        assert_eq!(datasource["query"], "prometheus", "{file}");
        let panels = dashboards::panels(&d);
        assert!(panels.iter().any(|p| p["type"] == "row"), "{file}: no rows");
        for panel in panels.iter().filter(|p| p["type"] != "row") {
            let title = panel["title"].as_str().unwrap_or("?");
            assert_eq!(panel["datasource"]["uid"], DATASOURCE, "{file}: {title}");
            assert_eq!(panel["datasource"]["type"], "prometheus", "{file}: {title}");
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{file}: {title} has no query");
            for target in targets {
                assert_eq!(target["datasource"]["uid"], DATASOURCE, "{file}: {title}");
                assert!(target["expr"].as_str().is_some_and(|e| !e.is_empty()));
            }
        }
        for variable in d["templating"]["list"].as_array().into_iter().flatten() {
            if variable["type"] == "query" {
                assert_eq!(variable["datasource"]["uid"], DATASOURCE, "{file}");
            }
        }
    }
}

#[test]
fn every_expression_names_only_metrics_the_exporter_renders() {
    let mut known = exported();
    known.insert("up".into());
    let mut used = BTreeSet::new();
    let mut count = 0;
    for (file, d) in all() {
        let variables = dashboards::variables(&d);
        for e in dashboards::expressions(&file, &d) {
            count += 1;
            let names = dashboards::metric_names(&e.expr);
            assert!(!names.is_empty(), "{}: no metric in `{}`", e.place, e.expr);
            for name in &names {
                assert!(
                    known.contains(name),
                    "{}: `{name}` is not exported",
                    e.place
                );
            }
            used.extend(names);
            for reference in dashboards::references(&e.expr) {
                assert!(
                    variables.contains(&reference) || BUILTINS.iter().any(|(b, _)| *b == reference),
                    "{}: ${reference} is not a variable of the dashboard",
                    e.place
                );
            }
            dashboards::runnable(&e.expr, &variables).expect("runnable");
        }
    }
    assert!(count >= 40, "{count} expressions");
    // Every per-namespace family is on some dashboard.
    for name in known
        .iter()
        .filter(|n| n.starts_with("kube_reclaimer_namespace_"))
    {
        assert!(used.contains(name), "{name} is on no dashboard");
    }
}

#[test]
fn per_namespace_panels_follow_the_team_and_namespace_variables() {
    for (file, d) in all() {
        let variables = dashboards::variables(&d);
        for e in dashboards::expressions(&file, &d)
            .iter()
            .filter(|e| e.place.contains(": panel "))
            .filter(|e| e.expr.contains("kube_reclaimer_namespace_"))
        {
            assert!(variables.contains("team"), "{file}: no team variable");
            assert!(
                e.expr.contains(r#"team=~"$team""#),
                "{}: {}",
                e.place,
                e.expr
            );
            if variables.contains("namespace") {
                assert!(
                    e.expr.contains(r#"namespace=~"$namespace""#),
                    "{}: {}",
                    e.place,
                    e.expr
                );
            }
        }
    }
    let namespace = all()
        .into_iter()
        .find(|(f, _)| f == "namespace.json")
        .expect("namespace.json");
    assert!(dashboards::variables(&namespace.1).contains("namespace"));
}

#[test]
fn the_metric_name_parser_finds_selected_metrics_and_nothing_else() {
    let cases: [(&str, &[&str]); 6] = [
        (
            r#"sum by (team) (rate(foo_total{a="b c", d=~"x|y"}[5m])) / on (x) group_left bar > 0.5 and baz offset 5m"#,
            &["bar", "baz", "foo_total"],
        ),
        (
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[$__rate_interval])))",
            &["x_bucket"],
        ),
        ("time() - max(y) > 7 * 86400", &["y"]),
        ("topk(10, sum without (pod) (z))", &["z"]),
        (r#"label_values(w{team=~"$team"}, namespace)"#, &["w"]),
        ("1e3 * count(v) < inf", &["v"]),
    ];
    for (expr, expected) in cases {
        let names: Vec<String> = dashboards::metric_names(expr).into_iter().collect();
        assert_eq!(names, expected, "{expr}");
    }
    let vars = BTreeSet::from(["team".to_string()]);
    assert_eq!(
        dashboards::runnable(r#"label_values(w{team=~"$team"}, namespace)"#, &vars).expect("ok"),
        r#"group by (namespace) (w{team=~".*"})"#
    );
    assert_eq!(
        dashboards::runnable("rate(x[$__rate_interval]) + y[${__range}]", &vars).expect("ok"),
        "rate(x[1m]) + y[5m]"
    );
    assert!(dashboards::runnable("x{a=\"$nope\"}", &vars).is_err());
}
