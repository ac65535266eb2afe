//! The act stage: carries out a plan. Writes happen only here and only in enforce mode.
//!
//! For each namespace with something to do, the namespace is read again and re-assessed
//! with its fresh labels and annotations (the owner may have just extended it), and only
//! the actions that still stand are carried out:
//!
//! - the leader check (`may_act`) is made again right before every mail, every scale and
//!   every delete, not once per cycle.
//! - a mail (reminder, mark notice, malformed values) counts as sent when the server
//!   accepted it; only then is it recorded in the namespace's annotations, with a merge
//!   patch guarded by the resourceVersion just read. What is recorded is exactly what was
//!   sent, and only while the re-read plan still asks for exactly that: an owner who
//!   changed the expiry meanwhile gets no record of a reminder he was never sent. A
//!   conflict means re-read and re-plan. A record that cannot be written is kept in
//!   memory ([`unrecorded`]) and retried with backoff; the mail is not sent again while
//!   the daemon runs. Mails are therefore sent **at least once**: if the daemon dies
//!   between the accepted mail and the annotation, the next run sends it again. A
//!   duplicate reminder is a nuisance; a lost one could end in a surprise deletion.
//! - a reclamation re-checks the plan against the namespace as it is now, writes the
//!   tombstone (no tombstone, no deletion), then reads and re-plans once more and deletes
//!   only if nothing changed, with uid and resourceVersion preconditions (so neither a
//!   namespace re-created under the same name nor one its owner just extended is ever
//!   deleted), then tells the owners.
//! - a reclamation done (deleted or put to sleep) is appended to the reclamation ledger
//!   ([`ledger`]), which the weekly reports read.
//! - every action leaves a Kubernetes event.

pub mod mail;
pub mod unrecorded;

use crate::core::assess::{assess, Assessment};
use crate::core::config::{Config, ReclaimBy};
use crate::core::evaluate::Evaluation;
use crate::core::model::{rfc3339, NamespaceMeta, Observation};
use crate::core::plan::{plan_namespace, Action, ActionKind, Lifecycle};
use crate::io::cluster::{Cluster, WriteError};
use crate::io::ledger;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Namespace;
use serde::Serialize;
use std::path::Path;
use unrecorded::{mail_key, Unrecorded};

/// What a mail is about; the mailer turns it into a message.
pub struct Delivery<'a> {
    pub action: &'a Action,
    pub assessment: &'a Assessment,
    pub now: DateTime<Utc>,
    /// For the "reclaimed" notice: where the namespace's objects were saved.
    pub tombstone: Option<&'a Path>,
    /// True for the notice sent after a reclamation.
    pub reclaimed: bool,
}

/// Sends e-mail. `Ok` only once the server accepted the message.
#[allow(async_fn_in_trait)]
pub trait Deliver {
    async fn deliver(&self, delivery: Delivery<'_>) -> Result<(), String>;

    /// Sends a weekly cost report (text, HTML and attached files) to `recipients`. By
    /// default a deliverer sends no reports and says so.
    async fn deliver_report(
        &self,
        recipients: &[String],
        mail: &mail::Rendered,
        attachments: &[mail::Attachment],
    ) -> Result<(), String> {
        let _ = (recipients, mail, attachments);
        Err("this deliverer sends no reports".into())
    }
}

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Done {
    pub namespace: String,
    pub kind: String,
    /// `done`, `skipped` (no longer planned, or changed under us) or `failed`.
    pub outcome: String,
    /// The step that failed, when `outcome` is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    pub detail: String,
}

/// A step of an action that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Reading the namespace from the Kubernetes API.
    Read,
    /// Handing a mail to the SMTP server.
    Mail,
    /// Recording the lifecycle annotations.
    Annotate,
    /// Reclaiming or waking: tombstone, deletion, scaling workloads.
    Reclaim,
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Skipped,
    Failed(Step),
}

/// A write that failed, and at which step.
struct Failure {
    step: Step,
    error: WriteError,
}

fn failed(step: Step) -> impl Fn(WriteError) -> Failure {
    move |error| Failure { step, error }
}

