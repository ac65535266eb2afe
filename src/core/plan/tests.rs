//! Unit tests of the planner: one case per state and transition of the lifecycle.

use super::*;
use crate::core::assess::assess;
use crate::core::fixtures::{utc, Ns};

const EXPIRES: &str = "kube-reclaimer.io/expires";
const NOW: &str = "2026-11-21T12:00:00Z";

fn config() -> Config {
    Config::from_yaml(
        "mode: enforce
owners:
  teams: {payments: [pay@example.com]}
  fallback_recipients: [platform@example.com]
",
        "test",
    )
    .unwrap()
}

fn plan_at(ns: Ns, l: &Lifecycle, config: &Config, now: &str) -> NamespacePlan {
    let a = assess(&ns.build(), config, utc(now));
    plan_namespace(&a, l, config, utc(now))
}

fn kinds(p: &NamespacePlan) -> Vec<&'static str> {
    p.actions
        .iter()
        .map(|a| match a.kind {
            ActionKind::Remind { .. } => "remind",
            ActionKind::Mark { .. } => "mark",
            ActionKind::Unmark => "unmark",
            ActionKind::Wake => "wake",
            ActionKind::Reclaim { .. } => "reclaim",
            ActionKind::ReclaimDeferred { .. } => "reclaim_deferred",
            ActionKind::ReportFindings { .. } => "report_findings",
            ActionKind::Alert => "alert",
        })
        .collect()
}

fn marked(reason: Reason, at: &str) -> Lifecycle {
    let at = utc(at);
    Lifecycle {
        mark: Some(Mark {
            reason,
            marked_at: at,
            notified_at: at,
            reclaim_after: at + chrono::TimeDelta::days(3),
        }),
        ..Lifecycle::default()
    }
}

/// Expires at 2026-12-01T00:00:00Z (valid through 2026-11-30).
fn expiring() -> Ns {
    Ns::new("team-a").label(EXPIRES, "2026-11-30")
}

#[test]
fn protected_namespaces_get_no_action_even_when_expired_and_marked() {
    let c = config();
    for ns in [
        Ns::new("kube-system").label(EXPIRES, "2020-01-01"),
        Ns::new("scratch")
            .label(EXPIRES, "2020-01-01")
            .label("kube-reclaimer.io/protected", "true"),
        Ns::new("kube-reclaimer").unused(),
    ] {
        let p = plan_at(
            ns,
            &marked(Reason::Expired, "2026-01-01T00:00:00Z"),
            &c,
            NOW,
        );
        assert_eq!(p.state, State::Protected);
        assert!(p.actions.is_empty(), "{p:?}");
        assert!(p.notes[0].starts_with("protected: "));
    }
}

#[test]
fn reminders_follow_the_offsets_once_each() {
    let c = config();
    let none = Lifecycle::default();
    // (now, lifecycle, expected reminder offset or none)
    let sent_7d = none.after(
        &ActionKind::Remind {
            offset: Span::days(7),
            expires_at: utc("2026-12-01T00:00:00Z"),
            covers: vec![Span::days(7)],
        },
        utc("2026-11-24T00:00:00Z"),
    );
    let cases = [
        ("2026-11-23T00:00:00Z", &none, None),
        ("2026-11-24T00:00:00Z", &none, Some(Span::days(7))),
        ("2026-11-26T00:00:00Z", &sent_7d, None),
        ("2026-11-30T00:00:00Z", &sent_7d, Some(Span::days(1))),
    ];
    for (now, l, expected) in cases {
        let p = plan_at(expiring(), l, &c, now);
        let got = p.actions.iter().find_map(|a| match &a.kind {
            ActionKind::Remind { offset, .. } => Some(*offset),
            _ => None,
        });
        assert_eq!(got, expected, "at {now}");
        if expected.is_some() {
            assert_eq!(p.state, State::Expiring);
            assert_eq!(p.actions[0].recipients, vec!["platform@example.com"]);
        }
    }
}

