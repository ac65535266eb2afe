//! Actions that change what runs: a mark withdrawn, a namespace put to sleep and woken,
//! and a namespace deleted after its tombstone, each re-checked against the live object.

use super::records::record;
use super::*;

/// Removes the mark: its reason is gone.
pub(super) async fn unmark<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    action: &Action,
    journal: &mut Journal<'_>,
) -> Result<Flow, Failure> {
    record(on, &action.kind, journal).await?;
    on.event(journal, &fresh.object, "Unmarked", &action.reason, false)
        .await;
    Ok(Flow::Next)
}

/// Reclaims by sleep: the replicas to restore go on the namespace first (guarded by the
/// version just read), so whatever happens next, a wake can restore them; then its
/// workloads are scaled to zero, the sleep recorded and the owners told.
pub(super) async fn sleep<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    action: &Action,
    cause: Reason,
    journal: &mut Journal<'_>,
) -> Result<Flow, Failure> {
    let (config, cluster, name) = (on.actor.config, on.actor.cluster, on.name());
    let prefix = &config.keys.state_prefix;
    let running = cluster
        .workloads(name, &format!("{prefix}replicas"))
        .await
        .map_err(failed(Step::Reclaim))?;
    if !keep_replicas(on, fresh, &running, journal).await? {
        return Ok(Flow::Stop);
    }
    let mut scaled = 0;
    for w in running.iter().filter(|w| w.replicas > 0) {
        if cluster
            .scale(name, &w.key, 0)
            .await
            .map_err(failed(Step::Reclaim))?
        {
            scaled += 1;
        }
    }
    record(on, &action.kind, journal).await?;
    ledger::record(
        config,
        &fresh.assessment,
        cause,
        ReclaimBy::Sleep,
        on.now,
        None,
    );
    let message = format!(
        "{}; {scaled} workload(s) scaled to zero until the owner extends or opts out",
        action.reason
    );
    on.event(journal, &fresh.object, "PutToSleep", &message, false)
        .await;
    let notice = Delivery {
        action,
        assessment: &fresh.assessment,
        now: on.now,
        tombstone: None,
        reclaimed: true,
    };
    if let Err(e) = on.actor.mail.deliver(notice).await {
        journal.done(Kind::Reclaim, format!("asleep; notice not sent: {e}"));
    }
    Ok(Flow::Stop)
}

/// Records on the namespace the replicas a wake restores (those it records, and every
/// running workload's), unless it records exactly those already. Returns false when the
/// namespace changed since it was read: nothing is scaled, it is re-planned next cycle.
pub(super) async fn keep_replicas<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    running: &[Workload],
    journal: &mut Journal<'_>,
) -> Result<bool, Failure> {
    let mut replicas = fresh.lifecycle.replicas.clone().unwrap_or_default();
    for w in running.iter().filter(|w| w.replicas > 0) {
        replicas.insert(w.key.clone(), w.replicas);
    }
    if fresh.lifecycle.replicas.as_ref() == Some(&replicas) {
        return Ok(true);
    }
    let mut next = fresh.lifecycle.clone();
    next.unreadable.clear();
    next.replicas = Some(replicas);
    let annotations = next.to_annotations(&on.actor.config.keys.state_prefix);
    match on
        .actor
        .cluster
        .annotate(on.name(), &fresh.resource_version, &annotations)
        .await
    {
        Ok(()) => Ok(true),
        Err(WriteError::Conflict(_)) => {
            journal.skipped(
                Kind::Reclaim,
                "changed since it was read; re-planned next cycle".into(),
            );
            Ok(false)
        }
        Err(e) => Err(failed(Step::Annotate)(e)),
    }
}

/// Restores what the namespace records (and what earlier versions recorded on each
/// workload), only where the workload is still at zero, then removes the mark.
pub(super) async fn wake<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    action: &Action,
    journal: &mut Journal<'_>,
) -> Result<Flow, Failure> {
    let (cluster, name) = (on.actor.cluster, on.name());
    let legacy = format!("{}replicas", on.actor.config.keys.state_prefix);
    let running = cluster
        .workloads(name, &legacy)
        .await
        .map_err(failed(Step::Reclaim))?;
    let mut replicas = fresh.lifecycle.replicas.clone().unwrap_or_default();
    for w in &running {
        if let Some(n) = w.legacy_record {
            replicas.entry(w.key.clone()).or_insert(n);
        }
    }
    let mut woken = 0;
    for (key, n) in &replicas {
        let asleep = running.iter().any(|w| &w.key == key && w.replicas == 0);
        if asleep
            && cluster
                .scale(name, key, *n)
                .await
                .map_err(failed(Step::Reclaim))?
        {
            woken += 1;
        }
    }
    record(on, &action.kind, journal).await?;
    let message = format!("{}; {woken} workload(s) restored", action.reason);
    on.event(journal, &fresh.object, "Woken", &message, false)
        .await;
    Ok(Flow::Next)
}

