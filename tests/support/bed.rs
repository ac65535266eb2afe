//! A running test bed: control plane (tests/bed/up.sh), a scenario applied to it, and a
//! Prometheus serving the scenario's metrics history (tests/bed/prometheus-up.sh).
//!
//! `at` is the bed's start + 15 days, rounded down to the minute: the apiserver stamps
//! namespaces with the real creation time, so everything is evaluated "as of" a future
//! instant at which every namespace is ~15 days old; the metrics history is
//! `[at - history, at]`, in the future as well, and Prometheus serves it. With
//! [`BedOptions::present`], `at` is the start itself (whole minute): the history ends now,
//! for a daemon that evaluates at the wall clock, and Prometheus can also scrape live
//! targets ([`BedOptions::scrape`]).
//!
//! The bed stops by itself when the process that started it exits: a detached watchdog
//! waits for that pid, then runs down.sh (and removes the state dir unless
//! `KUBE_RECLAIMER_BED_KEEP=1`). Environment: `KUBE_RECLAIMER_BED_STEP` (sample spacing,
//! e.g. `2m`), `KUBE_RECLAIMER_BED_KEEP`, `KUBE_RECLAIMER_BED_BUILD_TIMEOUT` (seconds for
//! up.sh, first Go build included; default 1800).

use super::apply::{self, ApplyStats, Objects};
use super::metrics::{self, Grid, RenderStats};
use super::scenario::{Scenario, Span};
use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Duration, DurationRound, Utc};
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// How far in the future `at` lies from the bed's start.
pub const AT_OFFSET_DAYS: i64 = 15;

/// The bulk benchmark's part of a bed.
#[derive(Debug, Clone, Copy)]
pub struct Bulk {
    pub namespaces: usize,
    pub pods_per_namespace: usize,
    /// Metrics history of the bulk pods (short: six series per pod). Zero: none, for a
    /// benchmark that serves the bulk pods' history from a Prometheus of its own.
    pub history: Duration,
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct BedOptions {
    /// Short name used in the state dir's name.
    pub name: String,
    pub scenario: Scenario,
    pub bulk: Option<Bulk>,
    /// Sample spacing; default: `KUBE_RECLAIMER_BED_STEP`, else the scenario's.
    pub step: Option<Duration>,
    /// Keep the state dir (logs, TSDB, metrics file) after the bed stops.
    pub keep: bool,
    /// `at` is the bed's start (whole minute) instead of 15 days ahead: the history ends
    /// at the present. Namespaces are then only seconds old at `at`.
    pub present: bool,
    /// `127.0.0.1:PORT` targets Prometheus also scrapes, every second, as job
    /// `kube-reclaimer`. Needs `present`: Prometheus refuses live samples older than the
    /// newest backfilled one.
    pub scrape: Vec<String>,
}

impl BedOptions {
    pub fn scenario(name: &str) -> Result<BedOptions> {
        Ok(BedOptions {
            name: name.to_string(),
            scenario: Scenario::named(name)?,
            bulk: None,
            step: None,
            keep: std::env::var("KUBE_RECLAIMER_BED_KEEP").is_ok_and(|v| v == "1"),
            present: false,
            scrape: Vec::new(),
        })
    }
}

/// Wall-clock durations of the bring-up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub control_plane: std::time::Duration,
    pub metrics: RenderStats,
    pub apply: ApplyStats,
    /// prometheus-up.sh as a whole (install check, backfill, start, first query).
    pub prometheus: std::time::Duration,
    /// From prometheus-up.sh: promtool backfill, start to /-/ready, first data query (ms).
    pub backfill_ms: u64,
    pub prometheus_ready_ms: u64,
    pub first_query_ms: u64,
    pub tsdb_bytes: u64,
    pub total: std::time::Duration,
}

pub struct Bed {
    pub state_dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub prometheus_url: String,
    /// The instant everything is evaluated at (start + 15d, whole minute).
    pub at: DateTime<Utc>,
    pub scenario: Scenario,
    /// Admin client. It runs on the bed's own runtime, so it works from any test's
    /// runtime for as long as the bed lives.
    pub client: kube::Client,
    pub timings: Timings,
    runtime: Option<tokio::runtime::Runtime>,
    stopped: bool,
}

/// Progress on the real stderr (not captured by the test harness).
pub fn progress(message: &str) {
    let _ = writeln!(std::io::stderr(), "[bed] {message}");
}

fn bed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed")
}

