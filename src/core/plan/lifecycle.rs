//! A namespace's lifecycle state, kept in its own annotations so the daemon is stateless,
//! and the state an action leaves behind.
//!
//! Annotations under the configured prefix (default `kube-reclaimer.io/`):
//!
//! | annotation        | value                                                        |
//! |-------------------|--------------------------------------------------------------|
//! | `reminders`       | `{"expires_at":"<RFC 3339>","sent":["7d","1d"]}`             |
//! | `marked-at`       | RFC 3339: when the namespace was marked for reclamation      |
//! | `notified-at`     | RFC 3339: when the owners' mail about the mark was accepted  |
//! | `reclaim-after`   | RFC 3339: reclaimed no earlier than this                     |
//! | `reason`          | `expired` or `idle`                                          |
//! | `sleeping-since`  | RFC 3339: when its workloads were scaled to zero (sleep mode) |
//! | `reported`        | fingerprint of the malformed values last reported            |
//! | `replicas`        | `{"Deployment/web":3}`: replicas to restore, written before a sleep scales down |
//! | `uid`             | the uid of the namespace this state was written for          |
//!
//! State is only trusted on the namespace it was written for: a namespace restored from
//! its tombstone, by a backup tool or by GitOps comes back with our old annotations but a
//! new uid, and all of that state is void (the owners are told afresh before anything is
//! reclaimed). A mark older than the namespace itself is void too.

use super::ActionKind;
use crate::core::config::ReclaimBy;
use crate::core::model::{rfc3339, NamespaceMeta, Span};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a namespace is marked for reclamation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Expired,
    Idle,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Expired => "expired",
            Reason::Idle => "idle",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mark {
    pub reason: Reason,
    pub marked_at: DateTime<Utc>,
    pub notified_at: DateTime<Utc>,
    pub reclaim_after: DateTime<Utc>,
}

impl Mark {
    /// The earliest reclamation: a full grace period after both the mark and the notice,
    /// and not before `reclaim_after`.
    pub fn due_at(&self, grace_period: Span) -> DateTime<Utc> {
        let grace = grace_period.as_delta();
        (self.notified_at + grace)
            .max(self.marked_at + grace)
            .max(self.reclaim_after)
    }
}

/// Reminders already sent for one expiry instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminders {
    pub expires_at: DateTime<Utc>,
    pub sent: Vec<Span>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lifecycle {
    pub mark: Option<Mark>,
    pub reminders: Option<Reminders>,
    pub reported: Option<String>,
    /// Set while the namespace sleeps (its workloads scaled to zero).
    pub sleeping_since: Option<DateTime<Utc>>,
    /// The replicas of each workload (`Kind/name`) to restore on waking, recorded before
    /// sleep mode scales anything down, so a sleep that was never recorded still wakes.
    pub replicas: Option<BTreeMap<String, i32>>,
    /// Our own annotations that could not be read (someone edited them). Their state is
    /// ignored: an unreadable mark is no mark, so a reclamation starts over with a notice.
    pub unreadable: Vec<String>,
    /// The uid of the namespace this state belongs to, written with it.
    pub uid: Option<String>,
    /// Why state found on the namespace was voided (written for another namespace, or a
    /// mark older than the namespace): it is removed at the next write.
    pub voided: Option<String>,
}

const MARKED_AT: &str = "marked-at";
const NOTIFIED_AT: &str = "notified-at";
const RECLAIM_AFTER: &str = "reclaim-after";
const REASON: &str = "reason";
const REMINDERS: &str = "reminders";
const REPORTED: &str = "reported";
const SLEEPING_SINCE: &str = "sleeping-since";
const UID: &str = "uid";
const REPLICAS: &str = "replicas";
const MARK_KEYS: [&str; 4] = [MARKED_AT, NOTIFIED_AT, RECLAIM_AFTER, REASON];

