//! Recording a carried-out action in the namespace's annotations, on the version just
//! read; on a conflict, re-read and re-plan, and record on the fresh version only if the
//! action still stands.

use super::*;

/// How writing a record ended.
pub(super) enum Recorded {
    Written,
    /// The fresh state already holds it (another replica, or an earlier try, wrote it).
    AlreadyThere,
    /// The re-read plan no longer asks for it: nothing is recorded.
    NoLongerPlanned,
    Failed(WriteError),
}

/// Records a carried-out action in the namespace's annotations, on the version just read.
/// On a conflict, re-reads and re-plans: if the action still stands, records it on the
/// fresh version (without acting again); if not, someone else already did.
pub(super) async fn record<D: Deliver>(
    on: &On<'_, D>,
    kind: &ActionKind,
    journal: &mut Journal<'_>,
) -> Result<(), Failure> {
    match record_as(on, kind, on.now, journal).await? {
        Recorded::Failed(WriteError::Conflict(_)) => {
            journal.failed(
                Kind::of(kind),
                Step::Annotate,
                "kept changing under us; retried next cycle".into(),
            );
            Ok(())
        }
        Recorded::Failed(e) => Err(failed(Step::Annotate)(e)),
        _ => Ok(()),
    }
}

/// Records an accepted mail exactly as it was sent (`sent`, at `sent_at`). A record that
/// cannot be written is owed: kept in `actor.unrecorded`, retried with backoff, counted
/// as a failed annotation and raised as a warning event, and the mail is not sent again.
/// Returns whether the record is on the namespace now.
pub(super) async fn record_mail<D: Deliver>(
    on: &On<'_, D>,
    key: &str,
    sent: &ActionKind,
    sent_at: DateTime<Utc>,
    object: &Namespace,
    journal: &mut Journal<'_>,
) -> Result<bool, Failure> {
    let unrecorded = on.actor.unrecorded;
    match record_as(on, sent, sent_at, journal).await? {
        Recorded::Written | Recorded::AlreadyThere => {
            unrecorded.forget(key);
            Ok(true)
        }
        Recorded::NoLongerPlanned => {
            unrecorded.forget(key);
            Ok(false)
        }
        Recorded::Failed(e) => {
            unrecorded.failed(key, sent, sent_at, on.now);
            let next = unrecorded
                .get(key)
                .map(|e| rfc3339(e.next_try))
                .unwrap_or_default();
            let message = format!(
                "mailed {} but the record could not be written: {e}; not mailed again, record retried after {next}",
                rfc3339(sent_at)
            );
            on.event(journal, object, "RecordFailed", &message, true)
                .await;
            journal.failed(Kind::of(sent), Step::Annotate, message);
            Ok(false)
        }
    }
}

/// Writes `done` (carried out at `at`) into the namespace's lifecycle annotations, if the
/// namespace as read now still plans it: a mail is matched by what it said (its key), any
/// other action by its kind. What is written is `done` itself, never the re-planned
/// action, so nothing is recorded that was not done.
pub(super) async fn record_as<D: Deliver>(
    on: &On<'_, D>,
    done: &ActionKind,
    at: DateTime<Utc>,
    journal: &mut Journal<'_>,
) -> Result<Recorded, Failure> {
    let (name, uid) = (on.name(), &on.obs.namespace.uid);
    let prefix = &on.actor.config.keys.state_prefix;
    let kind = Kind::of(done);
    let key = mail_key(uid, done);
    let mut last = None;
    for _ in 0..3 {
        let Some(fresh) = on.refresh().await? else {
            journal.skipped(
                kind,
                "gone or re-created before it could be recorded".into(),
            );
            return Ok(Recorded::NoLongerPlanned);
        };
        let still = fresh.actions.iter().find(|a| match &key {
            Some(key) => mail_key(uid, &a.kind).as_ref() == Some(key),
            None => same_kind(&a.kind, done),
        });
        let next = fresh.lifecycle.after(done, at);
        let patch = next.to_annotations(prefix);
        let Some(still) = still else {
            if patch == fresh.lifecycle.to_annotations(prefix) || key.is_none() {
                journal.done(kind, "already recorded".into());
                return Ok(Recorded::AlreadyThere);
            }
            journal.skipped(
                kind,
                "the namespace changed while the mail was sent; nothing recorded, the new plan acts next cycle".into(),
            );
            return Ok(Recorded::NoLongerPlanned);
        };
        match on
            .actor
            .cluster
            .annotate(name, &fresh.resource_version, &patch)
            .await
        {
            Ok(()) => {
                journal.done(kind, still.reason.clone());
                return Ok(Recorded::Written);
            }
            Err(e @ WriteError::Conflict(_)) => last = Some(e),
            Err(e) => return Ok(Recorded::Failed(e)),
        }
    }
    Ok(Recorded::Failed(
        last.unwrap_or_else(|| WriteError::Conflict(name.to_string())),
    ))
}
