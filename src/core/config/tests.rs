//! Tests of the configuration: built-in defaults, values in their natural notation,
//! and every refusal naming its key, its value and what is allowed.

use super::*;
use crate::core::model::{Quantity, Span};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml(text, "test.yaml")
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected invalid settings, got {other:?}"),
    }
}

/// Each `(yaml, key, value)` is refused with a problem naming that key and value, and
/// saying what is allowed.
fn assert_each_refused(cases: &[(&str, &str, &str)]) {
    for (yaml, key, value) in cases {
        let found = problems(yaml);
        assert!(
            found
                .iter()
                .any(|p| p.key == *key && p.value == *value && !p.allowed.is_empty()),
            "{yaml}: expected a problem for {key}={value}, got {found:?}"
        );
    }
}

fn parse_error(text: &str) -> String {
    match load(text) {
        Err(ConfigError::Parse { message, .. }) => message,
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn empty_file_means_all_defaults() {
    assert_eq!(load("").unwrap(), Config::default());
    assert_eq!(load("# nothing\n").unwrap(), Config::default());
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::default();
    assert_eq!(c.mode, Mode::DryRun);
    assert_eq!(c.keys.expires, "kube-reclaimer.io/expires");
    assert_eq!(
        c.lifecycle.reminder_offsets,
        vec![Span::days(7), Span::days(1)]
    );
    assert_eq!(c.lifecycle.grace_period, Span::days(3));
    assert_eq!(c.lifecycle.max_reclaims_per_cycle, 5);
    assert_eq!(c.rightsizing.window, Span::days(7));
    assert_eq!(c.rightsizing.cpu_quantile, 0.95);
    assert_eq!(c.rightsizing.gap_threshold, 0.5);
    assert_eq!(c.pricing.cpu_per_vcpu_hour, 0.031611);
    assert_eq!(c.pricing.memory_per_gib_hour, 0.004237);
}

#[test]
fn values_are_read_in_their_natural_notation() {
    let c = load(
        "mode: enforce
time_zone: Europe/Berlin
owners:
  teams: {payments: [pay@example.com]}
  fallback_recipients: [platform@example.com]
lifecycle:
  reminder_offsets: [1d, 14d, 7d, 1d]
  grace_period: 1d12h
rightsizing:
  min_memory_request: 256Mi
  min_cpu_request: 0.25
idle:
  cpu_threshold: 5m
prometheus:
  headers: {X-Scope-OrgID: tenant-a}
schedules:
  cycle: '0 * * * *'
",
    )
    .unwrap();
    assert_eq!(c.mode, Mode::Enforce);
    assert_eq!(c.time_zone.0, chrono_tz::Europe::Berlin);
    assert_eq!(
        c.lifecycle.reminder_offsets,
        vec![Span::days(14), Span::days(7), Span::days(1)],
        "offsets are sorted longest first and deduplicated"
    );
    assert_eq!(c.lifecycle.grace_period, Span::hours(36));
    assert_eq!(
        c.rightsizing.min_memory_request,
        Quantity(256.0 * 1024.0 * 1024.0)
    );
    assert_eq!(c.rightsizing.min_cpu_request, Quantity(0.25));
    assert_eq!(c.idle.cpu_threshold, Quantity(0.005));
    assert_eq!(c.prometheus.headers["X-Scope-OrgID"], "tenant-a");
    assert_eq!(c.schedules.cycle.expression, "0 * * * *");
}

#[test]
fn type_errors_name_the_key_and_the_value() {
    let cases = [
        (
            "lifecycle: {grace_period: 3x}",
            "lifecycle.grace_period",
            "3x",
        ),
        (
            "lifecycle: {reminder_offsets: [7d, soon]}",
            "lifecycle.reminder_offsets",
            "soon",
        ),
        ("mode: delete-everything", "mode", "delete-everything"),
        ("time_zone: Mars/Olympus", "time_zone", "Mars/Olympus"),
        (
            "schedules: {cycle: 'every hour'}",
            "schedules.cycle",
            "every hour",
        ),
        (
            "rightsizing: {min_memory_request: 12XB}",
            "rightsizing.min_memory_request",
            "12XB",
        ),
        (
            "owners: {fallback_recipients: [nobody]}",
            "owners.fallback_recipients",
            "nobody",
        ),
        (
            "pricing: {currency: dollars}",
            "pricing.currency",
            "dollars",
        ),
        ("smtp: {tls: ssl}", "smtp.tls", "ssl"),
    ];
    for (yaml, key, value) in cases {
        let message = parse_error(yaml);
        assert!(
            message.contains(key),
            "{yaml}: message lacks key {key}: {message}"
        );
        assert!(
            message.contains(value),
            "{yaml}: message lacks value {value}: {message}"
        );
    }
}

#[test]
fn unknown_keys_are_refused_so_typos_do_not_pass_silently() {
    let message = parse_error("lifecycle: {grace_periods: 3d}");
    assert!(message.contains("grace_periods"), "{message}");
    let message = parse_error("dryrun: true");
    assert!(message.contains("dryrun"), "{message}");
}

#[test]
fn out_of_range_values_are_refused_with_what_is_allowed() {
    let cases = [
        (
            "rightsizing: {gap_threshold: 1.5}",
            "rightsizing.gap_threshold",
            "1.5",
        ),
        (
            "rightsizing: {cpu_quantile: 0}",
            "rightsizing.cpu_quantile",
            "0",
        ),
        (
            "rightsizing: {headroom: -0.1}",
            "rightsizing.headroom",
            "-0.1",
        ),
        (
            "lifecycle: {grace_period: 30m}",
            "lifecycle.grace_period",
            "30m",
        ),
        (
            "pricing: {cpu_per_vcpu_hour: -1}",
            "pricing.cpu_per_vcpu_hour",
            "-1",
        ),
        (
            "prometheus: {url: 'prometheus:9090'}",
            "prometheus.url",
            "prometheus:9090",
        ),
        (
            "prometheus: {headers: {'X Bad': a}}",
            "prometheus.headers.X Bad",
            "X Bad",
        ),
        (
            "own_namespace: Kube_Reclaimer",
            "own_namespace",
            "Kube_Reclaimer",
        ),
        ("keys: {team: 'team label'}", "keys.team", "team label"),
        (
            "keys: {state_prefix: kube-reclaimer.io}",
            "keys.state_prefix",
            "kube-reclaimer.io",
        ),
        ("smtp: {port: 0}", "smtp.port", "0"),
        (
            "owners: {teams: {payments: []}}",
            "owners.teams.payments",
            "[]",
        ),
        ("protection: {selector: {}}", "protection.selector", "{}"),
        (
            "protection: {selector: {matchExpressions: [{key: a, operator: In}]}}",
            "protection.selector.matchExpressions[0].values",
            "[]",
        ),
        (
            "smtp: {username: u, password_file: /p, password_env: P}",
            "smtp.password_env",
            "P",
        ),
        ("smtp: {password_env: P}", "smtp.username", "(unset)"),
        ("smtp: {username: u}", "smtp.username", "u"),
        (
            "smtp: {tls: none, ca_file: /ca.pem}",
            "smtp.ca_file",
            "/ca.pem",
        ),
        ("smtp: {templates_dir: ' '}", "smtp.templates_dir", " "),
        ("smtp: {ca_file: ''}", "smtp.ca_file", ""),
    ];
    assert_each_refused(&cases);
}

#[test]
fn enforce_mode_needs_fallback_recipients() {
    let found = problems("mode: enforce");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "owners.fallback_recipients");
    assert!(load("mode: enforce\nowners: {fallback_recipients: [ops@example.com]}").is_ok());
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = problems("rightsizing: {gap_threshold: 2, cpu_quantile: 3}\nsmtp: {port: 0}");
    assert_eq!(found.len(), 3, "{found:?}");
    let text = ConfigError::Invalid {
        path: "c.yaml".into(),
        problems: found,
    }
    .to_string();
    assert!(
        text.starts_with("config file c.yaml has 3 invalid setting(s):"),
        "{text}"
    );
}

#[test]
fn idle_thresholds_and_windows_outside_plausible_bounds_are_refused() {
    let cases = [
        ("idle: {cpu_threshold: 10}", "idle.cpu_threshold", "10"),
        ("idle: {cpu_threshold: 1}", "idle.cpu_threshold", "1"),
        ("idle: {cpu_threshold: 0}", "idle.cpu_threshold", "0"),
        (
            "idle: {network_threshold: 1Gi}",
            "idle.network_threshold",
            "1073741824",
        ),
        (
            "idle: {network_threshold: 0}",
            "idle.network_threshold",
            "0",
        ),
        ("idle: {window: 1h}", "idle.window", "1h"),
        ("idle: {window: 2d}", "idle.window", "2d"),
        ("idle: {window: 365d}", "idle.window", "365d"),
        ("rightsizing: {window: 30m}", "rightsizing.window", "30m"),
        ("rightsizing: {window: 400d}", "rightsizing.window", "400d"),
    ];
    for (yaml, key, value) in cases {
        let found = problems(yaml);
        assert!(
            found
                .iter()
                .any(|p| p.key == key && p.value == value && p.allowed.contains("at")),
            "{yaml}: expected a problem for {key}={value}, got {found:?}"
        );
    }
    // The edges of what is allowed load.
    load("idle: {cpu_threshold: 500m, network_threshold: 100Ki, window: 90d}\nrightsizing: {window: 1d}")
        .unwrap();
    load("idle: {cpu_threshold: 1m, network_threshold: 1, window: 3d}\nrightsizing: {window: 90d}")
        .unwrap();
}

#[test]
fn owner_domains_and_recipient_cap_are_checked() {
    let c = load("owners: {allowed_domains: [Example.com, eu.example.org], max_recipients: 3}")
        .unwrap();
    assert_eq!(c.owners.allowed_domains, ["Example.com", "eu.example.org"]);
    assert_eq!(c.owners.max_recipients, 3);
    assert_eq!(Config::default().owners.max_recipients, 5);
    assert!(Config::default().owners.allowed_domains.is_empty());
    let cases = [
        ("owners: {max_recipients: 0}", "owners.max_recipients", "0"),
        (
            "owners: {allowed_domains: ['@example.com']}",
            "owners.allowed_domains[0]",
            "@example.com",
        ),
        (
            "owners: {allowed_domains: [example.com, '']}",
            "owners.allowed_domains[1]",
            "",
        ),
    ];
    assert_each_refused(&cases);
}

#[test]
fn a_grace_period_under_an_hour_needs_the_explicit_test_cluster_key() {
    let refused = problems("lifecycle: {grace_period: 5s}");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].to_string().contains("allow_short_grace_period"),
        "the message names the way out: {}",
        refused[0]
    );
    let c = load("lifecycle: {grace_period: 5s, allow_short_grace_period: true}")
        .expect("accepted with the key");
    assert_eq!(c.lifecycle.grace_period, Span::seconds(5));
    assert!(
        load("lifecycle: {grace_period: 0s, allow_short_grace_period: true}").is_err(),
        "never zero"
    );
}

