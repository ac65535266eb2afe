//! How `plan` scales: a test bed with many namespaces and pods (default 2 000 and
//! 10 000), then the real binary, timed. Prints wall time, peak RSS and the number of
//! PromQL queries and list requests of each run. Not a test: it asserts nothing about
//! speed; it prints figures.
//!
//! ```sh
//! cargo bench --bench plan_scale
//! BENCH_NAMESPACES=500 BENCH_PODS_PER_NAMESPACE=4 BENCH_HISTORY=2h BENCH_RUNS=5 cargo bench --bench plan_scale
//! ```
//!
//! The metrics history of the bulk pods is short (default 1h at 1-minute spacing: six
//! series per pod); the config evaluates windows 10 minutes shorter than the history, so
//! every window is covered and all five queries do their full work.

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{Context, Result};
use std::process::Command;
use std::time::Instant;
use support::scenario::{Scenario, Span};
use support::{Bed, BedOptions, Bulk};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        return support::measure::measure_mode(&args[i + 1..]);
    }
    // Otherwise `cargo bench` passes `--bench`; nothing else is expected.
    let namespaces: usize = env_or("BENCH_NAMESPACES", 2000);
    let pods: usize = env_or("BENCH_PODS_PER_NAMESPACE", 5);
    let history = Span::parse(&std::env::var("BENCH_HISTORY").unwrap_or_else(|_| "1h".into()))?;
    let runs: usize = env_or("BENCH_RUNS", 3);
    let window_minutes = (history.0.num_minutes() - 10).max(10);

    let bed = Bed::start(BedOptions {
        name: "bench".into(),
        scenario: Scenario {
            history,
            step: Span(chrono::Duration::minutes(1)),
            namespaces: Vec::new(),
        },
        bulk: Some(Bulk {
            namespaces,
            pods_per_namespace: pods,
            history: history.0,
            concurrency: support::apply::CONCURRENCY,
        }),
        step: None,
        keep: false,
        present: false,
        scrape: Vec::new(),
    })
    .context("starting the bench bed")?;
    let t = &bed.timings;
    println!(
        "bed: {namespaces} namespaces x {pods} pods, history {}m; apply {:.1}s ({} requests, {:.0} objects/s), metrics {} series {} samples, backfill {:.1}s, TSDB {:.1} MiB",
        history.0.num_minutes(),
        t.apply.elapsed.as_secs_f64(),
        t.apply.requests,
        (t.apply.namespaces + t.apply.pods) as f64 / t.apply.elapsed.as_secs_f64(),
        t.metrics.series,
        t.metrics.samples,
        t.backfill_ms as f64 / 1000.0,
        t.tsdb_bytes as f64 / 1048576.0,
    );

    let config = bed.state_dir.join("bench-config.yaml");
    std::fs::write(
        &config,
        format!(
            "rightsizing: {{window: {window_minutes}m}}\nidle: {{window: {window_minutes}m}}\n"
        ),
    )?;
    let at = bed.at.to_rfc3339();
    for run in 1..=runs {
        let started = Instant::now();
        let (stdout, stderr, success, _) = support::measure::run_measured(
            Command::new(std::env::current_exe()?)
                .arg("--measure")
                .arg(env!("CARGO_BIN_EXE_kube-reclaimer"))
                .args(["plan", "--output", "json", "--at", &at])
                .args(["--prometheus-url", &bed.prometheus_url])
                .arg("--kubeconfig")
                .arg(&bed.kubeconfig)
                .arg("--config")
                .arg(&config),
        )?;
        let wall = started.elapsed();
        let stderr = String::from_utf8_lossy(&stderr);
        anyhow::ensure!(success, "plan failed: {stderr}");
        let rss_kib: f64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("maxrss_kib="))
            .and_then(|v| v.parse().ok())
            .context("the measuring process reported no peak RSS")?;
        let plan: serde_json::Value = serde_json::from_slice(&stdout)?;
        println!(
            "plan run {run}: wall {:.2}s, peak RSS {:.1} MiB, namespaces {}, pods {}, PromQL queries {}, list requests {}, prometheus {}, states {}",
            wall.as_secs_f64(),
            rss_kib / 1024.0,
            plan["summary"]["namespaces"],
            plan["summary"]["pods"],
            plan["summary"]["promql_queries"],
            plan["sources"]["kubernetes"]["requests"],
            plan["sources"]["prometheus"]["status"],
            plan["summary"]["states"],
        );
    }
    drop(bed);
    Ok(())
}
