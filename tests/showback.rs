//! Showback end to end: the real daemon (`kube-reclaimer run`, enforce mode) on a test bed
//! of its own (tests/scenarios/showback.yaml) whose metrics history ends at the present,
//! with a real SMTP server, while the bed's real Prometheus scrapes the daemon's /metrics
//! every second. Every PromQL expression of every dashboard in `dashboards/` must parse
//! and return data, and the exported values must match the scenario's ground truth.
//!
//! The shared e2e bed evaluates 15 days ahead, where no daemon running at the wall clock
//! could see its history; hence this bed, with the `present` option. One bed per test
//! binary, so a single test tells the whole story in order.

mod support;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use prometheus_http_query::response::Data;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use support::bed::{progress, run_command};
use support::{dashboards, Bed, BedOptions, IdleVerdict};

const CPU_PRICE: f64 = 0.04;
const MEMORY_PRICE: f64 = 0.005;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// Created by the test once Prometheus watches the daemon; reclaimed by the daemon.
const DUE: &str = "showback-due";

/// The daemon, stopped when dropped (also on a failed assertion).
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, then the exit status (bounded).
    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill only sends a signal to our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon ignored SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Instant queries against the bed's Prometheus.
struct Prom<'a> {
    bed: &'a Bed,
    client: prometheus_http_query::Client,
}

impl Prom<'_> {
    fn query(&self, promql: &str) -> Result<Data, String> {
        let client = self.client.clone();
        let promql = promql.to_string();
        self.bed.block_on(async move {
            client
                .query(promql)
                .get()
                .await
                .map(|r| r.into_inner().0)
                .map_err(|e| e.to_string())
        })
    }

    /// The series of an instant vector: labels and value.
    fn vector(&self, promql: &str) -> Vec<(HashMap<String, String>, f64)> {
        match self.query(promql) {
            Ok(Data::Vector(v)) => v
                .into_iter()
                .map(|s| {
                    let (labels, sample) = s.into_inner();
                    (labels, sample.value())
                })
                .collect(),
            other => panic!("`{promql}`: expected an instant vector, got {other:?}"),
        }
    }

    /// The value of a query that answers one series.
    fn value(&self, promql: &str) -> Option<f64> {
        let v = self.vector(promql);
        assert!(v.len() <= 1, "`{promql}`: {v:?}");
        v.first().map(|(_, value)| *value)
    }
}

