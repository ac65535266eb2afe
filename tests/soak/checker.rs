//! The independent checker: reads only what the outside world saw (the SMTP server's
//! log, the namespaces' deletions as the harness's list loop saw them, the final
//! objects) and the truth the harness itself made (what it created, when owners
//! extended or opted out, when a namespace became busy), and says what was wrong.
//! Pure: no I/O, so it is tested here with made-up runs.

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// A namespace object as the harness made it (one per uid).
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    pub at: DateTime<Utc>,
    pub name: String,
    pub uid: String,
    /// `None`: no expiry (idle slots) or opted out from the start.
    pub expires: Option<DateTime<Utc>>,
    /// Old enough and with a quiet history: may be reclaimed for idleness.
    pub idle_slot: bool,
    pub volume: bool,
    pub protected: bool,
    pub malformed: bool,
}

/// What the harness did after making a namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The owner set a new expiry (`None`: `never`, an opt-out). `at` is when the
    /// apiserver had accepted it.
    Expiry {
        at: DateTime<Utc>,
        uid: String,
        expires: Option<DateTime<Utc>>,
    },
    /// The namespace's workloads became busy (Prometheus sees it a few minutes later).
    Busy { at: DateTime<Utc>, uid: String },
}

/// One accepted mail, as the SMTP server logged it (from the notice's own headers).
#[derive(Debug, Clone, PartialEq)]
pub struct Mailed {
    pub at: DateTime<Utc>,
    pub uid: String,
    pub namespace: String,
    /// `remind`, `mark`, `report_findings`, `reclaimed`, …
    pub notice: String,
    pub expires: Option<DateTime<Utc>>,
    /// Reminders: the offset, in seconds.
    pub offset: Option<i64>,
    pub message_id: String,
}

/// A namespace the daemon deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct Deletion {
    /// When the harness first saw it deleted (at most one poll late).
    pub at: DateTime<Utc>,
    /// Its deletionTimestamp (whole seconds, so at most a second early).
    pub stamp: DateTime<Utc>,
    pub name: String,
    pub uid: String,
}

/// A stretch of time during which something was broken (a fault, a replica down).
#[derive(Debug, Clone, PartialEq)]
pub struct Disruption {
    pub what: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub grace: Duration,
    /// Reminder offsets, longest first.
    pub offsets: Vec<Duration>,
    /// A due reminder must be out once the system has been healthy this long.
    pub healthy: Duration,
    /// How long after a namespace becomes busy Prometheus can show it (5-minute rates at
    /// 5-minute steps, plus scraping).
    pub busy_visible_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Findings {
    pub wrongful: Vec<String>,
    pub duplicates: Vec<String>,
    pub lost: Vec<String>,
    /// A reminder sent again, with the same Message-ID, after a replica was killed
    /// between the mail and its record.
    pub retransmissions: usize,
    pub reminders_delivered: usize,
    pub reminders_due_checked: usize,
    /// Due reminders the run could not judge: expired, changed or ended before the
    /// system was healthy long enough.
    pub reminders_unjudged: usize,
    pub deleted_expired: usize,
    pub deleted_idle: usize,
    /// Longest time from a due reminder (or the end of the disruption it was due in) to
    /// its delivery.
    pub longest_delivery: Option<Duration>,
}

impl Findings {
    pub fn clean(&self) -> bool {
        self.wrongful.is_empty() && self.duplicates.is_empty() && self.lost.is_empty()
    }
}

pub struct Run<'a> {
    pub made: &'a [Made],
    pub changes: &'a [Change],
    pub mails: &'a [Mailed],
    pub deletions: &'a [Deletion],
    pub disruptions: &'a [Disruption],
    /// Kills of a replica (any kind), for telling retransmissions from duplicates.
    pub kills: &'a [DateTime<Utc>],
    /// Namespaces whose final object carries the daemon's annotations.
    pub touched: &'a BTreeSet<String>,
    pub end: DateTime<Utc>,
    pub rules: &'a Rules,
}

/// The expiry of `uid` in force at `t`: the latest change at or before `t`.
fn expiry_at(run: &Run, made: &Made, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut e = made.expires;
    for c in run.changes {
        if let Change::Expiry { at, uid, expires } = c {
            if *uid == made.uid && *at <= t {
                e = *expires;
            }
        }
    }
    e
}

