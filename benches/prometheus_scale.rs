//! What a cycle costs Prometheus at real windows (7 days), with cAdvisor's raw series and
//! with the recorded series of deploy/prometheus/rules.yaml, side by side. Not a test: it
//! prints figures and the targets beside them.
//!
//! ```sh
//! cargo bench --bench prometheus_scale                        # 2 000 namespaces
//! BENCH_NAMESPACES=10000 cargo bench --bench prometheus_scale
//! ```
//!
//! The metrics history (`BENCH_HISTORY`, default 7d2h, every `BENCH_STEP`, default 2m,
//! for `BENCH_METRICS_PODS` pods per namespace, default 1: six cAdvisor series each) is
//! built once and cached as TSDB blocks in
//! `$KUBE_RECLAIMER_BED_CACHE/bench-tsdb/<key>/` (default cache:
//! `~/.cache/kube-reclaimer-bed`): the raw series (OpenMetrics rendered in chunks of
//! `BENCH_CHUNK`, default 12h, by `BENCH_BUILD_JOBS` workers, each chunk turned into
//! blocks by `promtool tsdb create-blocks-from openmetrics`), then the recording rules
//! evaluated every minute over the whole history (`promtool tsdb create-blocks-from
//! rules` against a Prometheus serving the raw blocks). The history ends at the cache's
//! evaluation instant `at`, a whole hour 15 days after the build (Prometheus serves data
//! in the future). Each run serves a hard-linked copy of the blocks (`cp -al`; Prometheus
//! never rewrites a block file) from a Prometheus with compaction off, so the blocks
//! stay as built.
//!
//! The apiserver side is a fresh bed with `BENCH_NAMESPACES` namespaces of
//! `BENCH_PODS_PER_NAMESPACE` pods (default 5; only the first `BENCH_METRICS_PODS` have a
//! history): kube-reclaimer lists them all. The namespaces are created now, so at `at`
//! they are days older than the 7-day idle window and idle verdicts are given; a cache
//! whose `at` is less than the window and an hour ahead is rebuilt.
//!
//! Per mode (`prometheus.recording_rules: always`, then `never`): each query
//! kube-reclaimer makes (built by `core::query`), one at a time; the same queries all at
//! once, in the daemon's two rounds (recorded-history checks, then statistics and
//! coverage), which is the floor of a cycle's Prometheus part; `Prometheus::collect` in
//! this process; then the release binary's `plan --output json` (wall time, its peak
//! RSS, Prometheus's peak RSS during it). A Prometheus whose RSS passes
//! `BENCH_PROMETHEUS_RSS_LIMIT_GIB` (default 14) is stopped and the mode reported as
//! failed. `BENCH_RAW=queries` skips the raw mode's `collect` and `plan` (each takes as
//! long as the floor), `BENCH_RAW=none` the raw mode.

#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Duration, DurationRound, Utc};
use kube_reclaimer::core::config::Config;
use kube_reclaimer::core::query::{self, Series, Statistic};
use kube_reclaimer::io::prometheus::Prometheus;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use support::bed::{progress, start_watchdog};
use support::metrics::{self, Grid, RenderStats};
use support::scenario::{Scenario, Span};
use support::{Bed, BedOptions, Bulk};

/// Bumped whenever what the cache holds changes (series, labels, rules, layout).
const FORMAT: u32 = 1;
const WINDOW_DAYS: i64 = 7;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_span(name: &str, default: &str) -> Result<Duration> {
    let text = std::env::var(name).unwrap_or_else(|_| default.to_string());
    Ok(Span::parse(&text).with_context(|| name.to_string())?.0)
}

/// Runs a command to completion; returns its stdout, stderr, success and its own peak
/// resident set in KiB (from `wait4`, so only this process counts).
fn run_measured(cmd: &mut Command) -> Result<(Vec<u8>, Vec<u8>, bool, i64)> {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning")?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let mut status = 0;
    // SAFETY: wait4 writes only into `status` and `usage`, which outlive the call; the
    // pid is our own child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    anyhow::ensure!(pid > 0, "wait4 failed");
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let stdout = out.join().map_err(|_| anyhow!("stdout reader"))?;
    let stderr = err.join().map_err(|_| anyhow!("stderr reader"))?;
    Ok((stdout, stderr, success, usage.ru_maxrss))
}

