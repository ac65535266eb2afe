//! Acting on the plan against the real apiserver: annotations guarded by resourceVersion,
//! events, tombstones, uid-guarded deletion. Each test creates its own `act-*`
//! namespaces and acts only on those, so the sample cluster stays as it is.

use crate::support::Bed;
use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube_reclaimer::app::act::unrecorded::Unrecorded;
use kube_reclaimer::app::act::{execute, Actor, Deliver, DeliverError, Delivery, Done, Step};
use kube_reclaimer::app::collect::collect;
use kube_reclaimer::core::config::{Config, Mode};
use kube_reclaimer::core::evaluate::{evaluate, Evaluation};
use kube_reclaimer::core::notice::Notice;
use kube_reclaimer::io::cluster::Cluster;
use kube_reclaimer::io::prometheus::Prometheus;
use kube_reclaimer::render::notice::{render, RenderContext, Templates};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

const P: &str = "kube-reclaimer.io/";

/// A change an owner makes to a namespace at an exact moment: (client, namespace, merge patch).
type OwnerEdit = Mutex<Option<(kube::Client, String, serde_json::Value)>>;

/// Records what would have been mailed; can be told to fail like a server that is down,
/// or to let the owner edit the namespace while a mail is in flight.
#[derive(Default)]
struct Inbox {
    sent: Mutex<Vec<(String, String)>>,
    down: AtomicBool,
    while_sending: OwnerEdit,
    /// The text of each mail, as rendered with the built-in templates.
    texts: Mutex<Vec<(String, String)>>,
}

/// Applies the owner's edit, once, if one is waiting.
async fn owner_edits(edit: &OwnerEdit) -> Result<(), kube::Error> {
    let taken = edit.lock().expect("edit").take();
    if let Some((client, name, patch)) = taken {
        Api::<Namespace>::all(client)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(())
}

impl Deliver for Inbox {
    async fn deliver(&self, d: Delivery<'_>) -> Result<(), DeliverError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(DeliverError::Other("connection refused".into()));
        }
        owner_edits(&self.while_sending)
            .await
            .map_err(|e| DeliverError::Other(e.to_string()))?;
        let notice = if d.reclaimed {
            let cause = match d.action.kind {
                kube_reclaimer::core::plan::ActionKind::Reclaim { cause, .. } => cause,
                _ => {
                    return Err(DeliverError::Other(
                        "a reclaimed notice for another action".into(),
                    ))
                }
            };
            Some(Notice::reclaimed(d.assessment, cause, d.now, None, false))
        } else {
            Notice::for_action(d.assessment, d.action)
        };
        if let Some(notice) = notice {
            let config = Config::default();
            let templates = Templates::load(None)?;
            let r = render(&notice, &RenderContext::new(&config, &templates, d.now))?;
            self.texts
                .lock()
                .expect("inbox")
                .push((d.assessment.name.clone(), r.text));
        }
        let kind = if d.reclaimed {
            "reclaimed".to_string()
        } else {
            d.action.kind.as_str().to_string()
        };
        self.sent
            .lock()
            .expect("inbox")
            .push((d.assessment.name.clone(), kind));
        Ok(())
    }
}

impl Inbox {
    fn kinds_for(&self, ns: &str) -> Vec<String> {
        self.sent
            .lock()
            .expect("inbox")
            .iter()
            .filter(|(n, _)| n == ns)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

fn config(bed: &Bed, test: &str) -> Config {
    let mut c = Config {
        mode: Mode::Enforce,
        ..Config::default()
    };
    c.owners.fallback_recipients = vec!["platform@example.com".parse().expect("address")];
    c.lifecycle.tombstone_dir = bed
        .state_dir
        .join(format!("tombstones-{test}"))
        .display()
        .to_string();
    c
}

fn create(
    bed: &Bed,
    name: &str,
    labels: &[(&str, &str)],
    annotations: &[(&str, String)],
) -> String {
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": name,
            "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            "annotations": annotations.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        }
    }))
    .expect("namespace");
    bed.block_on(async {
        let created = Api::<Namespace>::all(bed.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        created.metadata.uid.unwrap_or_default()
    })
}

fn read(bed: &Bed, name: &str) -> Option<Namespace> {
    bed.block_on(async {
        Api::<Namespace>::all(bed.client.clone())
            .get_opt(name)
            .await
            .expect("get namespace")
    })
}

fn annotations(bed: &Bed, name: &str) -> BTreeMap<String, String> {
    read(bed, name)
        .and_then(|n| n.metadata.annotations)
        .unwrap_or_default()
}

fn events_for(bed: &Bed, name: &str) -> Vec<String> {
    bed.block_on(async {
        let list = Api::<Event>::namespaced(bed.client.clone(), "default")
            .list(&ListParams::default().fields(&format!(
                "involvedObject.kind=Namespace,involvedObject.name={name}"
            )))
            .await
            .expect("list events");
        list.items.into_iter().filter_map(|e| e.reason).collect()
    })
}

/// One cycle over the namespaces starting with `prefix`, as of `at`.
fn cycle(bed: &Bed, config: &Config, prefix: &str, at: DateTime<Utc>, inbox: &Inbox) -> Vec<Done> {
    cycle_with(bed, config, prefix, at, inbox, &bed.prometheus_url)
}

fn cycle_with(
    bed: &Bed,
    config: &Config,
    prefix: &str,
    at: DateTime<Utc>,
    inbox: &Inbox,
    prometheus_url: &str,
) -> Vec<Done> {
    bed.block_on(async {
        let evaluation = evaluated(bed, config, prefix, at, prometheus_url).await;
        act_with(bed.client.clone(), &evaluation, config, inbox, at).await
    })
}

/// Collects and evaluates the namespaces starting with `prefix`, as of `at`.
async fn evaluated(
    bed: &Bed,
    config: &Config,
    prefix: &str,
    at: DateTime<Utc>,
    prometheus_url: &str,
) -> Evaluation {
    let prometheus = Prometheus::connect(config, Some(prometheus_url));
    let mut collected = collect(config, &bed.client, prometheus, at)
        .await
        .expect("collect");
    collected
        .observations
        .retain(|o| o.namespace.name.starts_with(prefix));
    evaluate(collected, config, at)
}

/// Carries out `evaluation` as the leader, with no mail owed from earlier cycles.
async fn act(
    bed: &Bed,
    evaluation: &Evaluation,
    config: &Config,
    inbox: &Inbox,
    at: DateTime<Utc>,
) -> Vec<Done> {
    act_with(bed.client.clone(), evaluation, config, inbox, at).await
}