pub fn check(run: &Run) -> Findings {
    let mut out = Findings::default();
    let by_uid: BTreeMap<&str, &Made> = run.made.iter().map(|m| (m.uid.as_str(), m)).collect();
    deletions(run, &by_uid, &mut out);
    untouched(run, &by_uid, &mut out);
    duplicates(run, &mut out);
    due_reminders(run, &mut out);
    out
}

fn deletions(run: &Run, by_uid: &BTreeMap<&str, &Made>, out: &mut Findings) {
    for d in run.deletions {
        let Some(made) = by_uid.get(d.uid.as_str()) else {
            out.wrongful.push(format!(
                "{} ({}) deleted: not a namespace of this run",
                d.name, d.uid
            ));
            continue;
        };
        let what = format!(
            "{} (uid {}) deleted at {}",
            d.name,
            d.uid,
            d.at.format("%H:%M:%S%.3f")
        );
        if made.protected || made.malformed {
            out.wrongful.push(format!(
                "{what}: protected or malformed, never to be reclaimed"
            ));
            continue;
        }
        let marks: Vec<&Mailed> = run
            .mails
            .iter()
            .filter(|m| m.uid == d.uid && m.notice == "mark" && m.at + run.rules.grace <= d.at)
            .collect();
        let Some(mark) = marks.last() else {
            out.wrongful.push(format!(
                "{what}: no mark notice for this uid a grace period ({}s) earlier",
                run.rules.grace.num_seconds()
            ));
            continue;
        };
        let extended = run.changes.iter().any(|c| match c {
            Change::Expiry { at, uid, expires } => {
                *uid == d.uid && *at > mark.at && *at < d.stamp && expires.is_none_or(|e| e > d.at)
            }
            _ => false,
        });
        if extended {
            out.wrongful.push(format!(
                "{what}: the owner extended or opted out after the mark notice"
            ));
            continue;
        }
        match expiry_at(run, made, d.at) {
            Some(e) if e <= d.at => out.deleted_expired += 1,
            _ if made.idle_slot && !made.volume => {
                let busy = run.changes.iter().any(|c| {
                    matches!(c, Change::Busy { at, uid }
                        if *uid == d.uid && *at + run.rules.busy_visible_after <= d.at)
                });
                if busy {
                    out.wrongful.push(format!(
                        "{what}: busy for longer than Prometheus needs to show it"
                    ));
                } else {
                    out.deleted_idle += 1;
                }
            }
            _ if made.volume => out.wrongful.push(format!(
                "{what}: not expired, and holds a volume (never reclaimed for idleness)"
            )),
            _ => out
                .wrongful
                .push(format!("{what}: neither expired nor idle")),
        }
    }
}

fn untouched(run: &Run, by_uid: &BTreeMap<&str, &Made>, out: &mut Findings) {
    for m in run.made.iter().filter(|m| m.protected) {
        if run.mails.iter().any(|x| x.uid == m.uid) {
            out.wrongful
                .push(format!("{}: protected, yet mailed about", m.name));
        }
        if run.touched.contains(&m.name) {
            out.wrongful
                .push(format!("{}: protected, yet annotated", m.name));
        }
    }
    for x in run.mails {
        if !by_uid.contains_key(x.uid.as_str()) {
            out.wrongful.push(format!(
                "a mail about {} ({}): not a namespace of this run",
                x.namespace, x.uid
            ));
        }
    }
}

/// What makes two mails the same notice: uid, notice, expiry, offset.
type NoticeKey = (String, String, Option<DateTime<Utc>>, Option<i64>);

fn duplicates(run: &Run, out: &mut Findings) {
    let mut seen: BTreeMap<NoticeKey, &Mailed> = BTreeMap::new();
    for m in run.mails {
        if m.notice == "remind" {
            out.reminders_delivered += 1;
        }
        if !matches!(m.notice.as_str(), "remind" | "report_findings" | "mark") {
            continue;
        }
        let key = (m.uid.clone(), m.notice.clone(), m.expires, m.offset);
        match seen.get(&key) {
            None => {
                seen.insert(key, m);
            }
            Some(first) => {
                // A mark notice again after the owner changed the expiry is a new notice.
                let changed = run.changes.iter().any(|c| {
                    matches!(c, Change::Expiry { at, uid, .. } if *uid == m.uid && *at > first.at && *at < m.at)
                });
                let killed = run.kills.iter().any(|k| *k >= first.at && *k <= m.at);
                if m.notice == "mark" && changed {
                    seen.insert(key, m);
                } else if killed && m.message_id == first.message_id {
                    out.retransmissions += 1;
                } else {
                    out.duplicates.push(format!(
                        "{} about {} ({}) delivered at {} and again at {}",
                        m.notice,
                        m.namespace,
                        m.uid,
                        first.at.format("%H:%M:%S%.3f"),
                        m.at.format("%H:%M:%S%.3f")
                    ));
                }
            }
        }
    }
}

