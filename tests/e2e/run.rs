//! The real daemon (`kube-reclaimer run`) against the bed and a real SMTP server: one
//! cycle end to end, two replicas, health endpoints, SIGTERM, sleep mode. The daemon acts
//! on the whole cluster at the real time, so each test's config protects (label
//! selector) every namespace but the ones the test created for itself.

use crate::support::Bed;
use chrono::{Duration, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The SMTP server of this test run: its port and the folder it writes mails to.
fn smtp(bed: &Bed) -> &'static (u16, PathBuf) {
    static SMTP: OnceLock<(u16, PathBuf)> = OnceLock::new();
    SMTP.get_or_init(|| {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/smtp-up.sh");
        let out = Command::new(script)
            .arg(&bed.state_dir)
            .output()
            .expect("smtp-up.sh runs");
        assert!(
            out.status.success(),
            "smtp-up.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("port");
        (port, bed.state_dir.join("mail"))
    })
}

/// Mails delivered for `namespace` (by subject), as raw messages.
fn mails_about(bed: &Bed, namespace: &str) -> Vec<String> {
    let dir = &smtp(bed).1;
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    out.retain(|m| {
        m.lines()
            .any(|l| l.starts_with("Subject:") && l.contains(namespace))
    });
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Lines for the `lifecycle` section of a test config: a 2-second grace period, so a
/// namespace the daemon marked is due a moment later (test clusters only).
const SHORT_GRACE: &str = "  grace_period: 2s\n  allow_short_grace_period: true\n";

fn config(bed: &Bed, test: &str, listen_port: u16, extra: &str) -> PathBuf {
    config_with(bed, test, listen_port, smtp(bed).0, "text", extra)
}

/// A config for `test`, mailing through `smtp_port`, logging in `log_format`.
fn config_with(
    bed: &Bed,
    test: &str,
    listen_port: u16,
    port: u16,
    log_format: &str,
    extra: &str,
) -> PathBuf {
    let path = bed.state_dir.join(format!("run-{test}-{listen_port}.yaml"));
    let yaml = format!(
        "mode: enforce
own_namespace: default
owners: {{fallback_recipients: [platform@example.com]}}
protection:
  selector:
    matchExpressions: [{{key: e2e-run, operator: NotIn, values: [{test}]}}]
smtp: {{host: 127.0.0.1, port: {port}, tls: none, from: kube-reclaimer@example.com}}
schedules: {{cycle: '*/2 * * * * *'}}
daemon: {{listen: '127.0.0.1:{listen_port}', lease_name: e2e-run-{test}, lease_duration: 6s, log_format: {log_format}}}
lifecycle:
  tombstone_dir: {}
{extra}",
        bed.state_dir
            .join(format!("tombstones-run-{test}"))
            .display()
    );
    std::fs::write(&path, yaml).expect("write config");
    path
}

fn reclaimer(bed: &Bed, config: &PathBuf, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"));
    c.args(args)
        .arg("--config")
        .arg(config)
        .arg("--kubeconfig")
        .arg(&bed.kubeconfig)
        .args(["--prometheus-url", &bed.prometheus_url]);
    c
}

/// Creates a namespace that only the config of `test` may act on.
/// One `run --once` with `config`; returns its stderr, failing on a non-zero exit.
fn run_once(bed: &Bed, config: &PathBuf) -> String {
    let out = reclaimer(bed, config, &["run", "--once"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn create(bed: &Bed, test: &str, name: &str, annotations: BTreeMap<String, String>) {
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"e2e-run": test}, "annotations": annotations}
    }))
    .expect("ns");
    bed.block_on(async {
        Api::<Namespace>::all(bed.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
    });
}

fn annotations(bed: &Bed, name: &str) -> BTreeMap<String, String> {
    bed.block_on(async {
        Api::<Namespace>::all(bed.client.clone())
            .get(name)
            .await
            .expect("get")
    })
    .metadata
    .annotations
    .unwrap_or_default()
}

fn expiring_in(days: i64) -> BTreeMap<String, String> {
    BTreeMap::from([(
        "kube-reclaimer.io/expires".to_string(),
        (Utc::now() + Duration::days(days)).to_rfc3339(),
    )])
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    body
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill only sends a signal to our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn one_cycle_mails_the_reminder_through_smtp_and_records_it() {
    let bed = Bed::shared();
    create(bed, "once", "run-once", expiring_in(3));
    let config = config(bed, "once", free_port(), "");
    let stderr = run_once(bed, &config);
    let mails = mails_about(bed, "run-once");
    assert_eq!(mails.len(), 1, "{stderr}");
    assert!(
        mails[0].contains("X-Envelope-To: <platform@example.com>"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("kubectl annotate namespace run-once kube-reclaimer.io/expires"),
        "{}",
        mails[0]
    );
    assert!(annotations(bed, "run-once").contains_key("kube-reclaimer.io/reminders"));
    assert!(stderr.contains("cycle done"), "{stderr}");
}

#[test]
fn two_replicas_send_each_reminder_once_and_stop_cleanly_on_sigterm() {
    let bed = Bed::shared();
    create(bed, "pair", "run-pair", expiring_in(2));
    let ports = [free_port(), free_port()];
    let mut replicas: Vec<Child> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let config = config(bed, "pair", *port, "");
            let log = std::fs::File::create(bed.state_dir.join(format!("run-pair-{i}.log")))
                .expect("log");
            reclaimer(bed, &config, &["run"])
                .env("POD_NAME", format!("replica-{i}"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start")
        })
        .collect();
    let deadline = Instant::now() + std::time::Duration::from_secs(40);
    while mails_about(bed, "run-pair").is_empty() {
        assert!(Instant::now() < deadline, "no reminder within 40 s");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // Let both replicas run a few more cycles.
    std::thread::sleep(std::time::Duration::from_secs(7));
    for port in ports {
        assert!(http_get(port, "/healthz").starts_with("HTTP/1.1 200"));
        assert!(http_get(port, "/readyz").starts_with("HTTP/1.1 200"));
    }
    for child in &mut replicas {
        assert!(terminate(child).success());
    }
    assert_eq!(mails_about(bed, "run-pair").len(), 1, "each reminder once");
    let lease = bed.block_on(async {
        Api::<Lease>::namespaced(bed.client.clone(), "default")
            .get("e2e-run-pair")
            .await
            .expect("lease")
    });
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "released on SIGTERM"
    );
}

#[test]
fn sleep_mode_scales_workloads_to_zero_and_back_when_the_owner_extends() {
    let bed = Bed::shared();
    let name = "run-sleep";
    // Expired, not yet marked: the daemon marks it (telling the owners), and once its
    // short grace period is over, puts it to sleep.
    let a = expiring_in(-5);
    create(bed, "sleep", name, a);
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    }))
    .expect("deployment");
    let deployments = || Api::<Deployment>::namespaced(bed.client.clone(), name);
    bed.block_on(async {
        deployments()
            .create(&PostParams::default(), &deployment)
            .await
            .expect("create deployment")
    });
    let config = config(
        bed,
        "sleep",
        free_port(),
        &format!("  reclaim_by: sleep\n{SHORT_GRACE}"),
    );
    run_once(bed, &config);
    assert!(annotations(bed, name).contains_key("kube-reclaimer.io/marked-at"));
    assert!(
        mails_about(bed, name)
            .iter()
            .any(|m| m.contains("Subject:")),
        "the mark notice"
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    run_once(bed, &config);
    let web = bed.block_on(async { deployments().get("web").await.expect("web") });
    assert_eq!(web.spec.and_then(|s| s.replicas), Some(0));
    // Scaled through the scale subresource: the replicas to restore are on the namespace.
    assert!(!web
        .metadata
        .annotations
        .unwrap_or_default()
        .contains_key("kube-reclaimer.io/replicas"));
    assert_eq!(
        annotations(bed, name)
            .get("kube-reclaimer.io/replicas")
            .map(String::as_str),
        Some(r#"{"Deployment/web":3}"#)
    );
    assert!(annotations(bed, name).contains_key("kube-reclaimer.io/sleeping-since"));
    assert!(mails_about(bed, name)
        .iter()
        .any(|m| m.contains("was put to sleep")));
    let ledger = kube_reclaimer::io::ledger::read(&bed.state_dir.join("tombstones-run-sleep"));
    let slept: Vec<_> = ledger
        .entries
        .iter()
        .filter(|e| e.namespace == name)
        .map(|e| (e.by, e.tombstone.clone()))
        .collect();
    assert_eq!(
        slept,
        [(kube_reclaimer::core::config::ReclaimBy::Sleep, None)],
        "in the ledger, without a tombstone"
    );
    // The owner extends: woken, replicas restored, marks gone.
    bed.block_on(async {
        let patch = serde_json::json!({"metadata": {"annotations": {"kube-reclaimer.io/expires": (Utc::now() + Duration::days(30)).to_rfc3339()}}});
        Api::<Namespace>::all(bed.client.clone()).patch(name, &Default::default(), &kube::api::Patch::Merge(&patch)).await.expect("extend");
    });
    run_once(bed, &config);
    let web = bed.block_on(async { deployments().get("web").await.expect("web") });
    assert_eq!(web.spec.and_then(|s| s.replicas), Some(3));
    let after = annotations(bed, name);
    assert!(
        !after.contains_key("kube-reclaimer.io/sleeping-since")
            && !after.contains_key("kube-reclaimer.io/marked-at"),
        "{after:?}"
    );
}

#[test]
fn smtp_down_then_back_mails_exactly_once_and_malformed_values_are_reported_once() {
    let bed = Bed::shared();
    create(bed, "smtp", "run-down", expiring_in(4));
    let typo = BTreeMap::from([(
        "kube-reclaimer.io/expires".to_string(),
        "31-12-2026".to_string(),
    )]);
    create(bed, "smtp", "run-typo", typo);
    // SMTP down: nothing is recorded, the logs (JSON) say what failed.
    let down = config_with(bed, "smtp", free_port(), free_port(), "json", "");
    let logs: Vec<serde_json::Value> = run_once(bed, &down)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    let failed = logs.iter().any(|l| {
        l["fields"]["namespace"] == "run-down"
            && l["fields"]["action"] == "remind"
            && l["fields"]["outcome"] == "failed"
    });
    assert!(failed, "{logs:?}");
    assert!(mails_about(bed, "run-down").is_empty());
    assert!(!annotations(bed, "run-down").contains_key("kube-reclaimer.io/reminders"));
    // SMTP back: each mail goes out once, then never again.
    let up = config(bed, "smtp", free_port(), "");
    for _ in 0..2 {
        run_once(bed, &up);
    }
    assert_eq!(
        mails_about(bed, "run-down").len(),
        1,
        "reminder exactly once after recovery"
    );
    let reports = mails_about(bed, "run-typo");
    assert_eq!(reports.len(), 1, "malformed value reported once");
    assert!(reports[0].contains("31-12-2026"), "{}", reports[0]);
    assert!(annotations(bed, "run-typo").contains_key("kube-reclaimer.io/reported"));
}

#[test]
fn a_dry_run_cycle_writes_nothing_not_even_a_lease_and_mails_nothing() {
    let bed = Bed::shared();
    create(bed, "dry", "run-dry", expiring_in(-1));
    let path = config(bed, "dry", free_port(), "");
    let text = std::fs::read_to_string(&path)
        .expect("config")
        .replace("mode: enforce", "mode: dry-run");
    std::fs::write(&path, text).expect("config");
    let before = annotations(bed, "run-dry");
    let stderr = run_once(bed, &path);
    assert!(
        stderr.contains("dry-run: would act") && stderr.contains("run-dry"),
        "{stderr}"
    );
    assert_eq!(annotations(bed, "run-dry"), before);
    assert!(mails_about(bed, "run-dry").is_empty());
    let lease = bed.block_on(async {
        Api::<Lease>::namespaced(bed.client.clone(), "default")
            .get_opt("e2e-run-dry")
            .await
            .expect("get")
    });
    assert!(lease.is_none(), "dry-run took a Lease");
}

/// Raw messages delivered to `recipient`.
fn mails_to(bed: &Bed, recipient: &str) -> Vec<String> {
    std::fs::read_dir(&smtp(bed).1)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter(|m| m.contains(&format!("X-Envelope-To: <{recipient}>")))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the daemon with the weekly reports every 3 seconds and no cycle after the one at
/// start, until `until`
/// holds for its log (at most 40 s), then stops it with SIGTERM; returns its log.
fn daemon_with_reports(bed: &Bed, mode: &str, until: impl Fn(&str) -> bool) -> String {
    let path = config(
        bed,
        &format!("reports-{mode}"),
        free_port(),
        "reports: {finops_recipients: [weekly-finops@example.com]}\n",
    );
    let text = std::fs::read_to_string(&path)
        .expect("config")
        .replace("mode: enforce", &format!("mode: {mode}"))
        .replace(
            "owners: {fallback_recipients: [platform@example.com]}",
            "owners: {teams: {payments: [weekly-payments@example.com]}, fallback_recipients: [weekly-platform@example.com]}",
        )
        .replace(
            "schedules: {cycle: '*/2 * * * * *'}",
            "schedules: {cycle: '0 0 1 1 *', report: '*/3 * * * * *'}",
        );
    std::fs::write(&path, text).expect("config");
    let log_path = bed.state_dir.join(format!("run-reports-{mode}.log"));
    let log = std::fs::File::create(&log_path).expect("log");
    let mut daemon = reclaimer(bed, &path, &["run"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start");
    let deadline = Instant::now() + std::time::Duration::from_secs(40);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    while !until(&log()) && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(terminate(&mut daemon).success());
    log()
}

#[test]
fn the_daemon_mails_the_weekly_reports_on_their_own_schedule() {
    let bed = Bed::shared();
    // Dry-run: each report is logged, none is sent.
    let log = daemon_with_reports(bed, "dry-run", |log| log.contains("would send"));
    assert!(
        log.contains("dry-run: would send weekly report") && log.contains("team-payments"),
        "{log}"
    );
    assert!(mails_to(bed, "weekly-finops@example.com").is_empty());
    // Enforce: the Lease holder mails every report, the CSV attached.
    let log = daemon_with_reports(bed, "enforce", |log| log.contains("weekly reports done"));
    for (recipient, subject, csv) in [
        (
            "weekly-payments@example.com",
            "Subject: Weekly cost report for team payments: ",
            "team-payments.csv",
        ),
        (
            "weekly-platform@example.com",
            "Subject: Weekly cost report for namespaces without a known team: ",
            "unassigned.csv",
        ),
        (
            "weekly-finops@example.com",
            "Subject: Weekly cost roll-up for all teams: ",
            "finops.csv",
        ),
    ] {
        let mails = mails_to(bed, recipient);
        assert!(!mails.is_empty(), "nothing to {recipient}:\n{log}");
        let m = &mails[0];
        assert!(m.contains(subject), "{m}");
        assert!(m.contains("Content-Type: multipart/mixed"), "{m}");
        assert!(m.contains(&format!("filename=\"{csv}\"")), "{m}");
        assert!(m.contains("Content-Type: text/csv; charset=utf-8"), "{m}");
    }
    assert!(log.contains("weekly reports done"), "{log}");
    // One cycle at start, none after: the reports keep their own schedule.
    assert_eq!(
        log.matches("cycle done").count(),
        1,
        "only the start-up cycle: {log}"
    );
}

/// The real daemon's cycles over `seconds`, its log written to `log`; stopped by SIGTERM.
fn run_for(bed: &Bed, config: &PathBuf, log: &str, seconds: u64) -> String {
    let path = bed.state_dir.join(log);
    let file = std::fs::File::create(&path).expect("log");
    let mut child = reclaimer(bed, config, &["run"])
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("start");
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    assert!(terminate(&mut child).success());
    std::fs::read_to_string(&path).unwrap_or_default()
}

#[test]
fn a_namespace_restored_with_its_old_mark_is_marked_afresh_and_its_owners_told_never_deleted() {
    // What `kubectl apply -f` of a tombstone, a backup restore or a GitOps sync brings back:
    // our annotations from the namespace that was, due for reclamation long ago.
    let bed = Bed::shared();
    let long_ago = |days: i64| (Utc::now() - Duration::days(days)).to_rfc3339();
    let mut kept = BTreeMap::from([
        ("kube-reclaimer.io/expires".to_string(), long_ago(20)),
        ("kube-reclaimer.io/marked-at".to_string(), long_ago(10)),
        ("kube-reclaimer.io/notified-at".to_string(), long_ago(10)),
        ("kube-reclaimer.io/reclaim-after".to_string(), long_ago(7)),
        (
            "kube-reclaimer.io/reason".to_string(),
            "expired".to_string(),
        ),
        (
            "kube-reclaimer.io/uid".to_string(),
            "5f0c5a4e-0000-4000-8000-00000000dead".to_string(),
        ),
    ]);
    create(bed, "restored", "run-restored", kept.clone());
    // Restored by a tool that kept no uid (as earlier versions wrote marks).
    kept.remove("kube-reclaimer.io/uid");
    create(bed, "restored", "run-copied-no-uid", kept);
    let config = config(bed, "restored", free_port(), "");
    let stderr = run_once(bed, &config);
    for name in ["run-restored", "run-copied-no-uid"] {
        let ns = bed.block_on(async {
            Api::<Namespace>::all(bed.client.clone())
                .get(name)
                .await
                .expect("the namespace still exists")
        });
        assert!(
            ns.metadata.deletion_timestamp.is_none(),
            "{name} was deleted on the strength of a copied mark:\n{stderr}"
        );
        let a = ns.metadata.annotations.unwrap_or_default();
        assert_eq!(
            a.get("kube-reclaimer.io/uid"),
            ns.metadata.uid.as_ref(),
            "{name}: the fresh mark is bound to this namespace: {a:?}"
        );
        let marked = a
            .get("kube-reclaimer.io/marked-at")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .expect("marked-at");
        assert!(
            Utc::now() - marked.with_timezone(&Utc) < Duration::minutes(5),
            "{name}: marked afresh, not kept from the copy: {a:?}"
        );
        let mails = mails_about(bed, name);
        assert_eq!(
            mails.len(),
            1,
            "{name}: the owners are told again:\n{stderr}"
        );
    }
}

#[test]
fn a_record_refused_by_an_admission_policy_is_mailed_once_not_every_cycle() {
    let bed = Bed::shared();
    // A policy that refuses any reminder record on namespaces labelled for this test, as
    // a platform's policy engine might.
    let policy = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: e2e-refuse-reminder-records}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: [v1]
      operations: [UPDATE]
      resources: [namespaces]
  validations:
  - expression: "!has(object.metadata.annotations) || !('kube-reclaimer.io/reminders' in object.metadata.annotations)"
    message: reminder records are refused on this namespace
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: e2e-refuse-reminder-records}
spec:
  policyName: e2e-refuse-reminder-records
  validationActions: [Deny]
  matchResources:
    objectSelector:
      matchLabels: {e2e-run: refused}
"#;
    let file = bed.state_dir.join("refuse-reminder-records.yaml");
    std::fs::write(&file, policy).expect("policy");
    let out = bed
        .kubectl()
        .args(["apply", "-f"])
        .arg(&file)
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    create(bed, "refused", "run-refused", expiring_in(3));
    // Wait (bounded) until the policy is in force.
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let patch =
            serde_json::json!({"metadata": {"annotations": {"kube-reclaimer.io/reminders": "{}"}}});
        let refused = bed.block_on(async {
            Api::<Namespace>::all(bed.client.clone())
                .patch(
                    "run-refused",
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                )
                .await
                .is_err()
        });
        if refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the admission policy never took effect"
        );
        let undo =
            serde_json::json!({"metadata": {"annotations": {"kube-reclaimer.io/reminders": null}}});
        bed.block_on(async {
            let _ = Api::<Namespace>::all(bed.client.clone())
                .patch(
                    "run-refused",
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&undo),
                )
                .await;
        });
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let config = config(bed, "refused", free_port(), "");
    // About six cycles (every 2 s).
    let log = run_for(bed, &config, "run-refused.log", 12);
    let _ = bed
        .kubectl()
        .args(["delete", "--ignore-not-found", "-f"])
        .arg(&file)
        .output();
    let cycles = log.matches("cycle done").count();
    assert!(cycles >= 4, "only {cycles} cycles ran:\n{log}");
    assert_eq!(
        mails_about(bed, "run-refused").len(),
        1,
        "one reminder, however many cycles could not record it:\n{log}"
    );
    assert!(
        log.contains("not mailed again"),
        "the failed record is said:\n{log}"
    );
    assert!(
        !annotations(bed, "run-refused").contains_key("kube-reclaimer.io/reminders"),
        "the policy held"
    );
}

#[test]
fn a_replica_whose_clock_runs_ahead_plans_and_exports_but_mails_nothing() {
    // The daemon runs two minutes ahead of the apiserver (Debian's faketime): the
    // reminder due for run-skew is planned but not mailed, and /readyz and /metrics say
    // why.
    let bed = Bed::shared();
    create(bed, "skew", "run-skew", expiring_in(2));
    let port = free_port();
    let config = config(bed, "skew", port, "");
    let log_path = bed.state_dir.join("run-skew.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut daemon = reclaimer(bed, &config, &["run"])
        .env(
            "LD_PRELOAD",
            "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        )
        .env("FAKETIME", "+120s")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start");
    let deadline = Instant::now() + std::time::Duration::from_secs(40);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    while !log().contains("cycle done") {
        assert!(
            Instant::now() < deadline,
            "no cycle within 40 s:\n{}",
            log()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // A few more cycles.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let ready = http_get(port, "/readyz");
    let metrics = http_get(port, "/metrics");
    assert!(terminate(&mut daemon).success());
    let log = log();
    assert!(mails_about(bed, "run-skew").is_empty(), "mailed:\n{log}");
    assert!(
        !annotations(bed, "run-skew").contains_key("kube-reclaimer.io/reminders"),
        "{log}"
    );
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(
        ready.contains("not acting: clock skew -1") && ready.contains("daemon.max_clock_skew"),
        "{ready}"
    );
    assert!(
        metrics.contains("kube_reclaimer_clock_skew_exceeded 1"),
        "{metrics}"
    );
    let skew: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kube_reclaimer_clock_skew_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("kube_reclaimer_clock_skew_seconds");
    assert!((skew + 120.0).abs() < 3.0, "{skew}");
    assert!(log.contains("not acting this cycle"), "{log}");
}

#[test]
fn the_mark_notice_of_a_namespace_holding_a_volume_says_what_deletion_destroys() {
    let bed = Bed::shared();
    create(bed, "volume", "run-volume", expiring_in(-2));
    crate::act::bound_volume(bed, "run-volume", "run-volume-pv");
    let config = config(bed, "volume", free_port(), "");
    let stderr = run_once(bed, &config);
    let mails = mails_about(bed, "run-volume");
    assert_eq!(mails.len(), 1, "the mark notice:\n{stderr}");
    // Read through quoted-printable soft line breaks.
    let text = mails[0].replace("=\r\n", "").replace("=\n", "");
    for what in [
        "claim data",
        "5.00 GiB",
        "StorageClass manual",
        "Delete",
        "Secrets",
    ] {
        assert!(text.contains(what), "the notice names {what:?}:\n{text}");
    }
}
