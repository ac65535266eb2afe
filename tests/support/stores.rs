//! Metrics stores other than Debian's Prometheus 2.42, for the fleet tests: Thanos
//! (sidecars beside two Prometheus servers, one querier), VictoriaMetrics single-node and
//! Prometheus 3. Their binaries come from tests/bed/stores-build.sh (built once per
//! machine, cached). Every server binds 127.0.0.1 only, is started with bounded waits,
//! stops when dropped and, at the latest, with the test process (the state dir's watchdog
//! runs down.sh, which stops every pid listed in its `pids` whose command line names the
//! dir).

use super::bed::{progress, run_command, Bed};
use super::metrics::{self, Grid, PodMetrics};
use super::own_prometheus::{state_dir, OwnPrometheus};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// (name, version) of each store, as tests/bed/stores-build.sh builds them.
pub const THANOS: (&str, &str) = ("thanos", "v0.42.4");
pub const VICTORIA_METRICS: (&str, &str) = ("victoria-metrics", "v1.151.0");
/// Prometheus 3.x: the Go module's version v0.316.0.
pub const PROMETHEUS_3: (&str, &str) = ("prometheus", "v0.316.0");

/// The binary of a store, built first if this machine has none cached.
pub fn binary((name, version): (&str, &str)) -> Result<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        progress(
            "metrics stores: tests/bed/stores-build.sh (the first run builds them: many minutes)",
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/stores-build.sh");
        run_command(Command::new(script), Duration::from_secs(3600))
            .map(PathBuf::from)
            .map_err(|e| format!("{e:#}"))
    });
    let dir = dir.as_ref().map_err(|e| anyhow!("{e}"))?;
    let path = dir.join(format!("{name}-{version}")).join(name);
    if !path.is_file() {
        bail!("{} is missing after stores-build.sh", path.display());
    }
    Ok(path)
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(listener.local_addr()?.port())
}

