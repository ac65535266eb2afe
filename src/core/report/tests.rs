//! The reports as built, without rendering; and the helpers the rendering tests in
//! `render::report` build their reports with.

use super::*;
use crate::core::collected::{Collected, SourceReport, SourceStatus, Sources};
use crate::core::config::ReclaimBy;
use crate::core::evaluate::evaluate;
use crate::core::fixtures::{utc, Ns, GIB};
use crate::core::ledger::{Entry, Ledger};
use crate::core::model::{Observation, Sample};

pub(crate) const AT: &str = "2026-11-23T08:00:00Z";
pub(crate) const TEAM: &str = "kube-reclaimer.io/team";
pub(crate) const EXPIRES: &str = "kube-reclaimer.io/expires";
pub(crate) const CPU_PRICE: f64 = 0.031611;
pub(crate) const MEM_PRICE: f64 = 0.004237;

pub(crate) fn config(extra: &str) -> Config {
    Config::from_yaml(
        &format!(
            "owners:
  teams:
    payments: [pay@example.com]
    search: [search@example.com, search-lead@example.com]
    ghosts: [ghosts@example.com]
  fallback_recipients: [platform@example.com]
reports: {{finops_recipients: [finops@example.com]}}
{extra}"
        ),
        "test",
    )
    .unwrap()
}

pub(crate) fn evaluation(observations: Vec<Observation>, config: &Config) -> Evaluation {
    let prometheus_down = observations
        .iter()
        .all(|o| matches!(o.usage.cpu_quantile_cores, Sample::Unavailable { .. }));
    let sources = Sources {
        kubernetes: SourceReport {
            status: SourceStatus::Ok,
            requests: 3,
            problems: vec![],
        },
        prometheus: if prometheus_down {
            SourceReport {
                status: SourceStatus::Unavailable,
                requests: 5,
                problems: vec!["connection refused".into()],
            }
        } else {
            SourceReport {
                status: SourceStatus::Ok,
                requests: 5,
                problems: vec![],
            }
        },
        prometheus_series: Vec::new(),
    };
    evaluate(
        Collected {
            observations,
            opencost: None,
            sources,
            pods_seen: 0,
        },
        config,
        utc(AT),
    )
}

pub(crate) fn ledger(entries: Vec<Entry>) -> Ledger {
    Ledger::of("/t/reclaimed.jsonl", entries)
}

pub(crate) fn entry(namespace: &str, team: Option<&str>, at: DateTime<Utc>) -> Entry {
    Entry {
        at,
        namespace: namespace.into(),
        uid: format!("uid-{namespace}"),
        team: team.map(String::from),
        cause: Reason::Expired,
        by: ReclaimBy::Delete,
        tombstone: Some(format!("/t/{namespace}.yaml")),
        requested_cost_per_hour: Some(0.25),
        currency: "USD".into(),
    }
}

pub(crate) fn team(ns: &str, team: &str) -> Ns {
    Ns::new(ns).label(TEAM, team)
}

pub(crate) fn names(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.namespace.as_str()).collect()
}

#[test]
fn idle_or_pending_cost_is_the_requested_cost_of_idle_and_marked_namespaces() {
    let c = config("");
    let at = crate::core::model::rfc3339(utc(AT) - TimeDelta::days(1));
    let e = evaluation(
        vec![
            // Idle: marked by this evaluation.
            team("idle", "payments")
                .unused()
                .requests(1, 1.0, 2.0 * GIB)
                .build(),
            // Marked earlier for expiry, still standing.
            team("marked", "payments")
                .requests(1, 2.0, 2.0 * GIB)
                .annotation(EXPIRES, "2026-11-20T00:00:00Z")
                .ours()
                .annotation("kube-reclaimer.io/marked-at", &at)
                .annotation("kube-reclaimer.io/notified-at", &at)
                .annotation("kube-reclaimer.io/reclaim-after", &at)
                .annotation("kube-reclaimer.io/reason", "expired")
                .build(),
            // Marked, but the owner extended it: the mark goes.
            team("extended", "payments")
                .annotation(EXPIRES, "2027-01-20T00:00:00Z")
                .ours()
                .annotation("kube-reclaimer.io/marked-at", &at)
                .annotation("kube-reclaimer.io/notified-at", &at)
                .annotation("kube-reclaimer.io/reclaim-after", &at)
                .annotation("kube-reclaimer.io/reason", "expired")
                .build(),
            team("busy", "payments").build(),
        ],
        &c,
    );
    let r = build(&e, &ledger(vec![]), &c);
    let t = &r.teams[0].totals;
    assert_eq!(t.idle_or_pending, 2);
    let by_hand = (1.0 + 2.0) * CPU_PRICE + (2.0 + 2.0) * MEM_PRICE;
    assert!((t.idle_or_pending_per_hour.exact().unwrap() - by_hand).abs() < 1e-12);
    assert_eq!(r.finops.totals.idle_or_pending, 2);
}
