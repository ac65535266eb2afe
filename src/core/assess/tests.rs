//! Unit tests of the assessment: rightsizing, cost, prices, quota and the idle verdict.

use super::*;
use crate::core::fixtures::{utc, v, Ns, GIB};
use crate::core::model::Sample;

const NOW: &str = "2026-11-21T12:00:00Z";

fn run(ns: Ns) -> Assessment {
    assess(&ns.build(), &Config::default(), utc(NOW))
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn rightsizing_gap_is_relative_to_requests_and_flags_above_threshold() {
    // (requested cores, used cores, expected gap, flagged)
    let cases = [
        (1.0, 0.5, Some(0.5), false),  // exactly 50%: not above
        (1.0, 0.4, Some(0.6), true),   // 60% unused
        (4.0, 0.2, Some(0.95), true),  // heavily over-provisioned
        (1.0, 1.5, Some(-0.5), false), // uses more than requested
        (0.05, 0.0, Some(1.0), false), // below the 100m noise floor
        (0.0, 0.3, None, false),       // nothing requested: no ratio
    ];
    for (req, used, gap, flagged) in cases {
        let a = run(Ns::new("n")
            .requests(2, req, 2.0 * GIB)
            .cpu(v(used), v(used)));
        let cpu = &a.rightsizing.cpu;
        match gap {
            Some(g) => assert!(close(cpu.gap, g), "{req}/{used}: {cpu:?}"),
            None => assert_eq!(cpu.gap, None, "{req}/{used}"),
        }
        assert_eq!(cpu.flagged, flagged, "{req}/{used}: {cpu:?}");
    }
}

#[test]
fn memory_is_flagged_on_the_same_rule_with_its_own_floor() {
    let a = run(Ns::new("n")
        .requests(1, 1.0, 8.0 * GIB)
        .memory(v(1.0 * GIB)));
    assert!(a.rightsizing.memory.flagged);
    assert!(close(a.rightsizing.memory.gap, 0.875));
    assert!(close(a.rightsizing.memory.recommended_request, 1.2 * GIB));
    let small = run(Ns::new("n")
        .requests(1, 1.0, 64.0 * 1024.0 * 1024.0)
        .memory(v(0.0)));
    assert!(
        !small.rightsizing.memory.flagged,
        "64Mi is under the 128Mi floor"
    );
}

#[test]
fn unknown_usage_is_never_flagged_and_says_why() {
    for ns in [
        Ns::new("n").prometheus_down(),
        Ns::new("n")
            .cpu(Sample::NoSeries, Sample::NoSeries)
            .memory(Sample::NoSeries),
    ] {
        let a = run(ns.requests(3, 4.0, 8.0 * GIB));
        for s in [&a.rightsizing.cpu, &a.rightsizing.memory] {
            assert_eq!(s.used, None);
            assert_eq!(s.gap, None);
            assert!(!s.flagged);
            assert!(s.unknown_reason.is_some());
        }
        assert_eq!(a.cost.used_per_hour, None);
        assert_eq!(a.cost.waste_per_hour, None);
        assert!(
            a.cost.requested_per_hour.is_some(),
            "requests are still known"
        );
    }
}

#[test]
fn cost_per_hour_follows_the_prices() {
    // 2 cores and 4 GiB requested; 0.5 cores and 1 GiB used.
    let a = run(Ns::new("n")
        .requests(2, 2.0, 4.0 * GIB)
        .cpu(v(0.5), v(0.7))
        .memory(v(GIB)));
    let (cpu, mem) = (0.031611, 0.004237);
    assert!(close(a.cost.requested_per_hour, 2.0 * cpu + 4.0 * mem));
    assert!(close(a.cost.used_per_hour, 0.5 * cpu + 1.0 * mem));
    assert!(close(a.cost.waste_per_hour, 1.5 * cpu + 3.0 * mem));
    assert_eq!(a.cost.currency, "USD");
    assert!(close(a.cost.cpu.waste, 1.5 * cpu));
    assert!(close(a.cost.memory.waste, 3.0 * mem));
    assert!(close(
        a.cost.requested_per_month,
        (2.0 * cpu + 4.0 * mem) * 730.0
    ));
    assert!(close(
        a.cost.waste_per_month,
        (1.5 * cpu + 3.0 * mem) * 730.0
    ));
}

#[test]
fn one_resource_unknown_leaves_its_line_and_the_totals_unknown() {
    let a = run(Ns::new("n")
        .requests(2, 2.0, 4.0 * GIB)
        .cpu(v(0.5), v(0.7))
        .memory(Sample::NoSeries));
    assert!(close(a.cost.cpu.waste, 1.5 * 0.031611));
    assert_eq!(a.cost.memory.waste, None);
    assert_eq!(a.cost.waste_per_hour, None);
    assert_eq!(a.cost.waste_per_month, None);
    assert!(a.cost.requested_per_month.is_some());
}

#[test]
fn opencost_prices_replace_the_configured_ones_only_when_read() {
    use crate::core::assess::resolve_prices;
    use crate::core::config::{PriceSource, Pricing};
    let configured = Pricing::default();
    let p = resolve_prices(&configured, Some(&Ok((0.05, 0.01))));
    assert_eq!((p.source, p.cpu_per_vcpu_hour), ("config", 0.031611));
    assert_eq!(p.fallback, None);

    let opencost = Pricing {
        source: PriceSource::Opencost,
        ..Pricing::default()
    };
    let p = resolve_prices(&opencost, Some(&Ok((0.05, 0.01))));
    assert_eq!(
        (p.source, p.cpu_per_vcpu_hour, p.memory_per_gib_hour),
        ("opencost", 0.05, 0.01)
    );
    let applied = p.apply(&opencost);
    assert_eq!(
        (applied.cpu_per_vcpu_hour, applied.memory_per_gib_hour),
        (0.05, 0.01)
    );

    let p = resolve_prices(&opencost, Some(&Err("no series".into())));
    assert_eq!((p.source, p.cpu_per_vcpu_hour), ("config", 0.031611));
    assert!(p
        .fallback
        .as_deref()
        .is_some_and(|f| f.contains("no series")));
    let p = resolve_prices(&opencost, None);
    assert!(p.fallback.is_some(), "never silently configured");
}

#[test]
fn waste_never_goes_negative_when_usage_exceeds_requests() {
    let a = run(Ns::new("n")
        .requests(1, 1.0, GIB)
        .cpu(v(3.0), v(3.0))
        .memory(v(2.0 * GIB)));
    assert!(close(a.cost.waste_per_hour, 0.0));
}

#[test]
fn quota_ledger_takes_the_tightest_quota_and_reports_broken_order() {
    let a = run(Ns::new("n")
        .requests(2, 3.0, 4.0 * GIB)
        .cpu(v(3.5), v(4.0))
        .memory(v(GIB))
        .quota("big", 10.0, 16.0 * GIB)
        .quota("small", 2.0, 8.0 * GIB));
    let q = &a.quota;
    assert!(q.known);
    assert_eq!(q.quotas, vec!["big", "small"]);
    assert_eq!(q.cpu.hard, Some(2.0));
    assert!(close(q.cpu.slack, -1.0));
    assert_eq!(q.cpu.violations.len(), 2, "{:?}", q.cpu.violations);
    assert!(q.cpu.violations[0].contains("above requests"));
    assert!(q.cpu.violations[1].contains("above the quota"));
    assert!(close(q.memory.slack, 4.0 * GIB));
    assert!(q.memory.violations.is_empty());
    assert!(close(q.memory.recommended, 1.2 * GIB));
}

#[test]
fn quota_ledger_without_quotas_or_when_they_cannot_be_listed() {
    let a = run(Ns::new("n"));
    assert!(a.quota.known);
    assert_eq!(a.quota.cpu.hard, None);
    let mut obs = Ns::new("n").build();
    obs.quotas = None;
    let a = assess(&obs, &Config::default(), utc(NOW));
    assert!(!a.quota.known);
}

#[test]
// long because: a table of cases, one per rule of the idle verdict, read top to bottom.
fn idle_needs_every_signal_below_threshold_over_a_fully_covered_window() {
    // (rule, namespace, expected verdict)
    let cases = [
        (
            "all quiet for the whole window",
            Ns::new("n").unused(),
            Verdict::Idle,
        ),
        (
            "empty namespace with no series and no pods",
            Ns::new("n")
                .requests(0, 0.0, 0.0)
                .cpu(Sample::NoSeries, Sample::NoSeries)
                .memory(Sample::NoSeries)
                .network(Sample::NoSeries),
            Verdict::Idle,
        ),
        ("busy CPU", Ns::new("n"), Verdict::Active),
        (
            "quiet CPU, busy network",
            Ns::new("n").unused().network(v(1e6)),
            Verdict::Active,
        ),
        (
            "busy CPU even with network missing",
            Ns::new("n").network(Sample::unavailable("timeout")),
            Verdict::Active,
        ),
        (
            "Prometheus down",
            Ns::new("n").prometheus_down(),
            Verdict::Unknown,
        ),
        (
            "network missing",
            Ns::new("n")
                .unused()
                .network(Sample::unavailable("timeout")),
            Verdict::Unknown,
        ),
        (
            "no series while pods run",
            Ns::new("n")
                .cpu(Sample::NoSeries, Sample::NoSeries)
                .network(Sample::NoSeries),
            Verdict::Unknown,
        ),
        (
            "no series and pods unknown",
            Ns::new("n")
                .pods_unknown()
                .cpu(Sample::NoSeries, Sample::NoSeries)
                .network(Sample::NoSeries),
            Verdict::Unknown,
        ),
        (
            "younger than the window",
            Ns::new("n").unused().created("2026-11-18T00:00:00Z"),
            Verdict::Unknown,
        ),
        (
            "history shorter than the window",
            Ns::new("n")
                .unused()
                .history_since(Some("2026-11-19T00:00:00Z")),
            Verdict::Unknown,
        ),
        (
            "history depth unknown",
            Ns::new("n").unused().history_since(None),
            Verdict::Unknown,
        ),
        (
            "brand new but busy",
            Ns::new("n").created("2026-11-21T11:00:00Z"),
            Verdict::Active,
        ),
    ];
    for (rule, ns, expected) in cases {
        let a = run(ns);
        assert_eq!(a.idle.verdict, expected, "{rule}: {}", a.idle.summary);
        assert_eq!(
            a.idle.evidence.len(),
            2,
            "{rule}: both signals are always shown"
        );
        assert_eq!(a.idle.since, utc("2026-11-14T12:00:00Z"));
    }
}

#[test]
fn idle_evidence_names_values_thresholds_and_missing_reasons() {
    let a = run(Ns::new("n")
        .unused()
        .network(Sample::unavailable("query timed out")));
    let cpu = &a.idle.evidence[0];
    assert_eq!((cpu.signal.as_str(), cpu.status.as_str()), ("cpu", "below"));
    assert_eq!(cpu.value, Some(0.001));
    assert_eq!(cpu.threshold, 0.01);
    let net = &a.idle.evidence[1];
    assert_eq!(
        (net.signal.as_str(), net.status.as_str()),
        ("network", "missing")
    );
    assert!(net
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("query timed out"));
    assert!(a.idle.summary.contains("network"), "{}", a.idle.summary);
}

#[test]
fn malformed_expiry_becomes_a_finding_for_the_owner() {
    let a = run(Ns::new("n").label("kube-reclaimer.io/expires", "31-12-2026"));
    assert!(matches!(a.expiry, Expiry::Malformed { .. }));
    assert_eq!(a.findings.len(), 1);
    assert_eq!(a.findings[0].key, "kube-reclaimer.io/expires");
    assert_eq!(a.findings[0].value, "31-12-2026");
}

#[test]
fn protection_is_part_of_the_assessment() {
    assert!(run(Ns::new("kube-system")).protected.is_some());
    assert!(
        run(Ns::new("scratch").label("kube-reclaimer.io/protected", "true"))
            .protected
            .is_some()
    );
    assert!(run(Ns::new("scratch")).protected.is_none());
}
