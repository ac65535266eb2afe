//! A metrics history as cAdvisor (through the kubelet) would have exposed it, rendered as
//! OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`.
//!
//! Per container: `container_cpu_usage_seconds_total` (counter, the integral of the CPU
//! profile, so 5m rates are exact) and `container_memory_working_set_bytes` (gauge). Per
//! pod, as real cAdvisor does, the pod cgroup's series with `container=""`: the sum of the
//! containers (the product's queries must filter them out), and the network counters
//! `container_network_{receive,transmit}_bytes_total{container="",interface="eth0"}`
//! (60 % / 40 % of the declared receive+transmit rate). Labels: job="kubelet", instance,
//! node, namespace, pod, container, image. Also OpenCost's `node_cpu_hourly_cost` and
//! `node_ram_hourly_cost` for the bed's three nodes. Families are written one after the other,
//! series by series, samples in time order; deterministic; streamed to the file.

use super::scenario::{quantity, series_window, Profile, Scenario};
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;

/// One container's usage.
#[derive(Debug, Clone)]
pub struct ContainerMetrics {
    pub name: String,
    pub image: String,
    pub cpu: Profile,
    /// Working set, bytes; `None`: no memory series.
    pub memory: Option<f64>,
}

/// One pod's usage and where its series live.
#[derive(Debug, Clone)]
pub struct PodMetrics {
    pub namespace: String,
    pub pod: String,
    pub node: String,
    pub containers: Vec<ContainerMetrics>,
    /// Receive + transmit bytes/s.
    pub network: Profile,
    /// Series cover `[since, until]` (unix seconds).
    pub since: i64,
    pub until: i64,
}

/// The sample grid: every `step` from `at - history` through `at`.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    pub at: DateTime<Utc>,
    pub history: Duration,
    pub step: Duration,
}

