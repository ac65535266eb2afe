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
use crate::app::collect::CollectError;
use crate::app::context::Context;
use crate::app::metrics::{Metrics, Source, CONTENT_TYPE};
use crate::app::pipeline::{evaluate_at, lease_gate, Gate, Progress};
use crate::core::config::{Config, Mode};
use crate::core::evaluate::Evaluation;
use crate::io::cluster::Cluster;
use crate::io::lease::Elector;
use axum::{
    http::{header, StatusCode},
    routing::get,
    Router,
};
use chrono::Utc;
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

/// What the daemon's cycles and report runs share, made once at start.
struct Daemon<'a, M> {
    ctx: &'a Context,
    mail: &'a M,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    elector: Arc<Elector>,
    /// Mails accepted whose record could not be written: kept for the daemon's life.
    unrecorded: Unrecorded,
}

/// What a wake-up is for.
#[derive(Debug, Clone, Copy)]
struct Due {
    cycle: bool,
    reports: bool,
}

/// Runs cycles until SIGTERM or SIGINT (or once, with `once`).
pub async fn run(ctx: &Context, mail: &impl Deliver, once: bool) -> Result<(), DaemonError> {
    let config = &ctx.config;
    let (listener, address) = bind(config).await?;
    let d = Daemon {
        ctx,
        mail,
        health: Arc::new(Health::default()),
        metrics: Arc::new(Metrics::new()),
        elector: Arc::new(Elector::new(
            ctx.client.clone(),
            &config.own_namespace,
            &config.daemon.lease_name,
            identity(),
            std_duration(config.daemon.lease_duration),
        )),
        unrecorded: Unrecorded::default(),
    };
    let server = serve(listener, d.health.clone(), d.metrics.clone());
    // Dry-run writes nothing, the Lease included.
    let stop = Arc::new(AtomicBool::new(false));
    let renewing = (config.mode == Mode::Enforce).then(|| {
        let (elector, stop) = (d.elector.clone(), stop.clone());
        tokio::spawn(async move { elector.keep_renewing(&stop).await })
    });
    tracing::info!(
        identity = d.elector.identity(),
        listen = %address,
        mode = ?config.mode,
        schedule = %config.schedules.cycle.expression,
        time_zone = config.time_zone.0.name(),
        "kube-reclaimer started"
    );
    let result = reconcile(&d, once).await;
    stop.store(true, Ordering::SeqCst);
    if let Some(renewing) = renewing {
        let _ = renewing.await;
        d.elector.release().await;
    }
    server.abort();
    tracing::info!("kube-reclaimer stopped");
    result
}

async fn bind(config: &Config) -> Result<(tokio::net::TcpListener, String), DaemonError> {
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
    Ok((listener, address))
}

/// Serves `/metrics`, `/healthz` and `/readyz` until aborted.
fn serve(
    listener: tokio::net::TcpListener,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    let app = Router::new()
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
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "health server stopped");
        }
    })
}

/// The loop: a cycle at start, then cycles and report runs on their schedules, until a
/// signal (or after one cycle, with `once`).
async fn reconcile<M: Deliver>(d: &Daemon<'_, M>, once: bool) -> Result<(), DaemonError> {
    let config = &d.ctx.config;
    let mut terminate = shutdown_signal();
    let mut reporter = report::Reporter::default();
    let mut first = true;
    loop {
        let mut due = Due {
            cycle: true,
            reports: false,
        };
        if !(once || std::mem::take(&mut first)) {
            match wait_for_next(config, &mut terminate).await? {
                Some(next) => due = next,
                None => return Ok(()),
            }
        }
        // One cycle at a time: the next is scheduled only after this one ends. A signal
        // during a cycle (or a report run) lets it finish, then stops.
        let work = work(d, &mut reporter, due);
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
                d.health.ready.store(true, Ordering::SeqCst);
                d.metrics.cycle_completed(seconds, Utc::now());
            }
            Some((Err(e), _)) => {
                d.metrics.record_error(match e {
                    DaemonError::Overrun(_) => Source::Deadline,
                    _ => Source::Kubernetes,
                });
                if once {
                    return Err(e);
                }
                tracing::error!(error = %e, "cycle failed; retried at the next scheduled time")
            }
            None => {}
        }
        if once || stopping {
            return Ok(());
        }
    }
}

/// Sleeps until the next cycle or report time and says which is due; `None` when a
/// signal came first.
async fn wait_for_next(
    config: &Config,
    terminate: &mut Shutdown,
) -> Result<Option<Due>, DaemonError> {
    let now = Utc::now();
    let Some(next_cycle) = schedule::next_run(&config.schedules.cycle, config.time_zone.0, now)
    else {
        return Err(DaemonError::NoNextRun(
            config.schedules.cycle.expression.clone(),
        ));
    };
    // The weekly reports run on their own schedule; at the same time, after the cycle.
    let next_report = schedule::next_run(&config.schedules.report, config.time_zone.0, now);
    let next = next_report.map_or(next_cycle, |r| r.min(next_cycle));
    let due = Due {
        cycle: next_cycle == next,
        reports: next_report == Some(next),
    };
    tracing::info!(next = %crate::core::model::rfc3339(next), cycle = due.cycle, reports = due.reports, "waiting for the next cycle");
    let wait = (next - Utc::now()).to_std().unwrap_or_default();
    tokio::select! {
        _ = tokio::time::sleep(wait) => Ok(Some(due)),
        _ = terminate => Ok(None),
    }
}

