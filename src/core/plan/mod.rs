//! The plan stage: a pure state machine from (assessment, lifecycle annotations, config,
//! now) to the actions to take. No I/O; `act` carries the actions out.
//!
//! Rules, each tested in `tests.rs` and as properties in `properties.rs`:
//! - terminating namespaces (deletion requested, waiting for finalizers) and protected
//!   ones get no action at all; opted-out ones are never marked or reclaimed (an existing
//!   mark is removed);
//! - a namespace holding bound PersistentVolumeClaims is not deleted for a cause that
//!   `lifecycle.reclaim_with_volumes` does not allow (idle, by default): it is not marked
//!   and an existing mark is removed; when its claims cannot be listed it is not marked
//!   and an existing mark is kept but not acted on. Sleep mode keeps volumes;
//! - before expiry, the reminder for the shortest due offset is sent once per expiry
//!   instant; offsets it supersedes are recorded with it, so downtime never causes a burst;
//! - an expired namespace, or an idle one without a future expiry, is marked, which tells
//!   its owners; with nobody to tell, it is not marked and an alert is raised instead;
//! - a mark is removed when its reason is gone (expiry extended or removed, activity seen);
//!   an `unknown` idle verdict keeps the mark but never reclaims;
//! - a marked namespace is reclaimed once a full grace period has passed since the notice
//!   and its reason still holds; at most `max_reclaims_per_cycle` per cycle, earliest first;
//! - malformed values are reported to the owner once per distinct set of values;
//! - in dry-run the plan is identical, with every action flagged as not executed.

mod lifecycle;

pub use lifecycle::{Lifecycle, Mark, Reason, Reminders};

use crate::core::assess::{Assessment, Expiry, ExpirySource, Finding, Verdict};
use crate::core::config::{Config, Mode, ReclaimBy};
use crate::core::model::{format_bytes, rfc3339, Span};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What to do, with the data the act stage needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionKind {
    /// E-mail a reminder that the namespace expires at `expires_at`.
    Remind {
        offset: Span,
        expires_at: DateTime<Utc>,
        /// Every offset this reminder accounts for (it supersedes longer, missed ones).
        covers: Vec<Span>,
    },
    /// Tell the owners, then record the mark: reclaimed after `reclaim_after` unless the
    /// reason goes away.
    Mark {
        cause: Reason,
        reclaim_after: DateTime<Utc>,
    },
    /// Remove the mark: the reason is gone.
    Unmark,
    /// Reclaim the namespace (re-checked against the live object first): delete it, or
    /// put it to sleep, as `lifecycle.reclaim_by` says.
    Reclaim {
        cause: Reason,
        uid: String,
        by: ReclaimBy,
    },
    /// Restore the workloads of a sleeping namespace and remove its mark: the reason is gone.
    Wake,
    /// Due for reclamation, but this cycle's limit is reached; next cycle.
    ReclaimDeferred { cause: Reason },
    /// Tell the owners that values on their namespace cannot be read.
    ReportFindings {
        findings: Vec<Finding>,
        fingerprint: String,
    },
    /// Something needs a human and there is nobody to e-mail: log it, raise an event.
    Alert,
}

impl ActionKind {
    /// The kind's name, as serialized (`kind`): in logs, metrics and `plan` summaries.
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionKind::Remind { .. } => "remind",
            ActionKind::Mark { .. } => "mark",
            ActionKind::Unmark => "unmark",
            ActionKind::Reclaim { .. } => "reclaim",
            ActionKind::Wake => "wake",
            ActionKind::ReclaimDeferred { .. } => "reclaim_deferred",
            ActionKind::ReportFindings { .. } => "report_findings",
            ActionKind::Alert => "alert",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    #[serde(flatten)]
    pub kind: ActionKind,
    /// Why, in one sentence a namespace owner understands.
    pub reason: String,
    /// Who is e-mailed, for actions that e-mail.
    pub recipients: Vec<String>,
    /// False in dry-run, and for actions that only inform.
    pub execute: bool,
}

/// Where a namespace stands now, before the planned actions, as shown in `plan` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Protected,
    OptedOut,
    Active,
    /// Within the reminder period before expiry.
    Expiring,
    /// Past expiry, not (yet) marked.
    Expired,
    /// Idle, not (yet) marked.
    Idle,
    /// Marked for reclamation, within the grace period.
    Marked,
    /// Marked and due for reclamation.
    Due,
    /// Reclaimed by sleep: workloads scaled to zero until the owner acts.
    Sleeping,
    /// Being deleted (by anyone), waiting for its finalizers: never acted on.
    Terminating,
}