/// Reclaims by deletion: writes the tombstone (no tombstone, no deletion), then reads and
/// re-plans once more and deletes only if nothing changed, with uid and resourceVersion
/// preconditions; then records it in the ledger and tells the owners.
pub(super) async fn delete<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    action: &Action,
    uid: &str,
    (cause, by): (Reason, ReclaimBy),
    journal: &mut Journal<'_>,
) -> Result<Flow, Failure> {
    let Some(path) = tombstone(on, fresh, action, uid, journal).await else {
        return Ok(Flow::Stop);
    };
    // Writing the tombstone takes time: the owner may have extended the namespace
    // meanwhile. Read and plan again; delete only what was decided on, unchanged since
    // (uid and resourceVersion preconditions).
    if !unchanged(on, fresh, action).await? {
        let _ = std::fs::remove_file(&path);
        let why = if !on.may_act() {
            "no longer the leader (Lease not renewed in time)"
        } else {
            "the namespace changed while its tombstone was written"
        };
        journal.skipped(Kind::Reclaim, format!("{why}: not deleted this cycle"));
        return Ok(Flow::Stop);
    }
    match on
        .actor
        .cluster
        .delete(on.name(), uid, &fresh.resource_version)
        .await
    {
        Ok(()) => {}
        Err(WriteError::Gone(_)) => {
            let _ = std::fs::remove_file(&path);
            journal.skipped(
                Kind::Reclaim,
                "the namespace was re-created, changed or deleted meanwhile: not deleted".into(),
            );
            return Ok(Flow::Stop);
        }
        Err(e) => return Err(failed(Step::Reclaim)(e)),
    }
    deleted(on, fresh, action, &path, (cause, by), journal).await;
    Ok(Flow::Stop)
}

/// Writes the namespace's tombstone. When it cannot be written, says so (an event and a
/// failed outcome) and returns `None`: nothing is deleted.
pub(super) async fn tombstone<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    action: &Action,
    uid: &str,
    journal: &mut Journal<'_>,
) -> Option<PathBuf> {
    let header = format!(
        "kube-reclaimer tombstone of namespace {} (uid {uid}), reclaimed {}: {}",
        on.name(),
        rfc3339(on.now),
        action.reason
    );
    let dir = Path::new(&on.actor.config.lifecycle.tombstone_dir);
    match on
        .actor
        .cluster
        .tombstone(&fresh.object, dir, &header)
        .await
    {
        Ok(path) => Some(path),
        Err(e) => {
            let message = format!("not deleted: tombstone failed: {e}");
            on.event(journal, &fresh.object, "ReclaimFailed", &message, true)
                .await;
            journal.failed(Kind::Reclaim, Step::Reclaim, format!("not deleted: {e}"));
            None
        }
    }
}

/// Whether the namespace, read and planned again while still the leader, is the version
/// `fresh` was read at and still plans `action`.
pub(super) async fn unchanged<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    action: &Action,
) -> Result<bool, Failure> {
    let again = if on.may_act() {
        on.refresh().await?
    } else {
        None
    };
    Ok(again.is_some_and(|f| {
        f.resource_version == fresh.resource_version
            && f.actions.iter().any(|a| a.execute && a.kind == action.kind)
    }))
}

/// After a deletion: the ledger entry, the event, and the owners' notice.
pub(super) async fn deleted<D: Deliver>(
    on: &On<'_, D>,
    fresh: &Fresh,
    action: &Action,
    path: &Path,
    (cause, by): (Reason, ReclaimBy),
    journal: &mut Journal<'_>,
) {
    let config = on.actor.config;
    let unrecorded = ledger::record(config, &fresh.assessment, cause, by, on.now, Some(path));
    let message = format!("{}; objects saved in {}", action.reason, path.display());
    on.event(journal, &fresh.object, "Reclaimed", &message, false)
        .await;
    let notice = Delivery {
        action,
        assessment: &fresh.assessment,
        now: on.now,
        tombstone: Some(path),
        reclaimed: true,
    };
    let mut detail = match on.actor.mail.deliver(notice).await {
        Ok(()) => format!("deleted; tombstone {}", path.display()),
        Err(e) => format!(
            "deleted; tombstone {}; reclaimed notice not sent: {e}",
            path.display()
        ),
    };
    if let Some(note) = unrecorded {
        detail.push_str("; ");
        detail.push_str(&note);
    }
    journal.done(Kind::Reclaim, detail);
}