impl Lifecycle {
    /// Reads the state from a namespace's annotations.
    pub fn from_annotations(annotations: &BTreeMap<String, String>, prefix: &str) -> Lifecycle {
        let get = |name: &str| annotations.get(&format!("{prefix}{name}"));
        let mut unreadable = Vec::new();
        let time = |name: &str, unreadable: &mut Vec<String>| {
            let value = get(name)?;
            match DateTime::parse_from_rfc3339(value) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    unreadable.push(format!("{prefix}{name}={value}"));
                    None
                }
            }
        };
        let present = MARK_KEYS.iter().filter(|k| get(k).is_some()).count();
        let marked_at = time(MARKED_AT, &mut unreadable);
        let notified_at = time(NOTIFIED_AT, &mut unreadable);
        let reclaim_after = time(RECLAIM_AFTER, &mut unreadable);
        let reason = get(REASON).and_then(|v| match v.as_str() {
            "expired" => Some(Reason::Expired),
            "idle" => Some(Reason::Idle),
            other => {
                unreadable.push(format!("{prefix}{REASON}={other}"));
                None
            }
        });
        let mark = match (reason, marked_at, notified_at, reclaim_after) {
            (Some(reason), Some(marked_at), Some(notified_at), Some(reclaim_after)) => Some(Mark {
                reason,
                marked_at,
                notified_at,
                reclaim_after,
            }),
            _ => {
                if present > 0 && unreadable.is_empty() {
                    unreadable.push(format!(
                        "incomplete mark: {present} of {} annotations {prefix}{{{}}} present",
                        MARK_KEYS.len(),
                        MARK_KEYS.join(",")
                    ));
                }
                None
            }
        };
        let reminders = get(REMINDERS).and_then(|v| match serde_json::from_str(v) {
            Ok(r) => Some(r),
            Err(_) => {
                unreadable.push(format!("{prefix}{REMINDERS}={v}"));
                None
            }
        });
        let sleeping_since = time(SLEEPING_SINCE, &mut unreadable);
        let replicas = get(REPLICAS).and_then(|v| match serde_json::from_str(v) {
            Ok(r) => Some(r),
            Err(_) => {
                unreadable.push(format!("{prefix}{REPLICAS}={v}"));
                None
            }
        });
        Lifecycle {
            mark,
            reminders,
            reported: get(REPORTED).cloned(),
            sleeping_since,
            replicas,
            unreadable,
            uid: get(UID).cloned(),
            voided: None,
        }
    }

    /// Reads the state of namespace `ns`, trusting only what was written for it: state
    /// recorded for another uid (or for none, as by versions before uids were recorded)
    /// is void as a whole, and so is a mark that predates the namespace's creation.
    pub fn of(ns: &NamespaceMeta, prefix: &str) -> Lifecycle {
        let mut l = Lifecycle::from_annotations(&ns.annotations, prefix);
        let recorded = l.uid.take();
        let trusted_state = l.mark.is_some() || l.reminders.is_some() || l.reported.is_some();
        if trusted_state && recorded.as_deref() != Some(ns.uid.as_str()) {
            let whose = match &recorded {
                Some(other) => format!("for another namespace (uid {other})"),
                None => format!("without {prefix}{UID}"),
            };
            // The sleep record is kept: it can only ever wake workloads, never delete.
            return Lifecycle {
                uid: Some(ns.uid.clone()),
                voided: Some(format!(
                    "lifecycle state written {whose}, not for this namespace (uid {}): ignored, owners are told afresh",
                    ns.uid
                )),
                unreadable: l.unreadable,
                sleeping_since: l.sleeping_since,
                replicas: l.replicas,
                ..Lifecycle::default()
            };
        }
        if let Some(m) = &l.mark {
            if m.marked_at < ns.created_at || m.notified_at < ns.created_at {
                l.voided = Some(format!(
                    "mark of {} predates the namespace (created {}): ignored, owners are told afresh",
                    rfc3339(m.marked_at),
                    rfc3339(ns.created_at)
                ));
                l.mark = None;
            }
        }
        l.uid = Some(ns.uid.clone());
        l
    }

    /// Whether any state is held (and so the uid it belongs to must be written with it).
    fn holds_state(&self) -> bool {
        self.mark.is_some()
            || self.reminders.is_some()
            || self.reported.is_some()
            || self.may_be_asleep()
    }

    /// The annotations that hold this state: `None` removes an annotation (as in a
    /// JSON merge patch).
    pub fn to_annotations(&self, prefix: &str) -> BTreeMap<String, Option<String>> {
        let key = |name: &str| format!("{prefix}{name}");
        let mut out = BTreeMap::new();
        let rfc = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let m = self.mark.as_ref();
        out.insert(key(MARKED_AT), m.map(|m| rfc(&m.marked_at)));
        out.insert(key(NOTIFIED_AT), m.map(|m| rfc(&m.notified_at)));
        out.insert(key(RECLAIM_AFTER), m.map(|m| rfc(&m.reclaim_after)));
        out.insert(key(REASON), m.map(|m| m.reason.as_str().to_string()));
        out.insert(
            key(REMINDERS),
            self.reminders
                .as_ref()
                .and_then(|r| serde_json::to_string(r).ok()),
        );
        out.insert(key(REPORTED), self.reported.clone());
        out.insert(key(SLEEPING_SINCE), self.sleeping_since.as_ref().map(rfc));
        out.insert(key(UID), self.uid.clone().filter(|_| self.holds_state()));
        out.insert(
            key(REPLICAS),
            self.replicas
                .as_ref()
                .and_then(|r| serde_json::to_string(r).ok()),
        );
        out
    }

    /// Asleep, or scaled down by a sleep that was never recorded: waking restores the
    /// recorded replicas either way.
    pub fn may_be_asleep(&self) -> bool {
        self.sleeping_since.is_some() || self.replicas.is_some()
    }

    /// Offsets already reminded for the expiry instant `expires_at`.
    pub fn reminded(&self, expires_at: DateTime<Utc>) -> &[Span] {
        match &self.reminders {
            Some(r) if r.expires_at == expires_at => &r.sent,
            _ => &[],
        }
    }
}