/// What the act stage is given besides the plan: where to write and mail, whether it may
/// still act (the leader Lease, checked before every write), and the mails accepted but
/// not yet recorded (kept by the daemon from cycle to cycle).
pub struct Actor<'a, D: Deliver> {
    pub config: &'a Config,
    pub cluster: &'a Cluster,
    pub mail: &'a D,
    pub may_act: &'a (dyn Fn() -> bool + Sync),
    pub unrecorded: &'a Unrecorded,
}

/// Carries out the executable actions of `evaluation` at `now`, namespace by namespace,
/// while `may_act` holds (the leader Lease). Returns one line per action.
pub async fn execute<D: Deliver>(
    evaluation: &Evaluation,
    actor: &Actor<'_, D>,
    now: DateTime<Utc>,
) -> Vec<Done> {
    // Re-assessments price costs as the evaluation did (OpenCost's prices when read), so
    // mails and the ledger say what the plan said.
    let priced = Config {
        pricing: evaluation.prices.apply(&actor.config.pricing),
        ..actor.config.clone()
    };
    let actor = &Actor {
        config: &priced,
        cluster: actor.cluster,
        mail: actor.mail,
        may_act: actor.may_act,
        unrecorded: actor.unrecorded,
    };
    let may_act = actor.may_act;
    let planned_mails = evaluation
        .plan
        .namespaces
        .iter()
        .zip(&evaluation.observations)
        .flat_map(|(p, o)| {
            p.actions
                .iter()
                .filter_map(|a| mail_key(&o.namespace.uid, &a.kind))
        })
        .collect();
    actor.unrecorded.retain(&planned_mails);
    let mut done = Vec::new();
    for (i, planned) in evaluation.plan.namespaces.iter().enumerate() {
        if !planned.actions.iter().any(|a| a.execute) {
            continue;
        }
        if !may_act() {
            tracing::warn!(namespace = %planned.name, "lost the leader Lease; not acting");
            break;
        }
        let obs = &evaluation.observations[i];
        let reclaim_allowed = planned
            .actions
            .iter()
            .any(|a| a.execute && matches!(a.kind, ActionKind::Reclaim { .. }));
        let mut log = |kind: &str, outcome: Outcome, detail: String| {
            let (outcome, step) = match outcome {
                Outcome::Done => ("done", None),
                Outcome::Skipped => ("skipped", None),
                Outcome::Failed(step) => ("failed", Some(step)),
            };
            tracing::info!(namespace = %planned.name, action = kind, outcome, %detail, "act");
            done.push(Done {
                namespace: planned.name.clone(),
                kind: kind.to_string(),
                outcome: outcome.to_string(),
                step,
                detail,
            });
        };
        if let Err(f) = act_on(obs, actor, now, reclaim_allowed, &mut log).await {
            log("namespace", Outcome::Failed(f.step), f.error.to_string());
        }
    }
    done
}

/// The namespace as read now, re-assessed and re-planned.
struct Fresh {
    object: Namespace,
    resource_version: String,
    assessment: Assessment,
    lifecycle: Lifecycle,
    actions: Vec<Action>,
}

async fn refresh(
    obs: &Observation,
    config: &Config,
    cluster: &Cluster,
    now: DateTime<Utc>,
) -> Result<Option<Fresh>, WriteError> {
    let name = &obs.namespace.name;
    let Some(object) = cluster.read(name).await? else {
        return Ok(None);
    };
    let meta = &object.metadata;
    if meta.uid.as_deref() != Some(obs.namespace.uid.as_str()) || meta.deletion_timestamp.is_some()
    {
        return Ok(None);
    }
    let fresh_obs = Observation {
        namespace: NamespaceMeta {
            labels: meta.labels.clone().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
            ..obs.namespace.clone()
        },
        ..obs.clone()
    };
    let assessment = assess(&fresh_obs, config, now);
    let lifecycle = Lifecycle::of(&fresh_obs.namespace, &config.keys.state_prefix);
    let actions = plan_namespace(&assessment, &lifecycle, config, now).actions;
    Ok(Some(Fresh {
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        object,
        assessment,
        lifecycle,
        actions,
    }))
}