/// The same, writing through `client`.
async fn act_with(
    client: kube::Client,
    evaluation: &Evaluation,
    config: &Config,
    inbox: &Inbox,
    at: DateTime<Utc>,
) -> Vec<Done> {
    act_through(&Cluster::new(client), evaluation, config, inbox, at).await
}

/// The same, writing through `cluster`.
async fn act_through(
    cluster: &Cluster,
    evaluation: &Evaluation,
    config: &Config,
    inbox: &Inbox,
    at: DateTime<Utc>,
) -> Vec<Done> {
    let unrecorded = Unrecorded::default();
    let actor = Actor {
        config,
        cluster,
        mail: inbox,
        may_act: &|| true,
        unrecorded: &unrecorded,
    };
    execute(evaluation, &actor, at).await.done
}

fn outcomes(done: &[Done]) -> Vec<(String, String)> {
    done.iter()
        .map(|d| (d.kind.as_str().to_string(), d.outcome.as_str().to_string()))
        .collect()
}

#[test]
fn a_reminder_is_sent_once_recorded_and_leaves_an_event() {
    let bed = Bed::shared();
    let c = config(bed, "remind");
    let expires = (bed.at + Duration::days(3)).to_rfc3339();
    create(
        bed,
        "act-remind",
        &[],
        &[("kube-reclaimer.io/expires", expires.clone())],
    );
    let inbox = Inbox::default();
    let done = cycle(bed, &c, "act-remind", bed.at, &inbox);
    assert_eq!(
        outcomes(&done),
        vec![("remind".to_string(), "done".to_string())],
        "{done:?}"
    );
    assert_eq!(inbox.kinds_for("act-remind"), vec!["remind"]);
    let recorded = annotations(bed, "act-remind");
    let reminders = recorded
        .get(&format!("{P}reminders"))
        .expect("reminders recorded");
    assert!(reminders.contains("\"7d\""), "{reminders}");
    assert!(events_for(bed, "act-remind").contains(&"ReminderSent".to_string()));
    // The next cycles send nothing more for this offset.
    let again = cycle(bed, &c, "act-remind", bed.at + Duration::hours(1), &inbox);
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(inbox.kinds_for("act-remind").len(), 1);
}

#[test]
fn a_mail_that_is_not_accepted_records_nothing_and_goes_out_next_cycle() {
    let bed = Bed::shared();
    let c = config(bed, "smtp-down");
    let expires = (bed.at + Duration::days(5)).to_rfc3339();
    create(
        bed,
        "act-smtp-down",
        &[],
        &[("kube-reclaimer.io/expires", expires)],
    );
    let inbox = Inbox::default();
    inbox.down.store(true, Ordering::SeqCst);
    let done = cycle(bed, &c, "act-smtp-down", bed.at, &inbox);
    assert_eq!(
        outcomes(&done),
        vec![("remind".to_string(), "failed".to_string())]
    );
    assert_eq!(done[0].step, Some(Step::Mail), "{done:?}");
    assert!(!annotations(bed, "act-smtp-down").contains_key(&format!("{P}reminders")));
    assert!(events_for(bed, "act-smtp-down").contains(&"NotificationFailed".to_string()));
    inbox.down.store(false, Ordering::SeqCst);
    cycle(
        bed,
        &c,
        "act-smtp-down",
        bed.at + Duration::minutes(30),
        &inbox,
    );
    cycle(
        bed,
        &c,
        "act-smtp-down",
        bed.at + Duration::minutes(60),
        &inbox,
    );
    assert_eq!(
        inbox.kinds_for("act-smtp-down"),
        vec!["remind"],
        "exactly once after recovery"
    );
}