impl State {
    /// Every state, in the order `/metrics` lists them (one series each per namespace).
    pub const ALL: [State; 10] = [
        State::Protected,
        State::OptedOut,
        State::Active,
        State::Expiring,
        State::Expired,
        State::Idle,
        State::Marked,
        State::Due,
        State::Sleeping,
        State::Terminating,
    ];

    /// The state's name, as serialized: in tables, CSV, metric labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Protected => "protected",
            State::OptedOut => "opted-out",
            State::Active => "active",
            State::Expiring => "expiring",
            State::Expired => "expired",
            State::Idle => "idle",
            State::Marked => "marked",
            State::Due => "due",
            State::Sleeping => "sleeping",
            State::Terminating => "terminating",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamespacePlan {
    pub name: String,
    pub state: State,
    pub actions: Vec<Action>,
    /// Facts behind the state worth showing (protection rule, waiting for evidence, ...).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub at: DateTime<Utc>,
    pub dry_run: bool,
    pub namespaces: Vec<NamespacePlan>,
}

/// Plans one cycle over every namespace.
pub fn plan(items: &[(Assessment, Lifecycle)], config: &Config, now: DateTime<Utc>) -> Plan {
    let mut namespaces: Vec<NamespacePlan> = items
        .iter()
        .map(|(a, l)| plan_namespace(a, l, config, now))
        .collect();
    limit_reclaims(
        &mut namespaces,
        items,
        config.lifecycle.max_reclaims_per_cycle,
    );
    let dry_run = config.mode == Mode::DryRun;
    if dry_run {
        for action in namespaces.iter_mut().flat_map(|n| n.actions.iter_mut()) {
            action.execute = false;
        }
    }
    Plan {
        at: now,
        dry_run,
        namespaces,
    }
}

/// Keeps the `max` reclaims with the earliest reclaim-after; defers the rest.
fn limit_reclaims(plans: &mut [NamespacePlan], items: &[(Assessment, Lifecycle)], max: u32) {
    let mut due: Vec<(DateTime<Utc>, String, usize)> = plans
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.actions
                .iter()
                .any(|a| matches!(a.kind, ActionKind::Reclaim { .. }))
        })
        .filter_map(|(i, p)| {
            let after = items[i].1.mark.as_ref()?.reclaim_after;
            Some((after, p.name.clone(), i))
        })
        .collect();
    due.sort();
    for (_, _, i) in due.into_iter().skip(max as usize) {
        for action in &mut plans[i].actions {
            if let ActionKind::Reclaim { cause, .. } = action.kind {
                action.kind = ActionKind::ReclaimDeferred { cause };
                action.reason = format!(
                    "{} (deferred: at most {max} reclamations per cycle)",
                    action.reason
                );
                action.execute = false;
            }
        }
    }
}

/// Plans one namespace, without the per-cycle reclaim limit.
pub fn plan_namespace(
    a: &Assessment,
    l: &Lifecycle,
    config: &Config,
    now: DateTime<Utc>,
) -> NamespacePlan {
    if let Some(p) = untouchable(a) {
        return p;
    }
    let mut ns = Planning {
        a,
        l,
        config,
        now,
        actions: Vec::new(),
        notes: Vec::new(),
    };
    ns.note_lifecycle_problems();
    ns.report_findings();
    if let Expiry::Never { source } = &a.expiry {
        ns.opted_out(source);
        return ns.finish(State::OptedOut);
    }
    let facts = Facts::of(a, config, now);
    if let Some(h) = &facts.held {
        ns.notes.push(h.text.clone());
    }
    let expiring = facts.future_expiry.is_some_and(|t| ns.remind_before(t));
    ns.transition(&facts);
    let state = ns.state(&facts, expiring);
    ns.finish(state)
}

/// Terminating and protected namespaces get no action at all, only a note.
fn untouchable(a: &Assessment) -> Option<NamespacePlan> {
    let (state, note) = if let Some(since) = a.terminating_since {
        (
            State::Terminating,
            format!(
                "terminating since {} (deletion requested, waiting for finalizers): no action",
                rfc3339(since)
            ),
        )
    } else {
        (
            State::Protected,
            format!("protected: {}", a.protected.as_ref()?),
        )
    };
    Some(NamespacePlan {
        name: a.name.clone(),
        state,
        actions: Vec::new(),
        notes: vec![note],
    })
}