/// Waits (bounded) until `done` holds.
fn wait_until(what: &str, seconds: u64, daemon: &Daemon, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + std::time::Duration::from_secs(seconds);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {seconds} s; daemon log:\n{}",
            daemon.log_tail()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

fn smtp_up(state_dir: &Path) -> u16 {
    let mut cmd = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/smtp-up.sh"));
    cmd.arg(state_dir);
    run_command(cmd, std::time::Duration::from_secs(120))
        .expect("smtp-up.sh")
        .trim()
        .parse()
        .expect("smtp-up.sh prints the port")
}

/// Subjects of the mails delivered about `namespace`.
fn mails_about(state_dir: &Path, namespace: &str) -> Vec<String> {
    std::fs::read_dir(state_dir.join("mail"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|m| {
                    m.lines()
                        .find(|l| l.starts_with("Subject:") && l.contains(namespace))
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write_config(bed: &Bed, listen: u16, smtp: u16) -> PathBuf {
    let path = bed.state_dir.join("showback-config.yaml");
    let yaml = format!(
        "mode: enforce
own_namespace: default
owners:
  teams: {{storefront: [storefront-team@example.com], analytics: [analytics-team@example.com]}}
  fallback_recipients: [platform@example.com]
pricing: {{cpu_per_vcpu_hour: {CPU_PRICE}, memory_per_gib_hour: {MEMORY_PRICE}, currency: EUR}}
smtp: {{host: 127.0.0.1, port: {smtp}, tls: none, from: kube-reclaimer@example.com}}
schedules: {{cycle: '*/2 * * * * *'}}
daemon: {{listen: '127.0.0.1:{listen}', lease_name: showback, lease_duration: 6s}}
lifecycle:
  tombstone_dir: {}
  grace_period: 2s
  allow_short_grace_period: true
",
        bed.state_dir.join("tombstones").display()
    );
    std::fs::write(&path, yaml).expect("write the config");
    path
}

/// An expired namespace: the daemon marks it (telling its owners) and, the 2-second grace
/// period of this bed's config over, reclaims it.
fn create_due_namespace(bed: &Bed) {
    let now = Utc::now();
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": DUE,
            "labels": {
                "kube-reclaimer.io/team": "storefront",
                "kube-reclaimer.io/expires": (now - Duration::days(10)).format("%Y-%m-%d").to_string(),
            },
            "annotations": {
                "kube-reclaimer.io/owner-email": "storefront@example.com",
            }
        }
    }))
    .expect("namespace");
    bed.block_on(async {
        Api::<Namespace>::all(bed.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create the due namespace")
    });
}

/// The scenario's mark, as the daemon would have written it on this namespace: bound to
/// its uid, told when it was created (a mark from before that is void). Its
/// `reclaim-after` (at+3d) keeps it in its grace period for the whole test.
fn bind_the_scenario_mark(bed: &Bed, name: &str) {
    bed.block_on(async {
        let api = Api::<Namespace>::all(bed.client.clone());
        let ns = api.get(name).await.expect("the marked namespace");
        let uid = ns.metadata.uid.clone().expect("uid");
        let created = ns
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .expect("creationTimestamp");
        let patch = serde_json::json!({"metadata": {"annotations": {
            "kube-reclaimer.io/uid": uid,
            "kube-reclaimer.io/marked-at": created,
            "kube-reclaimer.io/notified-at": created,
        }}});
        api.patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("bind the mark");
    });
}

fn namespace_exists(bed: &Bed, name: &str) -> bool {
    bed.block_on(async {
        Api::<Namespace>::all(bed.client.clone())
            .get_opt(name)
            .await
            .expect("get namespace")
            .is_some()
    })
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut s, &mut response).expect("read");
    response
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// The bed's `${at+3d|date}` label: valid through that day, so it expires at the next
/// midnight (UTC, the default time zone).
fn expiry_of_date_label(at: DateTime<Utc>, days: i64) -> f64 {
    let date: NaiveDate = (at + Duration::days(days)).date_naive();
    (date + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp() as f64
}

#[test]
fn every_dashboard_query_returns_data_from_a_running_daemon() {
    // The daemon's port is taken now and held until the daemon starts, so that the bed's
    // Prometheus can be started with it as a scrape target.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("address").port();
    let mut options = BedOptions::scenario("showback").expect("showback.yaml");
    options.present = true;
    options.scrape = vec![format!("127.0.0.1:{port}")];
    let started = Instant::now();
    let bed = Bed::start(options).expect("the showback bed starts");
    let bring_up = started.elapsed();
    bind_the_scenario_mark(&bed, "showback-marked");
    let started = Instant::now();
    let smtp = smtp_up(&bed.state_dir);
    let config = write_config(&bed, port, smtp);
    let log = bed.state_dir.join("logs/daemon.log");
    drop(listener);
    let child = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"))
        .args(["run", "--config"])
        .arg(&config)
        .arg("--kubeconfig")
        .arg(&bed.kubeconfig)
        .args(["--prometheus-url", &bed.prometheus_url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("daemon log"))
        .spawn()
        .expect("start the daemon");
    // The bed's watchdog stops it too, should this process die without unwinding.
    let mut pids = std::fs::OpenOptions::new()
        .append(true)
        .open(bed.state_dir.join("pids"))
        .expect("pids");
    writeln!(pids, "kube-reclaimer {}", child.id()).expect("pids");
    let mut daemon = Daemon { child, log };
    let prom = Prom {
        bed: &bed,
        client: prometheus_http_query::Client::try_from(bed.prometheus_url.as_str())
            .expect("client"),
    };

    // Prometheus has scraped the daemon at least twice after a completed cycle.
    wait_until("two scrapes after a completed cycle", 60, &daemon, || {
        prom.value("count_over_time(kube_reclaimer_last_successful_cycle_timestamp_seconds[5m])")
            .is_some_and(|n| n >= 2.0)
    });
    let first_cycle = started.elapsed();

    // A namespace due for reclamation appears; the daemon reclaims it while Prometheus
    // watches, and it leaves the per-namespace series once the apiserver has removed it.
    create_due_namespace(&bed);
    wait_until("the due namespace reclaimed", 60, &daemon, || {
        prom.value(r#"kube_reclaimer_namespaces_reclaimed_total{mode="enforce"}"#)
            .is_some_and(|n| n >= 1.0)
    });
    wait_until("the reclaimed namespace gone", 60, &daemon, || {
        !namespace_exists(&bed, DUE)
            && prom
                .vector(&format!(
                    r#"kube_reclaimer_namespace_lifecycle_state{{namespace="{DUE}"}}"#
                ))
                .is_empty()
    });
    // Rate windows need a few scrapes after the last change.
    std::thread::sleep(std::time::Duration::from_secs(3));

    // Every expression of every dashboard parses and returns data.
    let mut failures = Vec::new();
    let mut count = 0;
    for (file, dashboard) in dashboards::load().expect("dashboards") {
        let variables = dashboards::variables(&dashboard);
        for e in dashboards::expressions(&file, &dashboard) {
            count += 1;
            let promql = dashboards::runnable(&e.expr, &variables).expect("runnable");
            match prom.query(&promql) {
                Ok(data) if data.is_empty() => {
                    failures.push(format!("{}: no data from `{promql}`", e.place))
                }
                Ok(_) => {}
                Err(error) => failures.push(format!("{}: `{promql}`: {error}", e.place)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} expressions failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 40, "{count} expressions");

    // Ground truth.
    let scenario = &bed.scenario;
    for spec in &scenario.namespaces {
        let ns = spec.name.as_str();
        let one = |metric: &str, extra: &str| {
            prom.value(&format!(r#"{metric}{{namespace="{ns}"{extra}}}"#))
                .unwrap_or_else(|| panic!("{ns}: no {metric}{{{extra}}}"))
        };
        let set = |metric: &str, label: &str| -> Vec<String> {
            prom.vector(&format!(r#"{metric}{{namespace="{ns}"}} == 1"#))
                .into_iter()
                .filter_map(|(labels, _)| labels.get(label).cloned())
                .collect()
        };
        let e = &spec.expect;
        assert_eq!(
            set("kube_reclaimer_namespace_lifecycle_state", "state"),
            vec![e.state.clone()],
            "{ns}: state"
        );
        let verdict = match e.idle {
            IdleVerdict::Idle => "idle",
            IdleVerdict::Active => "active",
            IdleVerdict::Unknown => "unknown",
        };
        assert_eq!(
            set("kube_reclaimer_namespace_idle", "verdict"),
            vec![verdict.to_string()],
            "{ns}: idle verdict"
        );
        let team = prom.vector(&format!(
            r#"kube_reclaimer_namespace_lifecycle_state{{namespace="{ns}", state="active"}}"#
        ));
        assert_eq!(
            team.first().and_then(|(l, _)| l.get("team")),
            spec.labels.get("kube-reclaimer.io/team"),
            "{ns}: team label"
        );
        let (cpu, memory) = spec.requests();
        let requested_cpu = one("kube_reclaimer_namespace_requests_cpu_cores", "");
        let requested_memory = one("kube_reclaimer_namespace_requests_memory_bytes", "");
        assert!(
            close(requested_cpu, cpu),
            "{ns}: {requested_cpu} cores, expected {cpu}"
        );
        assert!(
            close(requested_memory, memory),
            "{ns}: {requested_memory} bytes, expected {memory}"
        );
        let cost = |kind: &str, resource: &str| {
            one(
                "kube_reclaimer_namespace_hourly_cost",
                &format!(r#", kind="{kind}", resource="{resource}""#),
            )
        };
        assert!(
            close(cost("requested", "cpu"), cpu * CPU_PRICE),
            "{ns}: CPU cost"
        );
        assert!(
            close(cost("requested", "memory"), memory / GIB * MEMORY_PRICE),
            "{ns}: memory cost"
        );
        for (resource, requested, floor, flagged) in [
            ("cpu", cpu, 0.1, e.cpu_flagged),
            ("memory", memory, 128.0 * 1024.0 * 1024.0, e.memory_flagged),
        ] {
            let gap = prom.value(&format!(
                r#"kube_reclaimer_namespace_rightsizing_gap_ratio{{namespace="{ns}", resource="{resource}"}}"#
            ));
            let is_flagged = gap.is_some_and(|g| g > 0.5) && requested >= floor;
            assert_eq!(is_flagged, flagged, "{ns}: {resource} gap {gap:?}");
        }
    }
    let used_cpu = prom
        .value(r#"kube_reclaimer_namespace_usage_cpu_cores{namespace="showback-overprovisioned"}"#)
        .expect("used CPU");
    assert!(
        (used_cpu - 0.3).abs() < 1e-3,
        "p95 of 3 x 0.1 cores: {used_cpu}"
    );
    assert_eq!(
        prom.value(
            r#"kube_reclaimer_namespace_usage_memory_bytes{namespace="showback-overprovisioned"}"#
        ),
        Some(900.0 * 1024.0 * 1024.0)
    );
    assert_eq!(
        prom.value(
            r#"kube_reclaimer_namespace_expiry_timestamp_seconds{namespace="showback-expiring"}"#
        ),
        Some(expiry_of_date_label(bed.at, 3))
    );
    assert_eq!(
        prom.value(r#"kube_reclaimer_namespace_reclaim_after_timestamp_seconds{namespace="showback-marked"}"#),
        Some((bed.at + Duration::days(3)).timestamp() as f64),
        "marked at-1h with a 3d grace period and reclaim-after at+3d"
    );
    // Exactly the one reclamation and the one reminder of the story; no errors at all.
    assert_eq!(
        prom.value(r#"kube_reclaimer_namespaces_reclaimed_total{mode="enforce"}"#),
        Some(1.0)
    );
    assert_eq!(
        prom.value(r#"kube_reclaimer_namespaces_reclaimed_total{mode="dry-run"}"#),
        Some(0.0)
    );
    assert_eq!(prom.value("kube_reclaimer_reminders_sent_total"), Some(1.0));
    assert_eq!(mails_about(&bed.state_dir, "showback-expiring").len(), 1);
    assert!(
        !mails_about(&bed.state_dir, DUE).is_empty(),
        "reclaimed notice"
    );
    let errors = prom.vector("kube_reclaimer_errors_total");
    assert_eq!(errors.len(), 8, "one series per source: {errors:?}");
    assert!(errors.iter().all(|(_, v)| *v == 0.0), "{errors:?}");
    assert_eq!(
        prom.value(r#"kube_reclaimer_pricing_info{currency="EUR", source="config"}"#),
        Some(1.0)
    );
    assert_eq!(
        prom.value("kube_reclaimer_price_cpu_vcpu_hour"),
        Some(CPU_PRICE)
    );
    assert_eq!(prom.value("kube_reclaimer_leader"), Some(1.0));
    let since = prom
        .value("time() - kube_reclaimer_last_successful_cycle_timestamp_seconds")
        .expect("last success");
    assert!((0.0..10.0).contains(&since), "last success {since} s ago");
    // Ten PromQL queries per cycle (recording rules checked); the cycle under way may
    // have counted its own already.
    let extra = prom
        .value("kube_reclaimer_prometheus_queries_total - 10 * kube_reclaimer_cycle_duration_seconds_count")
        .expect("queries and cycles");
    assert!(
        extra == 0.0 || extra == 10.0,
        "{extra} queries beyond 10 per cycle"
    );
    assert_eq!(
        prom.value(r#"kube_reclaimer_prometheus_series{statistic="cpu_quantile", series="raw"}"#),
        Some(1.0),
        "no recording rules here: raw series"
    );

    assert_eq!(prom.value(r#"up{job="kube-reclaimer"}"#), Some(1.0));
    let response = http_get(port, "/metrics");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");

    let status = daemon.stop();
    assert!(status.success(), "{status}; log:\n{}", daemon.log_tail());
    progress(&format!(
        "showback: bed up in {:.1}s; first cycle seen by Prometheus after {:.1}s; {count} dashboard queries; test body {:.1}s",
        bring_up.as_secs_f64(),
        first_cycle.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
}
