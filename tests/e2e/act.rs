//! Acting on the plan against the real apiserver: annotations guarded by resourceVersion,
//! events, tombstones, uid-guarded deletion. Each test creates its own `act-*`
//! namespaces and acts only on those, so the sample cluster stays as it is.

use crate::support::Bed;
use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube_reclaimer::act::mail::{render, Notice, RenderContext, Templates};
use kube_reclaimer::act::{cluster::Cluster, execute, Deliver, Delivery, Done, Step};
use kube_reclaimer::collect::{collect, prometheus::Prometheus};
use kube_reclaimer::config::{Config, Mode};
use kube_reclaimer::evaluate::evaluate;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

const P: &str = "kube-reclaimer.io/";

/// Records what would have been mailed; can be told to fail like a server that is down.
#[derive(Default)]
struct Inbox {
    sent: Mutex<Vec<(String, String)>>,
    /// The text of each mail, as rendered with the built-in templates.
    texts: Mutex<Vec<(String, String)>>,
    down: AtomicBool,
}

impl Deliver for Inbox {
    async fn deliver(&self, d: Delivery<'_>) -> Result<(), String> {
        if self.down.load(Ordering::SeqCst) {
            return Err("connection refused".into());
        }
        let kind = if d.reclaimed {
            "reclaimed".to_string()
        } else {
            kube_reclaimer::cli::label(&d.action.kind)
        };
        self.sent
            .lock()
            .expect("inbox")
            .push((d.assessment.name.clone(), kind));
        let notice = if d.reclaimed {
            let cause = match d.action.kind {
                kube_reclaimer::plan::ActionKind::Reclaim { cause, .. } => cause,
                _ => return Err("a reclaimed notice for another action".into()),
            };
            Some(Notice::reclaimed(d.assessment, cause, d.now, None, false))
        } else {
            Notice::for_action(d.assessment, d.action)
        };
        if let Some(notice) = notice {
            let config = Config::default();
            let templates = Templates::load(None).map_err(|e| e.to_string())?;
            let r = render(&notice, &RenderContext::new(&config, &templates, d.now))
                .map_err(|e| e.to_string())?;
            self.texts
                .lock()
                .expect("inbox")
                .push((d.assessment.name.clone(), r.text));
        }
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
        let prometheus = Prometheus::connect(config, Some(prometheus_url));
        let mut collected = collect(config, &bed.client, prometheus, at)
            .await
            .expect("collect");
        collected
            .observations
            .retain(|o| o.namespace.name.starts_with(prefix));
        let evaluation = evaluate(collected, config, at);
        let cluster = Cluster::new(bed.client.clone());
        execute(&evaluation, config, &cluster, inbox, at, &|| true).await
    })
}

fn outcomes(done: &[Done]) -> Vec<(String, String)> {
    done.iter()
        .map(|d| (d.kind.clone(), d.outcome.clone()))
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
    let ledger = kube_reclaimer::act::ledger::read(dir);
    assert!(ledger.readable && ledger.problems.is_empty(), "{ledger:?}");
    let entry = ledger
        .entries
        .iter()
        .find(|e| e.uid == uid)
        .expect("a ledger entry for the namespace");
    assert_eq!(entry.namespace, name);
    assert_eq!(entry.at, bed.at + Duration::days(3) + Duration::minutes(1));
    assert_eq!(entry.cause, kube_reclaimer::plan::Reason::Expired);
    assert_eq!(entry.by, kube_reclaimer::config::ReclaimBy::Delete);
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
    let stale = bed.block_on(async {
        let prometheus = Prometheus::connect(&c, Some(&bed.prometheus_url));
        let mut collected = collect(&c, &bed.client, prometheus, later)
            .await
            .expect("collect");
        collected.observations.retain(|o| o.namespace.name == name);
        evaluate(collected, &c, later)
    });
    assert!(stale.plan.namespaces[0]
        .actions
        .iter()
        .any(|a| kube_reclaimer::cli::label(&a.kind) == "reclaim"));
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
    let done = bed.block_on(async {
        let cluster = Cluster::new(bed.client.clone());
        execute(&stale, &c, &cluster, &inbox, later, &|| true).await
    });
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
                Err(kube_reclaimer::act::cluster::WriteError::Conflict(_))
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

/// A PersistentVolume (hostPath, reclaim policy Delete) bound to claim `data` in `ns`,
/// written as the PersistentVolume controller would: claimRef, volumeName, phase Bound.
fn bound_volume(bed: &Bed, ns: &str, pv_name: &str) {
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