#[test]
fn an_expired_namespace_is_marked_then_reclaimed_after_grace_with_a_tombstone_without_secrets() {
    let bed = Bed::shared();
    let c = config(bed, "reclaim");
    let name = "act-reclaim";
    let uid = create(
        bed,
        name,
        &[],
        &[(
            "kube-reclaimer.io/expires",
            (bed.at - Duration::days(1)).to_rfc3339(),
        )],
    );
    bed.block_on(async {
        let cm: ConfigMap = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "settings"}, "data": {"color": "blue"}}),
        )
        .expect("cm");
        Api::<ConfigMap>::namespaced(bed.client.clone(), name)
            .create(&PostParams::default(), &cm)
            .await
            .expect("configmap");
        let secret: Secret = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "password"}, "stringData": {"p": "hunter2"}}),
        )
        .expect("secret");
        Api::<Secret>::namespaced(bed.client.clone(), name)
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret");
    });
    let inbox = Inbox::default();
    let first = cycle(bed, &c, name, bed.at, &inbox);
    assert_eq!(
        outcomes(&first),
        vec![("mark".to_string(), "done".to_string())],
        "{first:?}"
    );
    let marked = annotations(bed, name);
    assert_eq!(
        marked.get(&format!("{P}reason")).map(String::as_str),
        Some("expired")
    );
    assert!(events_for(bed, name).contains(&"MarkedForReclamation".to_string()));
    // Within the grace period: nothing.
    assert!(cycle(bed, &c, name, bed.at + Duration::days(2), &inbox).is_empty());
    assert!(read(bed, name).is_some());
    // After it: reclaimed, with a tombstone and a notice.
    let last = cycle(
        bed,
        &c,
        name,
        bed.at + Duration::days(3) + Duration::minutes(1),
        &inbox,
    );
    assert_eq!(
        outcomes(&last),
        vec![("reclaim".to_string(), "done".to_string())],
        "{last:?}"
    );
    assert_eq!(inbox.kinds_for(name), vec!["mark", "reclaimed"]);
    let gone = read(bed, name);
    assert!(gone.is_none() || gone.is_some_and(|n| n.metadata.deletion_timestamp.is_some()));
    let dir = std::path::Path::new(&c.lifecycle.tombstone_dir);
    let file = std::fs::read_dir(dir)
        .expect("tombstone dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().contains(&uid))
        .expect("tombstone file");
    let text = std::fs::read_to_string(file.path()).expect("tombstone");
    assert!(
        text.contains("kind: Namespace")
            && text.contains("kind: ConfigMap")
            && text.contains("color: blue"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("kind: Secret"),
        "no secrets in tombstones:\n{text}"
    );
    assert!(
        !text.contains("managedFields") && !text.contains("resourceVersion"),
        "{text}"
    );
    assert!(events_for(bed, name).contains(&"Reclaimed".to_string()));
    // The reclamation is in the ledger the weekly reports read.
    let ledger = kube_reclaimer::io::ledger::read(dir);
    assert!(ledger.readable && ledger.problems.is_empty(), "{ledger:?}");
    let entry = ledger
        .entries
        .iter()
        .find(|e| e.uid == uid)
        .expect("a ledger entry for the namespace");
    assert_eq!(entry.namespace, name);
    assert_eq!(entry.at, bed.at + Duration::days(3) + Duration::minutes(1));
    assert_eq!(entry.cause, kube_reclaimer::core::plan::Reason::Expired);
    assert_eq!(entry.by, kube_reclaimer::core::config::ReclaimBy::Delete);
    assert_eq!(
        entry.tombstone.as_deref(),
        Some(file.path().to_string_lossy().as_ref())
    );
    assert!(entry.requested_cost_per_hour.is_some());
}

#[test]
fn an_owner_who_extends_during_grace_is_unmarked_not_deleted() {
    let bed = Bed::shared();
    let c = config(bed, "extend");
    let name = "act-extend";
    create(
        bed,
        name,
        &[],
        &[(
            "kube-reclaimer.io/expires",
            (bed.at - Duration::days(1)).to_rfc3339(),
        )],
    );
    let inbox = Inbox::default();
    cycle(bed, &c, name, bed.at, &inbox);
    assert!(annotations(bed, name).contains_key(&format!("{P}marked-at")));
    bed.block_on(async {
        let patch = serde_json::json!({"metadata": {"annotations": {"kube-reclaimer.io/expires": (bed.at + Duration::days(60)).to_rfc3339()}}});
        Api::<Namespace>::all(bed.client.clone()).patch(name, &Default::default(), &kube::api::Patch::Merge(&patch)).await.expect("extend");
    });
    let done = cycle(bed, &c, name, bed.at + Duration::days(4), &inbox);
    assert_eq!(
        outcomes(&done),
        vec![("unmark".to_string(), "done".to_string())],
        "{done:?}"
    );
    assert!(!annotations(bed, name).contains_key(&format!("{P}marked-at")));
    assert!(read(bed, name).is_some_and(|n| n.metadata.deletion_timestamp.is_none()));
    assert!(events_for(bed, name).contains(&"Unmarked".to_string()));
}

#[test]
fn a_namespace_re_created_under_the_same_name_is_never_deleted() {
    let bed = Bed::shared();
    let c = config(bed, "recreate");
    let name = "act-recreate";
    let expired = [(
        "kube-reclaimer.io/expires",
        (bed.at - Duration::days(1)).to_rfc3339(),
    )];
    create(bed, name, &[], &expired);
    let inbox = Inbox::default();
    cycle(bed, &c, name, bed.at, &inbox);
    let mark = annotations(bed, name);
    // Evaluate while the old namespace is still there, due for reclamation...
    let later = bed.at + Duration::days(3) + Duration::minutes(1);
    let stale = bed.block_on(evaluated(bed, &c, name, later, &bed.prometheus_url));
    assert!(stale.plan.namespaces[0]
        .actions
        .iter()
        .any(|a| a.kind.as_str() == "reclaim"));
    // ...then the team deletes it and creates a new one with the same name and marks.
    bed.block_on(async {
        let api = Api::<Namespace>::all(bed.client.clone());
        api.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
        for _ in 0..120 {
            if api.get_opt(name).await.expect("get").is_none() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        panic!("namespace deletion did not finish");
    });
    let copied: Vec<(&str, String)> = mark.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let new_uid = create(bed, name, &[], &copied);
    let done = bed.block_on(act(bed, &stale, &c, &inbox, later));
    assert_eq!(
        outcomes(&done),
        vec![("namespace".to_string(), "skipped".to_string())],
        "{done:?}"
    );
    let survivor = read(bed, name).expect("the new namespace exists");
    assert_eq!(survivor.metadata.uid.as_deref(), Some(new_uid.as_str()));
    assert!(survivor.metadata.deletion_timestamp.is_none());
}

#[test]
fn a_stale_resource_version_is_a_conflict_never_an_overwrite() {
    let bed = Bed::shared();
    let name = "act-conflict";
    create(bed, name, &[], &[]);
    let cluster = Cluster::new(bed.client.clone());
    let stale = read(bed, name)
        .and_then(|n| n.metadata.resource_version)
        .expect("rv");
    bed.block_on(async {
        let patch = serde_json::json!({"metadata": {"labels": {"touched": "yes"}}});
        Api::<Namespace>::all(bed.client.clone())
            .patch(name, &Default::default(), &kube::api::Patch::Merge(&patch))
            .await
            .expect("touch");
        let write = BTreeMap::from([(format!("{P}reason"), Some("idle".to_string()))]);
        let result = cluster.annotate(name, &stale, &write).await;
        assert!(
            matches!(
                result,
                Err(kube_reclaimer::io::cluster::WriteError::Conflict(_))
            ),
            "{result:?}"
        );
    });
    assert!(!annotations(bed, name).contains_key(&format!("{P}reason")));
}

#[test]
fn a_protected_namespace_with_an_expired_label_is_left_alone() {
    let bed = Bed::shared();
    let c = config(bed, "protected");
    let name = "act-protected";
    create(
        bed,
        name,
        &[("kube-reclaimer.io/protected", "true")],
        &[(
            "kube-reclaimer.io/expires",
            (bed.at - Duration::days(30)).to_rfc3339(),
        )],
    );
    let inbox = Inbox::default();
    for days in [0, 5, 10] {
        assert!(cycle(bed, &c, name, bed.at + Duration::days(days), &inbox).is_empty());
    }
    assert!(inbox.kinds_for(name).is_empty());
    assert!(!annotations(bed, name)
        .keys()
        .any(|k| k.starts_with(P) && k != "kube-reclaimer.io/expires"));
}

#[test]
fn dry_run_writes_and_sends_nothing() {
    let bed = Bed::shared();
    let mut c = config(bed, "dry");
    c.mode = Mode::DryRun;
    let name = "act-dry";
    create(
        bed,
        name,
        &[],
        &[(
            "kube-reclaimer.io/expires",
            (bed.at - Duration::days(1)).to_rfc3339(),
        )],
    );
    let before = read(bed, name).and_then(|n| n.metadata.resource_version);
    let inbox = Inbox::default();
    assert!(cycle(bed, &c, name, bed.at, &inbox).is_empty());
    assert!(inbox.kinds_for(name).is_empty());
    assert_eq!(
        read(bed, name).and_then(|n| n.metadata.resource_version),
        before
    );
}

#[test]
fn a_crash_between_an_accepted_mail_and_its_record_sends_it_again_at_least_once() {
    let bed = Bed::shared();
    let c = config(bed, "crash");
    let name = "act-crash";
    let expires = (bed.at + Duration::days(3)).to_rfc3339();
    create(bed, name, &[], &[("kube-reclaimer.io/expires", expires)]);
    let inbox = Inbox::default();
    cycle(bed, &c, name, bed.at, &inbox);
    assert_eq!(inbox.kinds_for(name), vec!["remind"]);
    // The state a crash right after the accepted mail leaves: mail out, no record.
    bed.block_on(async {
        let patch =
            serde_json::json!({"metadata": {"annotations": {"kube-reclaimer.io/reminders": null}}});
        Api::<Namespace>::all(bed.client.clone())
            .patch(name, &Default::default(), &kube::api::Patch::Merge(&patch))
            .await
            .expect("drop the record");
    });
    cycle(bed, &c, name, bed.at + Duration::minutes(30), &inbox);
    assert_eq!(
        inbox.kinds_for(name),
        vec!["remind", "remind"],
        "sent again: never lost"
    );
    cycle(bed, &c, name, bed.at + Duration::minutes(60), &inbox);
    assert_eq!(inbox.kinds_for(name).len(), 2, "and recorded this time");
}

#[test]
fn with_prometheus_down_expiry_still_acts_but_idleness_never_does() {
    let bed = Bed::shared();
    let c = config(bed, "promdown");
    create(
        bed,
        "act-promdown-expired",
        &[],
        &[(
            "kube-reclaimer.io/expires",
            (bed.at - Duration::days(1)).to_rfc3339(),
        )],
    );
    create(bed, "act-promdown-empty", &[], &[]);
    let inbox = Inbox::default();
    let done = cycle_with(
        bed,
        &c,
        "act-promdown-",
        bed.at,
        &inbox,
        "http://127.0.0.1:9",
    );
    assert_eq!(
        inbox.kinds_for("act-promdown-expired"),
        vec!["mark"],
        "{done:?}"
    );
    assert!(inbox.kinds_for("act-promdown-empty").is_empty(), "{done:?}");
    assert!(!annotations(bed, "act-promdown-empty").contains_key(&format!("{P}marked-at")));
    // With Prometheus back, the empty namespace is idle and marked.
    cycle(bed, &c, "act-promdown-empty", bed.at, &inbox);
    assert_eq!(inbox.kinds_for("act-promdown-empty"), vec!["mark"]);
}

/// A client to the bed that lets the owner apply `patch` to namespace `name` right before
/// the first request listing that namespace's ConfigMaps (while its tombstone is being
/// written), then passes every request on unchanged.
fn client_with_owner_edit_during_tombstone(
    bed: &Bed,
    name: &str,
    patch: serde_json::Value,
) -> kube::Client {
    let inner = bed.client.clone();
    let edit: Arc<OwnerEdit> = Arc::new(Mutex::new(Some((inner.clone(), name.to_string(), patch))));
    let path = format!("/api/v1/namespaces/{name}/configmaps");
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let (inner, edit, path) = (inner.clone(), edit.clone(), path.clone());
        async move {
            if request.method() == http::Method::GET && request.uri().path() == path {
                owner_edits(&edit).await?;
            }
            inner.send(request).await
        }
    });
    kube::Client::new(service, "default")
}

