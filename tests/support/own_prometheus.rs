//! A Prometheus of a test's own beside the bed's (tests/bed/prometheus-up.sh), serving a
//! history rendered on the bed's grid; optionally with the recording rules of
//! deploy/prometheus/rules.yaml backfilled over that history by
//! `promtool tsdb create-blocks-from rules`. Stopped when dropped, or by its watchdog
//! when the tests exit.

use super::bed::{progress, run_command, start_watchdog, Bed};
use super::metrics::{self, Grid, PodMetrics};
use super::scenario::Span;
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct OwnPrometheus {
    pub dir: PathBuf,
    pub url: String,
}

impl Drop for OwnPrometheus {
    fn drop(&mut self) {
        let down = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/down.sh");
        let _ = Command::new(down).arg(&self.dir).output();
    }
}

/// The bed's sample spacing (`KUBE_RECLAIMER_BED_STEP`, else the scenario's).
pub fn bed_step(bed: &Bed) -> Duration {
    match std::env::var("KUBE_RECLAIMER_BED_STEP") {
        Ok(s) => Span::parse(&s).map(|s| s.0).unwrap_or(bed.scenario.step.0),
        Err(_) => bed.scenario.step.0,
    }
}

/// The bed's grid: its history, ending at `bed.at`.
pub fn bed_grid(bed: &Bed) -> Grid {
    Grid {
        at: bed.at,
        history: bed.scenario.history.0,
        step: bed_step(bed),
    }
}

/// A fresh state dir under the target's tmp dir, watched so it goes with this process.
pub fn state_dir(name: &str, bed: &Bed) -> Result<PathBuf> {
    let base = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(
        "kube-reclaimer-{name}-{}-{}",
        std::process::id(),
        bed.at.timestamp()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    start_watchdog(&dir, false)?;
    Ok(dir)
}

impl OwnPrometheus {
    /// Renders `pods` on `grid` and serves them from a Prometheus of its own.
    pub fn start(name: &str, bed: &Bed, pods: &[PodMetrics], grid: Grid) -> Result<OwnPrometheus> {
        Self::start_with(name, bed, pods, grid, &[])
    }

    /// As [`OwnPrometheus::start`], with prometheus-up.sh's optional environment
    /// (`KUBE_RECLAIMER_BED_PROM_EXTERNAL_LABELS`, `KUBE_RECLAIMER_BED_PROM_BIN`).
    pub fn start_with(
        name: &str,
        bed: &Bed,
        pods: &[PodMetrics],
        grid: Grid,
        env: &[(&str, &str)],
    ) -> Result<OwnPrometheus> {
        let dir = state_dir(name, bed)?;
        let file = dir.join("metrics.om");
        metrics::render(&file, pods, grid)?;
        let mut cmd =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/prometheus-up.sh"));
        cmd.arg(&dir).arg(&file);
        cmd.envs(env.iter().copied());
        let url = run_command(cmd, std::time::Duration::from_secs(600))?;
        let _ = std::fs::remove_file(&file);
        progress(&format!("{name} Prometheus at {url}"));
        Ok(OwnPrometheus { dir, url })
    }

    /// Evaluates `rules` over `[from, to]` every `interval` against this Prometheus with
    /// `promtool tsdb create-blocks-from rules`, moves the blocks into its data dir and
    /// waits (bounded) until it serves them: it loads new blocks within a minute.
    pub fn backfill_rules(
        &self,
        rules: &Path,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        interval: &str,
        probe: &str,
    ) -> Result<std::time::Duration> {
        let started = std::time::Instant::now();
        let out = self.dir.join("rule-blocks");
        let _ = std::fs::remove_dir_all(&out);
        // Bounded by timeout(1): promtool prints its progress to stderr only.
        let mut cmd = Command::new("timeout");
        cmd.args(["900", "promtool", "tsdb", "create-blocks-from", "rules"])
            .arg(format!("--start={}", from.timestamp()))
            .arg(format!("--end={}", to.timestamp()))
            .arg(format!("--url={}", self.url))
            .arg(format!("--eval-interval={interval}"))
            .arg(format!("--output-dir={}", out.display()))
            .arg(rules);
        let done = cmd.output().context("running promtool")?;
        if !done.status.success() {
            bail!(
                "promtool tsdb create-blocks-from rules failed ({}): {}",
                done.status,
                String::from_utf8_lossy(&done.stderr)
            );
        }
        let data = self.dir.join("prometheus/data");
        let mut blocks = 0;
        for entry in std::fs::read_dir(&out).context("the rule blocks")? {
            let entry = entry?;
            if entry.path().join("meta.json").exists() {
                std::fs::rename(entry.path(), data.join(entry.file_name()))?;
                blocks += 1;
            }
        }
        if blocks == 0 {
            bail!("promtool wrote no blocks for {}", rules.display());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(150);
        loop {
            let answer: serde_json::Value = Command::new("curl")
                .args(["-sf", "--max-time", "10"])
                .arg(format!("{}/api/v1/query", self.url))
                .arg("--data-urlencode")
                .arg(format!("query={probe}"))
                .arg("--data-urlencode")
                .arg(format!("time={}", to.timestamp()))
                .output()
                .ok()
                .and_then(|o| serde_json::from_slice(&o.stdout).ok())
                .unwrap_or_default();
            if answer["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "Prometheus at {} did not load the rule blocks within 150 s",
                    self.url
                );
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        progress(&format!(
            "backfilled {blocks} rule blocks in {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        Ok(started.elapsed())
    }
}
