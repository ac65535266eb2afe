//! The steps every command and the daemon share: evaluate now (collect, say what could
//! not be read, assess and plan), and the Lease gate before anything is acted on.

use crate::app::collect::{collect, CollectError};
use crate::app::context::Context;
use crate::core::collected::Sources;
use crate::core::config::Mode;
use crate::core::evaluate::{evaluate, Evaluation};
use crate::io::lease::Elector;
use chrono::{DateTime, TimeDelta, Utc};

/// How a run says what it collected and what could not be read.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// Lines on standard error, for a person at a terminal (`plan`, `explain`, `report`).
    Terminal,
    /// A log event per source problem; `unknown` ends it, saying what becomes of the
    /// values of a source that failed.
    Log { unknown: &'static str },
}

/// Collects from the cluster and Prometheus as of `at` (to the second), then assesses
/// and plans. Says what was read and what could not be, as `progress` asks.
pub async fn evaluate_at(
    ctx: &Context,
    at: DateTime<Utc>,
    progress: Progress,
) -> Result<Evaluation, CollectError> {
    let at = at - TimeDelta::nanoseconds(at.timestamp_subsec_nanos().into());
    let prometheus = ctx.prometheus();
    if let Progress::Terminal = progress {
        let url = prometheus.as_ref().map(|p| p.url()).unwrap_or_default();
        eprintln!("collecting namespaces, pods and quotas from Kubernetes and usage from Prometheus {url} ...");
    }
    let started = std::time::Instant::now();
    let collected = collect(&ctx.config, &ctx.client, prometheus, at).await?;
    let s = &collected.sources;
    match progress {
        Progress::Terminal => {
            eprintln!(
                "collected {} namespaces and {} pods ({} list requests), {} PromQL queries, in {:.1}s",
                collected.observations.len(),
                collected.pods_seen,
                s.kubernetes.requests,
                s.prometheus.requests,
                started.elapsed().as_secs_f64()
            );
            if !s.prometheus_series.is_empty() {
                eprintln!("statistics read from: {}", series_used(s));
            }
            warn_terminal(s);
        }
        Progress::Log { unknown } => {
            if !s.prometheus_series.is_empty() {
                tracing::info!(series = %series_used(s), "statistics read from");
            }
            log_problems(s, unknown)
        }
    }
    Ok(evaluate(collected, &ctx.config, at))
}

/// "CPU quantile: recorded, memory: raw, ..." (details: `explain`).
fn series_used(s: &Sources) -> String {
    s.prometheus_series
        .iter()
        .map(|c| {
            format!(
                "{}: {}",
                c.statistic.describe(),
                c.series.map_or("none", |s| s.as_str())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn warn_terminal(s: &Sources) {
    for (source, report) in [("Kubernetes", &s.kubernetes), ("Prometheus", &s.prometheus)] {
        for problem in &report.problems {
            eprintln!("warning: {source} {}: {problem}", report.status);
        }
        if report.status != crate::core::collected::SourceStatus::Ok {
            eprintln!(
                "warning: values from {source} are unknown where it failed; nothing is marked or reclaimed on the basis of unknown values"
            );
        }
    }
}

fn log_problems(s: &Sources, unknown: &str) {
    for (source, report) in [("kubernetes", &s.kubernetes), ("prometheus", &s.prometheus)] {
        for problem in &report.problems {
            tracing::warn!(source, status = %report.status, %problem, "source problem; {unknown}");
        }
    }
}

/// Whether this replica may act now, by the first check that says no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `mode: dry-run`: nothing is acted on, and the Lease is not touched.
    DryRun,
    /// The clock differs from the apiserver's: the Lease is not touched.
    Untrusted,
    /// The Lease cannot be reached (logged, ending with `not_doing`).
    Unreachable,
    /// Another replica holds the Lease.
    Follower,
    /// This replica holds the Lease, acquired or renewed just now.
    Leader,
}

/// The Lease gate before acting: enforce mode, a trusted clock, then the Lease acquired
/// or renewed now. The actions themselves check again, right before each, that the
/// Lease is still held by its deadline.
pub async fn lease_gate(
    mode: Mode,
    clock_trusted: bool,
    elector: &Elector,
    not_doing: &str,
) -> Gate {
    if mode == Mode::DryRun {
        return Gate::DryRun;
    }
    if !clock_trusted {
        return Gate::Untrusted;
    }
    match elector.try_acquire(Utc::now()).await {
        Ok(true) => Gate::Leader,
        Ok(false) => Gate::Follower,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach the leader Lease; {not_doing}");
            Gate::Unreachable
        }
    }
}