/// Lifecycle annotations as the daemon writes them for a namespace marked (expired) at `at`.
fn marked_at(uid: &str, at: DateTime<Utc>, grace: Duration) -> Vec<(&'static str, String)> {
    let t = at.to_rfc3339();
    vec![
        ("kube-reclaimer.io/marked-at", t.clone()),
        ("kube-reclaimer.io/notified-at", t),
        ("kube-reclaimer.io/reclaim-after", (at + grace).to_rfc3339()),
        ("kube-reclaimer.io/reason", "expired".into()),
        ("kube-reclaimer.io/uid", uid.to_string()),
    ]
}

#[test]
fn an_owner_who_extends_while_the_tombstone_is_written_keeps_the_namespace() {
    let bed = Bed::shared();
    let c = config(bed, "tombstone-race");
    let name = "act-tombstone-race";
    let uid = create(
        bed,
        name,
        &[],
        &[(
            "kube-reclaimer.io/expires",
            (bed.at - Duration::days(10)).to_rfc3339(),
        )],
    );
    // Marked by the daemon 4 days ago: due now.
    let mut annotations: Vec<(String, String)> =
        marked_at(&uid, bed.at - Duration::days(4), Duration::days(3))
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    annotations.push((
        "kube-reclaimer.io/expires".into(),
        (bed.at - Duration::days(10)).to_rfc3339(),
    ));
    bed.block_on(async {
        let patch = serde_json::json!({"metadata": {"annotations": annotations.into_iter().collect::<BTreeMap<_, _>>()}});
        Api::<Namespace>::all(bed.client.clone())
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("mark");
    });
    let extended = (bed.at + Duration::days(30)).to_rfc3339();
    let inbox = Inbox::default();
    let done = bed.block_on(async {
        let client = client_with_owner_edit_during_tombstone(
            bed,
            name,
            serde_json::json!({"metadata": {"annotations": {"kube-reclaimer.io/expires": extended}}}),
        );
        let evaluation = evaluated(bed, &c, name, bed.at, &bed.prometheus_url).await;
        assert_eq!(
            evaluation.plan.namespaces[0].state,
            kube_reclaimer::core::plan::State::Due,
            "{:?}",
            evaluation.plan.namespaces[0]
        );
        act_with(client, &evaluation, &c, &inbox, bed.at).await
    });
    let ns = read(bed, name).expect("the namespace is still there");
    assert!(
        ns.metadata.deletion_timestamp.is_none(),
        "deleted although its owner extended it: {done:?}"
    );
    assert_eq!(
        outcomes(&done),
        vec![("reclaim".to_string(), "skipped".to_string())],
        "{done:?}"
    );
    assert!(
        done[0]
            .detail
            .contains("changed while its tombstone was written"),
        "{done:?}"
    );
    assert!(
        inbox.kinds_for(name).is_empty(),
        "no reclaimed notice: {:?}",
        inbox.kinds_for(name)
    );
    let left = std::fs::read_dir(&c.lifecycle.tombstone_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains(&uid))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        left, 0,
        "no tombstone is left for a namespace that was not deleted"
    );
    // The next cycle sees the extension: the mark goes.
    let next = cycle(bed, &c, name, bed.at + Duration::minutes(30), &inbox);
    assert_eq!(
        outcomes(&next),
        vec![("unmark".to_string(), "done".to_string())],
        "{next:?}"
    );
}

