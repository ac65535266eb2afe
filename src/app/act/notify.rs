//! Actions that tell people: a reminder, a mark notice or a report of malformed values
//! (mailed, then recorded exactly as sent; a mail whose record is owed is not sent again),
//! and an alert when there is nobody to e-mail.

use super::records::record_mail;
use super::*;

/// A reminder, a mark notice or a report of malformed values: mailed, then recorded
/// exactly as sent. A mail accepted earlier whose record is still owed is not sent again.
pub(super) async fn mail_action<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    action: &Action,
    journal: &mut Journal<'_>,
) -> Result<Flow, Failure> {
    let kind = Kind::of(&action.kind);
    let key = mail_key(&on.obs.namespace.uid, &action.kind);
    if let Some((key, owed)) = key
        .as_deref()
        .and_then(|k| on.actor.unrecorded.get(k).map(|e| (k, e)))
    {
        retry_owed(on, fresh, kind, key, &owed, journal).await?;
        return Ok(Flow::Next);
    }
    let delivery = Delivery {
        action,
        assessment: &fresh.assessment,
        now: on.now,
        tombstone: None,
        reclaimed: false,
    };
    if let Err(e) = on.actor.mail.deliver(delivery).await {
        let message = format!("{}: not sent: {e}; retried next cycle", action.reason);
        on.event(journal, &fresh.object, "NotificationFailed", &message, true)
            .await;
        journal.failed(kind, Step::Mail, format!("mail not accepted: {e}"));
        // Nothing is recorded: the next cycle tries again.
        return Ok(Flow::Stop);
    }
    // Recorded as sent when the server accepted it, not when the cycle began: a mark's
    // grace period runs from the moment its notice went out (a slow server can take
    // seconds), so the owners always get the whole of it.
    // Annotations keep whole seconds: rounded up, so the record never says earlier.
    let accepted = on.now.max(Utc::now());
    let accepted = match accepted.timestamp_subsec_nanos() {
        0 => accepted,
        _ => DateTime::from_timestamp(accepted.timestamp() + 1, 0).unwrap_or(accepted),
    };
    if let Some(key) = &key {
        if !record_mail(on, key, &action.kind, accepted, &fresh.object, journal).await? {
            return Ok(Flow::Next);
        }
    }
    let reason = match &action.kind {
        ActionKind::Remind { .. } => "ReminderSent",
        ActionKind::Mark { .. } => "MarkedForReclamation",
        _ => "MalformedValuesReported",
    };
    on.event(journal, &fresh.object, reason, &action.reason, false)
        .await;
    Ok(Flow::Next)
}

/// A mail accepted earlier, its record still owed: never mailed again; the record is
/// retried once its backoff has passed.
pub(super) async fn retry_owed<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    kind: Kind,
    key: &str,
    owed: &Entry,
    journal: &mut Journal<'_>,
) -> Result<(), Failure> {
    if on.now < owed.next_try {
        journal.skipped(
            kind,
            format!(
                "mailed {} but not yet recorded ({} failed record(s)); not sent again, record retried after {}",
                rfc3339(owed.sent_at),
                owed.failures,
                rfc3339(owed.next_try)
            ),
        );
        return Ok(());
    }
    record_mail(on, key, &owed.kind, owed.sent_at, &fresh.object, journal).await?;
    Ok(())
}

/// Something needs a human and there is nobody to e-mail: a log line and a warning event.
pub(super) async fn alert<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    action: &Action,
    journal: &mut Journal<'_>,
) -> Flow {
    tracing::warn!(namespace = %on.name(), reason = %action.reason, "needs a human");
    on.event(
        journal,
        &fresh.object,
        "NeedsAttention",
        &action.reason,
        true,
    )
    .await;
    journal.done(Kind::Alert, action.reason.clone());
    Flow::Next
}