/// What the namespace's expiry, idleness and volumes say before its mark is looked at.
struct Facts {
    expired: bool,
    future_expiry: Option<DateTime<Utc>>,
    /// Why the namespace should be marked (and, once marked and due, reclaimed).
    condition: Option<Reason>,
    /// A cause held back by the volumes it would destroy.
    held: Option<Held>,
}

impl Facts {
    fn of(a: &Assessment, config: &Config, now: DateTime<Utc>) -> Facts {
        let expires_at = a.expiry.at();
        let expired = expires_at.is_some_and(|t| now >= t);
        let future_expiry = expires_at.filter(|t| now < *t);
        let idle_reclaimable =
            config.idle.reclaim && a.idle.verdict == Verdict::Idle && future_expiry.is_none();
        let condition = if expired {
            Some(Reason::Expired)
        } else if idle_reclaimable {
            Some(Reason::Idle)
        } else {
            None
        };
        let held = condition.and_then(|cause| held_by_volumes(a, cause, config));
        Facts {
            expired,
            future_expiry,
            condition: condition.filter(|_| held.is_none()),
            held,
        }
    }

    fn held_for(&self, reason: Reason) -> Option<&Held> {
        self.held.as_ref().filter(|h| h.cause == reason)
    }
}

/// One namespace being planned: its inputs, and the actions and notes decided so far.
struct Planning<'a> {
    a: &'a Assessment,
    l: &'a Lifecycle,
    config: &'a Config,
    now: DateTime<Utc>,
    actions: Vec<Action>,
    notes: Vec<String>,
}