#[test]
fn a_reminder_whose_expiry_changes_in_flight_is_not_recorded_for_the_new_date() {
    let bed = Bed::shared();
    let c = config(bed, "in-flight");
    let name = "act-in-flight";
    create(
        bed,
        name,
        &[],
        &[(
            "kube-reclaimer.io/expires",
            (bed.at + Duration::days(3)).to_rfc3339(),
        )],
    );
    // While the 7d reminder for the first date is sent, the owner moves the date by two
    // days: its 7d reminder is due too, and was never sent.
    let moved = (bed.at + Duration::days(5)).to_rfc3339();
    let inbox = Inbox::default();
    *inbox.while_sending.lock().expect("edit") = Some((
        bed.client.clone(),
        name.to_string(),
        serde_json::json!({"metadata": {"annotations": {"kube-reclaimer.io/expires": moved}}}),
    ));
    let first = cycle(bed, &c, name, bed.at, &inbox);
    assert_eq!(inbox.kinds_for(name), vec!["remind"]);
    assert_eq!(
        outcomes(&first),
        vec![("remind".to_string(), "skipped".to_string())],
        "nothing recorded: {first:?}"
    );
    assert!(!annotations(bed, name).contains_key(&format!("{P}reminders")));
    // The next cycle reminds of the new date, and records that.
    let next = cycle(bed, &c, name, bed.at + Duration::minutes(30), &inbox);
    assert_eq!(
        outcomes(&next),
        vec![("remind".to_string(), "done".to_string())],
        "{next:?}"
    );
    assert_eq!(inbox.kinds_for(name), vec!["remind", "remind"]);
    let recorded = annotations(bed, name)
        .get(&format!("{P}reminders"))
        .cloned()
        .unwrap_or_default();
    let moved_at = DateTime::parse_from_rfc3339(&moved)
        .expect("date")
        .with_timezone(&Utc);
    assert!(
        recorded.contains(&kube_reclaimer::core::model::rfc3339(moved_at)),
        "{recorded}"
    );
}

#[test]
fn the_ledger_records_the_cost_at_the_prices_the_cycle_used() {
    let bed = Bed::shared();
    let mut c = config(bed, "ledger-prices");
    c.pricing.source = kube_reclaimer::core::config::PriceSource::Opencost;
    let name = "act-ledger-prices";
    let uid = create(
        bed,
        name,
        &[],
        &[(
            "kube-reclaimer.io/expires",
            (bed.at - Duration::days(1)).to_rfc3339(),
        )],
    );
    // One pod requesting 1 core and 1 GiB; its namespace's default ServiceAccount comes
    // from the controller-manager, so creating it may take a few tries.
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "app"},
        "spec": {
            "containers": [{"name": "app", "image": "registry.local/app:1.0",
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
            "automountServiceAccountToken": false,
        }
    }))
    .expect("pod");
    bed.block_on(async {
        let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(bed.client.clone(), name);
        for attempt in 0.. {
            match pods.create(&PostParams::default(), &pod).await {
                Ok(_) => break,
                Err(_) if attempt < 60 => {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await
                }
                Err(e) => panic!("create pod: {e}"),
            }
        }
    });
    let inbox = Inbox::default();
    let first = cycle(bed, &c, name, bed.at, &inbox);
    assert_eq!(
        outcomes(&first),
        vec![("mark".to_string(), "done".to_string())],
        "{first:?}"
    );
    let at = bed.at + Duration::days(3) + Duration::minutes(1);
    let (evaluation, done) = bed.block_on(async {
        let evaluation = evaluated(bed, &c, name, at, &bed.prometheus_url).await;
        let done = act(bed, &evaluation, &c, &inbox, at).await;
        (evaluation, done)
    });
    assert_eq!(
        outcomes(&done),
        vec![("reclaim".to_string(), "done".to_string())],
        "{done:?}"
    );
    // The bed's OpenCost series average 0.05 per vCPU-hour and 0.006 per GiB-hour.
    assert_eq!(
        evaluation.prices.source, "opencost",
        "{:?}",
        evaluation.prices
    );
    let planned = evaluation.assessments[0].cost.requested_per_hour;
    let expected = 0.05 + 0.006;
    assert!(
        planned.is_some_and(|p| (p - expected).abs() < 1e-9),
        "{planned:?}"
    );
    let ledger = kube_reclaimer::io::ledger::read(std::path::Path::new(&c.lifecycle.tombstone_dir));
    let entry = ledger
        .entries
        .iter()
        .find(|e| e.uid == uid)
        .expect("a ledger entry for the namespace");
    let configured = c.pricing.cpu_per_vcpu_hour + c.pricing.memory_per_gib_hour;
    let recorded = entry.requested_cost_per_hour.expect("a recorded cost");
    assert!(
        (recorded - expected).abs() < 1e-9,
        "recorded {recorded}, the cycle priced it at {expected} (configured prices give {configured})"
    );
}

// Tombstones: streamed page by page, bounded in size, private, complete or not at all.

/// A namespaced custom resource kind on the bed: `widgets.act.example.com`, established.
fn widget_crd(bed: &Bed) -> kube::api::ApiResource {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "widgets.act.example.com"},
        "spec": {
            "group": "act.example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))
    .expect("crd");
    bed.block_on(async {
        let api = Api::<CustomResourceDefinition>::all(bed.client.clone());
        if api
            .get_opt("widgets.act.example.com")
            .await
            .expect("get crd")
            .is_none()
        {
            match api.create(&PostParams::default(), &crd).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => panic!("create crd: {e}"),
            }
        }
        for _ in 0..120 {
            let now = api.get("widgets.act.example.com").await.expect("crd");
            let established = now
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                // Discovery serves the new group a moment later.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("the CRD was not established within 30 s");
    });
    kube::api::ApiResource {
        group: "act.example.com".into(),
        version: "v1".into(),
        api_version: "act.example.com/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    }
}

fn create_in(bed: &Bed, ar: &kube::api::ApiResource, namespace: &str, object: serde_json::Value) {
    bed.block_on(async {
        let object: kube::api::DynamicObject = serde_json::from_value(object).expect("object");
        Api::<kube::api::DynamicObject>::namespaced_with(bed.client.clone(), namespace, ar)
            .create(&PostParams::default(), &object)
            .await
            .expect("create object");
    });
}

/// `count` ConfigMaps of about `size` bytes each in `namespace`.
fn config_maps(bed: &Bed, namespace: &str, count: usize, size: usize) {
    let ar = kube::api::ApiResource::erase::<ConfigMap>(&());
    let value: String = "0123456789abcdef".repeat(size / 16);
    for i in 0..count {
        create_in(
            bed,
            &ar,
            namespace,
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i:03}")}, "data": {"blob": value}}),
        );
    }
}

fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn wait_gone(bed: &Bed, name: &str) {
    bed.block_on(async {
        let api = Api::<Namespace>::all(bed.client.clone());
        for _ in 0..240 {
            if api.get_opt(name).await.expect("get").is_none() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        panic!("namespace {name} was not gone within 120 s");
    });
}

#[test]
fn a_tombstone_of_many_large_config_maps_and_a_custom_resource_is_private_yaml_that_re_applies() {
    use std::os::unix::fs::PermissionsExt;
    let bed = Bed::shared();
    let name = "act-tomb-big";
    let widget = widget_crd(bed);
    create(bed, name, &[], &[]);
    config_maps(bed, name, 300, 32 * 1024);
    create_in(
        bed,
        &widget,
        name,
        serde_json::json!({"apiVersion": "act.example.com/v1", "kind": "Widget",
            "metadata": {"name": "gear"}, "spec": {"teeth": 42}}),
    );
    let ns = read(bed, name).expect("namespace");
    let dir = bed.state_dir.join("tombstones-big");
    let path = bed
        .block_on(Cluster::new(bed.client.clone()).tombstone(&ns, &dir, "the header"))
        .expect("tombstone written");
    assert_eq!(
        files_in(&dir),
        vec![path.clone()],
        "one file, no partial left"
    );
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let text = std::fs::read_to_string(&path).expect("tombstone");
    assert!(text.starts_with("# the header\n"), "{}", &text[..200]);
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text).expect("the tombstone is multi-document YAML");
    let kinds = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).count();
    assert_eq!(kinds("Namespace"), 1);
    assert_eq!(kinds("ConfigMap"), 300, "every page saved");
    assert_eq!(kinds("Widget"), 1, "the custom resource is saved");
    let gear = docs.iter().find(|d| d["kind"] == "Widget").expect("gear");
    assert_eq!(gear["spec"]["teeth"], 42);
    assert_eq!(gear["apiVersion"], "act.example.com/v1");
    // Re-applied as a team would: the namespace and all its objects come back.
    bed.block_on(async {
        Api::<Namespace>::all(bed.client.clone())
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete")
    });
    wait_gone(bed, name);
    let mut apply = bed.kubectl();
    apply
        .args(["apply", "--request-timeout=60s", "-f"])
        .arg(&path);
    let out = apply.output().expect("kubectl apply");
    assert!(
        out.status.success(),
        "kubectl apply -f the tombstone: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bed.block_on(async {
        let maps = Api::<ConfigMap>::namespaced(bed.client.clone(), name)
            .list(&ListParams::default())
            .await
            .expect("configmaps");
        assert_eq!(
            maps.items
                .iter()
                .filter(|m| m
                    .metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("cm-")))
                .count(),
            300
        );
        let gear =
            Api::<kube::api::DynamicObject>::namespaced_with(bed.client.clone(), name, &widget)
                .get("gear")
                .await
                .expect("the widget is back");
        assert_eq!(gear.data["spec"]["teeth"], 42);
    });
}

#[test]
fn a_tombstone_over_its_size_bound_is_refused_whole_and_the_namespace_is_not_deleted() {
    let bed = Bed::shared();
    let c = config(bed, "tomb-bound");
    let name = "act-tomb-bound";
    let uid = create(
        bed,
        name,
        &[],
        &[
            (
                "kube-reclaimer.io/expires",
                (bed.at - Duration::days(5)).to_rfc3339(),
            ),
            (
                "kube-reclaimer.io/marked-at",
                (bed.at - Duration::days(4)).to_rfc3339(),
            ),
            (
                "kube-reclaimer.io/notified-at",
                (bed.at - Duration::days(4)).to_rfc3339(),
            ),
            (
                "kube-reclaimer.io/reclaim-after",
                (bed.at - Duration::days(1)).to_rfc3339(),
            ),
            ("kube-reclaimer.io/reason", "expired".into()),
        ],
    );
    bind_to_uid(bed, name);
    config_maps(bed, name, 20, 16 * 1024);
    let dir = std::path::PathBuf::from(&c.lifecycle.tombstone_dir);
    // Directly: the bound is checked while writing, and nothing is left behind.
    let ns = read(bed, name).expect("namespace");
    let small = Cluster::new(bed.client.clone()).with_max_tombstone_bytes(100 * 1024);
    let refused = bed.block_on(small.tombstone(&ns, &dir, "bounded"));
    assert!(
        matches!(
            refused,
            Err(kube_reclaimer::io::cluster::WriteError::TombstoneTooLarge { .. })
        ),
        "{refused:?}"
    );
    assert!(
        files_in(&dir).is_empty(),
        "no partial tombstone: {:?}",
        files_in(&dir)
    );
    // Through a cycle: due, but not deleted, and the event says why.
    let inbox = Inbox::default();
    let done = bed.block_on(async {
        let evaluation = evaluated(bed, &c, name, bed.at, &bed.prometheus_url).await;
        act_through(&small, &evaluation, &c, &inbox, bed.at).await
    });
    assert_eq!(
        done.iter()
            .map(|d| (d.kind.as_str(), d.outcome.as_str(), d.step))
            .collect::<Vec<_>>(),
        vec![("reclaim", "failed", Some(Step::Reclaim))],
        "{done:?}"
    );
    assert!(done[0].detail.contains("larger than"), "{done:?}");
    let kept = read(bed, name).expect("the namespace is kept");
    assert_eq!(kept.metadata.uid.as_deref(), Some(uid.as_str()));
    assert!(kept.metadata.deletion_timestamp.is_none());
    assert!(files_in(&dir)
        .iter()
        .all(|p| !p.to_string_lossy().contains(&uid)));
    assert!(events_for(bed, name).contains(&"ReclaimFailed".to_string()));
    assert!(inbox.kinds_for(name).is_empty(), "no reclaimed notice");
}

