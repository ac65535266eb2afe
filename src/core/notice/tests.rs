//! Unit tests of what a notice says: which notice an action gets, its commands and what it destroys;
//! and the notices the rendering tests in `render::notice` start from.

use super::*;
use crate::core::assess::{assess, Verdict};
use crate::core::config::Config;
use crate::core::fixtures::{utc, v, Ns};
use crate::core::plan::{plan_namespace, Lifecycle};

pub(crate) const EXPIRES: &str = "kube-reclaimer.io/expires";
/// The mail's date; a month later is 2027-01-15.
pub(crate) const NOW: &str = "2026-12-16T10:00:00Z";

pub(crate) fn config(yaml: &str) -> Config {
    Config::from_yaml(yaml, "test").unwrap()
}

pub(crate) fn label(key: &str, value: &str) -> ExpirySource {
    ExpirySource {
        kind: KeyKind::Label,
        key: key.into(),
        value: value.into(),
    }
}

pub(crate) fn notice(namespace: &str, kind: NoticeKind) -> Notice {
    Notice {
        namespace: namespace.into(),
        expiry_source: Some(label(EXPIRES, "2026-12-22")),
        volumes: Some(Volumes::default()),
        kind,
    }
}

fn reminder(expires_at: &str) -> Notice {
    notice(
        "team-a",
        NoticeKind::Reminder {
            expires_at: utc(expires_at),
            offset: Span::days(7),
        },
    )
}

#[test]
fn notices_come_from_the_planned_actions_and_the_assessment() {
    let config = config(
        "mode: enforce
owners: {fallback_recipients: [platform@example.com]}",
    );
    let now = utc(NOW);
    let plan = |ns: Ns| {
        let a = assess(&ns.build(), &config, now);
        let p = plan_namespace(&a, &Lifecycle::default(), &config, now);
        (a, p.actions)
    };

    let (a, actions) = plan(Ns::new("soon").label(EXPIRES, "2026-12-16"));
    let n = Notice::for_action(&a, &actions[0]).unwrap();
    assert_eq!(
        n.kind,
        NoticeKind::Reminder {
            expires_at: utc("2026-12-17T00:00:00Z"),
            offset: Span::days(1)
        }
    );
    assert_eq!(n.expiry_source, Some(label(EXPIRES, "2026-12-16")));

    let (a, actions) = plan(Ns::new("old").label(EXPIRES, "2026-12-01"));
    let n = Notice::for_action(&a, &actions[0]).unwrap();
    match &n.kind {
        NoticeKind::Marked {
            cause: Reason::Expired,
            reclaim_after,
            evidence: Evidence::Expired { at, source },
        } => {
            assert_eq!(*reclaim_after, utc("2026-12-19T10:00:00Z"));
            assert_eq!(*at, utc("2026-12-02T00:00:00Z"));
            assert_eq!(*source, label(EXPIRES, "2026-12-01"));
        }
        other => panic!("{other:?}"),
    }

    let (a, actions) = plan(Ns::new("quiet").unused());
    assert_eq!(a.idle.verdict, Verdict::Idle);
    let n = Notice::for_action(&a, &actions[0]).unwrap();
    match &n.kind {
        NoticeKind::Marked {
            cause: Reason::Idle,
            evidence: Evidence::Idle { summary, signals },
            ..
        } => {
            assert_eq!(summary, &a.idle.summary);
            assert_eq!(signals, &a.idle.evidence);
        }
        other => panic!("{other:?}"),
    }

    let (a, actions) = plan(Ns::new("typo").label(EXPIRES, "31-12-2026").network(v(1e6)));
    let n = Notice::for_action(&a, &actions[0]).unwrap();
    assert!(
        matches!(&n.kind, NoticeKind::Malformed { findings } if findings[0].value == "31-12-2026")
    );

    // Reclaiming mails after the deletion, with when and where the tombstone is.
    let n = Notice::reclaimed(&a, Reason::Idle, now, None, false);
    assert_eq!(n.template(), "reclaimed");
    let reclaim = Action {
        kind: ActionKind::Reclaim {
            cause: Reason::Idle,
            uid: "u".into(),
            by: crate::core::config::ReclaimBy::Delete,
        },
        reason: String::new(),
        recipients: vec![],
        execute: true,
    };
    assert_eq!(Notice::for_action(&a, &reclaim), None);
}