impl Planning<'_> {
    fn act(&mut self, kind: ActionKind, reason: String, emails: bool) {
        push(
            &mut self.actions,
            &self.a.owner.recipients,
            kind,
            reason,
            emails,
        )
    }

    fn finish(self, state: State) -> NamespacePlan {
        NamespacePlan {
            name: self.a.name.clone(),
            state,
            actions: self.actions,
            notes: self.notes,
        }
    }

    fn note_lifecycle_problems(&mut self) {
        for problem in &self.l.unreadable {
            self.notes
                .push(format!("lifecycle annotation ignored: {problem}"));
        }
        if let Some(why) = &self.l.voided {
            self.notes.push(why.clone());
        }
    }

    /// Malformed values are reported once per distinct set of values.
    fn report_findings(&mut self) {
        let findings = &self.a.findings;
        if findings.is_empty() {
            return;
        }
        let fingerprint = fingerprint(findings);
        if self.l.reported.as_deref() == Some(fingerprint.as_str()) {
            return;
        }
        let what = findings
            .iter()
            .map(|f| format!("{}={:?}", f.key, f.value))
            .collect::<Vec<_>>()
            .join(", ");
        self.act(
            ActionKind::ReportFindings {
                findings: findings.clone(),
                fingerprint,
            },
            format!("cannot read {what}"),
            true,
        );
    }

    /// Opted out: never marked or reclaimed; an existing mark is removed.
    fn opted_out(&mut self, source: &ExpirySource) {
        self.notes.push(format!(
            "opted out by {} {}={}",
            source.kind.as_str(),
            source.key,
            source.value
        ));
        let why = "the owner opted out of expiry".to_string();
        if self.l.may_be_asleep() {
            self.act(ActionKind::Wake, why, false);
        } else if self.l.mark.is_some() {
            self.act(ActionKind::Unmark, why, false);
        }
    }

    /// The reminder for the shortest due offset before expiry at `t`, once per expiry
    /// instant, covering the longer ones; true when within the reminder period.
    fn remind_before(&mut self, t: DateTime<Utc>) -> bool {
        let now = self.now;
        let due: Vec<Span> = self
            .config
            .lifecycle
            .reminder_offsets
            .iter()
            .copied()
            .filter(|o| now >= t - o.as_delta())
            .collect();
        let Some(&latest) = due.iter().min() else {
            return false;
        };
        if !self.l.reminded(t).contains(&latest) {
            self.act(
                ActionKind::Remind {
                    offset: latest,
                    expires_at: t,
                    covers: due.clone(),
                },
                format!("expires {} (reminder {latest} before)", rfc3339(t)),
                true,
            );
        }
        true
    }

    /// The reason of a mark or a reclamation, in words.
    fn reason_text(&self, r: Reason) -> String {
        match (r, &self.a.expiry) {
            (Reason::Expired, Expiry::At { at, source }) => format!(
                "expired {} ({} {}={})",
                rfc3339(*at),
                source.kind.as_str(),
                source.key,
                source.value
            ),
            _ => self.a.idle.summary.clone(),
        }
    }

    /// From the current mark (or none) and the condition (or none) to what comes next.
    fn transition(&mut self, facts: &Facts) {
        match (&self.l.mark, facts.condition) {
            (None, None) => self.unmarked(facts),
            (Some(mark), Some(reason)) if mark.reason == reason && self.stale(mark) => {
                self.notify_again(mark, reason)
            }
            (Some(mark), Some(reason)) if mark.reason == reason => self.marked(mark, reason),
            (_, Some(reason)) => self.mark(reason),
            // Its claims cannot be listed: the mark stands, nothing is reclaimed.
            (Some(mark), None) if facts.held_for(mark.reason).is_some_and(|h| !h.known) => {}
            (Some(mark), None) => self.reason_gone(mark, facts),
        }
    }

    /// No mark and no reason for one: clears what should not be there.
    fn unmarked(&mut self, facts: &Facts) {
        // Waking clears every lifecycle annotation too, copied ones included.
        if self.l.may_be_asleep() {
            self.act(
                ActionKind::Wake,
                "the reclamation mark was removed".into(),
                false,
            );
        } else if self.l.voided.is_some() {
            self.act(
                ActionKind::Unmark,
                "lifecycle annotations not written for this namespace were removed".into(),
                false,
            );
        } else if !facts.expired
            && self.a.idle.verdict == Verdict::Idle
            && !self.config.idle.reclaim
        {
            self.notes
                .push("idle, but idle.reclaim is off: not marked".into());
        }
    }

    /// An awake mark whose notice is older than `lifecycle.notice_max_age`.
    fn stale(&self, mark: &Mark) -> bool {
        self.l.sleeping_since.is_none()
            && self.now - mark.notified_at > self.config.lifecycle.notice_max_age.as_delta()
    }

    /// An old notice is no notice: the owners may long have forgotten it (the mark waited
    /// through months of unknown idleness, or behind the per-cycle limit).
    fn notify_again(&mut self, mark: &Mark, reason: Reason) {
        let lifecycle = &self.config.lifecycle;
        let reclaim_after = self.now + lifecycle.grace_period.as_delta();
        let text = format!(
            "{}; the owners were told {}, more than {} ago: told again, reclaimed after {} unless the owner acts",
            self.reason_text(reason),
            rfc3339(mark.notified_at),
            lifecycle.notice_max_age,
            rfc3339(reclaim_after)
        );
        self.act(
            ActionKind::Mark {
                cause: reason,
                reclaim_after,
            },
            text,
            true,
        );
    }

    /// Marked and the reason still holds: asleep, due for reclamation, or waiting.
    fn marked(&mut self, mark: &Mark, reason: Reason) {
        let lifecycle = &self.config.lifecycle;
        let due_at = mark.due_at(lifecycle.grace_period);
        if let Some(since) = self.l.sleeping_since {
            self.notes.push(format!(
                "asleep since {} ({}); wakes when the owner extends or opts out",
                rfc3339(since),
                reason.as_str()
            ));
        } else if self.now >= due_at {
            let text = format!(
                "{}; owners told {}, grace period of {} over",
                self.reason_text(reason),
                rfc3339(mark.notified_at),
                lifecycle.grace_period
            );
            self.act(
                ActionKind::Reclaim {
                    cause: reason,
                    uid: self.a.uid.clone(),
                    by: lifecycle.reclaim_by,
                },
                text,
                false,
            );
        } else {
            self.notes.push(format!(
                "marked ({}); reclaim after {}",
                reason.as_str(),
                rfc3339(due_at)
            ));
        }
    }

    /// A reason and no mark for it yet: mark, which tells the owners.
    fn mark(&mut self, reason: Reason) {
        let reclaim_after = self.now + self.config.lifecycle.grace_period.as_delta();
        let text = if self.a.owner.recipients.is_empty() {
            format!(
                "{}; would be marked for reclamation",
                self.reason_text(reason)
            )
        } else {
            format!(
                "{}; will be reclaimed after {} unless the owner acts",
                self.reason_text(reason),
                rfc3339(reclaim_after)
            )
        };
        self.act(
            ActionKind::Mark {
                cause: reason,
                reclaim_after,
            },
            text,
            true,
        );
    }

    /// Marked, and the reason is gone: unmark (or wake), unless an idle mark only waits
    /// for idleness to be confirmed.
    fn reason_gone(&mut self, mark: &Mark, facts: &Facts) {
        let a = self.a;
        let waiting = mark.reason == Reason::Idle
            && a.idle.verdict == Verdict::Unknown
            && self.config.idle.reclaim
            && facts.future_expiry.is_none();
        if waiting {
            self.notes.push(format!(
                "marked idle, but idleness cannot be confirmed now ({}): not reclaimed until it is",
                a.idle.summary
            ));
            return;
        }
        let why = self.why_gone(mark, facts);
        let kind = if self.l.may_be_asleep() {
            ActionKind::Wake
        } else {
            ActionKind::Unmark
        };
        self.act(kind, why, false);
    }

    /// Why the reason of `mark` no longer holds, in words.
    fn why_gone(&self, mark: &Mark, facts: &Facts) -> String {
        match (mark.reason, &self.a.expiry) {
            _ if facts.held_for(mark.reason).is_some() => facts
                .held_for(mark.reason)
                .map(|h| h.text.clone())
                .unwrap_or_default(),
            (Reason::Expired, Expiry::At { at, .. }) => {
                format!("expiry extended to {}", rfc3339(*at))
            }
            (Reason::Expired, Expiry::Malformed { .. }) => {
                "the expiry value can no longer be read".into()
            }
            (Reason::Expired, _) => "the expiry was removed".into(),
            (Reason::Idle, _) if facts.future_expiry.is_some() => {
                "the owner set an expiry in the future".into()
            }
            (Reason::Idle, _) if !self.config.idle.reclaim => {
                "idle reclamation is switched off".into()
            }
            (Reason::Idle, _) => format!("activity resumed: {}", self.a.idle.summary),
        }
    }

    /// The state is where the namespace stands now; the actions say what comes next.
    fn state(&self, facts: &Facts, expiring: bool) -> State {
        let reclaiming = self
            .actions
            .iter()
            .any(|x| matches!(x.kind, ActionKind::Reclaim { .. }));
        if reclaiming {
            State::Due
        } else if self.l.sleeping_since.is_some() {
            State::Sleeping
        } else if self.l.mark.is_some() {
            State::Marked
        } else if facts.expired {
            State::Expired
        } else if self.a.idle.verdict == Verdict::Idle {
            State::Idle
        } else if expiring {
            State::Expiring
        } else {
            State::Active
        }
    }
}