#[test]
fn every_tombstone_header_line_stays_a_comment_whatever_the_values_hold() {
    let bed = Bed::shared();
    let name = "act-tomb-header";
    create(
        bed,
        name,
        &[],
        &[("kube-reclaimer.io/expires", " 2026-12-01\n".to_string())],
    );
    let ns = read(bed, name).expect("namespace");
    let dir = bed.state_dir.join("tombstones-header");
    let header = "reclaimed: expired (annotation kube-reclaimer.io/expires= 2026-12-01\n)\n\
                  kind: Secret\n  ---\r\nlast";
    let path = bed
        .block_on(Cluster::new(bed.client.clone()).tombstone(&ns, &dir, header))
        .expect("tombstone");
    let text = std::fs::read_to_string(&path).expect("tombstone");
    let head: Vec<&str> = text.lines().take_while(|l| *l != "---").collect();
    assert!(head.len() >= 4, "{text}");
    assert!(head.iter().all(|l| l.starts_with('#')), "{head:?}");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    assert_eq!(
        docs.iter().map(|d| d["kind"].clone()).collect::<Vec<_>>(),
        vec![serde_json::json!("Namespace")],
        "{text}"
    );
    assert_eq!(
        docs[0]["metadata"]["annotations"]["kube-reclaimer.io/expires"],
        " 2026-12-01\n"
    );
}

// Sleep mode: the replicas to restore are on the namespace before anything is scaled.

fn sleep_config(bed: &Bed, test: &str) -> Config {
    let mut c = config(bed, test);
    c.lifecycle.reclaim_by = kube_reclaimer::core::config::ReclaimBy::Sleep;
    c
}

/// A namespace marked expired four days ago, its grace period over, plus `extra`.
fn due_for_sleep(bed: &Bed, name: &str, expires: DateTime<Utc>, extra: &[(&str, String)]) {
    let mut annotations = vec![
        ("kube-reclaimer.io/expires", expires.to_rfc3339()),
        (
            "kube-reclaimer.io/marked-at",
            (bed.at - Duration::days(4)).to_rfc3339(),
        ),
        (
            "kube-reclaimer.io/notified-at",
            (bed.at - Duration::days(4)).to_rfc3339(),
        ),
        (
            "kube-reclaimer.io/reclaim-after",
            (bed.at - Duration::days(1)).to_rfc3339(),
        ),
        ("kube-reclaimer.io/reason", "expired".into()),
    ];
    annotations.extend(extra.iter().cloned());
    create(bed, name, &[], &annotations);
    bind_to_uid(bed, name);
}

/// Binds the lifecycle annotations a test wrote at creation to the namespace, as the
/// daemon does when it writes them (`kube-reclaimer.io/uid`).
fn bind_to_uid(bed: &Bed, name: &str) {
    let uid = read(bed, name).and_then(|n| n.metadata.uid).expect("uid");
    let patch = serde_json::json!({"metadata": {"annotations": {"kube-reclaimer.io/uid": uid}}});
    bed.block_on(async {
        Api::<Namespace>::all(bed.client.clone())
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("bind to uid")
    });
}

fn workload(bed: &Bed, namespace: &str, kind: &str, name: &str, replicas: i32) {
    let ar = match kind {
        "Deployment" => {
            kube::api::ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&())
        }
        _ => kube::api::ApiResource::erase::<k8s_openapi::api::apps::v1::StatefulSet>(&()),
    };
    create_in(
        bed,
        &ar,
        namespace,
        serde_json::json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": "registry.example.com/app:1"}]}}}}),
    );
}

/// Replicas and our annotations of a workload.
fn scale_of(bed: &Bed, namespace: &str, kind: &str, name: &str) -> (i64, Vec<String>) {
    let ar = match kind {
        "Deployment" => {
            kube::api::ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&())
        }
        _ => kube::api::ApiResource::erase::<k8s_openapi::api::apps::v1::StatefulSet>(&()),
    };
    bed.block_on(async {
        let object =
            Api::<kube::api::DynamicObject>::namespaced_with(bed.client.clone(), namespace, &ar)
                .get(name)
                .await
                .expect("workload");
        let ours = object
            .metadata
            .annotations
            .unwrap_or_default()
            .into_keys()
            .filter(|k| k.starts_with(P))
            .collect();
        (object.data["spec"]["replicas"].as_i64().unwrap_or(-1), ours)
    })
}

#[test]
fn sleep_records_the_replicas_on_the_namespace_first_and_wake_restores_them() {
    let bed = Bed::shared();
    let c = sleep_config(bed, "sleep-record");
    let name = "act-sleep-record";
    due_for_sleep(bed, name, bed.at - Duration::days(5), &[]);
    workload(bed, name, "Deployment", "web", 3);
    workload(bed, name, "StatefulSet", "db", 2);
    let inbox = Inbox::default();
    let done = cycle(bed, &c, name, bed.at, &inbox);
    assert!(
        done.iter().all(|d| d.outcome.as_str() == "done"),
        "{done:?}"
    );
    assert_eq!(scale_of(bed, name, "Deployment", "web"), (0, vec![]));
    assert_eq!(scale_of(bed, name, "StatefulSet", "db"), (0, vec![]));
    let asleep = annotations(bed, name);
    assert_eq!(
        asleep.get(&format!("{P}replicas")).map(String::as_str),
        Some(r#"{"Deployment/web":3,"StatefulSet/db":2}"#),
        "{asleep:?}"
    );
    assert!(asleep.contains_key(&format!("{P}sleeping-since")));
    // The owner extends: restored from the namespace's record, which goes with the mark.
    bed.block_on(async {
        let patch = serde_json::json!({"metadata": {"annotations": {
            "kube-reclaimer.io/expires": (bed.at + Duration::days(30)).to_rfc3339()}}});
        Api::<Namespace>::all(bed.client.clone())
            .patch(name, &Default::default(), &kube::api::Patch::Merge(&patch))
            .await
            .expect("extend")
    });
    let done = cycle(bed, &c, name, bed.at + Duration::minutes(30), &inbox);
    assert_eq!(
        outcomes(&done),
        vec![("wake".to_string(), "done".to_string())]
    );
    assert_eq!(scale_of(bed, name, "Deployment", "web").0, 3);
    assert_eq!(scale_of(bed, name, "StatefulSet", "db").0, 2);
    let awake = annotations(bed, name);
    for gone in ["replicas", "sleeping-since", "marked-at"] {
        assert!(
            !awake.contains_key(&format!("{P}{gone}")),
            "{gone}: {awake:?}"
        );
    }
}

#[test]
fn a_scale_down_whose_sleep_was_never_recorded_still_wakes_when_the_owner_extends() {
    let bed = Bed::shared();
    let c = sleep_config(bed, "sleep-unrecorded");
    let name = "act-sleep-unrecorded";
    // Scaled down, then the owner extended before `sleeping-since` could be written.
    due_for_sleep(
        bed,
        name,
        bed.at + Duration::days(30),
        &[(
            "kube-reclaimer.io/replicas",
            r#"{"Deployment/web":3}"#.into(),
        )],
    );
    workload(bed, name, "Deployment", "web", 0);
    let inbox = Inbox::default();
    let done = cycle(bed, &c, name, bed.at, &inbox);
    assert_eq!(
        outcomes(&done),
        vec![("wake".to_string(), "done".to_string())],
        "{done:?}"
    );
    assert_eq!(scale_of(bed, name, "Deployment", "web").0, 3);
    let awake = annotations(bed, name);
    assert!(
        !awake.contains_key(&format!("{P}replicas"))
            && !awake.contains_key(&format!("{P}marked-at")),
        "{awake:?}"
    );
}

/// A PersistentVolume (hostPath, reclaim policy Delete) bound to claim `data` in `ns`,
/// written as the PersistentVolume controller would: claimRef, volumeName, phase Bound.
pub(crate) fn bound_volume(bed: &Bed, ns: &str, pv_name: &str) {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    use kube::api::{Patch, PatchParams};
    bed.block_on(async {
        let claims = Api::<PersistentVolumeClaim>::namespaced(bed.client.clone(), ns);
        let pvc: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "volumeName": pv_name,
                "resources": {"requests": {"storage": "5Gi"}}
            }
        }))
        .expect("pvc");
        let pvc = claims
            .create(&PostParams::default(), &pvc)
            .await
            .expect("create pvc");
        let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "5Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": "manual",
                "hostPath": {"path": format!("/tmp/{pv_name}")},
                "claimRef": {"namespace": ns, "name": "data", "uid": pvc.metadata.uid}
            }
        }))
        .expect("pv");
        Api::<PersistentVolume>::all(bed.client.clone())
            .create(&PostParams::default(), &pv)
            .await
            .expect("create pv");
        claims
            .patch_status(
                "data",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"status": {
                    "phase": "Bound",
                    "accessModes": ["ReadWriteOnce"],
                    "capacity": {"storage": "5Gi"}
                }})),
            )
            .await
            .expect("bind pvc");
    });
}

