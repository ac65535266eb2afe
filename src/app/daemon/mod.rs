//! The `run` daemon: a reconcile cycle on the configured cron schedule, one at a time,
//! the weekly cost reports on their own schedule ([`report`]), health and metrics
//! endpoints, leader election, and a clean stop on SIGTERM. A cycle also runs at start,
//! so a new replica is ready and exports figures at once.
//!
//! Nothing is acted on (mailed, written, scaled or deleted) unless, right before it, this
//! replica holds the Lease by its deadline ([`lease`]) and its clock agrees with the
//! apiserver's ([`clock`]). A cycle or report run that takes longer than
//! `daemon.cycle_timeout` is abandoned where it is.

pub mod clock;
pub mod report;
pub mod schedule;

use crate::app::act::{execute, unrecorded::Unrecorded, Actor, Deliver};
use crate::app::collect::{collect, CollectError};
use crate::app::metrics::{Metrics, Source, CONTENT_TYPE};
use crate::core::config::{Config, Mode};
use crate::core::evaluate::evaluate;
use crate::io::cluster::Cluster;
use crate::io::lease::Elector;
use crate::io::prometheus::Prometheus;
use axum::{
    http::{header, StatusCode},
    routing::get,
    Router,
};
use chrono::{DateTime, Utc};
use clock::Clock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {address} (daemon.listen): {source}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("schedules.cycle `{0}` never fires again")]
    NoNextRun(String),
    #[error(transparent)]
    Cycle(#[from] CollectError),
    #[error("the cycle did not finish within daemon.cycle_timeout ({0}); abandoned")]
    Overrun(crate::core::model::Span),
}

/// What the health endpoints report.
#[derive(Default)]
struct Health {
    /// A cycle has completed since start.
    ready: AtomicBool,
    clock: Clock,
}

/// `/readyz`: ready once a cycle has completed; the body says when this replica does
/// not act because of its clock (it still plans and exports, so it stays ready).
fn readiness(health: &Health) -> (StatusCode, String) {
    if !health.ready.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no cycle completed yet\n".into(),
        );
    }
    match health.clock.refusal() {
        Some(why) => (StatusCode::OK, format!("ready; not acting: {why}\n")),
        None => (StatusCode::OK, "ready\n".into()),
    }
}

fn std_duration(span: crate::core::model::Span) -> Duration {
    Duration::from_secs(span.as_seconds().max(1).unsigned_abs())
}

/// Where this replica is: the pod name when running in a pod, else host and pid.
pub fn identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            format!("{}-{}", host.trim(), std::process::id())
        })
}

