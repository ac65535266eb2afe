//! The command line as a user meets it: the real binary, real files, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn reclaimer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"))
        .args(args)
        .env_remove("KUBE_RECLAIMER_CONFIG")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kube-reclaimer.yaml")
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kube-reclaimer-cli-{}", std::process::id()));
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("temp dir");
    std::fs::write(&path, contents).expect("write temp file");
    path
}

#[test]
fn help_lists_every_command() {
    let out = reclaimer(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for command in ["run", "plan", "explain", "report", "config"] {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} missing from:\n{help}"
        );
    }
}

#[test]
fn config_check_accepts_the_documented_example() {
    let out = reclaimer(&["config", "check", example().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(": valid"), "{stdout}");
    assert!(stdout.contains("dry-run"), "{stdout}");
    assert!(
        stdout.contains("7d, 1d before expiry; grace period 3d"),
        "{stdout}"
    );
}

#[test]
fn config_check_refuses_an_invalid_file_naming_key_value_and_what_is_allowed() {
    let file = temp_file(
        "invalid.yaml",
        "mode: enforce\nowners: {fallback_recipients: [ops@example.com]}\nrightsizing:\n  gap_threshold: 1.5\n",
    );
    let out = reclaimer(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("rightsizing.gap_threshold"), "{stderr}");
    assert!(stderr.contains("`1.5`"), "{stderr}");
    assert!(stderr.contains("a fraction in (0, 1)"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn config_check_points_at_the_line_of_a_type_error() {
    let file = temp_file("typo.yaml", "lifecycle:\n  grace_period: three days\n");
    let out = reclaimer(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("lifecycle.grace_period"), "{stderr}");
    assert!(stderr.contains("three days"), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn config_check_on_a_missing_file_says_so() {
    let out = reclaimer(&["config", "check", "/nonexistent/kube-reclaimer.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot read config file /nonexistent/kube-reclaimer.yaml"),
        "{stderr}"
    );
    assert!(stderr.contains("No such file"), "{stderr}");
}

#[test]
fn effective_configuration_can_be_loaded_again() {
    let file = temp_file(
        "custom.yaml",
        "time_zone: Europe/Berlin\nlifecycle: {reminder_offsets: [1d, 14d]}\nowners: {teams: {web: [web@example.com]}}\n",
    );
    let out = reclaimer(&["config", "check", "--effective", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let effective = text(&out.stdout);
    assert!(
        effective.contains("time_zone: Europe/Berlin"),
        "{effective}"
    );
    let again = temp_file("effective.yaml", &effective);
    let out = reclaimer(&["config", "check", "--effective", again.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), effective);
}

#[test]
fn report_refuses_a_folder_that_is_not_empty_before_reading_anything() {
    let keep = temp_file("reports/keep.txt", "mine");
    let dir = keep.parent().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"))
        .args(["report", "--out", dir.to_str().unwrap()])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBE_RECLAIMER_CONFIG")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is not empty; give a new or empty folder"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Kubernetes"),
        "checked before connecting: {stderr}"
    );
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
}

#[test]
fn plan_without_a_cluster_says_how_to_configure_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-reclaimer"))
        .args(["plan"])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", "/nonexistent")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot set up a Kubernetes client"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_time_for_at_is_refused_with_an_example() {
    let out = reclaimer(&["explain", "team-a", "--at", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("RFC 3339 time such as 2026-11-21T12:00:00Z"));
}

#[test]
fn run_once_fails_when_its_cycle_cannot_list_namespaces() {
    // Nothing listens on port 9: the cycle cannot list namespaces, and a CronJob or a
    // script running `run --once` must see a failure, not a success.
    let kubeconfig = temp_file(
        "unreachable.kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:9'}\n\
         users:\n- name: u\n  user: {}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n\
         current-context: x\n",
    );
    let config = temp_file(
        "run-once.yaml",
        "daemon: {listen: '127.0.0.1:0'}\nprometheus: {url: 'http://127.0.0.1:9', retries: 0}\n",
    );
    let out = reclaimer(&[
        "run",
        "--once",
        "--config",
        config.to_str().unwrap(),
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot list namespaces"), "{stderr}");
}