/// One server process of a test, in its own process group.
pub struct Server {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Server {
    /// Starts `program` with `args` (which must name `dir`, so down.sh recognises it),
    /// its output in `dir/logs/NAME.log`, its pid in `dir/pids`.
    pub fn spawn(dir: &Path, name: &str, program: &Path, args: &[String]) -> Result<Server> {
        std::fs::create_dir_all(dir.join("logs"))?;
        let log = dir.join("logs").join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let mut pids = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("pids"))?;
        writeln!(pids, "{name} {}", child.id())?;
        Ok(Server {
            name: name.to_string(),
            log,
            child,
        })
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process (SIGKILL, as a crash would) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last lines of its log, for failure messages.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits (bounded) until `ready` holds; fails early when the process exits.
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return Ok(());
            }
            if !self.alive() {
                bail!("{} exited before {what}:\n{}", self.name, self.tail());
            }
            if Instant::now() > deadline {
                bail!(
                    "{}: no {what} within {}s:\n{}",
                    self.name,
                    timeout.as_secs(),
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET url` answered 2xx.
pub fn http_ok(url: &str) -> bool {
    Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--max-time", "5", url])
        .status()
        .is_ok_and(|s| s.success())
}

/// A POSTed form to `url`, its answer as JSON (whatever the HTTP status).
pub fn post_json(url: &str, form: &[(&str, &str)]) -> Option<Value> {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "30", url]);
    for (k, v) in form {
        cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
    }
    let out = cmd.output().ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// An instant query's result vector at `at` (unix seconds), empty on any failure.
pub fn instant(url: &str, query: &str, at: i64) -> Vec<Value> {
    post_json(
        &format!("{url}/api/v1/query"),
        &[("query", query), ("time", &at.to_string())],
    )
    .and_then(|a| a["data"]["result"].as_array().cloned())
    .unwrap_or_default()
}

/// `pods` with every CPU profile of `namespace` scaled by `factor`.
pub fn with_cpu_scaled(mut pods: Vec<PodMetrics>, namespace: &str, factor: f64) -> Vec<PodMetrics> {
    for pod in pods.iter_mut().filter(|p| p.namespace == namespace) {
        for c in &mut pod.containers {
            c.cpu.level *= factor;
            c.cpu.amplitude *= factor;
            c.cpu.burst *= factor;
        }
    }
    pods
}

// ------------------------------------------------------------------------------ Thanos

/// A Thanos sidecar beside one Prometheus: its StoreAPI at `grpc`.
pub struct Sidecar {
    pub server: Server,
    pub grpc: String,
}

/// A Thanos querier; its Prometheus-compatible HTTP API at `url`.
pub struct Query {
    pub server: Server,
    pub url: String,
}

/// Starts a sidecar for `prometheus` (no object storage: it serves the local TSDB
/// through Prometheus' remote read), and waits until it is ready.
pub fn sidecar(name: &str, prometheus: &OwnPrometheus) -> Result<Sidecar> {
    let thanos = binary(THANOS)?;
    let (grpc, http) = (free_port()?, free_port()?);
    let args = vec![
        "sidecar".to_string(),
        format!("--prometheus.url={}", prometheus.url),
        format!(
            "--tsdb.path={}",
            prometheus.dir.join("prometheus/data").display()
        ),
        format!("--grpc-address=127.0.0.1:{grpc}"),
        format!("--http-address=127.0.0.1:{http}"),
        "--log.level=info".to_string(),
    ];
    // Listed with its Prometheus: its command line names that state dir (--tsdb.path).
    let mut server = Server::spawn(&prometheus.dir, name, &thanos, &args)?;
    let ready = format!("http://127.0.0.1:{http}/-/ready");
    server.wait_until("/-/ready", Duration::from_secs(60), || http_ok(&ready))?;
    Ok(Sidecar {
        server,
        grpc: format!("127.0.0.1:{grpc}"),
    })
}

/// Starts a querier over `endpoints` and waits until it has every one of them healthy.
/// `strict`: the endpoints are `strict: true` in the endpoint config, so Thanos keeps
/// asking a store that fails its health check (and says so) instead of dropping it.
pub fn query(dir: &Path, name: &str, endpoints: &[&str], strict: bool) -> Result<Query> {
    let thanos = binary(THANOS)?;
    let config = dir.join(format!("{name}-endpoints.yaml"));
    let mut yaml = String::from("endpoints:\n");
    for e in endpoints {
        yaml.push_str(&format!("  - address: {e}\n    strict: {strict}\n"));
    }
    std::fs::write(&config, yaml)?;
    let (grpc, http) = (free_port()?, free_port()?);
    let args = vec![
        "query".to_string(),
        format!("--endpoint.sd-config-file={}", config.display()),
        format!("--grpc-address=127.0.0.1:{grpc}"),
        format!("--http-address=127.0.0.1:{http}"),
        "--log.level=info".to_string(),
    ];
    let mut server = Server::spawn(dir, name, &thanos, &args)?;
    let url = format!("http://127.0.0.1:{http}");
    let stores = format!("{url}/api/v1/stores");
    server.wait_until(
        "every endpoint healthy in /api/v1/stores",
        Duration::from_secs(60),
        || healthy_stores(&stores) == endpoints.len(),
    )?;
    Ok(Query { server, url })
}

/// How many stores a querier lists with no error from its last health check.
pub fn healthy_stores(stores_url: &str) -> usize {
    let Some(answer) = post_json(stores_url, &[]) else {
        return 0;
    };
    answer["data"]
        .as_object()
        .map(|kinds| {
            kinds
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .filter(|s| s["lastError"].is_null() && s["lastCheck"].is_string())
                .count()
        })
        .unwrap_or(0)
}

/// Two clusters in one Thanos: Prometheus `a` (Prometheus 3) with external label
/// cluster="a" serving the sample scenario's history, Prometheus `b` (Debian's 2.42,
/// cluster="b") the same history with [`BUSIER`]'s CPU ×[`BUSIER_FACTOR`]; a sidecar
/// each; one querier over both (strict endpoints). Thanos Query evaluates PromQL with the
/// Prometheus 3 engine whatever the Prometheus behind a sidecar, so a can be compared
/// with it exactly, b within the two engines' difference. `a` is also the fleet tests'
/// Prometheus 3 ([`prometheus_3`]).
pub struct Thanos {
    pub dir: PathBuf,
    pub a: OwnPrometheus,
    pub b: OwnPrometheus,
    pub sidecar_a: Sidecar,
    pub sidecar_b: Sidecar,
    pub query: Query,
    pub started_in: Duration,
}

/// The namespace whose usage differs between the two clusters.
pub const BUSIER: &str = "sample-busy";
pub const BUSIER_FACTOR: f64 = 3.0;

impl Thanos {
    /// One per test binary, started on first use.
    pub fn shared() -> &'static Thanos {
        static THANOS: OnceLock<Result<Thanos, String>> = OnceLock::new();
        match THANOS.get_or_init(|| Thanos::start(Bed::shared()).map_err(|e| format!("{e:#}"))) {
            Ok(t) => t,
            Err(e) => panic!("Thanos could not be started: {e}"),
        }
    }

    fn start(bed: &Bed) -> Result<Thanos> {
        let started = Instant::now();
        binary(THANOS)?;
        let prometheus_3 = binary(PROMETHEUS_3)?.display().to_string();
        let grid = super::own_prometheus::bed_grid(bed);
        let pods = metrics::scenario_pods(&bed.scenario, bed.at)?;
        let busier = with_cpu_scaled(pods.clone(), BUSIER, BUSIER_FACTOR);
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                OwnPrometheus::start_with(
                    "thanos-a",
                    bed,
                    &pods,
                    grid,
                    &[
                        ("KUBE_RECLAIMER_BED_PROM_EXTERNAL_LABELS", "cluster: a"),
                        ("KUBE_RECLAIMER_BED_PROM_BIN", &prometheus_3),
                    ],
                )
            });
            let b = s.spawn(|| {
                OwnPrometheus::start_with(
                    "thanos-b",
                    bed,
                    &busier,
                    grid,
                    &[("KUBE_RECLAIMER_BED_PROM_EXTERNAL_LABELS", "cluster: b")],
                )
            });
            (a.join(), b.join())
        });
        let a = a.map_err(|_| anyhow!("Prometheus a panicked"))??;
        let b = b.map_err(|_| anyhow!("Prometheus b panicked"))??;
        let dir = state_dir("thanos", bed)?;
        let sidecar_a = sidecar("sidecar-a", &a)?;
        let sidecar_b = sidecar("sidecar-b", &b)?;
        let query = query(&dir, "query", &[&sidecar_a.grpc, &sidecar_b.grpc], true)?;
        let started_in = started.elapsed();
        progress(&format!(
            "Thanos query at {} over cluster a {} and b {} in {:.1}s",
            query.url,
            a.url,
            b.url,
            started_in.as_secs_f64()
        ));
        Ok(Thanos {
            dir,
            a,
            b,
            sidecar_a,
            sidecar_b,
            query,
            started_in,
        })
    }
}

// -------------------------------------------------------------------- VictoriaMetrics

/// VictoriaMetrics single-node serving a history imported through
/// `/api/v1/import/prometheus`.
pub struct Victoria {
    pub dir: PathBuf,
    pub url: String,
    pub server: Server,
    pub started_in: Duration,
    pub samples: u64,
}

/// OpenMetrics text (timestamps in seconds, `# EOF`) to the Prometheus text exposition
/// format VictoriaMetrics imports (timestamps in milliseconds). Returns the samples.
pub fn openmetrics_to_prometheus_text(from: &Path, to: &Path) -> Result<u64> {
    let input = BufReader::with_capacity(1 << 20, std::fs::File::open(from)?);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(to)?);
    let mut samples = 0;
    for line in input.lines() {
        let line = line?;
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (rest, ts) = line
            .rsplit_once(' ')
            .ok_or_else(|| anyhow!("no timestamp in `{line}`"))?;
        let seconds: i64 = ts
            .parse()
            .with_context(|| format!("timestamp of `{line}`"))?;
        writeln!(out, "{rest} {}", seconds * 1000)?;
        samples += 1;
    }
    out.flush()?;
    Ok(samples)
}

impl Victoria {
    /// One per test binary with the sample scenario's history, started on first use.
    pub fn shared() -> &'static Victoria {
        static VM: OnceLock<Result<Victoria, String>> = OnceLock::new();
        match VM.get_or_init(|| {
            let bed = Bed::shared();
            metrics::scenario_pods(&bed.scenario, bed.at)
                .and_then(|pods| {
                    Victoria::start("vm", bed, &pods, super::own_prometheus::bed_grid(bed))
                })
                .map_err(|e| format!("{e:#}"))
        }) {
            Ok(v) => v,
            Err(e) => panic!("VictoriaMetrics could not be started: {e}"),
        }
    }

    /// Renders `pods` on `grid`, starts VictoriaMetrics and imports them. The history lies
    /// in the future: `-futureRetention` (default 2d) must reach past it, or the samples
    /// are dropped as they arrive.
    pub fn start(name: &str, bed: &Bed, pods: &[PodMetrics], grid: Grid) -> Result<Victoria> {
        let started = Instant::now();
        let vm = binary(VICTORIA_METRICS)?;
        let dir = state_dir(name, bed)?;
        let om = dir.join("metrics.om");
        let text = dir.join("metrics.prom");
        metrics::render(&om, pods, grid)?;
        let samples = openmetrics_to_prometheus_text(&om, &text)?;
        let _ = std::fs::remove_file(&om);
        let port = free_port()?;
        let args = vec![
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.join("data").display()),
            "-retentionPeriod=100y".to_string(),
            "-futureRetention=1y".to_string(),
        ];
        let mut server = Server::spawn(&dir, "victoria-metrics", &vm, &args)?;
        let url = format!("http://127.0.0.1:{port}");
        let health = format!("{url}/health");
        server.wait_until("/health", Duration::from_secs(60), || http_ok(&health))?;
        let status = Command::new("curl")
            .args(["-sf", "--max-time", "600", "-X", "POST", "-T"])
            .arg(&text)
            .arg(format!("{url}/api/v1/import/prometheus"))
            .status()?;
        if !status.success() {
            bail!(
                "importing into VictoriaMetrics failed: {status}\n{}",
                server.tail()
            );
        }
        let _ = std::fs::remove_file(&text);
        let flush = format!("{url}/internal/force_flush");
        let at = bed.at.timestamp();
        server.wait_until("the imported history", Duration::from_secs(120), || {
            http_ok(&flush)
                && !instant(&url, "count(container_cpu_usage_seconds_total)", at).is_empty()
        })?;
        let started_in = started.elapsed();
        progress(&format!(
            "VictoriaMetrics at {url}: {samples} samples imported, ready in {:.1}s",
            started_in.as_secs_f64()
        ));
        Ok(Victoria {
            dir,
            url,
            server,
            started_in,
            samples,
        })
    }
}

// ------------------------------------------------------------------------ Prometheus 3

/// Prometheus 3 serving the sample scenario's history from the same promtool (2.42)
/// blocks the bed's Prometheus serves: Thanos' cluster a (its external label does not
/// show in its own query answers).
pub fn prometheus_3() -> &'static OwnPrometheus {
    &Thanos::shared().a
}
