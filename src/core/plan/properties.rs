//! The planner's safety invariants, as properties over random namespaces, lifecycle
//! states, configurations and times, and over simulated runs of many cycles.

use super::*;
use crate::core::assess::assess;
use crate::core::fixtures::{utc, v, Ns};
use crate::core::model::Sample;
use chrono::TimeDelta;
use proptest::prelude::*;

const EXPIRES: &str = "kube-reclaimer.io/expires";

fn base() -> DateTime<Utc> {
    utc("2026-11-21T12:00:00Z")
}

#[derive(Debug, Clone)]
enum ExpiryLabel {
    None,
    Date(i64),
    Time(i64),
    Ttl(i64),
    Never,
    Malformed,
}

#[derive(Debug, Clone, Copy)]
enum UsageKind {
    Busy,
    Unused,
    PrometheusDown,
    NoSeriesWithPods,
    NetworkMissing,
}

#[derive(Debug, Clone)]
struct Case {
    name: &'static str,
    protected_label: bool,
    owner: u8,
    expiry: ExpiryLabel,
    usage: UsageKind,
    created_days_ago: i64,
}

fn arb_config() -> impl Strategy<Value = Config> {
    let offsets = prop::sample::subsequence(
        vec![
            Span::days(14),
            Span::days(7),
            Span::days(3),
            Span::days(1),
            Span::hours(12),
            Span::hours(1),
        ],
        0..=4,
    );
    (
        offsets,
        1i64..=240,
        0u32..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(offsets, grace_hours, max, enforce, idle_reclaim, fallback)| {
                let mut c = Config::default();
                c.lifecycle.reminder_offsets = offsets;
                c.lifecycle.grace_period = Span::hours(grace_hours);
                c.lifecycle.max_reclaims_per_cycle = max;
                c.mode = if enforce { Mode::Enforce } else { Mode::DryRun };
                c.idle.reclaim = idle_reclaim;
                if fallback {
                    c.owners.fallback_recipients = vec!["ops@example.com".parse().unwrap()];
                }
                c
            },
        )
}

fn arb_case() -> impl Strategy<Value = Case> {
    let expiry = prop_oneof![
        Just(ExpiryLabel::None),
        (-40i64..40).prop_map(ExpiryLabel::Date),
        (-60_000i64..60_000).prop_map(ExpiryLabel::Time),
        (1i64..3000).prop_map(ExpiryLabel::Ttl),
        Just(ExpiryLabel::Never),
        Just(ExpiryLabel::Malformed),
    ];
    let usage = prop_oneof![
        Just(UsageKind::Busy),
        Just(UsageKind::Unused),
        Just(UsageKind::PrometheusDown),
        Just(UsageKind::NoSeriesWithPods),
        Just(UsageKind::NetworkMissing),
    ];
    (
        prop::sample::select(vec![
            "kube-system",
            "default",
            "team-a",
            "team-b",
            "scratch",
        ]),
        any::<bool>(),
        0u8..3,
        expiry,
        usage,
        0i64..60,
    )
        .prop_map(
            |(name, protected_label, owner, expiry, usage, created_days_ago)| Case {
                name,
                protected_label,
                owner,
                expiry,
                usage,
                created_days_ago,
            },
        )
}