/// Events are a courtesy to humans; failing to write one never stops an action.
fn note(result: Result<(), WriteError>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not record an event");
    }
}

fn kind_name(kind: &ActionKind) -> String {
    crate::app::cli::label(kind)
}

fn same_kind(a: &ActionKind, b: &ActionKind) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

async fn act_on<D: Deliver>(
    obs: &Observation,
    actor: &Actor<'_, D>,
    now: DateTime<Utc>,
    reclaim_allowed: bool,
    log: &mut impl FnMut(&str, Outcome, String),
) -> Result<(), Failure> {
    let (config, cluster, mail) = (actor.config, actor.cluster, actor.mail);
    let name = &obs.namespace.name;
    let Some(fresh) = refresh(obs, config, cluster, now)
        .await
        .map_err(failed(Step::Read))?
    else {
        log(
            "namespace",
            Outcome::Skipped,
            "gone or re-created since it was read".into(),
        );
        return Ok(());
    };
    for action in fresh.actions.iter().filter(|a| a.execute) {
        let kind = kind_name(&action.kind);
        if !(actor.may_act)() {
            log(
                &kind,
                Outcome::Skipped,
                "no longer the leader (Lease not renewed in time): not acting".into(),
            );
            return Ok(());
        }
        match &action.kind {
            ActionKind::Remind { .. }
            | ActionKind::Mark { .. }
            | ActionKind::ReportFindings { .. } => {
                let key = mail_key(&obs.namespace.uid, &action.kind);
                if let Some((key, owed)) = key
                    .as_deref()
                    .and_then(|k| actor.unrecorded.get(k).map(|e| (k, e)))
                {
                    // Accepted earlier, its record still owed: never mailed again.
                    if now < owed.next_try {
                        log(
                            &kind,
                            Outcome::Skipped,
                            format!(
                                "mailed {} but not yet recorded ({} failed record(s)); not sent again, record retried after {}",
                                rfc3339(owed.sent_at),
                                owed.failures,
                                rfc3339(owed.next_try)
                            ),
                        );
                    } else {
                        record_mail(
                            obs,
                            actor,
                            now,
                            key,
                            &owed.kind,
                            owed.sent_at,
                            &fresh.object,
                            log,
                        )
                        .await?;
                    }
                    continue;
                }
                let delivery = Delivery {
                    action,
                    assessment: &fresh.assessment,
                    now,
                    tombstone: None,
                    reclaimed: false,
                };
                if let Err(e) = mail.deliver(delivery).await {
                    note(
                        cluster
                            .event(
                                &fresh.object,
                                "NotificationFailed",
                                &format!("{}: not sent: {e}; retried next cycle", action.reason),
                                true,
                            )
                            .await,
                    );
                    log(
                        &kind,
                        Outcome::Failed(Step::Mail),
                        format!("mail not accepted: {e}"),
                    );
                    // Nothing is recorded: the next cycle tries again.
                    return Ok(());
                }
                if let Some(key) = &key {
                    if !record_mail(obs, actor, now, key, &action.kind, now, &fresh.object, log)
                        .await?
                    {
                        continue;
                    }
                }
                let reason = match &action.kind {
                    ActionKind::Remind { .. } => "ReminderSent",
                    ActionKind::Mark { .. } => "MarkedForReclamation",
                    _ => "MalformedValuesReported",
                };
                note(
                    cluster
                        .event(&fresh.object, reason, &action.reason, false)
                        .await,
                );
            }
            ActionKind::Unmark => {
                record(obs, config, cluster, now, &action.kind, log).await?;
                note(
                    cluster
                        .event(&fresh.object, "Unmarked", &action.reason, false)
                        .await,
                );
            }
            ActionKind::Reclaim { .. } if !reclaim_allowed => {
                log(
                    &kind,
                    Outcome::Skipped,
                    "not among this cycle's reclamations".into(),
                );
            }
            ActionKind::Reclaim {
                cause,
                by: ReclaimBy::Sleep,
                ..
            } => {
                // The replicas to restore go on the namespace first (guarded by the
                // version just read), so whatever happens next, a wake can restore them.
                let prefix = &config.keys.state_prefix;
                let running = cluster
                    .workloads(name, &format!("{prefix}replicas"))
                    .await
                    .map_err(failed(Step::Reclaim))?;
                let mut replicas = fresh.lifecycle.replicas.clone().unwrap_or_default();
                for w in running.iter().filter(|w| w.replicas > 0) {
                    replicas.insert(w.key.clone(), w.replicas);
                }
                if fresh.lifecycle.replicas.as_ref() != Some(&replicas) {
                    let mut next = fresh.lifecycle.clone();
                    next.unreadable.clear();
                    next.replicas = Some(replicas);
                    match cluster
                        .annotate(name, &fresh.resource_version, &next.to_annotations(prefix))
                        .await
                    {
                        Ok(()) => {}
                        Err(WriteError::Conflict(_)) => {
                            log(
                                &kind,
                                Outcome::Skipped,
                                "changed since it was read; re-planned next cycle".into(),
                            );
                            return Ok(());
                        }
                        Err(e) => return Err(failed(Step::Annotate)(e)),
                    }
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
                record(obs, config, cluster, now, &action.kind, log).await?;
                ledger::record(
                    config,
                    &fresh.assessment,
                    *cause,
                    ReclaimBy::Sleep,
                    now,
                    None,
                );
                let message = format!(
                    "{}; {scaled} workload(s) scaled to zero until the owner extends or opts out",
                    action.reason
                );
                note(
                    cluster
                        .event(&fresh.object, "PutToSleep", &message, false)
                        .await,
                );
                let notice = Delivery {
                    action,
                    assessment: &fresh.assessment,
                    now,
                    tombstone: None,
                    reclaimed: true,
                };
                if let Err(e) = mail.deliver(notice).await {
                    log(
                        &kind,
                        Outcome::Done,
                        format!("asleep; notice not sent: {e}"),
                    );
                }
                return Ok(());
            }
            ActionKind::Wake => {
                // Restores what the namespace records (and what earlier versions recorded
                // on each workload), only where the workload is still at zero.
                let legacy = format!("{}replicas", config.keys.state_prefix);
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
                record(obs, config, cluster, now, &action.kind, log).await?;
                let message = format!("{}; {woken} workload(s) restored", action.reason);
                note(cluster.event(&fresh.object, "Woken", &message, false).await);
            }
            ActionKind::Reclaim { uid, cause, by } => {
                let header = format!(
                    "kube-reclaimer tombstone of namespace {name} (uid {uid}), reclaimed {}: {}",
                    rfc3339(now),
                    action.reason
                );
                let path = match cluster
                    .tombstone(
                        &fresh.object,
                        Path::new(&config.lifecycle.tombstone_dir),
                        &header,
                    )
                    .await
                {
                    Ok(path) => path,
                    Err(e) => {
                        note(
                            cluster
                                .event(
                                    &fresh.object,
                                    "ReclaimFailed",
                                    &format!("not deleted: tombstone failed: {e}"),
                                    true,
                                )
                                .await,
                        );
                        log(
                            &kind,
                            Outcome::Failed(Step::Reclaim),
                            format!("not deleted: {e}"),
                        );
                        return Ok(());
                    }
                };
                // Writing the tombstone takes time: the owner may have extended the
                // namespace meanwhile. Read and plan again; delete only what was decided
                // on, unchanged since (uid and resourceVersion preconditions).
                let again = if (actor.may_act)() {
                    refresh(obs, config, cluster, now)
                        .await
                        .map_err(failed(Step::Read))?
                } else {
                    None
                };
                let unchanged = again.as_ref().is_some_and(|f| {
                    f.resource_version == fresh.resource_version
                        && f.actions.iter().any(|a| a.execute && a.kind == action.kind)
                });
                if !unchanged {
                    let _ = std::fs::remove_file(&path);
                    let why = if !(actor.may_act)() {
                        "no longer the leader (Lease not renewed in time)"
                    } else {
                        "the namespace changed while its tombstone was written"
                    };
                    log(
                        &kind,
                        Outcome::Skipped,
                        format!("{why}: not deleted this cycle"),
                    );
                    return Ok(());
                }
                match cluster.delete(name, uid, &fresh.resource_version).await {
                    Ok(()) => {}
                    Err(WriteError::Gone(_)) => {
                        let _ = std::fs::remove_file(&path);
                        log(
                            &kind,
                            Outcome::Skipped,
                            "the namespace was re-created, changed or deleted meanwhile: not deleted"
                                .into(),
                        );
                        return Ok(());
                    }
                    Err(e) => return Err(failed(Step::Reclaim)(e)),
                }
                let unrecorded =
                    ledger::record(config, &fresh.assessment, *cause, *by, now, Some(&path));
                let message = format!("{}; objects saved in {}", action.reason, path.display());
                note(
                    cluster
                        .event(&fresh.object, "Reclaimed", &message, false)
                        .await,
                );
                let notice = Delivery {
                    action,
                    assessment: &fresh.assessment,
                    now,
                    tombstone: Some(&path),
                    reclaimed: true,
                };
                let mailed = mail.deliver(notice).await;
                let mut detail = match mailed {
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
                log(&kind, Outcome::Done, detail);
                return Ok(());
            }
            ActionKind::Alert => {
                tracing::warn!(namespace = %name, reason = %action.reason, "needs a human");
                note(
                    cluster
                        .event(&fresh.object, "NeedsAttention", &action.reason, true)
                        .await,
                );
                log(&kind, Outcome::Done, action.reason.clone());
            }
            ActionKind::ReclaimDeferred { .. } => {}
        }
    }
    Ok(())
}

/// How writing a record ended.
enum Recorded {
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
async fn record(
    obs: &Observation,
    config: &Config,
    cluster: &Cluster,
    now: DateTime<Utc>,
    kind: &ActionKind,
    log: &mut impl FnMut(&str, Outcome, String),
) -> Result<(), Failure> {
    match record_as(obs, config, cluster, now, kind, now, log).await? {
        Recorded::Failed(WriteError::Conflict(_)) => {
            log(
                &kind_name(kind),
                Outcome::Failed(Step::Annotate),
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
#[allow(clippy::too_many_arguments)]
async fn record_mail<D: Deliver>(
    obs: &Observation,
    actor: &Actor<'_, D>,
    now: DateTime<Utc>,
    key: &str,
    sent: &ActionKind,
    sent_at: DateTime<Utc>,
    object: &Namespace,
    log: &mut impl FnMut(&str, Outcome, String),
) -> Result<bool, Failure> {
    match record_as(obs, actor.config, actor.cluster, now, sent, sent_at, log).await? {
        Recorded::Written | Recorded::AlreadyThere => {
            actor.unrecorded.forget(key);
            Ok(true)
        }
        Recorded::NoLongerPlanned => {
            actor.unrecorded.forget(key);
            Ok(false)
        }
        Recorded::Failed(e) => {
            actor.unrecorded.failed(key, sent, sent_at, now);
            let next = actor
                .unrecorded
                .get(key)
                .map(|e| rfc3339(e.next_try))
                .unwrap_or_default();
            let message = format!(
                "mailed {} but the record could not be written: {e}; not mailed again, record retried after {next}",
                rfc3339(sent_at)
            );
            note(
                actor
                    .cluster
                    .event(object, "RecordFailed", &message, true)
                    .await,
            );
            log(&kind_name(sent), Outcome::Failed(Step::Annotate), message);
            Ok(false)
        }
    }
}

/// Writes `done` (carried out at `at`) into the namespace's lifecycle annotations, if the
/// namespace as read now still plans it: a mail is matched by what it said (its key), any
/// other action by its kind. What is written is `done` itself, never the re-planned
/// action, so nothing is recorded that was not done.
async fn record_as(
    obs: &Observation,
    config: &Config,
    cluster: &Cluster,
    now: DateTime<Utc>,
    done: &ActionKind,
    at: DateTime<Utc>,
    log: &mut impl FnMut(&str, Outcome, String),
) -> Result<Recorded, Failure> {
    let name = &obs.namespace.name;
    let label = kind_name(done);
    let key = mail_key(&obs.namespace.uid, done);
    let mut last = None;
    for _ in 0..3 {
        let Some(fresh) = refresh(obs, config, cluster, now)
            .await
            .map_err(failed(Step::Read))?
        else {
            log(
                &label,
                Outcome::Skipped,
                "gone or re-created before it could be recorded".into(),
            );
            return Ok(Recorded::NoLongerPlanned);
        };
        let still = fresh.actions.iter().find(|a| match &key {
            Some(key) => mail_key(&obs.namespace.uid, &a.kind).as_ref() == Some(key),
            None => same_kind(&a.kind, done),
        });
        let next = fresh.lifecycle.after(done, at);
        let patch = next.to_annotations(&config.keys.state_prefix);
        let Some(still) = still else {
            if patch == fresh.lifecycle.to_annotations(&config.keys.state_prefix) || key.is_none() {
                log(&label, Outcome::Done, "already recorded".into());
                return Ok(Recorded::AlreadyThere);
            }
            log(
                &label,
                Outcome::Skipped,
                "the namespace changed while the mail was sent; nothing recorded, the new plan acts next cycle".into(),
            );
            return Ok(Recorded::NoLongerPlanned);
        };
        match cluster
            .annotate(name, &fresh.resource_version, &patch)
            .await
        {
            Ok(()) => {
                log(&label, Outcome::Done, still.reason.clone());
                return Ok(Recorded::Written);
            }
            Err(e @ WriteError::Conflict(_)) => last = Some(e),
            Err(e) => return Ok(Recorded::Failed(e)),
        }
    }
    Ok(Recorded::Failed(
        last.unwrap_or_else(|| WriteError::Conflict(name.clone())),
    ))
}

/// Delivers notices by e-mail: renders the notice of an action with the templates, then
/// sends it through the SMTP server of the configuration.
pub struct Postman<'a> {
    mailer: mail::Mailer,
    templates: mail::Templates,
    config: &'a Config,
}

impl<'a> Postman<'a> {
    pub fn new(config: &'a Config) -> Result<Postman<'a>, mail::MailError> {
        Ok(Postman {
            mailer: mail::Mailer::new(config)?,
            templates: mail::Templates::from_config(config)?,
            config,
        })
    }
}

impl Deliver for Postman<'_> {
    async fn deliver(&self, d: Delivery<'_>) -> Result<(), String> {
        let notice = match (&d.action.kind, d.reclaimed) {
            (ActionKind::Reclaim { cause, by, .. }, true) => mail::Notice::reclaimed(
                d.assessment,
                *cause,
                d.now,
                d.tombstone.map(|p| p.display().to_string()),
                *by == ReclaimBy::Sleep,
            ),
            _ => mail::Notice::for_action(d.assessment, d.action).ok_or_else(|| {
                format!(
                    "no e-mail is written for a {} action",
                    kind_name(&d.action.kind)
                )
            })?,
        };
        let context = mail::RenderContext::new(self.config, &self.templates, d.now);
        let rendered = mail::render(&notice, &context).map_err(|e| e.to_string())?;
        // A reclamation tells the owners; the action itself e-mails no one.
        let recipients = if d.reclaimed {
            &d.assessment.owner.recipients
        } else {
            &d.action.recipients
        };
        self.mailer
            .send(recipients, &rendered)
            .await
            .map_err(|e| e.to_string())
    }

    async fn deliver_report(
        &self,
        recipients: &[String],
        mail: &mail::Rendered,
        attachments: &[mail::Attachment],
    ) -> Result<(), String> {
        self.mailer
            .send_with(recipients, mail, attachments)
            .await
            .map_err(|e| e.to_string())
    }
}
