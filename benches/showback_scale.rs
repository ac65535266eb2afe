//! How the showback outputs scale: `/metrics` and the weekly reports for a large
//! cluster (default 2 000 namespaces in 40 teams), from a synthetic evaluation; no
//! servers. Prints time per step, output sizes and peak RSS. Not a test: it asserts
//! nothing about speed; it prints figures.
//!
//! ```sh
//! cargo bench --bench showback_scale
//! BENCH_NAMESPACES=10000 BENCH_TEAMS=200 cargo bench --bench showback_scale
//! ```

use chrono::{DateTime, TimeDelta, Utc};
use kube_reclaimer::app::metrics::Metrics;
use kube_reclaimer::core::collected::{Collected, SourceReport, SourceStatus, Sources};
use kube_reclaimer::core::config::{Config, Email};
use kube_reclaimer::core::evaluate::evaluate;
use kube_reclaimer::core::fixtures::{v, Ns};
use kube_reclaimer::core::ledger::Ledger;
use kube_reclaimer::core::model::{Observation, Sample, GIB};
use kube_reclaimer::core::report;
use std::time::Instant;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Namespaces of every kind: busy, over-provisioned, idle, expiring, expired, unknown
/// usage, unlabelled; deterministic.
fn observations(count: usize, teams: usize, at: DateTime<Utc>) -> Vec<Observation> {
    let created = (at - TimeDelta::days(60)).to_rfc3339();
    let history = (at - TimeDelta::days(30)).to_rfc3339();
    (0..count)
        .map(|i| {
            let cores = 0.25 * (1 + i % 16) as f64;
            let mut ns = Ns::new(&format!("ns-{i:05}"))
                .created(&created)
                .requests(5, cores, cores * 2.0 * GIB)
                .history_since(Some(&history));
            ns.0.namespace.uid = format!("uid-{i}");
            if i % 10 != 0 {
                ns = ns.label("kube-reclaimer.io/team", &format!("team-{}", i % teams));
            }
            match i % 7 {
                0 => {
                    let date = (at + TimeDelta::days((i % 20) as i64 - 5)).format("%Y-%m-%d");
                    ns = ns.label("kube-reclaimer.io/expires", &date.to_string());
                }
                1 => ns = ns.label("kube-reclaimer.io/ttl", "30d"),
                _ => {}
            }
            let share = [0.02, 0.3, 0.9, 0.001][i % 4];
            let ns = if i % 13 == 0 {
                ns.cpu(Sample::NoSeries, Sample::NoSeries)
                    .memory(Sample::NoSeries)
                    .network(Sample::NoSeries)
            } else {
                ns.cpu(v(cores * share), v(cores * share * 1.5))
                    .memory(v(GIB * cores * share * 2.0))
                    .network(v(if share < 0.01 { 10.0 } else { 5e4 }))
            };
            ns.build()
        })
        .collect()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let namespaces = env_or("BENCH_NAMESPACES", 2000);
    let teams = env_or("BENCH_TEAMS", 40).max(1);
    let at: DateTime<Utc> = "2026-12-01T08:00:00Z".parse().expect("a time");
    let mut config = Config::default();
    for t in 0..teams {
        let email: Email = format!("team-{t}@example.com").parse().expect("an address");
        config.owners.teams.insert(format!("team-{t}"), vec![email]);
    }
    config.owners.fallback_recipients = vec!["platform@example.com".parse().expect("address")];
    config.reports.finops_recipients = vec!["finops@example.com".parse().expect("address")];

    let ok = || SourceReport {
        status: SourceStatus::Ok,
        requests: 0,
        problems: vec![],
    };
    let collected = Collected {
        observations: observations(namespaces, teams, at),
        opencost: None,
        sources: Sources {
            kubernetes: ok(),
            prometheus: ok(),
            prometheus_series: Vec::new(),
        },
        pods_seen: namespaces * 5,
    };
    let started = Instant::now();
    let evaluation = evaluate(collected, &config, at);
    let evaluate_s = started.elapsed().as_secs_f64();

    let metrics = Metrics::new();
    let started = Instant::now();
    metrics.record_evaluation(&evaluation, &config);
    let record_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let body = metrics.render();
    let render_s = started.elapsed().as_secs_f64();
    let series = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();

    let templates = kube_reclaimer::render::report::Templates::from_config(&config)
        .expect("built-in templates");
    let ledger = Ledger::of("bench/reclaimed.jsonl", vec![]);
    let started = Instant::now();
    let reports = report::build(&evaluation, &ledger, &config);
    let build_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mails =
        kube_reclaimer::render::report::render(&reports, &templates, &config).expect("renders");
    let reports_s = started.elapsed().as_secs_f64();
    let bytes: usize = mails
        .iter()
        .map(|m| m.text.len() + m.html.len() + m.csv.len())
        .sum();
    let finops = mails.iter().find(|m| m.name == "finops");

    println!("showback_scale: {namespaces} namespaces, {teams} teams");
    println!("  evaluate (assess + plan):   {:>8.1} ms", evaluate_s * 1e3);
    println!("  /metrics record:            {:>8.1} ms", record_s * 1e3);
    println!(
        "  /metrics render:            {:>8.1} ms  ({series} samples, {:.1} MiB)",
        render_s * 1e3,
        body.len() as f64 / 1048576.0
    );
    println!("  reports build:              {:>8.1} ms", build_s * 1e3);
    println!(
        "  reports render:             {:>8.1} ms  ({} mails, {:.1} MiB of text + HTML + CSV; FinOps HTML {:.0} KiB)",
        reports_s * 1e3,
        mails.len(),
        bytes as f64 / 1048576.0,
        finops.map_or(0.0, |m| m.html.len() as f64 / 1024.0)
    );
    println!(
        "  peak RSS:                   {:>8.1} MiB",
        peak_rss_kib() as f64 / 1024.0
    );
}
