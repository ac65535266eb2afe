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
//!
//! What was done comes back as [`Acted`]: one [`Done`] per action, and how many events
//! could not be written. Each action kind has its own function: those that tell
//! people in `notify.rs`, those that change what runs in `reclaim.rs`; recording what was
//! done on the namespace is `records.rs`.

pub mod deliver;
mod notify;
mod reclaim;
mod records;
pub mod unrecorded;

pub use deliver::{DeliverError, Postman};
use notify::{alert, mail_action};
use reclaim::{delete, sleep, unmark, wake};

use crate::core::assess::{assess, Assessment};
use crate::core::config::{Config, ReclaimBy};
use crate::core::evaluate::Evaluation;
use crate::core::model::{rfc3339, NamespaceMeta, Observation};
use crate::core::notice::Rendered;
use crate::core::plan::{plan_namespace, Action, ActionKind, Lifecycle, Reason};
use crate::io::cluster::{Cluster, ReadError, Workload, WriteError};
use crate::io::ledger;
use crate::io::smtp::Attachment;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Namespace;
use serde::Serialize;
use std::path::{Path, PathBuf};
use unrecorded::{mail_key, Entry, Unrecorded};

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
    async fn deliver(&self, delivery: Delivery<'_>) -> Result<(), DeliverError>;

    /// Sends a weekly cost report (text, HTML and attached files) to `recipients`. By
    /// default a deliverer sends no reports and says so.
    async fn deliver_report(
        &self,
        recipients: &[String],
        mail: &Rendered,
        attachments: &[Attachment],
    ) -> Result<(), DeliverError> {
        let _ = (recipients, mail, attachments);
        Err(DeliverError::NoReports)
    }
}

/// What a [`Done`] is about: one action of the plan, or the namespace as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The namespace as a whole: it could not be read, or is gone.
    Namespace,
    Remind,
    Mark,
    Unmark,
    Reclaim,
    Wake,
    ReclaimDeferred,
    ReportFindings,
    Alert,
}

impl Kind {
    /// The kind of an action; named as the action is ([`ActionKind::as_str`]).
    pub fn of(action: &ActionKind) -> Kind {
        match action {
            ActionKind::Remind { .. } => Kind::Remind,
            ActionKind::Mark { .. } => Kind::Mark,
            ActionKind::Unmark => Kind::Unmark,
            ActionKind::Reclaim { .. } => Kind::Reclaim,
            ActionKind::Wake => Kind::Wake,
            ActionKind::ReclaimDeferred { .. } => Kind::ReclaimDeferred,
            ActionKind::ReportFindings { .. } => Kind::ReportFindings,
            ActionKind::Alert => Kind::Alert,
        }
    }

    /// The name in logs, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Remind => "remind",
            Kind::Mark => "mark",
            Kind::Unmark => "unmark",
            Kind::Reclaim => "reclaim",
            Kind::Wake => "wake",
            Kind::ReclaimDeferred => "reclaim_deferred",
            Kind::ReportFindings => "report_findings",
            Kind::Alert => "alert",
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Done,
    /// No longer planned, or changed under us.
    Skipped,
    /// At the step [`Done::step`] says.
    Failed,
}

impl Outcome {
    /// The name in logs, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Done {
    pub namespace: String,
    pub kind: Kind,
    pub outcome: Outcome,
    /// The step that failed, when `outcome` is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    pub detail: String,
}

/// What carrying out a plan did.
#[derive(Debug, Default)]
pub struct Acted {
    /// One line per action (and per namespace that could not be acted on).
    pub done: Vec<Done>,
    /// Kubernetes events that could not be written (they never stop an action).
    pub events_failed: u32,
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

/// A write that failed, and at which step.
struct Failure {
    step: Step,
    error: StepError,
}

/// The error of a failed step: reading the namespace, or writing.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

fn failed<E: Into<StepError>>(step: Step) -> impl Fn(E) -> Failure {
    move |error| Failure {
        step,
        error: error.into(),
    }
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
) -> Acted {
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
    forget_unplanned_mails(evaluation, actor.unrecorded);
    let mut acted = Acted::default();
    for (i, planned) in evaluation.plan.namespaces.iter().enumerate() {
        if !planned.actions.iter().any(|a| a.execute) {
            continue;
        }
        if !(actor.may_act)() {
            tracing::warn!(namespace = %planned.name, "lost the leader Lease; not acting");
            break;
        }
        let on = On {
            actor,
            obs: &evaluation.observations[i],
            now,
        };
        let reclaim_allowed = planned
            .actions
            .iter()
            .any(|a| a.execute && matches!(a.kind, ActionKind::Reclaim { .. }));
        let mut journal = Journal {
            namespace: &planned.name,
            acted: &mut acted,
        };
        if let Err(f) = act_on(&on, reclaim_allowed, &mut journal).await {
            journal.failed(Kind::Namespace, f.step, f.error.to_string());
        }
    }
    acted
}

/// Owed records of mails the plan no longer asks for are dropped.
fn forget_unplanned_mails(evaluation: &Evaluation, unrecorded: &Unrecorded) {
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
    unrecorded.retain(&planned_mails);
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
) -> Result<Option<Fresh>, ReadError> {
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

/// One namespace being acted on: who acts, the namespace as observed, and when.
struct On<'a, D: Deliver> {
    actor: &'a Actor<'a, D>,
    obs: &'a Observation,
    now: DateTime<Utc>,
}

impl<D: Deliver> On<'_, D> {
    fn name(&self) -> &str {
        &self.obs.namespace.name
    }

    /// Whether this replica may still act (the leader Lease).
    fn may_act(&self) -> bool {
        (self.actor.may_act)()
    }