/// The first moment from `from` on that starts a stretch of `healthy` without any
/// disruption, if it ends by `until`.
fn healthy_from(run: &Run, from: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut t = from;
    loop {
        if t + run.rules.healthy > until {
            return None;
        }
        let blocking = run
            .disruptions
            .iter()
            .filter(|d| d.from < t + run.rules.healthy && d.to > t)
            .map(|d| d.to)
            .max();
        match blocking {
            None => return Some(t),
            Some(to) => t = to,
        }
    }
}

fn due_reminders(run: &Run, out: &mut Findings) {
    for made in run.made.iter().filter(|m| !m.protected && !m.malformed) {
        // The stretches over which one expiry held: from its setting to the next change.
        let mut bounds: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = vec![(made.at, made.expires)];
        let mut gone = run.end;
        for c in run.changes {
            match c {
                Change::Expiry { at, uid, expires } if *uid == made.uid => {
                    bounds.push((*at, *expires))
                }
                _ => {}
            }
        }
        if let Some(d) = run.deletions.iter().find(|d| d.uid == made.uid) {
            gone = gone.min(d.at);
        }
        for (i, (set_at, expires)) in bounds.iter().enumerate() {
            let Some(e) = expires else { continue };
            let valid_to = bounds.get(i + 1).map_or(gone, |b| b.0).min(gone);
            for offset in &run.rules.offsets {
                let due = (*e - *offset).max(*set_at);
                if due >= *e || due >= valid_to {
                    continue;
                }
                let satisfied = run.mails.iter().find(|m| {
                    m.uid == made.uid
                        && m.notice == "remind"
                        && m.expires == Some(*e)
                        && m.offset.is_some_and(|o| o <= offset.num_seconds())
                        && m.at >= *set_at
                });
                if let Some(m) = satisfied {
                    let cleared = run
                        .disruptions
                        .iter()
                        .filter(|d| d.to > due && d.to <= m.at)
                        .map(|d| d.to)
                        .max()
                        .unwrap_or(due)
                        .max(due);
                    let delay = m.at - cleared;
                    out.longest_delivery =
                        Some(out.longest_delivery.map_or(delay, |l| l.max(delay)));
                }
                let judge_by = valid_to.min(*e).min(run.end);
                match healthy_from(run, due, judge_by) {
                    None => out.reminders_unjudged += 1,
                    Some(h) => {
                        out.reminders_due_checked += 1;
                        let deadline = h + run.rules.healthy;
                        if satisfied.is_none_or(|m| m.at > deadline) {
                            out.lost.push(format!(
                                "{} ({}): the {}s reminder for {} was due at {} and not delivered by {} (healthy since {})",
                                made.name,
                                made.uid,
                                offset.num_seconds(),
                                e.format("%H:%M:%S"),
                                due.format("%H:%M:%S"),
                                deadline.format("%H:%M:%S"),
                                h.format("%H:%M:%S"),
                            ));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn rules() -> Rules {
        Rules {
            grace: Duration::seconds(30),
            offsets: vec![Duration::seconds(120), Duration::seconds(60)],
            healthy: Duration::seconds(40),
            busy_visible_after: Duration::minutes(6),
        }
    }

    fn made(uid: &str, expires: i64) -> Made {
        Made {
            at: t(0),
            name: format!("ns-{uid}"),
            uid: uid.into(),
            expires: Some(t(expires)),
            idle_slot: false,
            volume: false,
            protected: false,
            malformed: false,
        }
    }

    fn mail(uid: &str, notice: &str, at: i64, expires: i64, offset: Option<i64>) -> Mailed {
        Mailed {
            at: t(at),
            uid: uid.into(),
            namespace: format!("ns-{uid}"),
            notice: notice.into(),
            expires: Some(t(expires)),
            offset,
            message_id: format!("<{uid}-{notice}-{offset:?}>"),
        }
    }

    fn check_with(
        made: &[Made],
        changes: &[Change],
        mails: &[Mailed],
        deletions: &[Deletion],
    ) -> Findings {
        let rules = rules();
        let touched = BTreeSet::new();
        check(&Run {
            made,
            changes,
            mails,
            deletions,
            disruptions: &[],
            kills: &[],
            touched: &touched,
            end: t(600),
            rules: &rules,
        })
    }

    fn deleted(uid: &str, at: i64) -> Deletion {
        Deletion {
            at: t(at),
            stamp: t(at),
            name: format!("ns-{uid}"),
            uid: uid.into(),
        }
    }

    fn good_mails() -> Vec<Mailed> {
        vec![
            mail("a", "remind", 181, 300, Some(120)),
            mail("a", "remind", 241, 300, Some(60)),
            mail("a", "mark", 301, 300, None),
        ]
    }

    #[test]
    fn a_run_that_went_right_is_clean() {
        let f = check_with(&[made("a", 300)], &[], &good_mails(), &[deleted("a", 340)]);
        assert!(f.clean(), "{f:?}");
        assert_eq!(
            (
                f.deleted_expired,
                f.reminders_due_checked,
                f.reminders_delivered
            ),
            (1, 2, 2)
        );
    }

    #[test]
    fn a_deletion_before_the_grace_period_or_after_an_extension_is_wrongful() {
        let f = check_with(&[made("a", 300)], &[], &good_mails(), &[deleted("a", 320)]);
        assert_eq!(f.wrongful.len(), 1, "{f:?}");
        let extended = [Change::Expiry {
            at: t(310),
            uid: "a".into(),
            expires: Some(t(900)),
        }];
        let f = check_with(
            &[made("a", 300)],
            &extended,
            &good_mails(),
            &[deleted("a", 340)],
        );
        assert_eq!(f.wrongful.len(), 1, "{f:?}");
        // Another uid's mark notice does not count.
        let mut other = good_mails();
        other[2].uid = "b".into();
        let f = check_with(
            &[made("a", 300), made("b", 300)],
            &[],
            &other,
            &[deleted("a", 340)],
        );
        assert!(
            f.wrongful.iter().any(|w| w.contains("no mark notice")),
            "{f:?}"
        );
    }

    #[test]
    fn a_namespace_not_expired_with_a_volume_or_busy_is_not_to_be_deleted() {
        let mut m = made("a", 300);
        m.expires = None;
        m.idle_slot = true;
        m.volume = true;
        let mails = [mail("a", "mark", 10, 0, None)];
        let f = check_with(&[m.clone()], &[], &mails, &[deleted("a", 100)]);
        assert_eq!(f.wrongful.len(), 1, "{f:?}");
        m.volume = false;
        let f = check_with(&[m.clone()], &[], &mails, &[deleted("a", 100)]);
        assert!(f.clean() && f.deleted_idle == 1, "{f:?}");
        let busy = [Change::Busy {
            at: t(-400),
            uid: "a".into(),
        }];
        let f = check_with(&[m], &busy, &mails, &[deleted("a", 100)]);
        assert_eq!(f.wrongful.len(), 1, "{f:?}");
    }

    #[test]
    fn a_reminder_twice_is_a_duplicate_and_one_never_sent_is_lost() {
        let mut mails = good_mails();
        mails.push(mail("a", "remind", 250, 300, Some(60)));
        let f = check_with(&[made("a", 300)], &[], &mails, &[deleted("a", 340)]);
        assert_eq!(f.duplicates.len(), 1, "{f:?}");
        // Made 50 s before its expiry: one 60 s reminder covers both offsets.
        let mut late = made("a", 300);
        late.at = t(250);
        let mails = [mail("a", "remind", 251, 300, Some(60))];
        let f = check_with(&[late], &[], &mails, &[]);
        assert!(f.lost.is_empty() && f.reminders_due_checked == 2, "{f:?}");
        let f = check_with(&[made("a", 300)], &[], &good_mails()[..1], &[]);
        assert_eq!(f.lost.len(), 1, "{f:?}");
    }
}