#[test]
fn the_extension_is_a_month_from_the_later_of_the_mail_and_the_expiry() {
    let c = reminder("2026-12-23T00:00:00Z").commands(utc(NOW), chrono_tz::UTC, EXPIRES);
    assert_eq!(
        c,
        Commands {
            verb: "label",
            key: EXPIRES.into(),
            extend_to: "2027-01-15".into(),
            extend_to_note: "one month from now",
            extend:
                "kubectl label namespace team-a kube-reclaimer.io/expires=2027-01-15 --overwrite"
                    .into(),
            opt_out: "kubectl label namespace team-a kube-reclaimer.io/expires=never --overwrite"
                .into(),
        }
    );
    let c = reminder("2027-03-01T00:00:00Z").commands(utc(NOW), chrono_tz::UTC, EXPIRES);
    assert_eq!(c.extend_to, "2027-03-31");
    assert_eq!(c.extend_to_note, "one month past the current expiry");
    // The date is the configured zone's: 23:30 UTC is already the next day in Auckland.
    let c = reminder("2026-12-23T00:00:00Z").commands(
        utc("2026-12-16T23:30:00Z"),
        chrono_tz::Pacific::Auckland,
        EXPIRES,
    );
    assert_eq!(c.extend_to, "2027-01-16");
}

#[test]
fn only_a_notice_of_a_deletion_lists_what_it_destroys() {
    let secrets = "its Secrets, if any: kube-reclaimer never reads Secrets, so its record of the namespace holds none of them";
    let reclaimed = |asleep| {
        notice(
            "team-a",
            NoticeKind::Reclaimed {
                cause: Reason::Idle,
                at: utc(NOW),
                tombstone: None,
                asleep,
            },
        )
    };
    assert_eq!(reminder("2026-12-23T00:00:00Z").destroys(), [secrets]);
    assert_eq!(reclaimed(false).destroys(), [secrets]);
    assert!(reclaimed(true).destroys().is_empty());
    let malformed = notice("team-a", NoticeKind::Malformed { findings: vec![] });
    assert!(malformed.destroys().is_empty());
    let unlisted = Notice {
        volumes: None,
        ..reminder("2026-12-23T00:00:00Z")
    };
    assert_eq!(unlisted.destroys().len(), 2);
    assert!(unlisted.destroys()[0].contains("could not be listed"));
}

#[test]
fn a_notice_sent_again_has_the_same_message_id_and_another_notice_another() {
    let config = config(
        "mode: enforce
owners: {fallback_recipients: [platform@example.com]}",
    );
    let now = utc(NOW);
    let a = assess(
        &Ns::new("soon").label(EXPIRES, "2026-12-16").build(),
        &config,
        now,
    );
    let remind = |offset: i64, expires: &str| ActionKind::Remind {
        offset: Span::days(offset),
        expires_at: utc(expires),
        covers: vec![Span::days(offset)],
    };
    let id =
        |kind: &ActionKind, sent: &str| tags(&a, kind, false, utc(sent), "example.com").message_id;
    let first = id(&remind(1, "2026-12-17T00:00:00Z"), NOW);
    assert!(
        first.starts_with("<kr.") && first.ends_with("@example.com>"),
        "{first}"
    );
    // Sent again later (after a restart), the same reminder is the same message.
    assert_eq!(
        first,
        id(&remind(1, "2026-12-17T00:00:00Z"), "2026-12-17T09:00:00Z")
    );
    assert_ne!(first, id(&remind(7, "2026-12-17T00:00:00Z"), NOW));
    assert_ne!(first, id(&remind(1, "2026-12-18T00:00:00Z"), NOW));
    let mark = ActionKind::Mark {
        cause: Reason::Expired,
        reclaim_after: utc("2026-12-19T10:00:00Z"),
    };
    assert_eq!(id(&mark, NOW), id(&mark, "2026-12-16T10:05:00Z"));
    // A mark told again after its notice went stale is a new message.
    assert_ne!(id(&mark, NOW), id(&mark, "2026-12-31T10:00:00Z"));

    let t = tags(&a, &mark, false, now, "example.com");
    let header = |name: &str| {
        t.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("X-Kube-Reclaimer-Namespace"), Some("soon"));
    assert_eq!(header("X-Kube-Reclaimer-Notice"), Some("mark"));
    assert_eq!(header("X-Kube-Reclaimer-Cause"), Some("expired"));
    assert_eq!(
        header("X-Kube-Reclaimer-Expires"),
        Some("2026-12-17T00:00:00Z")
    );
    let reclaimed = tags(&a, &mark, true, now, "example.com");
    assert!(reclaimed
        .headers
        .contains(&("X-Kube-Reclaimer-Notice".into(), "reclaimed".into())));
}