    /// The namespace as it is now, re-planned; `None` when it is gone or re-created.
    async fn refresh(&self) -> Result<Option<Fresh>, Failure> {
        refresh(self.obs, self.actor.config, self.actor.cluster, self.now)
            .await
            .map_err(failed(Step::Read))
    }

    /// Raises an event about the namespace; one that cannot be written is counted.
    async fn event(
        &self,
        journal: &mut Journal<'_>,
        object: &Namespace,
        reason: &str,
        message: &str,
        warning: bool,
    ) {
        let written = self
            .actor
            .cluster
            .event(object, reason, message, warning)
            .await;
        journal.note(written);
    }
}

/// Where one namespace's outcomes go: logged, and kept for the metrics.
struct Journal<'a> {
    namespace: &'a str,
    acted: &'a mut Acted,
}

impl Journal<'_> {
    fn done(&mut self, kind: Kind, detail: String) {
        self.push(kind, Outcome::Done, None, detail);
    }

    fn skipped(&mut self, kind: Kind, detail: String) {
        self.push(kind, Outcome::Skipped, None, detail);
    }

    fn failed(&mut self, kind: Kind, step: Step, detail: String) {
        self.push(kind, Outcome::Failed, Some(step), detail);
    }

    fn push(&mut self, kind: Kind, outcome: Outcome, step: Option<Step>, detail: String) {
        tracing::info!(namespace = %self.namespace, action = kind.as_str(), outcome = outcome.as_str(), %detail, "act");
        self.acted.done.push(Done {
            namespace: self.namespace.to_string(),
            kind,
            outcome,
            step,
            detail,
        });
    }

    /// Events are a courtesy to humans; failing to write one never stops an action.
    fn note(&mut self, result: Result<(), WriteError>) {
        if let Err(e) = result {
            self.acted.events_failed += 1;
            tracing::warn!(error = %e, "could not record an event");
        }
    }
}

fn same_kind(a: &ActionKind, b: &ActionKind) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// After an action: go on with the namespace's next one, or stop acting on it this cycle.
enum Flow {
    Next,
    Stop,
}

/// Reads and re-plans the namespace, then carries out the executable actions that still
/// stand, in order, each after a fresh leader check.
async fn act_on<D: Deliver>(
    on: &On<'_, D>,
    reclaim_allowed: bool,
    journal: &mut Journal<'_>,
) -> Result<(), Failure> {
    let Some(fresh) = on.refresh().await? else {
        journal.skipped(
            Kind::Namespace,
            "gone or re-created since it was read".into(),
        );
        return Ok(());
    };
    for action in fresh.actions.iter().filter(|a| a.execute) {
        if !on.may_act() {
            journal.skipped(
                Kind::of(&action.kind),
                "no longer the leader (Lease not renewed in time): not acting".into(),
            );
            return Ok(());
        }
        let flow = match &action.kind {
            ActionKind::Remind { .. }
            | ActionKind::Mark { .. }
            | ActionKind::ReportFindings { .. } => mail_action(on, &fresh, action, journal).await?,
            ActionKind::Unmark => unmark(on, &fresh, action, journal).await?,
            ActionKind::Reclaim { .. } if !reclaim_allowed => {
                journal.skipped(Kind::Reclaim, "not among this cycle's reclamations".into());
                Flow::Next
            }
            ActionKind::Reclaim {
                cause,
                by: ReclaimBy::Sleep,
                ..
            } => sleep(on, &fresh, action, *cause, journal).await?,
            ActionKind::Wake => wake(on, &fresh, action, journal).await?,
            ActionKind::Reclaim { uid, cause, by } => {
                delete(on, &fresh, action, uid, (*cause, *by), journal).await?
            }
            ActionKind::Alert => alert(on, &fresh, action, journal).await,
            ActionKind::ReclaimDeferred { .. } => Flow::Next,
        };
        if let Flow::Stop = flow {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::utc;
    use crate::core::model::Span;

    fn serde_name<T: Serialize>(value: T) -> serde_json::Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn each_kind_is_named_as_serialized_and_as_its_action() {
        let at = utc("2026-11-21T12:00:00Z");
        let actions = [
            ActionKind::Remind {
                offset: Span::days(1),
                expires_at: at,
                covers: vec![],
            },
            ActionKind::Mark {
                cause: Reason::Idle,
                reclaim_after: at,
            },
            ActionKind::Unmark,
            ActionKind::Reclaim {
                cause: Reason::Expired,
                uid: "u".into(),
                by: ReclaimBy::Delete,
            },
            ActionKind::Wake,
            ActionKind::ReclaimDeferred {
                cause: Reason::Idle,
            },
            ActionKind::ReportFindings {
                findings: vec![],
                fingerprint: String::new(),
            },
            ActionKind::Alert,
        ];
        let mut kinds = vec![Kind::Namespace];
        for action in &actions {
            assert_eq!(Kind::of(action).as_str(), action.as_str());
            kinds.push(Kind::of(action));
        }
        for kind in kinds {
            // Exhaustive: a new variant does not compile here until it is listed above.
            match kind {
                Kind::Namespace
                | Kind::Remind
                | Kind::Mark
                | Kind::Unmark
                | Kind::Reclaim
                | Kind::Wake
                | Kind::ReclaimDeferred
                | Kind::ReportFindings
                | Kind::Alert => assert_eq!(serde_name(kind), kind.as_str()),
            }
        }
    }

    #[test]
    fn each_outcome_is_named_as_serialized() {
        for outcome in [Outcome::Done, Outcome::Skipped, Outcome::Failed] {
            // Exhaustive: a new variant does not compile here until it is listed above.
            match outcome {
                Outcome::Done | Outcome::Skipped | Outcome::Failed => {
                    assert_eq!(serde_name(outcome), outcome.as_str())
                }
            }
        }
    }
}
