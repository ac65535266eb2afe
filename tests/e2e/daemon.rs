//! The daemon's parts against the real apiserver: leader election with a Lease.

use crate::support::Bed;
use chrono::{Duration as Days, Utc};
use kube_reclaimer::io::lease::Elector;
use std::time::Duration;

fn elector(bed: &Bed, lease: &str, who: &str, seconds: u64) -> Elector {
    Elector::new(
        bed.client.clone(),
        "default",
        lease,
        who.to_string(),
        Duration::from_secs(seconds),
    )
}

#[test]
fn one_replica_holds_the_lease_until_it_releases_it() {
    let bed = Bed::shared();
    let (a, b) = (
        elector(bed, "e2e-lease-release", "replica-a", 30),
        elector(bed, "e2e-lease-release", "replica-b", 30),
    );
    bed.block_on(async {
        assert!(a.try_acquire(Utc::now()).await.expect("a"));
        assert!(!b.try_acquire(Utc::now()).await.expect("b"), "held by a");
        assert!(a.try_acquire(Utc::now()).await.expect("a renews"));
        assert!(a.is_leader() && !b.is_leader());
        a.release().await;
        assert!(!a.is_leader());
        assert!(b.try_acquire(Utc::now()).await.expect("b after release"));
        assert!(
            !a.try_acquire(Utc::now()).await.expect("a again"),
            "now held by b"
        );
    });
}

#[test]
fn an_expired_lease_is_taken_over() {
    let bed = Bed::shared();
    let (a, b) = (
        elector(bed, "e2e-lease-expiry", "replica-a", 3),
        elector(bed, "e2e-lease-expiry", "replica-b", 3),
    );
    bed.block_on(async {
        assert!(a.try_acquire(Utc::now()).await.expect("a"));
        assert!(!b.try_acquire(Utc::now()).await.expect("b too early"));
        // `a` stops renewing: after the whole duration unchanged, `b` takes it.
        tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
        assert!(b.try_acquire(Utc::now()).await.expect("b after expiry"));
        assert!(!a.try_acquire(Utc::now()).await.expect("a lost it"));
    });
}

/// A replica whose clock runs minutes ahead writes a `renewTime` in the future: that must
/// not keep the Lease from the others once it stops renewing, nor let it take a Lease
/// another replica renews.
#[test]
fn a_renew_time_from_a_clock_ahead_neither_holds_nor_takes_the_lease() {
    let bed = Bed::shared();
    let (ahead, b) = (
        elector(bed, "e2e-lease-skew", "replica-ahead", 3),
        elector(bed, "e2e-lease-skew", "replica-b", 3),
    );
    let minutes_ahead = || Utc::now() + Days::seconds(180);
    bed.block_on(async {
        assert!(ahead.try_acquire(minutes_ahead()).await.expect("ahead"));
        assert!(!b.try_acquire(Utc::now()).await.expect("b while it renews"));
        tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
        assert!(
            b.try_acquire(Utc::now()).await.expect("b"),
            "a renewTime 3 minutes ahead held the Lease after its holder stopped"
        );
        assert!(
            !ahead
                .try_acquire(minutes_ahead())
                .await
                .expect("ahead again"),
            "a clock 3 minutes ahead took a Lease that was just renewed"
        );
    });
}

#[test]
fn racing_replicas_never_both_win() {
    let bed = Bed::shared();
    let electors: Vec<Elector> = (0..6)
        .map(|i| elector(bed, "e2e-lease-race", &format!("replica-{i}"), 30))
        .collect();
    let wins = bed.block_on(async {
        let now = Utc::now();
        let attempts = electors.iter().map(|e| e.try_acquire(now));
        let results = futures::future::join_all(attempts).await;
        results
            .into_iter()
            .filter(|r| matches!(r, Ok(true)))
            .count()
    });
    assert_eq!(wins, 1);
}

#[test]
fn a_replica_racing_itself_keeps_the_lease() {
    // The renewer and a cycle ask at the same moment: neither may conclude that another
    // replica holds the Lease.
    let bed = Bed::shared();
    let a = elector(bed, "e2e-lease-self", "replica-a", 30);
    let results = bed.block_on(async {
        let attempts = (0..8).map(|_| a.try_acquire(Utc::now()));
        futures::future::join_all(attempts).await
    });
    assert!(results.iter().all(|r| matches!(r, Ok(true))), "{results:?}");
    assert!(a.is_leader());
}

#[test]
fn a_replica_whose_renewals_hang_stops_leading_before_another_takes_the_lease() {
    // Replica A reaches the apiserver through a proxy that stalls its traffic: its
    // renewals neither succeed nor fail. A must stop acting before B may take the
    // Lease over, and must not lead again when its stalled requests go through.
    let bed = Bed::shared();
    let api = crate::support::proxy::apiserver(bed, "lease-stall");
    let seconds = 6;
    let a = std::sync::Arc::new(Elector::new(
        api.client.clone(),
        "default",
        "e2e-lease-stall",
        "replica-a".into(),
        Duration::from_secs(seconds),
    ));
    let b = elector(bed, "e2e-lease-stall", "replica-b", seconds);
    bed.block_on(async {
        assert!(a.try_acquire(Utc::now()).await.expect("a"));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renewing = {
            let (a, stop) = (a.clone(), stop.clone());
            tokio::spawn(async move { a.keep_renewing(&stop).await })
        };
        let stalled = std::time::Instant::now();
        api.proxy.stall();
        // B takes the Lease as soon as it has expired by the renewTime A last wrote.
        let mut taken = None;
        while taken.is_none() {
            assert!(
                stalled.elapsed() < Duration::from_secs(3 * seconds),
                "B never took the Lease"
            );
            if b.try_acquire(Utc::now()).await.expect("b") {
                taken = Some(stalled.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            !a.is_leader(),
            "A still leads {:.1}s into the stall, after B took the Lease",
            stalled.elapsed().as_secs_f64()
        );
        // A's stalled requests go through: it learns B holds the Lease.
        api.proxy.resume();
        for _ in 0..(seconds * 5) {
            assert!(!a.is_leader(), "A leads again after the stall");
            // B renews as a leader does.
            assert!(b.try_acquire(Utc::now()).await.expect("b renews"));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = renewing.await;
    });
}