/// What is due, each part within `daemon.cycle_timeout`: the cycle (its outcome and
/// seconds), then the report run, or in enforce mode the report mails to try again.
async fn work<M: Deliver>(
    d: &Daemon<'_, M>,
    reporter: &mut report::Reporter,
    due: Due,
) -> Option<(Result<(), DaemonError>, f64)> {
    let config = &d.ctx.config;
    let deadline = std_duration(config.daemon.cycle_timeout);
    let outcome = match due.cycle {
        true => {
            let started = std::time::Instant::now();
            let outcome = match tokio::time::timeout(deadline, cycle(d)).await {
                Ok(outcome) => outcome.map_err(DaemonError::Cycle),
                Err(_) => Err(DaemonError::Overrun(config.daemon.cycle_timeout)),
            };
            Some((outcome, started.elapsed().as_secs_f64()))
        }
        false => None,
    };
    let may_act = may_act(d);
    if due.reports {
        let work = reporter.run(d.ctx, d.mail, &d.elector, &may_act);
        if tokio::time::timeout(deadline, work).await.is_err() {
            d.metrics.record_error(Source::Deadline);
            tracing::error!(timeout = %config.daemon.cycle_timeout, "weekly report run did not finish within daemon.cycle_timeout; abandoned");
        }
    } else if config.mode == Mode::Enforce {
        let work = reporter.retry(d.mail, &may_act, Utc::now());
        if tokio::time::timeout(deadline, work).await.is_err() {
            d.metrics.record_error(Source::Deadline);
            tracing::error!(timeout = %config.daemon.cycle_timeout, "weekly report retries did not finish within daemon.cycle_timeout; abandoned");
        }
    }
    outcome
}

/// Acting needs the Lease (by its deadline) and a clock that agrees with the apiserver's.
fn may_act<'d, M>(d: &'d Daemon<'_, M>) -> impl Fn() -> bool + Sync + 'd {
    let (elector, health) = (&d.elector, &d.health);
    move || elector.is_leader() && health.clock.trusted()
}

type Shutdown = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Resolves on SIGTERM or SIGINT.
fn shutdown_signal() -> Shutdown {
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

/// Collect, assess, plan; the leader in enforce mode then acts, while it may.
async fn cycle<M: Deliver>(d: &Daemon<'_, M>) -> Result<(), CollectError> {
    let (config, metrics) = (&d.ctx.config, &d.metrics);
    let started = std::time::Instant::now();
    let trusted = check_clock(d).await;
    let unknown = "its values are unknown";
    let evaluation = evaluate_at(d.ctx, Utc::now(), Progress::Log { unknown }).await?;
    metrics.record_evaluation(&evaluation, config);
    let planned: usize = evaluation
        .plan
        .namespaces
        .iter()
        .map(|n| n.actions.len())
        .sum();
    let namespaces = evaluation.plan.namespaces.len();
    match lease_gate(config.mode, trusted, &d.elector, "not acting this cycle").await {
        Gate::DryRun => {
            for n in &evaluation.plan.namespaces {
                for a in &n.actions {
                    tracing::info!(namespace = %n.name, action = %a.kind.as_str(), reason = %a.reason, "dry-run: would act");
                }
            }
            tracing::info!(
                namespaces,
                planned,
                seconds = started.elapsed().as_secs_f64(),
                "cycle done (dry-run)"
            );
        }
        Gate::Untrusted => {
            metrics.set_leader(false);
            tracing::info!(
                namespaces,
                planned,
                "cycle done: not acting, the clock cannot be trusted"
            );
        }
        gate @ (Gate::Unreachable | Gate::Follower) => {
            if gate == Gate::Unreachable {
                metrics.record_error(Source::Lease);
            }
            metrics.set_leader(false);
            tracing::info!(
                namespaces,
                planned,
                "cycle done: another replica holds the Lease, not acting"
            );
        }
        Gate::Leader => {
            metrics.set_leader(true);
            act(d, &evaluation, planned, started).await;
        }
    }
    Ok(())
}

/// Measures the clock against the apiserver's and records it; whether it is trusted.
async fn check_clock<M>(d: &Daemon<'_, M>) -> bool {
    let config = &d.ctx.config;
    let (clock, metrics) = (&d.health.clock, &d.metrics);
    let measured = clock::measure(&d.ctx.client).await;
    let trusted = clock.record(&measured, config.daemon.max_clock_skew.as_seconds() as f64);
    metrics.set_clock_skew(measured.as_ref().ok().map(|s| s.seconds), !trusted);
    // Measured and beyond the bound: give the Lease to a replica that can act with it.
    // (Unmeasured, the apiserver is out of reach and the Lease cannot be renewed anyway.)
    if measured.is_ok() {
        d.elector.stand_aside(!trusted).await;
    }
    if let Some(why) = clock.refusal() {
        if measured.is_err() {
            metrics.record_error(Source::Kubernetes);
        }
        tracing::warn!(reason = %why, "not acting this cycle: planning and exporting only");
    }
    trusted
}

/// The leader acts on the plan, action by action while it may.
async fn act<M: Deliver>(
    d: &Daemon<'_, M>,
    evaluation: &Evaluation,
    planned: usize,
    started: std::time::Instant,
) {
    let config = &d.ctx.config;
    let metrics = &d.metrics;
    let cluster = Cluster::new(d.ctx.client.clone());
    let may_act = may_act(d);
    let actor = Actor {
        config,
        cluster: &cluster,
        mail: d.mail,
        may_act: &may_act,
        unrecorded: &d.unrecorded,
    };
    let acted = execute(evaluation, &actor, evaluation.at).await;
    metrics.record_done(&acted);
    tracing::info!(
        namespaces = evaluation.plan.namespaces.len(),
        planned,
        acted = acted.done.len(),
        seconds = started.elapsed().as_secs_f64(),
        "cycle done"
    );
}
