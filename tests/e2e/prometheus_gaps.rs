//! Incomplete metrics are never evidence of idleness, checked with the real binary against
//! the shared bed's apiserver: a real Prometheus whose history has a scrape gap in the
//! middle of the idle window, and the bed's Prometheus behind a loopback proxy that adds
//! Thanos-style `warnings` (a partial response) to one query's answer.

use crate::plan::by_name;
use crate::support::bed::{progress, run_command, start_watchdog};
use crate::support::metrics::{self, Grid};
use crate::support::scenario::Span;
use crate::support::{Bed, IdleVerdict};
use chrono::Duration;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn config_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios/sample-config.yaml")
        .display()
        .to_string()
}

/// `plan --output json` against the bed's apiserver and `prometheus_url`.
fn plan(bed: &Bed, prometheus_url: &str) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"))
        .args(["plan", "--output", "json", "--config", &config_path()])
        .args([
            "--at",
            &bed.at.to_rfc3339(),
            "--prometheus-url",
            prometheus_url,
        ])
        .env("KUBECONFIG", &bed.kubeconfig)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "plan failed:\n{stderr}");
    (
        serde_json::from_slice(&out.stdout).expect("plan prints JSON"),
        stderr,
    )
}

fn verdict(v: IdleVerdict) -> &'static str {
    match v {
        IdleVerdict::Idle => "idle",
        IdleVerdict::Active => "active",
        IdleVerdict::Unknown => "unknown",
    }
}

/// A second Prometheus, stopped when dropped (or by its watchdog when the tests exit).
struct GapPrometheus {
    dir: PathBuf,
    url: String,
}

impl Drop for GapPrometheus {
    fn drop(&mut self) {
        let down = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/down.sh");
        let _ = Command::new(down).arg(&self.dir).output();
    }
}

/// The sample scenario's history with every series of `namespace` missing in
/// `[at - from_ago, at - to_ago)`, served by a Prometheus of its own.
fn prometheus_with_gap(
    bed: &Bed,
    namespace: &str,
    from_ago: Duration,
    to_ago: Duration,
) -> GapPrometheus {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "kube-reclaimer-gap-{}-{}",
        std::process::id(),
        bed.at.timestamp()
    ));
    std::fs::create_dir_all(&dir).expect("state dir");
    start_watchdog(&dir, false).expect("watchdog");
    let step = match std::env::var("KUBE_RECLAIMER_BED_STEP") {
        Ok(s) => Span::parse(&s).expect("KUBE_RECLAIMER_BED_STEP").0,
        Err(_) => bed.scenario.step.0,
    };
    let grid = Grid {
        at: bed.at,
        history: bed.scenario.history.0,
        step,
    };
    let pods = metrics::scenario_pods(&bed.scenario, bed.at).expect("pods");
    let pods = metrics::with_gap(
        pods,
        namespace,
        (bed.at - from_ago).timestamp(),
        (bed.at - to_ago).timestamp(),
    );
    let file = dir.join("metrics.om");
    metrics::render(&file, &pods, grid).expect("render");
    let mut cmd =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/prometheus-up.sh"));
    cmd.arg(&dir).arg(&file);
    let url = run_command(cmd, std::time::Duration::from_secs(600)).expect("prometheus-up.sh");
    let _ = std::fs::remove_file(&file);
    progress(&format!("gap Prometheus at {url}"));
    GapPrometheus { dir, url }
}