/// A cause the namespace is not reclaimed for because of the volumes it holds.
struct Held {
    cause: Reason,
    /// False when its claims could not be listed.
    known: bool,
    text: String,
}

/// Whether deleting `a` for `cause` would destroy volumes that
/// `lifecycle.reclaim_with_volumes` keeps, or might (its claims could not be listed).
fn held_by_volumes(a: &Assessment, cause: Reason, config: &Config) -> Option<Held> {
    let allowed = config.lifecycle.reclaim_with_volumes;
    let allowed = match cause {
        Reason::Expired => allowed.expired,
        Reason::Idle => allowed.idle,
    };
    if allowed || config.lifecycle.reclaim_by == ReclaimBy::Sleep {
        return None;
    }
    let key = format!("lifecycle.reclaim_with_volumes.{} is false", cause.as_str());
    let (known, text) = match &a.volumes {
        None => (
            false,
            format!(
                "{}, but its PersistentVolumeClaims cannot be listed: not reclaimed until they can ({key})",
                cause.as_str()
            ),
        ),
        Some(v) if v.bound > 0 => (
            true,
            format!(
                "{}, but it holds {} bound PersistentVolumeClaim{} ({}): not reclaimed ({key})",
                cause.as_str(),
                v.bound,
                if v.bound == 1 { "" } else { "s" },
                format_bytes(v.bytes)
            ),
        ),
        Some(_) => return None,
    };
    Some(Held { cause, known, text })
}

/// Adds an action; one that e-mails nobody becomes an alert.
fn push(
    actions: &mut Vec<Action>,
    recipients: &[String],
    kind: ActionKind,
    reason: String,
    emails: bool,
) {
    let nobody = emails && recipients.is_empty();
    let (kind, reason) = if nobody {
        (
            ActionKind::Alert,
            format!("{reason}; not done: nobody can be told (no owner e-mail, no known team, no fallback recipients)"),
        )
    } else {
        (kind, reason)
    };
    let execute = !matches!(kind, ActionKind::Alert | ActionKind::ReclaimDeferred { .. });
    actions.push(Action {
        kind,
        reason,
        recipients: if emails {
            recipients.to_vec()
        } else {
            Vec::new()
        },
        execute,
    });
}

/// A short, stable digest of the malformed values (FNV-1a, 64 bits).
pub fn fingerprint(findings: &[Finding]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for f in findings {
        for byte in f.key.bytes().chain([0]).chain(f.value.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