/// Runs cycles until SIGTERM or SIGINT (or once, with `once`).
pub async fn run(
    config: &Config,
    client: kube::Client,
    prometheus_url: Option<&str>,
    mail: &impl Deliver,
    once: bool,
) -> Result<(), DaemonError> {
    let health = Arc::new(Health::default());
    let metrics = Arc::new(Metrics::new());
    let listener = tokio::net::TcpListener::bind(&config.daemon.listen)
        .await
        .map_err(|source| DaemonError::Listen {
            address: config.daemon.listen.clone(),
            source,
        })?;
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let app = {
        let (health, metrics) = (health.clone(), metrics.clone());
        Router::new()
            .route(
                "/metrics",
                get(move || {
                    let body = metrics.render();
                    async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], body) }
                }),
            )
            .route("/healthz", get(|| async { "ok\n" }))
            .route(
                "/readyz",
                get(move || {
                    let answer = readiness(&health);
                    async move { answer }
                }),
            )
    };
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "health server stopped");
        }
    });
    let elector = Arc::new(Elector::new(
        client.clone(),
        &config.own_namespace,
        &config.daemon.lease_name,
        identity(),
        std_duration(config.daemon.lease_duration),
    ));
    // Acting needs the Lease (by its deadline) and a clock that agrees with the apiserver's.
    let may_act = || elector.is_leader() && health.clock.trusted();
    let deadline = std_duration(config.daemon.cycle_timeout);
    // Dry-run writes nothing, the Lease included.
    let stop = Arc::new(AtomicBool::new(false));
    let renewing = (config.mode == Mode::Enforce).then(|| {
        let (elector, stop) = (elector.clone(), stop.clone());
        tokio::spawn(async move { elector.keep_renewing(&stop).await })
    });
    tracing::info!(
        identity = elector.identity(),
        listen = %address,
        mode = ?config.mode,
        schedule = %config.schedules.cycle.expression,
        time_zone = config.time_zone.0.name(),
        "kube-reclaimer started"
    );
    let mut terminate = shutdown_signal();
    let mut reporter = report::Reporter::default();
    // Mails accepted whose record could not be written: kept for the daemon's life.
    let unrecorded = Unrecorded::default();
    let mut first = true;
    let result = loop {
        let (mut run_cycle, mut run_report) = (true, false);
        if !(once || std::mem::take(&mut first)) {
            let now = Utc::now();
            let Some(next_cycle) =
                schedule::next_run(&config.schedules.cycle, config.time_zone.0, now)
            else {
                break Err(DaemonError::NoNextRun(
                    config.schedules.cycle.expression.clone(),
                ));
            };
            // The weekly reports run on their own schedule; at the same time, after the cycle.
            let next_report = schedule::next_run(&config.schedules.report, config.time_zone.0, now);
            let next = next_report.map_or(next_cycle, |r| r.min(next_cycle));
            (run_cycle, run_report) = (next_cycle == next, next_report == Some(next));
            tracing::info!(next = %crate::core::model::rfc3339(next), cycle = run_cycle, reports = run_report, "waiting for the next cycle");
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut terminate => break Ok(()),
            }
        }
        // One cycle at a time: the next is scheduled only after this one ends. A signal
        // during a cycle (or a report run) lets it finish, then stops.
        let work = async {
            let outcome = match run_cycle {
                true => {
                    let started = std::time::Instant::now();
                    let work = cycle(
                        config,
                        &client,
                        prometheus_url,
                        mail,
                        &elector,
                        &health.clock,
                        &metrics,
                        &may_act,
                        &unrecorded,
                    );
                    let outcome = match tokio::time::timeout(deadline, work).await {
                        Ok(outcome) => outcome.map_err(DaemonError::Cycle),
                        Err(_) => Err(DaemonError::Overrun(config.daemon.cycle_timeout)),
                    };
                    Some((outcome, started.elapsed().as_secs_f64()))
                }
                false => None,
            };
            if run_report {
                let work = reporter.run(config, &client, prometheus_url, mail, &elector, &may_act);
                if tokio::time::timeout(deadline, work).await.is_err() {
                    metrics.record_error(Source::Deadline);
                    tracing::error!(timeout = %config.daemon.cycle_timeout, "weekly report run did not finish within daemon.cycle_timeout; abandoned");
                }
            } else if config.mode == Mode::Enforce {
                let work = reporter.retry(mail, &may_act, Utc::now());
                if tokio::time::timeout(deadline, work).await.is_err() {
                    metrics.record_error(Source::Deadline);
                    tracing::error!(timeout = %config.daemon.cycle_timeout, "weekly report retries did not finish within daemon.cycle_timeout; abandoned");
                }
            }
            outcome
        };
        tokio::pin!(work);
        let mut stopping = false;
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = &mut terminate, if !stopping => {
                    tracing::info!("stop requested: finishing the current cycle");
                    stopping = true;
                }
            }
        };
        match outcome {
            Some((Ok(()), seconds)) => {
                health.ready.store(true, Ordering::SeqCst);
                metrics.cycle_completed(seconds, Utc::now());
            }
            Some((Err(e), _)) => {
                metrics.record_error(match e {
                    DaemonError::Overrun(_) => Source::Deadline,
                    _ => Source::Kubernetes,
                });
                if once {
                    break Err(e);
                }
                tracing::error!(error = %e, "cycle failed; retried at the next scheduled time")
            }
            None => {}
        }
        if once || stopping {
            break Ok(());
        }
    };
    stop.store(true, Ordering::SeqCst);
    if let Some(renewing) = renewing {
        let _ = renewing.await;
        elector.release().await;
    }
    server.abort();
    tracing::info!("kube-reclaimer stopped");
    result
}

