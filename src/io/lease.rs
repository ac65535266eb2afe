//! Leader election with a `coordination.k8s.io` Lease: every replica reads and plans; only
//! the holder of the Lease writes, e-mails or deletes.
//!
//! Leadership is a deadline on the monotonic clock, not a flag: a renewal that succeeds
//! lets this replica act until the instant the renewal request was sent, plus the Lease
//! duration, minus a margin of a third of the duration ([`margin`]; client-go's
//! `RenewDeadline` < `LeaseDuration` likewise). Another replica takes the Lease over only
//! once it has seen the Lease unchanged for the whole duration, timed on its own
//! monotonic clock from when it first saw that version ([`Watch`], as client-go does),
//! so this replica has stopped acting by then, even when its renewals hang instead of
//! failing. The `renewTime` written is never compared with another replica's clock: a
//! replica whose clock runs ahead can neither take the Lease early nor, by writing a
//! `renewTime` in the future, keep it from the others after it is gone. A replica whose
//! clock disagrees with the apiserver's stands aside ([`Elector::stand_aside`]): it
//! gives the Lease up and does not take it, since it would not act with it.

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long before the Lease runs out this replica stops acting: a third of its duration.
pub fn margin(duration: Duration) -> Duration {
    duration / 3
}

/// Until when this replica may act, by the last renewal that succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leadership {
    until: Option<Instant>,
}

impl Leadership {
    /// A renewal sent at `sent` found the Lease ours (`held`) or another's.
    pub fn renewed(&mut self, sent: Instant, duration: Duration, held: bool) {
        self.until = held.then(|| sent + duration.saturating_sub(margin(duration)));
    }

    /// A renewal failed or was given up: not the leader any more.
    pub fn lost(&mut self) {
        self.until = None;
    }

    /// Whether this replica may act at `now`.
    pub fn holds(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }
}

/// The version of another replica's Lease this replica last saw, and since when (on its
/// own monotonic clock).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    seen: Option<(String, Instant)>,
}

impl Watch {
    /// The Lease read at `now` is at `version`: whether it has stayed so for `duration`,
    /// i.e. its holder has not renewed it for that long.
    pub fn expired(&mut self, version: &str, now: Instant, duration: Duration) -> bool {
        match &self.seen {
            Some((v, since)) if v == version => now.duration_since(*since) >= duration,
            _ => {
                self.seen = Some((version.to_string(), now));
                false
            }
        }
    }
}

pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    leadership: Mutex<Leadership>,
    watch: Mutex<Watch>,
    /// Set while this replica's clock cannot be trusted: it neither takes nor renews.
    aside: AtomicBool,
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
            leadership: Mutex::new(Leadership::default()),
            watch: Mutex::new(Watch::default()),
            aside: AtomicBool::new(false),
            acquiring: tokio::sync::Mutex::new(()),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn leadership(&self) -> std::sync::MutexGuard<'_, Leadership> {
        self.leadership
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this replica may act now: its last renewal succeeded, and less than the
    /// Lease duration minus the [`margin`] has passed since that renewal was sent.
    pub fn is_leader(&self) -> bool {
        self.leadership().holds(Instant::now())
    }

    /// Takes the Lease if it is free, expired or ours, and renews it. Updates carry the
    /// resourceVersion read, so two replicas racing for it cannot both win.
    pub async fn try_acquire(&self, now: DateTime<Utc>) -> Result<bool, kube::Error> {
        let _one_at_a_time = self.acquiring.lock().await;
        let sent = Instant::now();
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX);
        let lease = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.failed(e))?;
        let held = match lease {
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
                    Err(e) => return Err(self.failed(e)),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(Default::default);
                let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
                let theirs = spec
                    .lease_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .map_or(self.duration, Duration::from_secs)
                    .max(self.duration);
                let version = format!(
                    "{}/{}",
                    holder.as_deref().unwrap_or(""),
                    lease.metadata.resource_version.as_deref().unwrap_or("")
                );
                let ours = holder.as_deref() == Some(self.identity.as_str());
                let unrenewed = self
                    .watch
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .expired(&version, sent, theirs);
                let free = holder.is_none() || unrenewed;
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
                        Err(e) => return Err(self.failed(e)),
                    }
                }
            }
        };
        self.leadership().renewed(sent, self.duration, held);
        Ok(held)
    }

    fn failed(&self, e: kube::Error) -> kube::Error {
        self.leadership().lost();
        e
    }

    /// Renews every third of the Lease duration until `stop` is set; a renewal that
    /// fails, or takes longer than the [`margin`], makes this replica a follower at once.
    pub async fn keep_renewing(&self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            if self.aside.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            match tokio::time::timeout(margin(self.duration), self.try_acquire(Utc::now())).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot renew the leader Lease; acting as a follower")
                }
                Err(_) => {
                    self.leadership().lost();
                    tracing::warn!(
                        seconds = margin(self.duration).as_secs_f64(),
                        "renewing the leader Lease timed out; acting as a follower"
                    );
                }
            }
            let step = self.duration / 3;
            let mut waited = Duration::ZERO;
            while waited < step && !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                waited += Duration::from_millis(200);
            }
        }
    }

    /// While `aside`, this replica neither takes nor renews the Lease, and gives it up if
    /// it holds it: for a replica whose clock cannot be trusted, which would not act.
    pub async fn stand_aside(&self, aside: bool) {
        let was = self.aside.swap(aside, Ordering::SeqCst);
        if aside && !was {
            self.release().await;
        }
    }

    /// Gives the Lease up, so another replica can take over at once.
    pub async fn release(&self) {
        let _one_at_a_time = self.acquiring.lock().await;
        self.leadership().lost();
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

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(30);

    #[test]
    fn a_renewal_holds_until_the_duration_less_the_margin_from_when_it_was_sent() {
        let sent = Instant::now();
        let mut l = Leadership::default();
        assert!(!l.holds(sent), "never renewed");
        l.renewed(sent, LEASE, true);
        assert!(l.holds(sent));
        assert!(l.holds(sent + Duration::from_millis(19_999)));
        assert!(!l.holds(sent + Duration::from_secs(20)), "margin of 10 s");
        assert!(!l.holds(sent + LEASE));
    }

    #[test]
    fn leadership_runs_out_by_itself_when_no_renewal_comes_back() {
        // Renewed at 0 s and 10 s; the renewal sent at 20 s hangs: acting stops at 30 s,
        // before another replica may take the Lease at 40 s.
        let start = Instant::now();
        let mut l = Leadership::default();
        for at in [0, 10] {
            l.renewed(start + Duration::from_secs(at), LEASE, true);
        }
        assert!(l.holds(start + Duration::from_secs(29)));
        assert!(!l.holds(start + Duration::from_secs(30)));
        assert!(!l.holds(start + Duration::from_secs(40)));
    }

    #[test]
    fn a_lease_held_by_another_a_failure_or_a_release_ends_leadership_at_once() {
        let now = Instant::now();
        let mut l = Leadership::default();
        l.renewed(now, LEASE, true);
        l.renewed(now, LEASE, false);
        assert!(!l.holds(now));
        l.renewed(now, LEASE, true);
        l.lost();
        assert!(!l.holds(now));
    }

    #[test]
    fn another_replicas_lease_expires_only_after_it_was_seen_unchanged_for_the_duration() {
        let mut w = Watch::default();
        let t0 = Instant::now();
        assert!(!w.expired("a/1", t0, LEASE), "first sight is never expired");
        assert!(!w.expired("a/1", t0 + LEASE - Duration::from_millis(1), LEASE));
        assert!(w.expired("a/1", t0 + LEASE, LEASE));
        // A renewal (new version) starts the count again, whatever renewTime it wrote.
        assert!(!w.expired("a/2", t0 + LEASE, LEASE));
        assert!(!w.expired("a/2", t0 + LEASE + LEASE / 2, LEASE));
        assert!(w.expired("a/2", t0 + LEASE * 2, LEASE));
    }

    #[test]
    fn the_margin_is_a_third_of_the_duration() {
        assert_eq!(margin(LEASE), Duration::from_secs(10));
        assert_eq!(margin(Duration::from_secs(6)), Duration::from_secs(2));
    }
}