impl Bed {
    /// One bed per test binary with the `sample` scenario, started on first use.
    pub fn shared() -> &'static Bed {
        static BED: OnceLock<Result<Bed, String>> = OnceLock::new();
        let bed = BED.get_or_init(|| {
            BedOptions::scenario("sample")
                .and_then(Bed::start)
                .map_err(|e| format!("{e:#}"))
        });
        match bed {
            Ok(bed) => bed,
            Err(e) => panic!("the test bed could not be started: {e}"),
        }
    }

    /// Starts a bed; it stops when dropped, or at the latest when this process exits.
    pub fn start(options: BedOptions) -> Result<Bed> {
        let started = Instant::now();
        let base = option_env!("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let stamp = Utc::now().format("%Y%m%dT%H%M%S");
        let state_dir = base.join(format!(
            "kube-reclaimer-bed-{}-{stamp}-{}",
            options.name,
            std::process::id()
        ));
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        start_watchdog(&state_dir, options.keep)?;
        if !options.scrape.is_empty() && !options.present {
            bail!("scraping live targets needs a history that ends at the present");
        }
        let offset = if options.present {
            Duration::zero()
        } else {
            Duration::days(AT_OFFSET_DAYS)
        };
        let at = (Utc::now() + offset)
            .duration_trunc(Duration::minutes(1))
            .map_err(|e| anyhow!("cannot round the evaluation instant: {e}"))?;
        let step = match options.step {
            Some(s) => s,
            None => match std::env::var("KUBE_RECLAIMER_BED_STEP") {
                Ok(s) => Span::parse(&s).context("KUBE_RECLAIMER_BED_STEP")?.0,
                Err(_) => options.scenario.step.0,
            },
        };
        progress(&format!(
            "starting in {} (at = {}, history {}h, step {}s)",
            state_dir.display(),
            at.to_rfc3339(),
            options.scenario.history.0.num_hours(),
            step.num_seconds()
        ));
        let mut timings = Timings::default();

        // Metrics render (CPU) while the control plane starts (mostly waiting).
        let metrics_file = state_dir.join("metrics.om");
        let render = {
            let (file, scenario, bulk) =
                (metrics_file.clone(), options.scenario.clone(), options.bulk);
            std::thread::spawn(move || -> Result<RenderStats> {
                let mut pods = metrics::scenario_pods(&scenario, at)?;
                let mut history = scenario.history.0;
                if let Some(b) = bulk.filter(|b| b.history > Duration::zero()) {
                    let grid = Grid {
                        at,
                        history: b.history,
                        step,
                    };
                    pods.extend(metrics::bulk_pods(b.namespaces, b.pods_per_namespace, grid));
                    history = history.max(b.history);
                }
                metrics::render(&file, &pods, Grid { at, history, step })
            })
        };

        progress("starting the control plane (tests/bed/up.sh; the first run builds kube-apiserver from source: several minutes)");
        let t = Instant::now();
        let build_timeout = std::env::var("KUBE_RECLAIMER_BED_BUILD_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1800);
        let kubeconfig = PathBuf::from(run_script(
            &bed_dir().join("up.sh"),
            &[state_dir.as_os_str()],
            std::time::Duration::from_secs(build_timeout),
        )?);
        timings.control_plane = t.elapsed();
        progress(&format!(
            "control plane up in {:.1}s",
            timings.control_plane.as_secs_f64()
        ));

        timings.metrics = render
            .join()
            .map_err(|_| anyhow!("the metrics renderer panicked"))??;
        progress(&format!(
            "metrics: {} series, {} samples, {:.1} MiB of OpenMetrics in {:.1}s",
            timings.metrics.series,
            timings.metrics.samples,
            timings.metrics.bytes as f64 / 1048576.0,
            timings.metrics.elapsed.as_secs_f64()
        ));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bed")
            .enable_all()
            .build()
            .context("cannot start the bed's Tokio runtime")?;

        // Prometheus (backfill: CPU) while the scenario is applied (API round trips).
        let prometheus = {
            let (dir, file) = (state_dir.clone(), metrics_file.clone());
            let scrape = options.scrape.clone();
            std::thread::spawn(move || -> Result<(String, std::time::Duration)> {
                let t = Instant::now();
                let mut args = vec![dir.as_os_str(), file.as_os_str()];
                args.extend(scrape.iter().map(std::ffi::OsStr::new));
                let url = run_script(
                    &bed_dir().join("prometheus-up.sh"),
                    &args,
                    std::time::Duration::from_secs(900),
                )?;
                Ok((url, t.elapsed()))
            })
        };
        let mut objects = apply::scenario_objects(&options.scenario, at)?;
        if let Some(b) = options.bulk {
            let bulk = apply::bulk_objects(b.namespaces, b.pods_per_namespace)?;
            objects = Objects {
                namespaces: [objects.namespaces, bulk.namespaces].concat(),
                quotas: [objects.quotas, bulk.quotas].concat(),
                pods: [objects.pods, bulk.pods].concat(),
            };
        }
        let concurrency = options.bulk.map_or(apply::CONCURRENCY, |b| b.concurrency);
        progress(&format!(
            "applying {} namespaces, {} quotas, {} pods",
            objects.namespaces.len(),
            objects.quotas.len(),
            objects.pods.len()
        ));
        let kc = kubeconfig.clone();
        let applied = block_on(&runtime, async move {
            let client = apply::client_from_kubeconfig(&kc).await?;
            let stats = apply::apply(&client, objects, concurrency).await?;
            Ok::<_, anyhow::Error>((client, stats))
        });
        let prometheus = prometheus
            .join()
            .map_err(|_| anyhow!("the Prometheus starter panicked"))?;
        let (client, apply_stats) = applied?;
        timings.apply = apply_stats;
        progress(&format!(
            "applied in {:.1}s ({} requests)",
            apply_stats.elapsed.as_secs_f64(),
            apply_stats.requests
        ));
        let (prometheus_url, prometheus_time) = prometheus?;
        timings.prometheus = prometheus_time;
        if let Ok(text) = std::fs::read_to_string(state_dir.join("prometheus/timings")) {
            for (k, v) in text.split_whitespace().filter_map(|kv| kv.split_once('=')) {
                let v = v.parse().unwrap_or(0);
                match k {
                    "backfill_ms" => timings.backfill_ms = v,
                    "ready_ms" => timings.prometheus_ready_ms = v,
                    "query_ms" => timings.first_query_ms = v,
                    _ => {}
                }
            }
        }
        timings.tsdb_bytes = dir_size(&state_dir.join("prometheus/data"));
        if !options.keep {
            let _ = std::fs::remove_file(&metrics_file);
        }
        timings.total = started.elapsed();
        progress(&format!(
            "ready in {:.1}s: KUBECONFIG={} PROMETHEUS={} at={} (prometheus {:.1}s: backfill {:.1}s, TSDB {:.1} MiB)",
            timings.total.as_secs_f64(),
            kubeconfig.display(),
            prometheus_url,
            at.to_rfc3339(),
            timings.prometheus.as_secs_f64(),
            timings.backfill_ms as f64 / 1000.0,
            timings.tsdb_bytes as f64 / 1048576.0,
        ));
        Ok(Bed {
            state_dir,
            kubeconfig,
            prometheus_url,
            at,
            scenario: options.scenario,
            client,
            timings,
            runtime: Some(runtime),
            stopped: false,
        })
    }

    /// The bed's kubectl (bin-build.sh builds it with the control plane, same version),
    /// talking to this bed as its admin.
    pub fn kubectl(&self) -> Command {
        let env = std::fs::read_to_string(self.state_dir.join("env")).unwrap_or_default();
        let Some(path) = env
            .lines()
            .find_map(|l| l.strip_prefix("KUBE_RECLAIMER_BED_KUBECTL="))
        else {
            panic!(
                "{} names no KUBE_RECLAIMER_BED_KUBECTL",
                self.state_dir.join("env").display()
            )
        };
        let mut cmd = Command::new(path);
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// Runs `future` to completion on the bed's runtime (from sync code or any runtime).
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        match &self.runtime {
            Some(rt) => block_on(rt, future),
            None => panic!("the bed's runtime is gone"),
        }
    }

    /// Stops the control plane and Prometheus now (down.sh).
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let status = Command::new(bed_dir().join("down.sh"))
            .arg(&self.state_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .context("cannot run down.sh")?;
        if !status.success() {
            bail!("down.sh {} failed: {status}", self.state_dir.display());
        }
        Ok(())
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        let _ = self.stop();
    }
}

/// `rt.block_on` on a separate thread, so that it also works inside another runtime.
fn block_on<F>(rt: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| match s.spawn(|| rt.block_on(future)).join() {
        Ok(output) => output,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Stops the bed when this process exits, whatever way it exits: a detached shell (own
/// process group, so Ctrl-C on the test run does not kill it first) polls our pid.
pub fn start_watchdog(state_dir: &Path, keep: bool) -> Result<()> {
    let script = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done
"$2" "$3" >>"$3.watchdog.log" 2>&1
if [ "$4" = remove ]; then rm -rf "$3" "$3.watchdog.log"; fi"#;
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("bed-watchdog")
        .arg(std::process::id().to_string())
        .arg(bed_dir().join("down.sh"))
        .arg(state_dir)
        .arg(if keep { "keep" } else { "remove" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("cannot start the bed's watchdog")?;
    Ok(())
}

/// Runs a bed script with its stderr shown; returns its last stdout line. Bounded.
fn run_script(
    script: &Path,
    args: &[&std::ffi::OsStr],
    timeout: std::time::Duration,
) -> Result<String> {
    let mut cmd = Command::new(script);
    cmd.args(args);
    run_command(cmd, timeout)
}

/// Runs `cmd` with its stderr shown; returns its last non-empty stdout line. Bounded.
pub fn run_command(mut cmd: Command, timeout: std::time::Duration) -> Result<String> {
    let shown = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {shown}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout from {shown}"))?;
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .last()
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{shown} did not finish within {}s", timeout.as_secs());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let last = reader
        .join()
        .map_err(|_| anyhow!("reading the output of {shown} failed"))?;
    if !status.success() {
        bail!("{shown} failed: {status}");
    }
    last.ok_or_else(|| anyhow!("{shown} printed nothing"))
}

/// Bytes under `path`, recursively (0 where unreadable).
pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
