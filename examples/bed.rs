//! Starts a test bed by hand: control plane, a scenario and/or a bulk load, Prometheus.
//!
//! ```sh
//! cargo run --example bed                        # the sample scenario, then exit (bed stops)
//! cargo run --example bed -- --hold              # ... and keep it up until Enter / EOF
//! cargo run --example bed -- --scenario none --bulk 2000 5 --bulk-history 1h
//! ```
//!
//! Options: `--scenario NAME|none` (tests/scenarios/NAME.yaml, default sample),
//! `--bulk NAMESPACES PODS_PER_NAMESPACE`, `--bulk-history DURATION` (default 1h),
//! `--step DURATION` (sample spacing), `--concurrency N` (default 32), `--keep` (keep the
//! state dir), `--hold`. Prints the bring-up timings; with `--hold`, `KUBECONFIG=` and
//! `PROMETHEUS_URL=` lines to use from another shell.

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{bail, Context, Result};
use chrono::Duration;
use support::scenario::{Scenario, Span};
use support::{Bed, BedOptions, Bulk};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut scenario = Some("sample".to_string());
    let mut bulk: Option<(usize, usize)> = None;
    let mut bulk_history = Duration::hours(1);
    let mut step = None;
    let mut concurrency = support::apply::CONCURRENCY;
    let (mut keep, mut hold) = (false, false);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--scenario" => {
                let v = value("--scenario")?;
                scenario = (v != "none").then_some(v);
            }
            "--bulk" => {
                let n = value("--bulk")?.parse().context("--bulk NAMESPACES")?;
                let p = value("--bulk")?
                    .parse()
                    .context("--bulk PODS_PER_NAMESPACE")?;
                bulk = Some((n, p));
            }
            "--bulk-history" => bulk_history = Span::parse(&value("--bulk-history")?)?.0,
            "--step" => step = Some(Span::parse(&value("--step")?)?.0),
            "--concurrency" => concurrency = value("--concurrency")?.parse()?,
            "--keep" => keep = true,
            "--hold" => hold = true,
            other => bail!("unknown argument {other} (see the top of examples/bed.rs)"),
        }
    }
    let (name, scenario) = match &scenario {
        Some(name) => (name.clone(), Scenario::named(name)?),
        None => (
            "bulk".to_string(),
            Scenario {
                history: Span(bulk_history),
                step: Span(Duration::minutes(1)),
                namespaces: Vec::new(),
            },
        ),
    };
    let options = BedOptions {
        name,
        scenario,
        bulk: bulk.map(|(namespaces, pods_per_namespace)| Bulk {
            namespaces,
            pods_per_namespace,
            history: bulk_history,
            concurrency,
        }),
        step,
        keep: keep || std::env::var("KUBE_RECLAIMER_BED_KEEP").is_ok_and(|v| v == "1"),
        present: false,
        scrape: Vec::new(),
    };
    let mut bed = Bed::start(options)?;
    let t = &bed.timings;
    let a = &t.apply;
    println!("state dir        {}", bed.state_dir.display());
    println!("at               {}", bed.at.to_rfc3339());
    println!(
        "metrics          {} series, {} samples, {:.1} MiB OpenMetrics, rendered in {:.1}s",
        t.metrics.series,
        t.metrics.samples,
        t.metrics.bytes as f64 / 1048576.0,
        t.metrics.elapsed.as_secs_f64()
    );
    println!(
        "prometheus       {:.1}s (backfill {:.1}s, start to ready {:.1}s, first query {:.2}s), TSDB {:.1} MiB",
        t.prometheus.as_secs_f64(),
        t.backfill_ms as f64 / 1000.0,
        t.prometheus_ready_ms as f64 / 1000.0,
        t.first_query_ms as f64 / 1000.0,
        t.tsdb_bytes as f64 / 1048576.0
    );
    println!("control plane    {:.1}s", t.control_plane.as_secs_f64());
    println!(
        "apply            {:.1}s, {} requests: {} namespaces {:.1}s, {} quotas {:.1}s, {} pods {:.1}s, {} phases {:.1}s",
        a.elapsed.as_secs_f64(),
        a.requests,
        a.namespaces,
        a.namespaces_time.as_secs_f64(),
        a.quotas,
        a.quotas_time.as_secs_f64(),
        a.pods,
        a.pods_time.as_secs_f64(),
        a.status_patches,
        a.status_time.as_secs_f64()
    );
    println!("bring-up total   {:.1}s", t.total.as_secs_f64());
    if hold {
        println!("KUBECONFIG={}", bed.kubeconfig.display());
        println!("PROMETHEUS_URL={}", bed.prometheus_url);
        println!("(press Enter to stop the bed)");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    bed.stop()
}