fn observe(case: &Case, now: DateTime<Utc>) -> Ns {
    let created = now - TimeDelta::days(case.created_days_ago);
    let mut ns = Ns::new(case.name).created(&created.to_rfc3339());
    if case.protected_label {
        ns = ns.label("kube-reclaimer.io/protected", "true");
    }
    ns = match case.owner {
        1 => ns.annotation("kube-reclaimer.io/owner-email", "dev@example.com"),
        2 => ns.label("kube-reclaimer.io/team", "nobody-knows"),
        _ => ns,
    };
    ns = match &case.expiry {
        ExpiryLabel::None => ns,
        ExpiryLabel::Date(d) => ns.label(
            EXPIRES,
            &(base() + TimeDelta::days(*d))
                .format("%Y-%m-%d")
                .to_string(),
        ),
        ExpiryLabel::Time(m) => {
            ns.annotation(EXPIRES, &(base() + TimeDelta::minutes(*m)).to_rfc3339())
        }
        ExpiryLabel::Ttl(h) => ns.label("kube-reclaimer.io/ttl", &format!("{h}h")),
        ExpiryLabel::Never => ns.label(EXPIRES, "never"),
        ExpiryLabel::Malformed => ns.label(EXPIRES, "next-friday"),
    };
    match case.usage {
        UsageKind::Busy => ns,
        UsageKind::Unused => ns.unused(),
        UsageKind::PrometheusDown => ns.prometheus_down(),
        UsageKind::NoSeriesWithPods => ns
            .cpu(Sample::NoSeries, Sample::NoSeries)
            .network(Sample::NoSeries),
        UsageKind::NetworkMissing => ns.unused().network(Sample::unavailable("timeout")),
    }
}

fn arb_lifecycle() -> impl Strategy<Value = Lifecycle> {
    let mark = prop::option::of((
        prop_oneof![Just(Reason::Expired), Just(Reason::Idle)],
        0i64..20_000,
        0i64..600,
        -5_000i64..5_000,
    ));
    let reminders = prop::option::of((
        -60_000i64..60_000,
        prop::sample::subsequence(
            vec![
                Span::days(14),
                Span::days(7),
                Span::days(1),
                Span::hours(12),
            ],
            0..=3,
        ),
    ));
    (mark, reminders, any::<bool>()).prop_map(|(mark, reminders, reported)| Lifecycle {
        mark: mark.map(|(reason, ago, notify_delay, after)| {
            let marked_at = base() - TimeDelta::minutes(ago);
            Mark {
                reason,
                marked_at,
                notified_at: marked_at + TimeDelta::seconds(notify_delay),
                reclaim_after: marked_at + TimeDelta::minutes(after),
            }
        }),
        reminders: reminders.map(|(m, sent)| Reminders {
            expires_at: base() + TimeDelta::minutes(m),
            sent,
        }),
        reported: reported.then(|| "0000000000000000".into()),
        sleeping_since: None,
        replicas: None,
        unreadable: vec![],
        uid: None,
        voided: None,
    })
}

/// Assesses and plans one generated namespace, `minutes` after the base instant.
fn run(
    config: &Config,
    case: &Case,
    l: &Lifecycle,
    minutes: i64,
) -> (DateTime<Utc>, Assessment, NamespacePlan) {
    let now = base() + TimeDelta::minutes(minutes);
    let a = assess(&observe(case, now).build(), config, now);
    let p = plan_namespace(&a, l, config, now);
    (now, a, p)
}