/// As in plan_scale: a fresh, small copy of this binary runs the program, so that the
/// peak RSS the kernel reports is the program's, not this (large) process's.
fn measure_mode(args: &[String]) -> Result<()> {
    use std::io::Write;
    let (program, rest) = args.split_first().context("--measure needs a program")?;
    let (stdout, stderr, success, rss_kib) = run_measured(Command::new(program).args(rest))?;
    std::io::stdout().write_all(&stdout)?;
    std::io::stderr().write_all(&stderr)?;
    eprintln!("\nmaxrss_kib={rss_kib}");
    std::process::exit(if success { 0 } else { 1 });
}

/// Runs `cmd` with its output in `log`, bounded by `timeout`.
fn run_logged(mut cmd: Command, log: &Path, timeout: std::time::Duration) -> Result<()> {
    let shown = format!("{:?}", cmd.get_program());
    let file = std::fs::File::create(log)?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("cannot run {shown}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            bail!(
                "{shown} failed ({status}); last lines of {}:\n{}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{shown} did not finish within {}s", timeout.as_secs());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn cp_al(from: &Path, to: &Path) -> Result<()> {
    let status = Command::new("cp")
        .arg("-al")
        .arg(from)
        .arg(to)
        .status()
        .context("cp -al")?;
    anyhow::ensure!(
        status.success(),
        "cp -al {} {} failed",
        from.display(),
        to.display()
    );
    Ok(())
}

/// Moves every block (a dir with meta.json) of `from` into `to`; returns how many.
fn move_blocks(from: &Path, to: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(from).with_context(|| from.display().to_string())? {
        let entry = entry?;
        if entry.path().join("meta.json").exists() {
            std::fs::rename(entry.path(), to.join(entry.file_name()))?;
            n += 1;
        }
    }
    Ok(n)
}

fn dir_size(path: &Path) -> u64 {
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

// ------------------------------------------------------------------ Prometheus

/// A Prometheus serving `STATE/data`, compaction off; stopped when dropped (down.sh), or
/// by its watchdog when this process exits.
struct Served {
    state: PathBuf,
    pid: u32,
    url: String,
}

impl Served {
    fn start(state: &Path) -> Result<Served> {
        start_watchdog(state, false)?;
        std::fs::write(
            state.join("prometheus.yml"),
            "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n",
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(state.join("prometheus.log"))?;
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                state.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                state.join("data").display()
            ))
            .arg("--storage.tsdb.retention.time=10y")
            // Blocks stay as built: no compaction while measuring.
            .arg("--storage.tsdb.min-block-duration=2h")
            .arg("--storage.tsdb.max-block-duration=2h")
            .arg("--query.timeout=30m")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start prometheus")?;
        let pid = child.id();
        std::fs::write(state.join("pids"), format!("prometheus {pid}\n"))?;
        let served = Served {
            state: state.to_path_buf(),
            pid,
            url,
        };
        let deadline = Instant::now() + std::time::Duration::from_secs(900);
        loop {
            let ready = Command::new("curl")
                .args(["-fsS", "--max-time", "2", "-o", "/dev/null"])
                .arg(format!("{}/-/ready", served.url))
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            if !Path::new(&format!("/proc/{pid}")).exists() {
                bail!(
                    "prometheus exited; see {}",
                    state.join("prometheus.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!("prometheus at {} not ready within 900 s", served.url);
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        // The child is reaped by down.sh's wait, or by init once we exit.
        std::mem::forget(child);
        Ok(served)
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    fn rss_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    /// Resets the peak RSS the kernel keeps (VmHWM) to the current RSS.
    fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }

    fn peak_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    fn alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid)).exists()
            && std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let down = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/down.sh");
        let _ = Command::new(down).arg(&self.state).output();
    }
}

/// Stops `served` when its RSS passes `limit_kib`; remembers the highest RSS seen.
struct Guard {
    stop: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    highest: Arc<AtomicU64>,
}

impl Guard {
    fn watch(pid: u32, limit_kib: u64) -> Guard {
        let (stop, killed, highest) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (s, k, h) = (stop.clone(), killed.clone(), highest.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|t| {
                        t.lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    })
                    .unwrap_or(0u64);
                h.fetch_max(rss, Ordering::Relaxed);
                if rss > limit_kib {
                    progress(&format!(
                        "Prometheus RSS {:.1} GiB passes the limit: stopping it",
                        rss as f64 / 1048576.0
                    ));
                    // SAFETY: kill(2) on a pid we started; no memory is touched.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                    k.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        Guard {
            stop,
            killed,
            highest,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ------------------------------------------------------------------ the cache

struct Shape {
    namespaces: usize,
    metrics_pods: usize,
    history: Duration,
    step: Duration,
}

impl Shape {
    fn key(&self) -> String {
        format!(
            "v{FORMAT}-{}ns-{}pods-{}m-{}s",
            self.namespaces,
            self.metrics_pods,
            self.history.num_minutes(),
            self.step.num_seconds()
        )
    }
}

struct Cache {
    dir: PathBuf,
    at: DateTime<Utc>,
    /// What the build printed (when it was built, how long it took).
    build: String,
}

fn cache_root() -> PathBuf {
    match std::env::var("KUBE_RECLAIMER_BED_CACHE") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
            .join(".cache/kube-reclaimer-bed"),
    }
    .join("bench-tsdb")
}

/// The cached blocks for `shape`, built first when missing, incomplete or when their
/// `at` is too close for namespaces created now to be older than the window at `at`.
fn cache(shape: &Shape) -> Result<Cache> {
    let dir = cache_root().join(shape.key());
    let fresh_until = Utc::now() + Duration::days(WINDOW_DAYS) + Duration::hours(1);
    if let Ok(text) = std::fs::read_to_string(dir.join("at")) {
        let at = DateTime::parse_from_rfc3339(text.trim())
            .map(|t| t.with_timezone(&Utc))
            .ok();
        match at {
            Some(at) if at > fresh_until && dir.join("blocks").is_dir() => {
                let build = std::fs::read_to_string(dir.join("build.txt")).unwrap_or_default();
                progress(&format!("cached history {} (at = {at})", dir.display()));
                return Ok(Cache { dir, at, build });
            }
            _ => progress(&format!(
                "the cached history {} ends too soon; rebuilding",
                dir.display()
            )),
        }
    }
    build(shape, &dir)
}

fn build(shape: &Shape, dir: &Path) -> Result<Cache> {
    let started = Instant::now();
    let at = (Utc::now() + Duration::days(15))
        .duration_trunc(Duration::hours(1))
        .map_err(|e| anyhow!("cannot round `at`: {e}"))?;
    let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let blocks = tmp.join("blocks");
    std::fs::create_dir_all(&blocks)?;
    start_watchdog_for_tmp(&tmp)?;
    let chunk = env_span("BENCH_CHUNK", "12h")?;
    let jobs: usize = env_or("BENCH_BUILD_JOBS", 2).max(1);
    let step = shape.step;
    anyhow::ensure!(
        chunk.num_seconds() % step.num_seconds() == 0
            && shape.history.num_seconds() % step.num_seconds() == 0,
        "BENCH_CHUNK and BENCH_HISTORY must be multiples of BENCH_STEP"
    );
    let start = at - shape.history;
    progress(&format!(
        "building {}: {} namespaces x {} pods with history, {}h every {}s ending at {at}, chunks of {}h, {jobs} jobs",
        dir.display(),
        shape.namespaces,
        shape.metrics_pods,
        shape.history.num_hours(),
        step.num_seconds(),
        chunk.num_hours()
    ));
    // The series span the whole history; each chunk renders its part of the grid, the
    // last instant of a chunk one step before the next chunk's first.
    let full = Grid {
        at,
        history: shape.history,
        step,
    };
    let pods = metrics::bulk_pods(shape.namespaces, shape.metrics_pods, full);
    let mut chunks = Vec::new();
    let mut s = start;
    while s <= at {
        let last = (s + chunk - step).min(at);
        chunks.push((s, last));
        s += chunk;
    }
    let next = AtomicUsize::new(0);
    let totals = std::sync::Mutex::new(RenderStats::default());
    let promtool_time = AtomicU64::new(0);
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(from, last)) = chunks.get(k) else {
                            return Ok(());
                        };
                        let file = tmp.join(format!("chunk-{k}.om"));
                        let grid = Grid {
                            at: last,
                            history: last - from,
                            step,
                        };
                        let stats = metrics::render(&file, &pods, grid)?;
                        let out = tmp.join(format!("out-{k}"));
                        let t = Instant::now();
                        let mut cmd = Command::new("promtool");
                        cmd.args(["tsdb", "create-blocks-from", "openmetrics"])
                            .arg("--max-block-duration=744h")
                            .arg(&file)
                            .arg(&out);
                        run_logged(
                            cmd,
                            &tmp.join(format!("promtool-{k}.log")),
                            std::time::Duration::from_secs(3600),
                        )?;
                        promtool_time.fetch_add(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                        std::fs::remove_file(&file)?;
                        move_blocks(&out, &blocks)?;
                        let _ = std::fs::remove_dir_all(&out);
                        let mut totals = totals.lock().map_err(|_| anyhow!("poisoned"))?;
                        totals.series += stats.series;
                        totals.samples += stats.samples;
                        totals.bytes += stats.bytes;
                        totals.elapsed += stats.elapsed;
                        progress(&format!(
                            "chunk {}/{} ({} to {}): {:.1} GiB of OpenMetrics in {:.0}s, promtool {:.0}s",
                            k + 1,
                            chunks.len(),
                            from.format("%m-%d %H:%M"),
                            last.format("%m-%d %H:%M"),
                            stats.bytes as f64 / 1073741824.0,
                            stats.elapsed.as_secs_f64(),
                            t.elapsed().as_secs_f64()
                        ));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow!("a build worker panicked"))??;
        }
        Ok(())
    })?;
    let raw_time = started.elapsed();
    let totals = totals.into_inner().map_err(|_| anyhow!("poisoned"))?;
    let raw_bytes = dir_size(&blocks);

    // The recording rules over the whole history, from a Prometheus serving the raw blocks.
    let t = Instant::now();
    let rules_state = tmp.join("rules-prometheus");
    std::fs::create_dir_all(&rules_state)?;
    cp_al(&blocks, &rules_state.join("data"))?;
    let served = Served::start(&rules_state)?;
    let rule_blocks = tmp.join("rule-blocks");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/rules.yaml");
    let mut cmd = Command::new("promtool");
    cmd.args(["tsdb", "create-blocks-from", "rules"])
        .arg(format!("--start={}", start.timestamp()))
        .arg(format!("--end={}", at.timestamp()))
        .arg(format!("--url={}", served.url))
        .arg("--eval-interval=1m")
        .arg(format!("--output-dir={}", rule_blocks.display()))
        .arg(&rules);
    run_logged(
        cmd,
        &tmp.join("promtool-rules.log"),
        std::time::Duration::from_secs(7200),
    )?;
    drop(served);
    let _ = std::fs::remove_dir_all(&rules_state);
    let n_rule_blocks = move_blocks(&rule_blocks, &blocks)?;
    anyhow::ensure!(n_rule_blocks > 0, "promtool wrote no rule blocks");
    let rules_time = t.elapsed();
    let total_bytes = dir_size(&blocks);
    let build = format!(
        "built {} in {:.0}s on {} cores: raw {:.0}s ({} series, {} samples, {:.1} GiB of OpenMetrics \
         in {} chunks; rendering {:.0}s, promtool {:.0}s, summed over {jobs} jobs), TSDB {:.0} MiB; \
         rules {:.0}s ({n_rule_blocks} blocks, {:.0} MiB)",
        Utc::now().format("%Y-%m-%d"),
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        raw_time.as_secs_f64(),
        totals.series / chunks.len() as u64,
        totals.samples,
        totals.bytes as f64 / 1073741824.0,
        chunks.len(),
        totals.elapsed.as_secs_f64(),
        promtool_time.load(Ordering::Relaxed) as f64 / 1000.0,
        raw_bytes as f64 / 1048576.0,
        rules_time.as_secs_f64(),
        (total_bytes - raw_bytes) as f64 / 1048576.0,
    );
    std::fs::write(tmp.join("build.txt"), &build)?;
    std::fs::write(tmp.join("at"), at.to_rfc3339())?;
    let _ = std::fs::remove_dir_all(tmp.join("rule-blocks"));
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir)?;
    progress(&build);
    Ok(Cache {
        dir: dir.to_path_buf(),
        at,
        build,
    })
}