#[test]
fn after_downtime_only_the_most_recent_due_reminder_is_sent() {
    let p = plan_at(
        expiring(),
        &Lifecycle::default(),
        &config(),
        "2026-11-30T18:00:00Z",
    );
    assert_eq!(kinds(&p), vec!["remind"]);
    match &p.actions[0].kind {
        ActionKind::Remind { offset, covers, .. } => {
            assert_eq!(*offset, Span::days(1));
            assert_eq!(covers, &vec![Span::days(7), Span::days(1)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_new_expiry_date_starts_reminders_afresh() {
    let l = Lifecycle {
        reminders: Some(Reminders {
            expires_at: utc("2026-11-25T00:00:00Z"),
            sent: vec![Span::days(7), Span::days(1)],
        }),
        ..Lifecycle::default()
    };
    let p = plan_at(expiring(), &l, &config(), "2026-11-25T00:00:00Z");
    assert_eq!(kinds(&p), vec!["remind"]);
}

#[test]
fn an_expired_namespace_is_marked_with_a_grace_period_and_owners_told() {
    let ns = Ns::new("pay-dev")
        .label(EXPIRES, "2026-11-20")
        .label("kube-reclaimer.io/team", "payments");
    let p = plan_at(ns, &Lifecycle::default(), &config(), NOW);
    assert_eq!(kinds(&p), vec!["mark"]);
    assert_eq!(
        p.state,
        State::Expired,
        "marked only once the mark is carried out"
    );
    assert_eq!(
        p.actions[0].kind,
        ActionKind::Mark {
            cause: Reason::Expired,
            reclaim_after: utc("2026-11-24T12:00:00Z")
        }
    );
    assert_eq!(p.actions[0].recipients, vec!["pay@example.com"]);
    assert!(
        p.actions[0].reason.contains("expired 2026-11-21T00:00:00Z"),
        "{}",
        p.actions[0].reason
    );
}

#[test]
fn a_marked_namespace_is_reclaimed_only_after_the_full_grace_period() {
    let c = config();
    let ns = || Ns::new("old").label(EXPIRES, "2026-11-01");
    let l = marked(Reason::Expired, "2026-11-18T12:00:01Z");
    let p = plan_at(ns(), &l, &c, NOW);
    assert!(p.actions.is_empty(), "one second short: {p:?}");
    assert_eq!(p.state, State::Marked);
    let p = plan_at(ns(), &l, &c, "2026-11-21T12:00:01Z");
    assert_eq!(kinds(&p), vec!["reclaim"]);
    assert_eq!(p.state, State::Due);
    assert_eq!(
        p.actions[0].kind,
        ActionKind::Reclaim {
            cause: Reason::Expired,
            uid: "uid-old".into(),
            by: crate::core::config::ReclaimBy::Delete,
        }
    );
}

#[test]
fn a_longer_grace_period_in_config_also_protects_existing_marks() {
    let mut c = config();
    c.lifecycle.grace_period = Span::days(5);
    let p = plan_at(
        Ns::new("old").label(EXPIRES, "2026-11-01"),
        &marked(Reason::Expired, "2026-11-17T00:00:00Z"),
        &c,
        NOW,
    );
    assert!(p.actions.is_empty(), "{p:?}");
}

#[test]
fn the_mark_goes_when_its_reason_goes() {
    let c = config();
    // (rule, namespace, mark reason, note expected in the unmark reason)
    let cases = [
        (
            "expiry extended",
            Ns::new("a").label(EXPIRES, "2027-01-31"),
            Reason::Expired,
            "expiry extended",
        ),
        ("expiry removed", Ns::new("a"), Reason::Expired, "removed"),
        (
            "expiry made unreadable",
            Ns::new("a").label(EXPIRES, "soon"),
            Reason::Expired,
            "can no longer be read",
        ),
        (
            "activity resumed",
            Ns::new("a"),
            Reason::Idle,
            "activity resumed",
        ),
        (
            "future expiry set on an idle one",
            Ns::new("a").unused().label(EXPIRES, "2027-01-31"),
            Reason::Idle,
            "expiry in the future",
        ),
    ];
    for (rule, ns, reason, why) in cases {
        let p = plan_at(ns, &marked(reason, "2026-11-15T00:00:00Z"), &c, NOW);
        let unmark = p.actions.iter().find(|a| a.kind == ActionKind::Unmark);
        assert!(
            unmark.is_some_and(|a| a.reason.contains(why)),
            "{rule}: {p:?}"
        );
        assert!(!kinds(&p).contains(&"reclaim"), "{rule}");
    }
}

#[test]
fn idle_namespaces_are_marked_unless_a_future_expiry_or_config_says_otherwise() {
    let c = config();
    let p = plan_at(Ns::new("quiet").unused(), &Lifecycle::default(), &c, NOW);
    assert_eq!(kinds(&p), vec!["mark"]);
    assert!(matches!(
        p.actions[0].kind,
        ActionKind::Mark {
            cause: Reason::Idle,
            ..
        }
    ));
    let p = plan_at(
        Ns::new("quiet").unused().label(EXPIRES, "2027-06-30"),
        &Lifecycle::default(),
        &c,
        NOW,
    );
    assert!(p.actions.is_empty(), "{p:?}");
    let mut off = config();
    off.idle.reclaim = false;
    let p = plan_at(Ns::new("quiet").unused(), &Lifecycle::default(), &off, NOW);
    assert!(p.actions.is_empty());
    assert_eq!(p.state, State::Idle);
}

#[test]
fn unknown_idleness_never_marks_or_reclaims_but_keeps_an_existing_mark() {
    let c = config();
    let p = plan_at(
        Ns::new("q").prometheus_down(),
        &Lifecycle::default(),
        &c,
        NOW,
    );
    assert!(p.actions.is_empty(), "{p:?}");
    let p = plan_at(
        Ns::new("q").prometheus_down(),
        &marked(Reason::Idle, "2026-11-01T00:00:00Z"),
        &c,
        NOW,
    );
    assert!(
        p.actions.is_empty(),
        "neither reclaimed nor unmarked: {p:?}"
    );
    assert_eq!(p.state, State::Marked);
    assert!(
        p.notes.iter().any(|n| n.contains("cannot be confirmed")),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_still_idle_marked_namespace_is_reclaimed_after_grace() {
    let p = plan_at(
        Ns::new("q").unused(),
        &marked(Reason::Idle, "2026-11-10T00:00:00Z"),
        &config(),
        NOW,
    );
    assert_eq!(kinds(&p), vec!["reclaim"]);
}

#[test]
fn a_mark_for_another_reason_is_renewed_with_a_fresh_notice() {
    let ns = Ns::new("q").unused().label(EXPIRES, "2026-11-20");
    let p = plan_at(
        ns,
        &marked(Reason::Idle, "2026-11-10T00:00:00Z"),
        &config(),
        NOW,
    );
    assert_eq!(kinds(&p), vec!["mark"]);
    assert!(matches!(
        p.actions[0].kind,
        ActionKind::Mark {
            cause: Reason::Expired,
            ..
        }
    ));
}

#[test]
fn malformed_values_are_reported_once_and_never_reclaimed_for() {
    let c = config();
    let ns = || Ns::new("typo").label(EXPIRES, "30-11-2026").unused();
    let mut idle_off = config();
    idle_off.idle.reclaim = false;
    let p = plan_at(ns(), &Lifecycle::default(), &idle_off, NOW);
    assert_eq!(kinds(&p), vec!["report_findings"]);
    let l = Lifecycle::default().after(&p.actions[0].kind, utc(NOW));
    let p = plan_at(ns(), &l, &idle_off, NOW);
    assert!(p.actions.is_empty(), "reported already: {p:?}");
    let changed = Ns::new("typo").label(EXPIRES, "31-11-2026");
    let p = plan_at(changed, &l, &c, NOW);
    assert_eq!(
        kinds(&p),
        vec!["report_findings"],
        "a new bad value is reported again"
    );
    let p = plan_at(ns(), &l, &c, NOW);
    assert!(
        matches!(
            p.actions[0].kind,
            ActionKind::Mark {
                cause: Reason::Idle,
                ..
            }
        ),
        "idle still counts: {p:?}"
    );
}

#[test]
fn opting_out_removes_a_mark_and_prevents_new_ones() {
    let c = config();
    let ns = || Ns::new("keep").label(EXPIRES, "never").unused();
    let p = plan_at(ns(), &marked(Reason::Idle, "2026-11-01T00:00:00Z"), &c, NOW);
    assert_eq!(kinds(&p), vec!["unmark"]);
    assert_eq!(p.state, State::OptedOut);
    let p = plan_at(ns(), &Lifecycle::default(), &c, NOW);
    assert!(p.actions.is_empty());
}

#[test]
fn with_nobody_to_tell_nothing_is_marked_and_an_alert_is_raised() {
    let mut c = config();
    c.owners.fallback_recipients.clear();
    let p = plan_at(
        Ns::new("orphan").label(EXPIRES, "2026-11-01"),
        &Lifecycle::default(),
        &c,
        NOW,
    );
    assert_eq!(kinds(&p), vec!["alert"]);
    assert!(!p.actions[0].execute);
    assert_eq!(p.state, State::Expired);
    assert!(p.actions[0].reason.contains("nobody can be told"));
}

#[test]
fn at_most_the_configured_number_of_reclaims_per_cycle_earliest_first() {
    let mut c = config();
    c.lifecycle.max_reclaims_per_cycle = 2;
    let items: Vec<(Assessment, Lifecycle)> = (0..4)
        .map(|i| {
            let ns = Ns::new(&format!("old-{i}")).label(EXPIRES, "2026-11-01");
            let a = assess(&ns.build(), &c, utc(NOW));
            (
                a,
                marked(Reason::Expired, &format!("2026-11-1{}T00:00:00Z", 5 - i)),
            )
        })
        .collect();
    let plan = plan(&items, &c, utc(NOW));
    let reclaimed: Vec<&str> = plan
        .namespaces
        .iter()
        .filter(|p| kinds(p) == ["reclaim"])
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(reclaimed, vec!["old-2", "old-3"]);
    let deferred = plan
        .namespaces
        .iter()
        .filter(|p| kinds(p) == ["reclaim_deferred"])
        .count();
    assert_eq!(deferred, 2);
}

#[test]
fn dry_run_plans_the_same_actions_and_executes_none() {
    let mut dry = config();
    dry.mode = Mode::DryRun;
    let items: Vec<(Assessment, Lifecycle)> = [
        (
            Ns::new("a").label(EXPIRES, "2026-11-01"),
            Lifecycle::default(),
        ),
        (
            Ns::new("b").label(EXPIRES, "2026-11-01"),
            marked(Reason::Expired, "2026-11-10T00:00:00Z"),
        ),
        (expiring(), Lifecycle::default()),
    ]
    .into_iter()
    .map(|(ns, l)| (assess(&ns.build(), &dry, utc(NOW)), l))
    .collect();
    let enforced = plan(&items, &config(), utc(NOW));
    let dry_plan = plan(&items, &dry, utc(NOW));
    assert!(dry_plan.dry_run && !enforced.dry_run);
    assert_eq!(dry_plan.namespaces.len(), enforced.namespaces.len());
    for (d, e) in dry_plan.namespaces.iter().zip(&enforced.namespaces) {
        assert_eq!(kinds(d), kinds(e));
        assert!(d.actions.iter().all(|a| !a.execute));
        assert!(e.actions.iter().all(|a| a.execute));
    }
    assert_eq!(kinds(&dry_plan.namespaces[0]), vec!["mark"]);
    assert_eq!(kinds(&dry_plan.namespaces[1]), vec!["reclaim"]);
}

#[test]
fn actions_serialize_with_a_kind_and_their_fields() {
    let p = plan_at(
        Ns::new("old").label(EXPIRES, "2026-11-01"),
        &Lifecycle::default(),
        &config(),
        NOW,
    );
    let text = serde_json::to_string(&p.actions[0]).unwrap();
    assert_eq!(
        text.matches("\"reason\":").count(),
        1,
        "one reason key: {text}"
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["kind"], "mark");
    assert_eq!(json["cause"], "expired");
    assert_eq!(
        json["reason"].as_str().map(|r| r.starts_with("expired")),
        Some(true)
    );
    assert_eq!(json["reclaim_after"], "2026-11-24T12:00:00Z");
    assert_eq!(json["execute"], true);
}

#[test]
fn in_sleep_mode_a_due_namespace_sleeps_until_its_owner_extends_it() {
    let mut c = config();
    c.lifecycle.reclaim_by = crate::core::config::ReclaimBy::Sleep;
    let expired = || Ns::new("old").label(EXPIRES, "2026-11-01");
    let p = plan_at(
        expired(),
        &marked(Reason::Expired, "2026-11-10T00:00:00Z"),
        &c,
        NOW,
    );
    assert_eq!(
        p.actions[0].kind,
        ActionKind::Reclaim {
            cause: Reason::Expired,
            uid: "uid-old".into(),
            by: crate::core::config::ReclaimBy::Sleep,
        }
    );
    let asleep =
        marked(Reason::Expired, "2026-11-10T00:00:00Z").after(&p.actions[0].kind, utc(NOW));
    assert_eq!(asleep.sleeping_since, Some(utc(NOW)));
    let later = "2026-11-25T00:00:00Z";
    let p = plan_at(expired(), &asleep, &c, later);
    assert!(p.actions.is_empty(), "stays asleep: {p:?}");
    assert_eq!(p.state, State::Sleeping);
    for (rule, ns) in [
        ("extended", Ns::new("old").label(EXPIRES, "2027-03-01")),
        ("opted out", Ns::new("old").label(EXPIRES, "never")),
    ] {
        let p = plan_at(ns, &asleep, &c, later);
        assert_eq!(kinds(&p), vec!["wake"], "{rule}");
        let awake = asleep.after(&p.actions[0].kind, utc(later));
        assert_eq!((awake.mark, awake.sleeping_since), (None, None), "{rule}");
    }
}

#[test]
fn a_namespace_restored_with_an_old_mark_is_marked_afresh_and_its_owners_told() {
    // Restored from its tombstone (or by a backup tool): our annotations came back, the
    // uid is new. A mark from 2026-11-01 would be long due on 2026-11-21.
    let c = config();
    let ns = Ns::new("restored")
        .label(EXPIRES, "2026-11-01")
        .annotation("kube-reclaimer.io/marked-at", "2026-11-01T00:00:00Z")
        .annotation("kube-reclaimer.io/notified-at", "2026-11-01T00:00:00Z")
        .annotation("kube-reclaimer.io/reclaim-after", "2026-11-04T00:00:00Z")
        .annotation("kube-reclaimer.io/reason", "expired")
        .annotation("kube-reclaimer.io/uid", "uid-of-the-deleted-one")
        .build();
    let a = assess(&ns, &c, utc(NOW));
    let l = Lifecycle::of(&ns.namespace, &c.keys.state_prefix);
    let p = plan_namespace(&a, &l, &c, utc(NOW));
    assert_eq!(kinds(&p), vec!["mark"], "{p:?}");
    assert!(!p.actions[0].recipients.is_empty(), "the owners are told");
    assert!(
        p.notes.iter().any(|n| n.contains("uid-of-the-deleted-one")),
        "{p:?}"
    );
    // The same annotations without a uid (written by an earlier version): also void.
    let mut ns = ns;
    ns.namespace.annotations.remove("kube-reclaimer.io/uid");
    let l = Lifecycle::of(&ns.namespace, &c.keys.state_prefix);
    assert_eq!(kinds(&plan_namespace(&a, &l, &c, utc(NOW))), vec!["mark"]);
}

#[test]
fn copied_state_on_a_namespace_with_no_cause_is_removed() {
    let c = config();
    let ns = expiring()
        .annotation(
            "kube-reclaimer.io/reminders",
            r#"{"expires_at":"2026-12-01T00:00:00Z","sent":["7d","1d"]}"#,
        )
        .annotation("kube-reclaimer.io/uid", "someone-else")
        .build();
    let a = assess(&ns, &c, utc("2026-11-10T00:00:00Z"));
    let l = Lifecycle::of(&ns.namespace, &c.keys.state_prefix);
    let p = plan_namespace(&a, &l, &c, utc("2026-11-10T00:00:00Z"));
    assert_eq!(kinds(&p), vec!["unmark"], "{p:?}");
    // Its reminders were another namespace's: this one is reminded in its own right.
    let p = plan_namespace(&a, &l, &c, utc("2026-11-25T00:00:00Z"));
    assert!(kinds(&p).contains(&"remind"), "{p:?}");
}

#[test]
fn a_notice_older_than_notice_max_age_is_sent_again_before_any_reclamation() {
    let c = config();
    assert_eq!(c.lifecycle.notice_max_age, Span::days(14));
    let ns = || Ns::new("quiet").unused();
    // Marked idle 20 days ago; idleness was unknown for weeks, now it is confirmed again.
    let l = marked(Reason::Idle, "2026-11-01T12:00:00Z");
    let p = plan_at(ns(), &l, &c, NOW);
    assert_eq!(kinds(&p), vec!["mark"], "told again, not reclaimed: {p:?}");
    assert!(p.actions[0].reason.contains("told again"), "{p:?}");
    let ActionKind::Mark { reclaim_after, .. } = p.actions[0].kind else {
        unreachable!()
    };
    assert_eq!(reclaim_after, utc(NOW) + chrono::TimeDelta::days(3));
    // Within the bound, it is reclaimed as before.
    let l = marked(Reason::Idle, "2026-11-10T12:00:00Z");
    assert_eq!(kinds(&plan_at(ns(), &l, &c, NOW)), vec!["reclaim"]);
}

#[test]
fn replicas_recorded_before_a_scale_down_always_lead_to_a_wake_once_the_reason_goes() {
    let mut c = config();
    c.lifecycle.reclaim_by = crate::core::config::ReclaimBy::Sleep;
    let record = std::collections::BTreeMap::from([("Deployment/web".to_string(), 3)]);
    // Scaled down (or partly), the sleep itself never recorded: no `sleeping-since`.
    let scaled = Lifecycle {
        replicas: Some(record.clone()),
        ..marked(Reason::Expired, "2026-11-10T00:00:00Z")
    };
    let unmarked = Lifecycle {
        replicas: Some(record),
        ..Lifecycle::default()
    };
    for (rule, ns, l) in [
        (
            "extended",
            Ns::new("old").label(EXPIRES, "2027-03-01"),
            &scaled,
        ),
        ("opted out", Ns::new("old").label(EXPIRES, "never"), &scaled),
        (
            "mark removed by hand",
            Ns::new("old").label(EXPIRES, "2027-03-01"),
            &unmarked,
        ),
    ] {
        let p = plan_at(ns, l, &c, NOW);
        assert_eq!(kinds(&p), vec!["wake"], "{rule}: {p:?}");
        let awake = l.after(&p.actions[0].kind, utc(NOW));
        assert_eq!(
            (awake.mark, awake.sleeping_since, awake.replicas),
            (None, None, None),
            "{rule}"
        );
    }
    // The reason still holds: the sleep is carried out again, the record kept.
    let p = plan_at(
        Ns::new("old").label(EXPIRES, "2026-11-01"),
        &scaled,
        &c,
        NOW,
    );
    assert_eq!(kinds(&p), vec!["reclaim"], "{p:?}");
    assert_eq!(
        scaled.after(&p.actions[0].kind, utc(NOW)).replicas,
        scaled.replicas
    );
}

/// 10 GiB, bound, StorageClass standard, reclaim policy Delete.
fn with_volume(ns: Ns) -> Ns {
    ns.volume(
        "data",
        10.0 * crate::core::fixtures::GIB,
        "standard",
        "Delete",
    )
}

#[test]
fn an_idle_namespace_with_bound_volumes_is_never_marked_by_default() {
    let c = config();
    let p = plan_at(
        with_volume(Ns::new("db").unused()),
        &Lifecycle::default(),
        &c,
        NOW,
    );
    assert!(p.actions.is_empty(), "{p:?}");
    assert_eq!(p.state, State::Idle);
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("1 bound PersistentVolumeClaim")
                && n.contains("lifecycle.reclaim_with_volumes.idle")),
        "{:?}",
        p.notes
    );
    // Configured per cause.
    let mut allow = config();
    allow.lifecycle.reclaim_with_volumes.idle = true;
    let p = plan_at(
        with_volume(Ns::new("db").unused()),
        &Lifecycle::default(),
        &allow,
        NOW,
    );
    assert_eq!(kinds(&p), vec!["mark"]);
    // A claim no volume is bound to holds no data.
    let pending = Ns::new("db").unused().pending_claim("data", 1e9);
    let p = plan_at(pending, &Lifecycle::default(), &c, NOW);
    assert_eq!(kinds(&p), vec!["mark"]);
}

#[test]
fn an_idle_mark_is_removed_not_reclaimed_once_the_namespace_holds_volumes() {
    let p = plan_at(
        with_volume(Ns::new("db").unused()),
        &marked(Reason::Idle, "2026-11-10T00:00:00Z"),
        &config(),
        NOW,
    );
    assert_eq!(kinds(&p), vec!["unmark"], "{p:?}");
    assert!(
        p.actions[0].reason.contains("PersistentVolumeClaim"),
        "{p:?}"
    );
}

#[test]
fn unknown_volumes_are_never_evidence_for_an_idle_reclaim() {
    let c = config();
    let unknown = || Ns::new("db").unused().volumes_unknown();
    let p = plan_at(unknown(), &Lifecycle::default(), &c, NOW);
    assert!(p.actions.is_empty(), "not marked: {p:?}");
    assert!(
        p.notes.iter().any(|n| n.contains("cannot be listed")),
        "{:?}",
        p.notes
    );
    // An existing mark stands, but nothing is reclaimed until the claims are known.
    let p = plan_at(
        unknown(),
        &marked(Reason::Idle, "2026-11-10T00:00:00Z"),
        &c,
        NOW,
    );
    assert!(p.actions.is_empty(), "kept, not reclaimed: {p:?}");
    assert_eq!(p.state, State::Marked);
}

#[test]
fn expired_namespaces_with_volumes_are_reclaimed_unless_configured_otherwise() {
    let expired = || with_volume(Ns::new("old").label(EXPIRES, "2026-11-01"));
    let due = marked(Reason::Expired, "2026-11-10T00:00:00Z");
    assert_eq!(
        kinds(&plan_at(expired(), &due, &config(), NOW)),
        vec!["reclaim"]
    );
    let mut keep = config();
    keep.lifecycle.reclaim_with_volumes.expired = false;
    assert_eq!(kinds(&plan_at(expired(), &due, &keep, NOW)), vec!["unmark"]);
    let p = plan_at(expired(), &Lifecycle::default(), &keep, NOW);
    assert!(p.actions.is_empty(), "{p:?}");
    assert_eq!(p.state, State::Expired);
}

#[test]
fn sleep_mode_keeps_volumes_so_idle_namespaces_with_volumes_sleep() {
    let mut c = config();
    c.lifecycle.reclaim_by = crate::core::config::ReclaimBy::Sleep;
    let p = plan_at(
        with_volume(Ns::new("db").unused()),
        &marked(Reason::Idle, "2026-11-10T00:00:00Z"),
        &c,
        NOW,
    );
    assert_eq!(kinds(&p), vec!["reclaim"]);
}

#[test]
fn a_terminating_namespace_gets_no_action_and_shows_as_terminating() {
    let p = plan_at(
        Ns::new("old")
            .label(EXPIRES, "2026-11-01")
            .terminating("2026-11-20T08:00:00Z"),
        &marked(Reason::Expired, "2026-11-05T00:00:00Z"),
        &config(),
        NOW,
    );
    assert_eq!(p.state, State::Terminating);
    assert!(p.actions.is_empty(), "{p:?}");
    assert!(p.notes[0].contains("2026-11-20T08:00:00Z"), "{:?}", p.notes);
}

#[test]
fn terminating_namespaces_do_not_count_against_the_reclaim_limit() {
    let mut c = config();
    c.lifecycle.max_reclaims_per_cycle = 1;
    let stuck = Ns::new("stuck")
        .label(EXPIRES, "2026-11-01")
        .terminating("2026-11-06T00:00:00Z");
    let due = Ns::new("due").label(EXPIRES, "2026-11-01");
    let items: Vec<(Assessment, Lifecycle)> = [
        (stuck, "2026-11-01T00:00:00Z"),
        (due, "2026-11-10T00:00:00Z"),
    ]
    .into_iter()
    .map(|(ns, at)| {
        (
            assess(&ns.build(), &c, utc(NOW)),
            marked(Reason::Expired, at),
        )
    })
    .collect();
    let plan = plan(&items, &c, utc(NOW));
    assert_eq!(kinds(&plan.namespaces[0]), Vec::<&str>::new());
    assert_eq!(kinds(&plan.namespaces[1]), vec!["reclaim"]);
}

/// The serialized name of a unit variant, or the `kind` tag of a tagged one.
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value).unwrap() {
        serde_json::Value::String(s) => s,
        serde_json::Value::Object(o) => o["kind"].as_str().unwrap().to_string(),
        other => panic!("not a name: {other}"),
    }
}

#[test]
fn each_action_kind_is_named_as_serialized() {
    let at = utc(NOW);
    let all = [
        ActionKind::Remind {
            offset: Span::days(1),
            expires_at: at,
            covers: vec![],
        },
        ActionKind::Mark {
            cause: Reason::Idle,
            reclaim_after: at,
        },
        ActionKind::Unmark,
        ActionKind::Reclaim {
            cause: Reason::Expired,
            uid: "u".into(),
            by: ReclaimBy::Delete,
        },
        ActionKind::Wake,
        ActionKind::ReclaimDeferred {
            cause: Reason::Idle,
        },
        ActionKind::ReportFindings {
            findings: vec![],
            fingerprint: String::new(),
        },
        ActionKind::Alert,
    ];
    for kind in &all {
        // Exhaustive: a new variant does not compile here until it is listed above.
        match kind {
            ActionKind::Remind { .. }
            | ActionKind::Mark { .. }
            | ActionKind::Unmark
            | ActionKind::Reclaim { .. }
            | ActionKind::Wake
            | ActionKind::ReclaimDeferred { .. }
            | ActionKind::ReportFindings { .. }
            | ActionKind::Alert => assert_eq!(kind.as_str(), serde_name(kind)),
        }
    }
}

#[test]
fn each_state_is_named_as_serialized() {
    for state in State::ALL {
        // Exhaustive: a new variant does not compile here until it is named; list it in
        // `State::ALL` too.
        match state {
            State::Protected
            | State::OptedOut
            | State::Active
            | State::Expiring
            | State::Expired
            | State::Idle
            | State::Marked
            | State::Due
            | State::Sleeping
            | State::Terminating => assert_eq!(state.as_str(), serde_name(&state)),
        }
    }
}

#[test]
fn each_reason_is_named_as_serialized() {
    for reason in [Reason::Expired, Reason::Idle] {
        // Exhaustive: a new variant does not compile here until it is listed above.
        match reason {
            Reason::Expired | Reason::Idle => assert_eq!(reason.as_str(), serde_name(&reason)),
        }
    }
}
