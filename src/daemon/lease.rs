//! Leader election with a `coordination.k8s.io` Lease: every replica reads and plans; only
//! the holder of the Lease writes, e-mails or deletes.

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    leader: Arc<AtomicBool>,
    /// One acquisition at a time: the renewer and a cycle both call `try_acquire`, and
    /// two of our own writes racing would make the loser of the two think another
    /// replica holds the Lease.
    acquiring: tokio::sync::Mutex<()>,
}

fn micro(t: DateTime<Utc>) -> Option<MicroTime> {
    k8s_openapi::jiff::Timestamp::from_microsecond(t.timestamp_micros())
        .ok()
        .map(MicroTime)
}

fn instant(t: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.0.as_microsecond())
}

impl Elector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: String,
        duration: Duration,
    ) -> Elector {
        Elector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity,
            duration,
            leader: Arc::new(AtomicBool::new(false)),
            acquiring: tokio::sync::Mutex::new(()),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this replica held the Lease at its last renewal.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    /// Takes the Lease if it is free, expired or ours, and renews it. Updates carry the
    /// resourceVersion read, so two replicas racing for it cannot both win.
    pub async fn try_acquire(&self, now: DateTime<Utc>) -> Result<bool, kube::Error> {
        let _one_at_a_time = self.acquiring.lock().await;
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX);
        let held = match self.api.get_opt(&self.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.identity.clone()),
                        lease_duration_seconds: Some(seconds),
                        acquire_time: micro(now),
                        renew_time: micro(now),
                        lease_transitions: Some(0),
                        ..Default::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => true,
                    Err(kube::Error::Api(s)) if s.code == 409 => false,
                    Err(e) => return Err(e),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(Default::default);
                let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
                let expires = spec.renew_time.as_ref().and_then(instant).map(|t| {
                    t + chrono::TimeDelta::seconds(
                        spec.lease_duration_seconds.unwrap_or(seconds).into(),
                    )
                });
                let ours = holder.as_deref() == Some(self.identity.as_str());
                let free = holder.is_none() || expires.is_none_or(|e| e < now);
                if !(ours || free) {
                    false
                } else {
                    if !ours {
                        spec.acquire_time = micro(now);
                        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                        spec.holder_identity = Some(self.identity.clone());
                    }
                    spec.renew_time = micro(now);
                    spec.lease_duration_seconds = Some(seconds);
                    match self
                        .api
                        .replace(&self.name, &PostParams::default(), &lease)
                        .await
                    {
                        Ok(_) => true,
                        Err(kube::Error::Api(s)) if s.code == 409 => false,
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        self.leader.store(held, Ordering::SeqCst);
        Ok(held)
    }

    /// Renews every third of the Lease duration until `stop` is set; a failed renewal
    /// makes this replica a follower at once.
    pub async fn keep_renewing(&self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = self.try_acquire(Utc::now()).await {
                tracing::warn!(error = %e, "cannot renew the leader Lease; acting as a follower");
                self.leader.store(false, Ordering::SeqCst);
            }
            let step = self.duration / 3;
            let mut waited = Duration::ZERO;
            while waited < step && !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                waited += Duration::from_millis(200);
            }
        }
    }

    /// Gives the Lease up, so another replica can take over at once.
    pub async fn release(&self) {
        let _one_at_a_time = self.acquiring.lock().await;
        self.leader.store(false, Ordering::SeqCst);
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Err(e) = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(error = %e, "cannot release the leader Lease; it expires by itself");
        }
    }
}