/// An interrupted build leaves no half-built dir behind for long: the watchdog of the
/// bed scripts removes `tmp` when this process exits (after a complete build, `tmp` is
/// renamed and the watchdog finds nothing to remove).
fn start_watchdog_for_tmp(tmp: &Path) -> Result<()> {
    start_watchdog(tmp, false)
}

// ------------------------------------------------------------------ queries

#[derive(Clone)]
struct Query {
    name: String,
    promql: String,
    at: DateTime<Utc>,
}

struct Answer {
    seconds: f64,
    results: usize,
    error: Option<String>,
}

fn ask(url: &str, q: &Query) -> Answer {
    let started = Instant::now();
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "1800", "-w", "\n%{http_code}"])
        .arg(format!("{url}/api/v1/query"))
        .arg("--data-urlencode")
        .arg(format!("query={}", q.promql))
        .arg("--data-urlencode")
        .arg(format!("time={}", q.at.timestamp()))
        .arg("--data-urlencode")
        .arg("partial_response=false")
        .stdin(Stdio::null())
        .output();
    let seconds = started.elapsed().as_secs_f64();
    let fail = |e: String| Answer {
        seconds,
        results: 0,
        error: Some(e),
    };
    let output = match output {
        Ok(o) => o,
        Err(e) => return fail(format!("curl: {e}")),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    if code != "200" {
        return fail(format!(
            "HTTP {code} {}{}",
            body.chars().take(300).collect::<String>(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let answer: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return fail(format!("not JSON: {e}")),
    };
    if answer.get("warnings").is_some() {
        return fail(format!("warnings: {}", answer["warnings"]));
    }
    Answer {
        seconds,
        results: answer["data"]["result"].as_array().map_or(0, |r| r.len()),
        error: None,
    }
}

/// The daemon's rounds: the recorded-history checks (unless `never`), then the
/// statistics, the steps and the coverage query, each round all at once.
fn rounds(config: &Config, series: Series, at: DateTime<Utc>) -> Vec<Vec<Query>> {
    let q = |name: String, promql: String, at| Query { name, promql, at };
    let mut out = Vec::new();
    if series == Series::Recorded {
        out.push(
            Statistic::ALL
                .iter()
                .map(|s| {
                    q(
                        format!("check {}", s.as_str()),
                        query::recorded_history_promql(*s, config),
                        at,
                    )
                })
                .collect(),
        );
    }
    let mut main: Vec<Query> = Statistic::ALL
        .iter()
        .map(|s| {
            q(
                s.as_str().to_string(),
                query::promql(*s, series, config),
                at,
            )
        })
        .collect();
    main.push(q("steps".into(), query::steps_promql(series, config), at));
    let window = config.rightsizing.window.max(config.idle.window);
    main.push(q(
        "coverage".into(),
        query::coverage_promql(config),
        at - window.as_delta(),
    ));
    out.push(main);
    out
}

// ------------------------------------------------------------------ one mode

#[derive(Default)]
struct ModeFigures {
    /// (query name, seconds, results or error)
    sequential: Vec<(String, f64, Result<usize, String>)>,
    floor: Option<f64>,
    floor_peak_kib: Option<u64>,
    collect: Option<f64>,
    collect_note: String,
    plan_wall: Option<f64>,
    plan_rss_kib: Option<f64>,
    prometheus_peak_kib: Option<u64>,
    prometheus_before_kib: Option<u64>,
    plan_note: String,
    failed: Option<String>,
}

struct Run<'a> {
    served: &'a Served,
    bed: &'a Bed,
    at: DateTime<Utc>,
    limit_kib: u64,
}

fn config_text(mode: &str) -> String {
    format!(
        "prometheus:\n  timeout: 30m\n  retries: 0\n  recording_rules: {mode}\n\
         rightsizing: {{window: {WINDOW_DAYS}d}}\nidle: {{window: {WINDOW_DAYS}d}}\n"
    )
}

fn run_mode(run: &Run<'_>, mode: &str, series: Series, cycle: bool) -> Result<ModeFigures> {
    let mut f = ModeFigures::default();
    let text = config_text(mode);
    let config = Config::from_yaml(&text, "bench config").map_err(|e| anyhow!("{e}"))?;
    let path = run.bed.state_dir.join(format!("bench-{mode}.yaml"));
    std::fs::write(&path, &text)?;
    let url = &run.served.url;
    let guard = Guard::watch(run.served.pid, run.limit_kib);
    let killed = |f: &mut ModeFigures| {
        if guard.killed.load(Ordering::Relaxed) {
            f.failed = Some(format!(
                "Prometheus stopped at {:.1} GiB RSS (limit {:.0} GiB)",
                guard.highest.load(Ordering::Relaxed) as f64 / 1048576.0,
                run.limit_kib as f64 / 1048576.0
            ));
            true
        } else {
            false
        }
    };
    f.prometheus_before_kib = run.served.rss_kib();
    let rounds = rounds(&config, series, run.at);

    // One at a time.
    for q in rounds.iter().flatten() {
        let a = ask(url, q);
        progress(&format!(
            "{mode}: {} {:.2}s, {} series{}",
            q.name,
            a.seconds,
            a.results,
            a.error
                .as_deref()
                .map(|e| format!(", ERROR {e}"))
                .unwrap_or_default()
        ));
        f.sequential.push((
            q.name.clone(),
            a.seconds,
            a.error.map_or(Ok(a.results), Err),
        ));
        if killed(&mut f) {
            return Ok(f);
        }
    }

    // All at once, round by round: the floor.
    run.served.reset_peak();
    let mut floor = 0.0;
    for round in &rounds {
        let t = Instant::now();
        let answers: Vec<Answer> = std::thread::scope(|s| {
            let handles: Vec<_> = round.iter().map(|q| s.spawn(|| ask(url, q))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or(Answer {
                        seconds: 0.0,
                        results: 0,
                        error: Some("panicked".into()),
                    })
                })
                .collect()
        });
        floor += t.elapsed().as_secs_f64();
        if let Some(e) = answers.iter().find_map(|a| a.error.clone()) {
            progress(&format!("{mode}: concurrent round failed: {e}"));
            killed(&mut f);
            f.failed.get_or_insert(format!("concurrent round: {e}"));
            return Ok(f);
        }
    }
    f.floor = Some(floor);
    f.floor_peak_kib = run.served.peak_kib();
    progress(&format!("{mode}: all at once {floor:.2}s"));
    if !cycle {
        f.collect_note = "not run (BENCH_RAW=queries)".into();
        f.plan_note = f.collect_note.clone();
        return Ok(f);
    }

    // The library's collect, in this process.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = Prometheus::connect(&config, Some(url)).map_err(|e| anyhow!(e))?;
    let t = Instant::now();
    let usage = runtime.block_on(client.collect(&config, run.at));
    let elapsed = t.elapsed().as_secs_f64();
    drop(runtime);
    let used: Vec<String> = usage
        .series
        .iter()
        .map(|c| c.series.map_or("none", |s| s.as_str()).to_string())
        .collect();
    f.collect = Some(elapsed);
    f.collect_note = format!(
        "{} queries, series {}{}",
        usage.queries,
        used.join("/"),
        if usage.problems.is_empty() {
            String::new()
        } else {
            format!(", problems: {}", usage.problems.join("; "))
        }
    );
    progress(&format!(
        "{mode}: Prometheus::collect {elapsed:.2}s ({})",
        f.collect_note
    ));
    if killed(&mut f) {
        return Ok(f);
    }

    // The release binary's cycle.
    run.served.reset_peak();
    let started = Instant::now();
    let (stdout, stderr, success, _) = run_measured(
        Command::new(std::env::current_exe()?)
            .arg("--measure")
            .arg(env!("CARGO_BIN_EXE_kube-reclaimer"))
            .args(["plan", "--output", "json", "--at", &run.at.to_rfc3339()])
            .args(["--prometheus-url", url])
            .arg("--kubeconfig")
            .arg(&run.bed.kubeconfig)
            .arg("--config")
            .arg(&path),
    )?;
    let wall = started.elapsed().as_secs_f64();
    f.prometheus_peak_kib = run.served.peak_kib();
    if killed(&mut f) {
        return Ok(f);
    }
    let stderr = String::from_utf8_lossy(&stderr);
    anyhow::ensure!(success, "plan failed: {stderr}");
    f.plan_rss_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kib="))
        .and_then(|v| v.parse().ok());
    f.plan_wall = Some(wall);
    let plan: serde_json::Value = serde_json::from_slice(&stdout)?;
    let mut verdicts = std::collections::BTreeMap::<String, usize>::new();
    for ns in plan["namespaces"].as_array().into_iter().flatten() {
        let v = ns["idle"]["verdict"].as_str().unwrap_or("none").to_string();
        *verdicts.entry(v).or_default() += 1;
    }
    f.plan_note = format!(
        "namespaces {}, pods {}, PromQL queries {}, prometheus {}, idle verdicts {:?}, states {}",
        plan["summary"]["namespaces"],
        plan["summary"]["pods"],
        plan["summary"]["promql_queries"],
        plan["sources"]["prometheus"]["status"],
        verdicts,
        plan["summary"]["states"],
    );
    progress(&format!("{mode}: plan {wall:.2}s; {}", f.plan_note));
    Ok(f)
}

// ------------------------------------------------------------------ main

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        return measure_mode(&args[i + 1..]);
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("prometheus_scale: run it with `cargo bench --bench prometheus_scale`");
        return Ok(());
    }
    let namespaces: usize = env_or("BENCH_NAMESPACES", 2000);
    let pods: usize = env_or("BENCH_PODS_PER_NAMESPACE", 5);
    let shape = Shape {
        namespaces,
        metrics_pods: env_or("BENCH_METRICS_PODS", 1usize).min(pods),
        history: env_span("BENCH_HISTORY", "170h")?,
        step: env_span("BENCH_STEP", "2m")?,
    };
    let limit_kib = env_or("BENCH_PROMETHEUS_RSS_LIMIT_GIB", 14u64) * 1048576;
    anyhow::ensure!(
        shape.history >= Duration::days(WINDOW_DAYS) + Duration::minutes(30),
        "BENCH_HISTORY must exceed the {WINDOW_DAYS}-day window"
    );

    // The apiserver side and the history, side by side.
    let t = Instant::now();
    let (bed, cache) = std::thread::scope(|s| {
        let bed = s.spawn(|| {
            Bed::start(BedOptions {
                name: "promscale".into(),
                scenario: Scenario {
                    history: Span(Duration::hours(1)),
                    step: Span(Duration::minutes(1)),
                    namespaces: Vec::new(),
                },
                bulk: Some(Bulk {
                    namespaces,
                    pods_per_namespace: pods,
                    history: Duration::zero(),
                    concurrency: support::apply::CONCURRENCY,
                }),
                step: None,
                keep: false,
                present: false,
                scrape: Vec::new(),
            })
        });
        let cache = cache(&shape);
        let bed = bed.join().map_err(|_| anyhow!("the bed starter panicked"));
        (bed, cache)
    });
    let bed = bed?.context("starting the bed")?;
    let cache = cache.context("the cached history")?;
    let setup = t.elapsed();
    let a = &bed.timings.apply;
    println!(
        "apiserver: {namespaces} namespaces x {pods} pods applied in {:.0}s ({:.0} objects/s)",
        a.elapsed.as_secs_f64(),
        (a.namespaces + a.quotas + a.pods) as f64 / a.elapsed.as_secs_f64()
    );
    println!("history: {} ({})", cache.dir.display(), cache.build.trim());
    println!(
        "setup (bed and history side by side): {:.0}s",
        setup.as_secs_f64()
    );

    let state = bed.state_dir.join("bench-prometheus");
    std::fs::create_dir_all(&state)?;
    let t = Instant::now();
    cp_al(&cache.dir.join("blocks"), &state.join("data"))?;
    let served = Served::start(&state)?;
    println!(
        "Prometheus on a hard-linked copy: ready in {:.1}s, RSS {:.0} MiB",
        t.elapsed().as_secs_f64(),
        served.rss_kib().unwrap_or(0) as f64 / 1024.0
    );

    let run = Run {
        served: &served,
        bed: &bed,
        at: cache.at,
        limit_kib,
    };
    // Recorded first: Go keeps the heap it grew, and the raw queries grow it most.
    let always = run_mode(&run, "always", Series::Recorded, true)?;
    let raw = std::env::var("BENCH_RAW").unwrap_or_else(|_| "full".into());
    let never = if raw == "none" {
        ModeFigures {
            failed: Some("not run (BENCH_RAW=none)".into()),
            ..Default::default()
        }
    } else if served.alive() {
        run_mode(&run, "never", Series::Raw, raw != "queries")?
    } else {
        ModeFigures {
            failed: Some("Prometheus was stopped before".into()),
            ..Default::default()
        }
    };
    print_table(&shape, pods, &cache, &never, &always);
    drop(served);
    drop(bed);
    Ok(())
}