impl Grid {
    fn start(&self) -> i64 {
        (self.at - self.history).timestamp()
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RenderStats {
    pub series: u64,
    pub samples: u64,
    pub bytes: u64,
    pub elapsed: std::time::Duration,
}

const NODES: usize = 3;

fn node_of(index: usize) -> String {
    format!("bed-node-{}", index % NODES + 1)
}

/// The scenario's pods as metric sources.
pub fn scenario_pods(scenario: &Scenario, at: DateTime<Utc>) -> Result<Vec<PodMetrics>> {
    let mut out = Vec::new();
    for p in scenario.pods() {
        let (since, until) = series_window(scenario.history.0, p.namespace, p.spec, at);
        let mut containers = Vec::new();
        for c in &p.spec.containers {
            let memory = match &c.memory {
                Some(q) => Some(quantity(q).with_context(|| format!("{}/{}", p.name, c.name))?),
                None => None,
            };
            containers.push(ContainerMetrics {
                name: c.name.clone(),
                image: c
                    .image
                    .clone()
                    .unwrap_or_else(|| format!("registry.local/{}:1.0", c.name)),
                cpu: c.cpu.clone(),
                memory,
            });
        }
        out.push(PodMetrics {
            namespace: p.namespace.name.clone(),
            pod: p.name,
            node: node_of(p.index),
            containers,
            network: p.spec.network.clone(),
            since: since.timestamp(),
            until: until.timestamp(),
        });
    }
    Ok(out)
}

/// Pods of [`super::apply::create_bulk`]: namespace `bulk-NNNNN`, pods `pod-N`, one
/// container each, steady CPU and network that vary with the index (some below the idle
/// thresholds, most above).
pub fn bulk_pods(namespaces: usize, pods_per_namespace: usize, grid: Grid) -> Vec<PodMetrics> {
    let mut out = Vec::with_capacity(namespaces * pods_per_namespace);
    for n in 0..namespaces {
        for p in 0..pods_per_namespace {
            let index = n * pods_per_namespace + p;
            // one namespace in ten is idle
            let idle = n % 10 == 0;
            let cores = if idle {
                0.001
            } else {
                0.05 + (index % 20) as f64 * 0.01
            };
            let bytes = if idle {
                100.0
            } else {
                2048.0 + (index % 50) as f64 * 100.0
            };
            out.push(PodMetrics {
                namespace: super::apply::bulk_namespace(n),
                pod: super::apply::bulk_pod(p),
                node: node_of(index),
                containers: vec![ContainerMetrics {
                    name: "app".into(),
                    image: "registry.local/app:1.0".into(),
                    cpu: Profile::steady(cores),
                    memory: Some(64.0 * 1024.0 * 1024.0 + (index % 64) as f64 * 1024.0 * 1024.0),
                }],
                network: Profile::steady(bytes),
                since: grid.start(),
                until: grid.at.timestamp(),
            });
        }
    }
    out
}

/// Renders the scenario's history to `path` (step and history from the scenario unless
/// `step` is given).
pub fn render_scenario(
    path: &Path,
    scenario: &Scenario,
    at: DateTime<Utc>,
    step: Option<Duration>,
) -> Result<RenderStats> {
    let grid = Grid {
        at,
        history: scenario.history.0,
        step: step.unwrap_or(scenario.step.0),
    };
    render(path, &scenario_pods(scenario, at)?, grid)
}

/// Renders the bulk benchmark's history (a short `history` keeps the file manageable:
/// six series per pod).
pub fn render_bulk(
    path: &Path,
    namespaces: usize,
    pods_per_namespace: usize,
    grid: Grid,
) -> Result<RenderStats> {
    render(path, &bulk_pods(namespaces, pods_per_namespace, grid), grid)
}

/// Writes the OpenMetrics text for `pods` on `grid` to `path`.
pub fn render(path: &Path, pods: &[PodMetrics], grid: Grid) -> Result<RenderStats> {
    let started = std::time::Instant::now();
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = Writer {
        out: BufWriter::with_capacity(1 << 20, file),
        stats: RenderStats::default(),
        line: String::with_capacity(512),
    };
    let origin = grid.start() as f64;
    let step = grid.step.num_seconds().max(1);

    w.family(
        "container_cpu_usage_seconds",
        "counter",
        "Cumulative cpu time consumed in seconds.",
    )?;
    for pod in pods {
        let with_cpu: Vec<&ContainerMetrics> = pod
            .containers
            .iter()
            .filter(|c| c.cpu.has_series())
            .collect();
        for c in &with_cpu {
            let labels = labels(pod, &c.name, Some(&c.image), None);
            let base = c.cpu.integral(pod.since as f64, origin);
            w.series(
                "container_cpu_usage_seconds_total",
                &labels,
                (pod.since, pod.until),
                grid,
                step,
                |t| Value::Fixed4(c.cpu.integral(t, origin) - base),
            )?;
        }
        if !with_cpu.is_empty() {
            let labels = labels(pod, "", None, None);
            let base: f64 = with_cpu
                .iter()
                .map(|c| c.cpu.integral(pod.since as f64, origin))
                .sum();
            w.series(
                "container_cpu_usage_seconds_total",
                &labels,
                (pod.since, pod.until),
                grid,
                step,
                |t| {
                    Value::Fixed4(
                        with_cpu
                            .iter()
                            .map(|c| c.cpu.integral(t, origin))
                            .sum::<f64>()
                            - base,
                    )
                },
            )?;
        }
    }

    w.family(
        "container_memory_working_set_bytes",
        "gauge",
        "Current working set of the container in bytes",
    )?;
    for pod in pods {
        let with_memory: Vec<(&ContainerMetrics, f64)> = pod
            .containers
            .iter()
            .filter_map(|c| c.memory.map(|m| (c, m)))
            .collect();
        for (c, bytes) in &with_memory {
            let labels = labels(pod, &c.name, Some(&c.image), None);
            w.series(
                "container_memory_working_set_bytes",
                &labels,
                (pod.since, pod.until),
                grid,
                step,
                |_| Value::Integer(*bytes),
            )?;
        }
        if !with_memory.is_empty() {
            let total: f64 = with_memory.iter().map(|(_, b)| b).sum();
            let labels = labels(pod, "", None, None);
            w.series(
                "container_memory_working_set_bytes",
                &labels,
                (pod.since, pod.until),
                grid,
                step,
                |_| Value::Integer(total),
            )?;
        }
    }

    for (direction, share, help) in [
        ("receive", 0.6, "Cumulative count of bytes received"),
        ("transmit", 0.4, "Cumulative count of bytes transmitted"),
    ] {
        let family = format!("container_network_{direction}_bytes");
        let sample = format!("{family}_total");
        w.family(&family, "counter", help)?;
        for pod in pods.iter().filter(|p| p.network.has_series()) {
            let labels = labels(pod, "", None, Some("eth0"));
            let base = pod.network.integral(pod.since as f64, origin);
            w.series(&sample, &labels, (pod.since, pod.until), grid, step, |t| {
                Value::Fixed1(share * (pod.network.integral(t, origin) - base))
            })?;
        }
    }

    // OpenCost's node prices: per vCPU-hour and per GiB-hour, constant per node, over
    // the whole history. Averages over the nodes: 0.05 and 0.006.
    for (family, help, prices) in [
        (
            "node_cpu_hourly_cost",
            "Hourly cost per vCPU on this node",
            [0.04, 0.05, 0.06],
        ),
        (
            "node_ram_hourly_cost",
            "Hourly cost per GiB of memory on this node",
            [0.005, 0.006, 0.007],
        ),
    ] {
        w.family(family, "gauge", help)?;
        for (i, price) in prices.into_iter().enumerate() {
            let labels = format!(
                "instance=\"opencost:9003\",instance_type=\"bed-{}\",job=\"opencost\",node=\"{}\"",
                i + 1,
                node_of(i)
            );
            w.series(
                family,
                &labels,
                (grid.start(), grid.at.timestamp()),
                grid,
                step,
                |_| Value::Fixed4(price),
            )?;
        }
    }

    w.out.write_all(b"# EOF\n")?;
    w.stats.bytes += 6;
    w.out
        .flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    w.stats.elapsed = started.elapsed();
    Ok(w.stats)
}

fn labels(
    pod: &PodMetrics,
    container: &str,
    image: Option<&str>,
    interface: Option<&str>,
) -> String {
    let mut s = format!("container=\"{container}\"");
    if let Some(image) = image {
        let _ = write!(s, ",image=\"{image}\"");
    }
    let _ = write!(s, ",instance=\"{}:10250\"", pod.node);
    if let Some(interface) = interface {
        let _ = write!(s, ",interface=\"{interface}\"");
    }
    let _ = write!(
        s,
        ",job=\"kubelet\",namespace=\"{}\",node=\"{}\",pod=\"{}\"",
        pod.namespace, pod.node, pod.pod
    );
    s
}

enum Value {
    Fixed4(f64),
    Fixed1(f64),
    Integer(f64),
}

struct Writer {
    out: BufWriter<std::fs::File>,
    stats: RenderStats,
    line: String,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) -> Result<()> {
        let text = format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        self.out.write_all(text.as_bytes())?;
        self.stats.bytes += text.len() as u64;
        Ok(())
    }

    /// One series: a sample at every grid point inside `[since, until]`.
    fn series(
        &mut self,
        name: &str,
        labels: &str,
        (since, until): (i64, i64),
        grid: Grid,
        step: i64,
        value: impl Fn(f64) -> Value,
    ) -> Result<()> {
        let start = grid.start();
        let end = grid.at.timestamp().min(until);
        // first grid point at or after `since`
        let offset = u64::try_from(since - start).unwrap_or(0);
        let mut t = start + offset.div_ceil(step.unsigned_abs()) as i64 * step;
        if t > end {
            return Ok(());
        }
        self.stats.series += 1;
        while t <= end {
            self.line.clear();
            self.line.push_str(name);
            self.line.push('{');
            self.line.push_str(labels);
            self.line.push_str("} ");
            let _ = match value(t as f64) {
                Value::Fixed4(v) => write!(self.line, "{v:.4}"),
                Value::Fixed1(v) => write!(self.line, "{v:.1}"),
                Value::Integer(v) => write!(self.line, "{v:.0}"),
            };
            let _ = writeln!(self.line, " {t}");
            self.out.write_all(self.line.as_bytes())?;
            self.stats.bytes += self.line.len() as u64;
            self.stats.samples += 1;
            t += step;
        }
        Ok(())
    }
}

/// `pods` with a scrape gap: every series of `namespace` has no sample in `[from, to)`
/// (unix seconds), as when the kubelet could not be scraped. A pod whose series span the
/// gap becomes two pieces with the same labels; counters restart after the gap.
pub fn with_gap(pods: Vec<PodMetrics>, namespace: &str, from: i64, to: i64) -> Vec<PodMetrics> {
    let mut out = Vec::with_capacity(pods.len());
    for pod in pods {
        if pod.namespace != namespace || pod.until < from || pod.since >= to {
            out.push(pod);
            continue;
        }
        if pod.since < from {
            out.push(PodMetrics {
                until: from - 1,
                ..pod.clone()
            });
        }
        if pod.until >= to {
            out.push(PodMetrics { since: to, ..pod });
        }
    }
    out
}