impl Lifecycle {
    /// The state after `action` was carried out at `now` (mails accepted, writes done).
    pub fn after(&self, action: &ActionKind, now: DateTime<Utc>) -> Lifecycle {
        let mut next = self.clone();
        next.unreadable.clear();
        match action {
            ActionKind::Remind {
                expires_at, covers, ..
            } => {
                let mut sent = self.reminded(*expires_at).to_vec();
                for o in covers {
                    if !sent.contains(o) {
                        sent.push(*o);
                    }
                }
                sent.sort_by(|a, b| b.cmp(a));
                next.reminders = Some(Reminders {
                    expires_at: *expires_at,
                    sent,
                });
            }
            ActionKind::Mark {
                cause,
                reclaim_after,
            } => {
                next.mark = Some(Mark {
                    reason: *cause,
                    marked_at: now,
                    notified_at: now,
                    reclaim_after: *reclaim_after,
                });
            }
            ActionKind::Unmark => next.mark = None,
            ActionKind::Wake => {
                next.mark = None;
                next.sleeping_since = None;
                next.replicas = None;
            }
            ActionKind::Reclaim {
                by: ReclaimBy::Sleep,
                ..
            } => next.sleeping_since = Some(now),
            ActionKind::ReportFindings { fingerprint, .. } => {
                next.reported = Some(fingerprint.clone())
            }
            ActionKind::Reclaim { .. } | ActionKind::ReclaimDeferred { .. } | ActionKind::Alert => {
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::utc;

    const P: &str = "kube-reclaimer.io/";

    fn read(pairs: &[(&str, &str)]) -> Lifecycle {
        let map = pairs
            .iter()
            .map(|(k, v)| (format!("{P}{k}"), v.to_string()))
            .collect();
        Lifecycle::from_annotations(&map, P)
    }

    fn written(l: &Lifecycle) -> BTreeMap<String, String> {
        l.to_annotations(P)
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }

    #[test]
    fn state_survives_a_round_trip_through_annotations() {
        let l = Lifecycle {
            mark: Some(Mark {
                reason: Reason::Idle,
                marked_at: utc("2026-11-01T10:00:00Z"),
                notified_at: utc("2026-11-01T10:00:05Z"),
                reclaim_after: utc("2026-11-04T10:00:00Z"),
            }),
            reminders: Some(Reminders {
                expires_at: utc("2026-12-01T00:00:00Z"),
                sent: vec![Span::days(7)],
            }),
            reported: Some("abc".into()),
            sleeping_since: Some(utc("2026-11-04T10:00:00Z")),
            replicas: Some(BTreeMap::from([
                ("Deployment/web".to_string(), 3),
                ("StatefulSet/db".to_string(), 1),
            ])),
            unreadable: vec![],
            uid: Some("uid-1".into()),
            voided: None,
        };
        assert_eq!(Lifecycle::from_annotations(&written(&l), P), l);
        assert_eq!(
            Lifecycle::from_annotations(&written(&Lifecycle::default()), P),
            Lifecycle::default()
        );
    }

    #[test]
    fn annotations_are_readable_by_people() {
        let l = read(&[(
            "reminders",
            r#"{"expires_at":"2026-12-01T00:00:00Z","sent":["7d","1d"]}"#,
        )]);
        assert_eq!(
            l.reminded(utc("2026-12-01T00:00:00Z")),
            &[Span::days(7), Span::days(1)]
        );
        assert!(
            l.reminded(utc("2026-12-08T00:00:00Z")).is_empty(),
            "another expiry starts afresh"
        );
    }

    #[test]
    fn clearing_a_mark_removes_its_annotations() {
        let patch = Lifecycle::default().to_annotations(P);
        for k in ["marked-at", "notified-at", "reclaim-after", "reason"] {
            assert_eq!(patch.get(&format!("{P}{k}")), Some(&None), "{k}");
        }
    }

    #[test]
    fn unreadable_or_partial_marks_are_no_marks() {
        let cases = [
            read(&[
                ("marked-at", "yesterday"),
                ("notified-at", "2026-11-01T00:00:00Z"),
                ("reclaim-after", "2026-11-04T00:00:00Z"),
                ("reason", "idle"),
            ]),
            read(&[
                ("marked-at", "2026-11-01T00:00:00Z"),
                ("reclaim-after", "2026-11-04T00:00:00Z"),
                ("reason", "idle"),
            ]),
            read(&[
                ("marked-at", "2026-11-01T00:00:00Z"),
                ("notified-at", "2026-11-01T00:00:00Z"),
                ("reclaim-after", "2026-11-04T00:00:00Z"),
                ("reason", "bored"),
            ]),
        ];
        for l in cases {
            assert_eq!(l.mark, None, "{l:?}");
            assert_eq!(l.unreadable.len(), 1, "{l:?}");
        }
        let l = read(&[("reminders", "7d")]);
        assert_eq!(l.reminders, None);
        assert_eq!(l.unreadable, vec![format!("{P}reminders=7d")]);
    }

    fn namespace(uid: &str, created: &str, pairs: &[(&str, &str)]) -> NamespaceMeta {
        NamespaceMeta {
            name: "team-a".into(),
            uid: uid.into(),
            created_at: utc(created),
            labels: BTreeMap::new(),
            annotations: pairs
                .iter()
                .map(|(k, v)| (format!("{P}{k}"), v.to_string()))
                .collect(),
            deleting_since: None,
        }
    }

    const MARK: [(&str, &str); 4] = [
        ("marked-at", "2026-11-01T10:00:00Z"),
        ("notified-at", "2026-11-01T10:00:00Z"),
        ("reclaim-after", "2026-11-04T10:00:00Z"),
        ("reason", "expired"),
    ];

    #[test]
    fn state_written_for_this_uid_is_kept_and_written_with_it() {
        let mut pairs = MARK.to_vec();
        pairs.push(("uid", "uid-1"));
        let l = Lifecycle::of(&namespace("uid-1", "2026-10-01T00:00:00Z", &pairs), P);
        assert!(l.mark.is_some());
        assert_eq!(l.voided, None);
        assert_eq!(
            written(&l).get(&format!("{P}uid")),
            Some(&"uid-1".to_string())
        );
        let cleared = Lifecycle { mark: None, ..l };
        assert_eq!(
            cleared.to_annotations(P).get(&format!("{P}uid")),
            Some(&None),
            "no state, no uid"
        );
    }

    #[test]
    fn state_copied_from_another_namespace_is_void() {
        let mut pairs = MARK.to_vec();
        pairs.push(("uid", "uid-old"));
        pairs.push((
            "reminders",
            r#"{"expires_at":"2026-11-01T00:00:00Z","sent":["7d","1d"]}"#,
        ));
        let restored = namespace("uid-new", "2026-11-05T00:00:00Z", &pairs);
        let l = Lifecycle::of(&restored, P);
        assert_eq!(l.mark, None);
        assert_eq!(
            l.reminders, None,
            "its reminders were sent to another namespace"
        );
        assert!(
            l.voided.as_deref().is_some_and(|v| v.contains("uid-old")),
            "{l:?}"
        );
        // Written again, it carries the new uid and drops the copied state.
        let patch = l.to_annotations(P);
        assert_eq!(patch.get(&format!("{P}marked-at")), Some(&None));
    }

    #[test]
    fn state_without_a_uid_is_void() {
        let l = Lifecycle::of(&namespace("uid-1", "2026-10-01T00:00:00Z", &MARK), P);
        assert_eq!(l.mark, None);
        assert!(l.voided.is_some());
    }

    #[test]
    fn a_mark_older_than_the_namespace_is_void() {
        let mut pairs = MARK.to_vec();
        pairs.push(("uid", "uid-1"));
        let l = Lifecycle::of(&namespace("uid-1", "2026-11-02T00:00:00Z", &pairs), P);
        assert_eq!(l.mark, None);
        assert!(
            l.voided.as_deref().is_some_and(|v| v.contains("predates")),
            "{l:?}"
        );
    }
}