/// Resolves on SIGTERM or SIGINT.
fn shutdown_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    })
}

/// Collect, assess, plan; the leader in enforce mode then acts, while `may_act` holds.
#[allow(clippy::too_many_arguments)]
async fn cycle(
    config: &Config,
    client: &kube::Client,
    prometheus_url: Option<&str>,
    mail: &impl Deliver,
    elector: &Elector,
    clock: &Clock,
    metrics: &Metrics,
    may_act: &(dyn Fn() -> bool + Sync),
    unrecorded: &Unrecorded,
) -> Result<(), CollectError> {
    let started = std::time::Instant::now();
    let measured = clock::measure(client).await;
    let trusted = clock.record(&measured, config.daemon.max_clock_skew.as_seconds() as f64);
    metrics.set_clock_skew(measured.as_ref().ok().map(|s| s.seconds), !trusted);
    if let Some(why) = clock.refusal() {
        if measured.is_err() {
            metrics.record_error(Source::Kubernetes);
        }
        tracing::warn!(reason = %why, "not acting this cycle: planning and exporting only");
    }
    let now = Utc::now();
    let at: DateTime<Utc> =
        now - chrono::TimeDelta::nanoseconds(now.timestamp_subsec_nanos().into());
    let prometheus = Prometheus::connect(config, prometheus_url);
    let collected = collect(config, client, prometheus, at).await?;
    for (source, report) in [
        ("kubernetes", &collected.sources.kubernetes),
        ("prometheus", &collected.sources.prometheus),
    ] {
        for problem in &report.problems {
            tracing::warn!(source, status = %report.status, %problem, "source problem; its values are unknown");
        }
    }
    let evaluation = evaluate(collected, config, at);
    metrics.record_evaluation(&evaluation, config);
    let planned: usize = evaluation
        .plan
        .namespaces
        .iter()
        .map(|n| n.actions.len())
        .sum();
    if config.mode == Mode::DryRun {
        for n in &evaluation.plan.namespaces {
            for a in &n.actions {
                tracing::info!(namespace = %n.name, action = %a.kind.as_str(), reason = %a.reason, "dry-run: would act");
            }
        }
        tracing::info!(
            namespaces = evaluation.plan.namespaces.len(),
            planned,
            seconds = started.elapsed().as_secs_f64(),
            "cycle done (dry-run)"
        );
        return Ok(());
    }
    if !trusted {
        metrics.set_leader(false);
        tracing::info!(
            namespaces = evaluation.plan.namespaces.len(),
            planned,
            "cycle done: not acting, the clock cannot be trusted"
        );
        return Ok(());
    }
    let leader = match elector.try_acquire(Utc::now()).await {
        Ok(leader) => leader,
        Err(e) => {
            metrics.record_error(Source::Lease);
            tracing::warn!(error = %e, "cannot reach the leader Lease; not acting this cycle");
            false
        }
    };
    metrics.set_leader(leader);
    if !leader {
        tracing::info!(
            namespaces = evaluation.plan.namespaces.len(),
            planned,
            "cycle done: another replica holds the Lease, not acting"
        );
        return Ok(());
    }
    let cluster = Cluster::new(client.clone());
    let actor = Actor {
        config,
        cluster: &cluster,
        mail,
        may_act,
        unrecorded,
    };
    let acted = execute(&evaluation, &actor, at).await;
    metrics.record_done(&acted);
    tracing::info!(
        namespaces = evaluation.plan.namespaces.len(),
        planned,
        acted = acted.done.len(),
        seconds = started.elapsed().as_secs_f64(),
        "cycle done"
    );
    Ok(())
}