fn secs(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2} s"))
}

fn mib(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.0} MiB", v / 1024.0))
}

fn print_table(
    shape: &Shape,
    pods: usize,
    cache: &Cache,
    never: &ModeFigures,
    always: &ModeFigures,
) {
    let big = shape.namespaces > 2000;
    println!();
    println!(
        "{} namespaces, {} pods in the apiserver ({} per namespace with {}h of history every {}s), windows {WINDOW_DAYS}d, at = {}",
        shape.namespaces,
        shape.namespaces * pods,
        shape.metrics_pods,
        shape.history.num_hours(),
        shape.step.num_seconds(),
        cache.at.to_rfc3339()
    );
    println!("| figure | raw (`never`) | recorded (`always`) | target |");
    println!("|---|---|---|---|");
    let find = |f: &ModeFigures, name: &str| -> String {
        match f.sequential.iter().find(|(n, _, _)| n == name) {
            Some((_, s, Ok(n))) => format!("{s:.2} s ({n} series)"),
            Some((_, s, Err(e))) => format!(
                "failed after {s:.1} s: {}",
                e.chars().take(80).collect::<String>()
            ),
            None => "-".into(),
        }
    };
    let checks: f64 = always
        .sequential
        .iter()
        .filter(|(n, _, _)| n.starts_with("check "))
        .map(|(_, s, _)| s)
        .sum();
    println!("| recorded-history checks, 4 one at a time (sum) | - | {checks:.2} s | |");
    for name in [
        "cpu_quantile",
        "cpu_max",
        "memory",
        "network_max",
        "steps",
        "coverage",
    ] {
        println!(
            "| query `{name}`, alone | {} | {} | |",
            find(never, name),
            find(always, name)
        );
    }
    let sum = |f: &ModeFigures| -> String {
        if f.sequential.is_empty() {
            return "-".into();
        }
        format!(
            "{:.2} s",
            f.sequential.iter().map(|(_, s, _)| s).sum::<f64>()
        )
    };
    println!(
        "| all queries one at a time (sum) | {} | {} | |",
        sum(never),
        sum(always)
    );
    println!(
        "| all at once, daemon's rounds (floor) | {} | {} | |",
        secs(never.floor),
        secs(always.floor)
    );
    println!(
        "| Prometheus part of a cycle (`Prometheus::collect`) | {} | {} | recorded ≤ {} |",
        secs(never.collect),
        secs(always.collect),
        if big {
            "5 s at 10 000 namespaces"
        } else {
            "1 s at 2 000 namespaces"
        }
    );
    let ratio = |f: &ModeFigures| match (f.collect, f.floor) {
        (Some(c), Some(fl)) if fl > 0.0 => format!("{:.2}×", c / fl),
        _ => "-".into(),
    };
    println!(
        "| kube-reclaimer's Prometheus time / floor | {} | {} | ≤ 1.25× |",
        ratio(never),
        ratio(always)
    );
    println!(
        "| `plan --output json` wall time | {} | {} | |",
        secs(never.plan_wall),
        secs(always.plan_wall)
    );
    println!(
        "| kube-reclaimer peak RSS (`plan`) | {} | {} | ≤ 150 MB at 10 000 namespaces / 50 000 pods |",
        mib(never.plan_rss_kib),
        mib(always.plan_rss_kib)
    );
    println!(
        "| Prometheus peak RSS during the cycle | {} | {} | |",
        mib(never.prometheus_peak_kib.map(|v| v as f64)),
        mib(always.prometheus_peak_kib.map(|v| v as f64))
    );
    println!(
        "| Prometheus peak RSS, all at once | {} | {} | |",
        mib(never.floor_peak_kib.map(|v| v as f64)),
        mib(always.floor_peak_kib.map(|v| v as f64))
    );
    println!(
        "| Prometheus RSS before the mode | {} | {} | |",
        mib(never.prometheus_before_kib.map(|v| v as f64)),
        mib(always.prometheus_before_kib.map(|v| v as f64))
    );
    for (mode, f) in [("never", never), ("always", always)] {
        println!("{mode}: collect: {}", f.collect_note);
        println!("{mode}: plan: {}", f.plan_note);
        if let Some(e) = &f.failed {
            println!("{mode}: FAILED: {e}");
        }
    }
}