#[test]
fn a_scrape_gap_inside_the_idle_window_makes_an_idle_namespace_unknown() {
    let bed = Bed::shared();
    let prometheus = prometheus_with_gap(bed, "sample-idle", Duration::days(4), Duration::days(3));
    let (plan, stderr) = plan(bed, &prometheus.url);
    assert_eq!(plan["sources"]["prometheus"]["status"], "ok", "{stderr}");
    let namespaces = by_name(&plan);

    let idle = &namespaces["sample-idle"]["idle"];
    assert_eq!(idle["verdict"], "unknown", "{idle:#}");
    let summary = idle["summary"].as_str().unwrap_or_default();
    // A day is missing; at the 5-minute step the window's edges may count one step less.
    assert!(
        summary.contains("no CPU metrics for 1d ")
            || summary.contains("no CPU metrics for 23h55m "),
        "says how much is missing: {summary}"
    );
    assert!(
        !namespaces["sample-idle"]["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["kind"] == "mark")),
        "a namespace with a gap is never marked: {:#}",
        namespaces["sample-idle"]["actions"]
    );

    // Every namespace without a gap keeps the verdict its scenario declares.
    let mut wrong = Vec::new();
    for spec in bed
        .scenario
        .namespaces
        .iter()
        .filter(|n| n.name != "sample-idle")
    {
        let got = namespaces[&spec.name]["idle"]["verdict"]
            .as_str()
            .unwrap_or("?");
        if got != verdict(spec.expect.idle) {
            wrong.push(format!(
                "{}: {got}, want {} ({})",
                spec.name,
                verdict(spec.expect.idle),
                namespaces[&spec.name]["idle"]["summary"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------- partial responses

/// Decodes `application/x-www-form-urlencoded` text.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const WARNING: &str = "partial response: store 10.0.0.7:10901 unavailable";

/// A loopback proxy in front of the real Prometheus at `upstream`: forwards each instant
/// query and, when the query's text contains `mark`, adds `"warnings": [WARNING]` to the
/// answer, as a Thanos Querier does for a partial response. Serves until `stop` is set
/// (at most 10 minutes); returns its URL and the form bodies it saw.
fn warning_proxy(
    upstream: String,
    mark: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let http = reqwest::Client::new();
            let mut seen = Vec::new();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
            while std::time::Instant::now() < deadline {
                let accepted =
                    tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept())
                        .await;
                let Ok(accepted) = accepted else {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    continue;
                };
                let (mut socket, _) = accepted.expect("accept");
                let mut request = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, length) = loop {
                    let n = socket.read(&mut chunk).await.expect("read");
                    assert!(n > 0, "client closed early");
                    request.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break (end, length);
                        }
                    }
                };
                let body = String::from_utf8_lossy(&request[head_end + 4..head_end + 4 + length])
                    .into_owned();
                let answer = http
                    .post(format!("{upstream}/api/v1/query"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("upstream answers");
                let status = answer.status().as_u16();
                let mut json: Value =
                    serde_json::from_str(&answer.text().await.expect("body")).expect("JSON");
                if form_decode(&body).contains(mark) {
                    json["warnings"] = serde_json::json!([WARNING]);
                }
                let text = json.to_string();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                socket.write_all(reply.as_bytes()).await.expect("write");
                seen.push(form_decode(&body));
            }
            seen
        })
    });
    (url, handle)
}

#[test]
fn an_answer_with_warnings_is_missing_data_and_the_warning_is_shown() {
    let bed = Bed::shared();
    // The highest-CPU query of the idle window, and only it, comes back partial.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (url, proxy) = warning_proxy(
        bed.prometheus_url.clone(),
        "max_over_time(sum by (namespace) (rate(container_cpu",
        stop.clone(),
    );
    let (plan, stderr) = plan(bed, &url);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = proxy.join().expect("proxy");
    let prometheus = &plan["sources"]["prometheus"];
    assert_eq!(prometheus["status"], "partial", "{stderr}");
    assert!(
        prometheus["problems"].to_string().contains(WARNING),
        "{prometheus:#}"
    );
    let namespaces = by_name(&plan);
    let idle = &namespaces["sample-idle"]["idle"];
    assert_eq!(idle["verdict"], "unknown", "{idle:#}");
    let cpu = &idle["evidence"][0];
    assert_eq!(cpu["status"], "missing", "{idle:#}");
    assert!(
        cpu["reason"].as_str().unwrap_or_default().contains(WARNING),
        "{cpu:#}"
    );
    // The other statistics are still used: network alone says sample-busy is active.
    assert_eq!(namespaces["sample-busy"]["idle"]["verdict"], "active");
    assert_eq!(
        prometheus["requests"].as_u64(),
        Some(seen.len() as u64),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .all(|body| body.contains("partial_response=false")),
        "every query asks for no partial response: {seen:#?}"
    );
}