#[test]
fn an_idle_namespace_with_a_bound_volume_is_not_reclaimed_and_notices_list_the_volume() {
    let bed = Bed::shared();
    let c = config(bed, "volume");
    create(bed, "act-volume-idle", &[], &[]);
    bound_volume(bed, "act-volume-idle", "act-volume-idle-pv");
    create(bed, "act-volume-empty", &[], &[]);
    create(
        bed,
        "act-volume-expired",
        &[],
        &[(
            "kube-reclaimer.io/expires",
            (bed.at - Duration::days(1)).to_rfc3339(),
        )],
    );
    bound_volume(bed, "act-volume-expired", "act-volume-expired-pv");
    let inbox = Inbox::default();
    let done = cycle(bed, &c, "act-volume-", bed.at, &inbox);
    // Idle without volumes is marked; idle with a bound volume is not.
    assert_eq!(
        inbox.kinds_for("act-volume-empty"),
        vec!["mark"],
        "{done:?}"
    );
    assert!(inbox.kinds_for("act-volume-idle").is_empty(), "{done:?}");
    assert!(!annotations(bed, "act-volume-idle").contains_key(&format!("{P}marked-at")));
    // Expired with a volume is marked (lifecycle.reclaim_with_volumes.expired), and the
    // notice says what deletion destroys.
    assert_eq!(
        inbox.kinds_for("act-volume-expired"),
        vec!["mark"],
        "{done:?}"
    );
    let texts = inbox.texts.lock().expect("inbox").clone();
    let text = texts
        .iter()
        .find(|(n, _)| n == "act-volume-expired")
        .map(|(_, t)| t.clone())
        .expect("mark notice");
    assert!(
        text.contains("claim data: 5.00 GiB, StorageClass manual, reclaim policy Delete: the volume and its data are deleted")
            && text.contains("kube-reclaimer never reads Secrets"),
        "{text}"
    );
    // Long after the grace period, still idle: never deleted.
    let later = cycle(
        bed,
        &c,
        "act-volume-idle",
        bed.at + Duration::days(10),
        &inbox,
    );
    assert!(later.is_empty(), "{later:?}");
    assert!(read(bed, "act-volume-idle").is_some_and(|n| n.metadata.deletion_timestamp.is_none()));
}

#[test]
fn a_namespace_stuck_terminating_never_holds_back_another_reclamation() {
    use kube::api::{Patch, PatchParams};
    let bed = Bed::shared();
    let mut c = config(bed, "terminating");
    c.lifecycle.max_reclaims_per_cycle = 1;
    let expired = || {
        [(
            "kube-reclaimer.io/expires",
            (bed.at - Duration::days(1)).to_rfc3339(),
        )]
    };
    // Sorted first by name, so with equal reclaim-after it would take the one slot.
    let stuck = "act-term-a-stuck";
    let due = "act-term-b-due";
    create(bed, stuck, &[], &expired());
    create(bed, due, &[], &expired());
    let namespaces = Api::<Namespace>::all(bed.client.clone());
    let hold = |finalizers: serde_json::Value| {
        bed.block_on(async {
            namespaces
                .patch(
                    stuck,
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"metadata": {"finalizers": finalizers}})),
                )
                .await
                .expect("finalizers");
        })
    };
    hold(serde_json::json!(["example.com/hold"]));
    let inbox = Inbox::default();
    let first = cycle(bed, &c, "act-term-", bed.at, &inbox);
    assert_eq!(inbox.kinds_for(stuck), vec!["mark"], "{first:?}");
    assert_eq!(inbox.kinds_for(due), vec!["mark"], "{first:?}");
    bed.block_on(async {
        namespaces
            .delete(stuck, &DeleteParams::default())
            .await
            .expect("delete");
    });
    assert!(read(bed, stuck).is_some_and(|n| n.metadata.deletion_timestamp.is_some()));
    let last = cycle(
        bed,
        &c,
        "act-term-",
        bed.at + Duration::days(3) + Duration::minutes(1),
        &inbox,
    );
    hold(serde_json::json!(null));
    assert_eq!(
        outcomes(&last),
        vec![("reclaim".to_string(), "done".to_string())],
        "{last:?}"
    );
    assert_eq!(inbox.kinds_for(due), vec!["mark", "reclaimed"]);
    assert_eq!(inbox.kinds_for(stuck), vec!["mark"]);
}