#[test]
fn a_selector_is_label_matchers_and_each_mistake_is_named() {
    for good in [
        "",
        r#"cluster="prod-eu""#,
        r#"cluster="prod-eu", job="kubelet""#,
        r#"cluster=~"prod-.*",job!="cadvisor",region!~"us-.*""#,
        r#"cluster="a \"quoted\" name", "#,
        r#"  k8s_cluster = "x"  "#,
    ] {
        assert_eq!(super::values::check_selector(good), Ok(()), "{good}");
    }
    for (bad, says) in [
        (r#"{cluster="a"}"#, "without braces"),
        (r#"cluster=a"#, "double quotes"),
        (r#"cluster"#, "expected =, !=, =~ or !~ after `cluster`"),
        (r#"cluster="a"#, "no closing quote"),
        (r#"cluster="a" job="b""#, "expected a comma"),
        (
            r#"namespace="team-a""#,
            "a namespace left out would look unused",
        ),
        (r#"cluster="a", pod=~"x.*""#, "`pod` picks"),
        (r#"9cluster="a""#, "expected a label name"),
        (r#"cluster="a",,"#, "expected a label name"),
    ] {
        let error = super::values::check_selector(bad).expect_err(bad);
        assert!(error.contains(says), "{bad}: {error}");
    }
}