fn is_mark_or_reclaim(kind: &ActionKind) -> bool {
    matches!(
        kind,
        ActionKind::Mark { .. } | ActionKind::Reclaim { .. } | ActionKind::ReclaimDeferred { .. }
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn protected_or_opted_out_namespaces_are_never_marked_or_reclaimed(
        config in arb_config(), case in arb_case(), l in arb_lifecycle(), minutes in 0i64..20_000,
    ) {
        let (_, a, p) = run(&config, &case, &l, minutes);
        if a.protected.is_some() {
            prop_assert!(p.actions.is_empty(), "{:?}", p);
        }
        if a.expiry.opted_out() {
            prop_assert!(!p.actions.iter().any(|x| is_mark_or_reclaim(&x.kind)), "{:?}", p);
        }
    }

    #[test]
    fn reclaim_needs_a_mark_a_notice_a_full_grace_period_and_a_reason_that_still_holds(
        config in arb_config(), case in arb_case(), l in arb_lifecycle(), minutes in 0i64..20_000,
    ) {
        let (now, a, p) = run(&config, &case, &l, minutes);
        let grace = config.lifecycle.grace_period.as_delta();
        for action in &p.actions {
            if let ActionKind::Reclaim { cause: reason, uid, .. } = &action.kind {
                let mark = l.mark.as_ref().expect("reclaim without a mark");
                prop_assert!(mark.notified_at + grace <= now);
                prop_assert!(mark.marked_at + grace <= now);
                prop_assert!(mark.reclaim_after <= now);
                prop_assert_eq!(*reason, mark.reason);
                prop_assert_eq!(uid, &a.uid);
                prop_assert!(a.protected.is_none() && !a.expiry.opted_out());
                match reason {
                    Reason::Expired => prop_assert!(a.expiry.at().is_some_and(|t| t <= now)),
                    Reason::Idle => prop_assert_eq!(a.idle.verdict, Verdict::Idle),
                }
            }
        }
    }

    #[test]
    fn unknown_idleness_or_unreadable_expiry_never_leads_to_mark_or_reclaim(
        config in arb_config(), case in arb_case(), l in arb_lifecycle(), minutes in 0i64..20_000,
    ) {
        let (_, a, p) = run(&config, &case, &l, minutes);
        for action in &p.actions {
            let reason = match &action.kind {
                ActionKind::Mark { cause, .. } | ActionKind::Reclaim { cause, .. } => *cause,
                _ => continue,
            };
            match reason {
                Reason::Idle => prop_assert_eq!(a.idle.verdict, Verdict::Idle),
                Reason::Expired => prop_assert!(a.expiry.at().is_some()),
            }
        }
    }

    #[test]
    fn at_most_one_reminder_for_the_most_recent_due_offset_never_one_already_sent(
        config in arb_config(), case in arb_case(), l in arb_lifecycle(), minutes in 0i64..20_000,
        same_expiry in any::<bool>(),
    ) {
        let now = base() + TimeDelta::minutes(minutes);
        let a = assess(&observe(&case, now).build(), &config, now);
        // Half the time the record speaks of this very expiry, so "already sent" is tested.
        let mut l = l;
        if let (true, Some(t), Some(r)) = (same_expiry, a.expiry.at(), l.reminders.as_mut()) {
            r.expires_at = t;
        }
        let p = plan_namespace(&a, &l, &config, now);
        let reminders: Vec<_> = p.actions.iter().filter_map(|x| match &x.kind {
            ActionKind::Remind { offset, expires_at, .. } => Some((*offset, *expires_at)),
            _ => None,
        }).collect();
        prop_assert!(reminders.len() <= 1);
        if let Some((offset, t)) = reminders.first().copied() {
            prop_assert!(now < t);
            prop_assert!(!l.reminded(t).contains(&offset));
            let most_recent_due = config.lifecycle.reminder_offsets.iter().filter(|o| now >= t - o.as_delta()).min();
            prop_assert_eq!(Some(&offset), most_recent_due);
        }
    }

    #[test]
    fn every_email_action_has_recipients(
        config in arb_config(), case in arb_case(), l in arb_lifecycle(), minutes in 0i64..20_000,
    ) {
        let (_, _, p) = run(&config, &case, &l, minutes);
        for action in p.actions {
            if matches!(action.kind, ActionKind::Remind { .. } | ActionKind::Mark { .. } | ActionKind::ReportFindings { .. }) {
                prop_assert!(!action.recipients.is_empty());
            }
        }
    }

    #[test]
    fn reclaims_per_cycle_stay_within_the_limit_and_dry_run_only_flips_execution(
        config in arb_config(),
        items in prop::collection::vec((arb_case(), arb_lifecycle()), 0..24),
        minutes in 0i64..20_000,
    ) {
        let now = base() + TimeDelta::minutes(minutes);
        let items: Vec<(Assessment, Lifecycle)> = items
            .iter()
            .map(|(case, l)| (assess(&observe(case, now).build(), &config, now), l.clone()))
            .collect();
        let mut enforce = config.clone();
        enforce.mode = Mode::Enforce;
        let mut dry = config.clone();
        dry.mode = Mode::DryRun;
        let e = plan(&items, &enforce, now);
        let d = plan(&items, &dry, now);
        let reclaims = e.namespaces.iter().flat_map(|n| &n.actions)
            .filter(|x| matches!(x.kind, ActionKind::Reclaim { .. })).count();
        prop_assert!(reclaims <= config.lifecycle.max_reclaims_per_cycle as usize);
        prop_assert!(d.namespaces.iter().flat_map(|n| &n.actions).all(|x| !x.execute));
        for (dn, en) in d.namespaces.iter().zip(&e.namespaces) {
            prop_assert_eq!(dn.state, en.state);
            let strip = |n: &NamespacePlan| n.actions.iter().map(|x| x.kind.clone()).collect::<Vec<_>>();
            prop_assert_eq!(strip(dn), strip(en));
        }
    }

    /// Runs the daemon's loop on one namespace: plan, carry the actions out, move time on
    /// by irregular steps (including days of downtime); the owner may extend the expiry.
    #[test]
    fn simulated_cycles_never_remind_twice_never_lose_a_reminder_never_reclaim_early(
        config in arb_config(),
        expires_in_hours in 1i64..600,
        steps in prop::collection::vec(10i64..(4 * 24 * 60), 1..80),
        extend_at_step in prop::option::of((0usize..80, 1i64..400)),
    ) {
        let mut config = config;
        config.owners.fallback_recipients = vec!["ops@example.com".parse().unwrap()];
        let mut now = base();
        let mut expires_at = base() + TimeDelta::hours(expires_in_hours);
        let mut l = Lifecycle::default();
        let mut sent: Vec<(DateTime<Utc>, Span)> = Vec::new();
        let grace = config.lifecycle.grace_period.as_delta();
        for (i, step) in steps.iter().enumerate() {
            if let Some((at, hours)) = extend_at_step {
                if at == i {
                    expires_at = now.max(expires_at) + TimeDelta::hours(hours);
                }
            }
            let ns = Ns::new("sim").created("2026-01-01T00:00:00Z").annotation(EXPIRES, &expires_at.to_rfc3339());
            let a = assess(&ns.build(), &config, now);
            let p = plan_namespace(&a, &l, &config, now);
            for action in &p.actions {
                match &action.kind {
                    ActionKind::Remind { offset, expires_at: t, .. } => {
                        prop_assert!(!sent.contains(&(*t, *offset)), "reminder {} for {} sent twice", offset, t);
                        sent.push((*t, *offset));
                    }
                    ActionKind::Reclaim { .. } => {
                        let mark = l.mark.as_ref().expect("reclaim without mark");
                        prop_assert!(now >= expires_at, "reclaimed before expiry");
                        prop_assert!(mark.notified_at >= expires_at, "notice predates the current expiry");
                        prop_assert!(now >= mark.notified_at + grace, "reclaimed within grace");
                        return Ok(());
                    }
                    _ => {}
                }
                l = l.after(&action.kind, now);
            }
            // No reminder lost: whenever one is due, the shortest due offset is on record.
            if now < expires_at {
                let due = config.lifecycle.reminder_offsets.iter().filter(|o| now >= expires_at - o.as_delta()).min();
                if let Some(o) = due {
                    prop_assert!(l.reminded(expires_at).contains(o), "due reminder {} not sent", o);
                }
            }
            now += TimeDelta::minutes(*step);
        }
    }
}

#[test]
fn busy_fixture_is_active_and_unused_fixture_is_idle() {
    // Guards the generators above: both verdicts must be reachable.
    let c = Config::default();
    let now = base();
    let busy = assess(&Ns::new("b").cpu(v(0.5), v(0.8)).build(), &c, now);
    let idle = assess(&Ns::new("i").unused().build(), &c, now);
    assert_eq!(busy.idle.verdict, Verdict::Active);
    assert_eq!(idle.idle.verdict, Verdict::Idle);
}
