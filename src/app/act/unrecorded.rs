//! Mails the SMTP server accepted whose record on the namespace could not be written yet.
//!
//! Without this, a record that keeps failing (an admission policy refusing our patch, a
//! 5xx, the annotation size limit) makes every cycle plan the same mail again: a reminder
//! every 30 minutes. The daemon keeps one [`Unrecorded`] for its whole life: a mail listed
//! here is not sent again; only its record is retried, with backoff. The list is in
//! memory: after a restart (or on another replica) such a mail may go out once more,
//! which keeps mail at least once and never lost.

use crate::core::plan::ActionKind;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// First wait before a failed record is tried again; doubled on each failure.
const FIRST_BACKOFF: TimeDelta = TimeDelta::minutes(1);
/// The longest wait between two tries.
const MAX_BACKOFF: TimeDelta = TimeDelta::hours(1);

/// What identifies a mail across cycles: the namespace's uid and what the mail says (a
/// reminder's offset and expiry instant, a mark's cause, the malformed values' digest).
pub fn mail_key(uid: &str, kind: &ActionKind) -> Option<String> {
    let what = match kind {
        ActionKind::Remind {
            offset, expires_at, ..
        } => format!(
            "remind {offset} {}",
            crate::core::model::rfc3339(*expires_at)
        ),
        ActionKind::Mark { cause, .. } => format!("mark {}", cause.as_str()),
        ActionKind::ReportFindings { fingerprint, .. } => format!("findings {fingerprint}"),
        _ => return None,
    };
    Some(format!("{uid} {what}"))
}

/// One accepted, unrecorded mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What was sent (recorded exactly so once the record can be written).
    pub kind: ActionKind,
    /// When the server accepted it.
    pub sent_at: DateTime<Utc>,
    /// Failed records so far.
    pub failures: u32,
    /// No record is tried before this.
    pub next_try: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Unrecorded {
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl Unrecorded {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The accepted mail under `key`, if its record is still owed.
    pub fn get(&self, key: &str) -> Option<Entry> {
        self.lock().get(key).cloned()
    }

    /// A record failed (again) at `now`: the next try waits longer.
    pub fn failed(&self, key: &str, kind: &ActionKind, sent_at: DateTime<Utc>, now: DateTime<Utc>) {
        let mut entries = self.lock();
        let entry = entries.entry(key.to_string()).or_insert_with(|| Entry {
            kind: kind.clone(),
            sent_at,
            failures: 0,
            next_try: now,
        });
        entry.failures += 1;
        let factor = 2_i32.saturating_pow(entry.failures.saturating_sub(1).min(16));
        entry.next_try = now + (FIRST_BACKOFF * factor).min(MAX_BACKOFF);
    }

    /// The record was written, or is no longer owed.
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Keeps only the entries whose mail is still planned (`planned` keys): a mail the
    /// plan no longer asks for owes no record.
    pub fn retain(&self, planned: &std::collections::BTreeSet<String>) {
        self.lock().retain(|k, _| planned.contains(k));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::utc;
    use crate::core::model::Span;

    fn remind(expires: &str) -> ActionKind {
        ActionKind::Remind {
            offset: Span::days(7),
            expires_at: utc(expires),
            covers: vec![Span::days(7)],
        }
    }

    #[test]
    fn a_key_names_the_namespace_and_what_the_mail_says() {
        let a = mail_key("u1", &remind("2026-12-01T00:00:00Z"));
        assert_eq!(a.as_deref(), Some("u1 remind 7d 2026-12-01T00:00:00Z"));
        assert_ne!(a, mail_key("u2", &remind("2026-12-01T00:00:00Z")));
        assert_ne!(a, mail_key("u1", &remind("2026-12-02T00:00:00Z")));
        assert_eq!(mail_key("u1", &ActionKind::Unmark), None);
        // A mark's reclaim-after moves with each cycle's clock; the mail it stands for not.
        let mark = |t: &str| ActionKind::Mark {
            cause: crate::core::plan::Reason::Idle,
            reclaim_after: utc(t),
        };
        assert_eq!(
            mail_key("u1", &mark("2026-12-01T00:00:00Z")),
            mail_key("u1", &mark("2026-12-01T00:30:00Z"))
        );
    }

    #[test]
    fn failed_records_back_off_up_to_an_hour() {
        let u = Unrecorded::default();
        let kind = remind("2026-12-01T00:00:00Z");
        let t0 = utc("2026-11-24T00:00:00Z");
        let mut waits = Vec::new();
        for _ in 0..9 {
            u.failed("k", &kind, t0, t0);
            waits.push((u.get("k").map(|e| e.next_try).unwrap_or(t0) - t0).num_minutes());
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(u.get("k").map(|e| e.sent_at), Some(t0));
        u.retain(&["other".to_string()].into_iter().collect());
        assert!(u.is_empty());
    }
}
