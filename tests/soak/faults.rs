//! The faults a soak injects, and the seeded schedule that says when. Every kind is
//! scheduled at least once per run; more are drawn at random. Nothing here touches the
//! world: `world.rs` carries each fault out.

use std::time::Duration;

/// A small seeded generator (SplitMix64): the same seed gives the same run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[lo, hi)`.
    pub fn secs(&mut self, lo: f64, hi: f64) -> Duration {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        Duration::from_secs_f64(lo + (hi - lo) * u)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Both replicas' connections to the apiserver are cut.
    ApiUnreachable,
    /// Every apiserver answer to one replica takes seconds.
    ApiSlow,
    /// Every write of one replica is answered 503.
    ApiWrites5xx,
    /// Every write of one replica is answered 409 Conflict.
    ApiConflicts,
    /// One replica's Lease renewals hang; its other requests go through.
    LeaseStalled,
    /// SIGKILL of one replica at a random moment; restarted a few seconds later.
    Kill,
    /// SIGKILL of the replica that writes a namespace record right after a mail was
    /// accepted for that namespace: between the mail and its annotation.
    KillBetweenMailAndRecord,
    /// SIGKILL of the replica that sends a namespace DELETE: after the tombstone, before
    /// the delete reached the apiserver.
    KillBetweenTombstoneAndDelete,
    /// The SMTP server drops every connection.
    SmtpDown,
    /// The SMTP server answers each command seconds late (a tarpit).
    SmtpSlow,
    /// The SMTP server refuses one owner's address (550).
    SmtpRefusesRecipient,
    /// Prometheus cannot be reached.
    PrometheusDown,
    /// Prometheus answers leave out half of the series.
    PrometheusPartial,
    /// Prometheus answers as if half of the idle window had no samples.
    PrometheusHole,
    /// One replica runs with its clock minutes ahead (restarted under faketime).
    ClockSkew,
    /// An admission policy refuses the daemon's namespace updates.
    AdmissionRefuses,
}

impl Kind {
    pub const ALL: [Kind; 16] = [
        Kind::ApiUnreachable,
        Kind::ApiSlow,
        Kind::ApiWrites5xx,
        Kind::ApiConflicts,
        Kind::LeaseStalled,
        Kind::Kill,
        Kind::KillBetweenMailAndRecord,
        Kind::KillBetweenTombstoneAndDelete,
        Kind::SmtpDown,
        Kind::SmtpSlow,
        Kind::SmtpRefusesRecipient,
        Kind::PrometheusDown,
        Kind::PrometheusPartial,
        Kind::PrometheusHole,
        Kind::ClockSkew,
        Kind::AdmissionRefuses,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ApiUnreachable => "api-unreachable",
            Kind::ApiSlow => "api-slow",
            Kind::ApiWrites5xx => "api-writes-5xx",
            Kind::ApiConflicts => "api-409-storm",
            Kind::LeaseStalled => "lease-renewal-stalled",
            Kind::Kill => "sigkill",
            Kind::KillBetweenMailAndRecord => "sigkill-between-mail-and-record",
            Kind::KillBetweenTombstoneAndDelete => "sigkill-between-tombstone-and-delete",
            Kind::SmtpDown => "smtp-down",
            Kind::SmtpSlow => "smtp-tarpit",
            Kind::SmtpRefusesRecipient => "smtp-refuses-recipient",
            Kind::PrometheusDown => "prometheus-down",
            Kind::PrometheusPartial => "prometheus-partial",
            Kind::PrometheusHole => "prometheus-hole",
            Kind::ClockSkew => "clock-skew",
            Kind::AdmissionRefuses => "admission-refuses-patches",
        }
    }

    /// A kill armed to fire at a moment the harness recognises (it waits for it).
    pub fn is_trap(self) -> bool {
        matches!(
            self,
            Kind::KillBetweenMailAndRecord | Kind::KillBetweenTombstoneAndDelete
        )
    }

    /// How long the fault lasts (for kills: how long the replica stays down).
    fn length(self, rng: &mut Rng) -> Duration {
        match self {
            Kind::Kill => rng.secs(1.0, 8.0),
            Kind::ClockSkew => rng.secs(20.0, 40.0),
            Kind::LeaseStalled => rng.secs(10.0, 25.0),
            _ => rng.secs(5.0, 25.0),
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub kind: Kind,
    /// From the start of the run.
    pub start: Duration,
    pub length: Duration,
    /// The replica it hits, where it hits one.
    pub replica: usize,
}

impl Fault {
    pub fn end(&self) -> Duration {
        self.start + self.length
    }
}

/// How much of the run's end stays free of faults, so what is due gets delivered.
pub const QUIET_END: Duration = Duration::from_secs(60);
/// How much of the run's start stays free of faults: the population settles.
pub const QUIET_START: Duration = Duration::from_secs(15);

/// Every kind once, at a random time, then one more random fault per 30 s of run; sorted
/// by start. Faults end before the quiet end of the run.
pub fn schedule(rng: &mut Rng, total: Duration) -> Vec<Fault> {
    let last_end = total.saturating_sub(QUIET_END);
    let mut out = Vec::new();
    let mut kinds: Vec<Kind> = Kind::ALL.to_vec();
    let extra = (total.as_secs() / 30) as usize;
    for _ in 0..extra {
        kinds.push(Kind::ALL[rng.below(Kind::ALL.len() as u64) as usize]);
    }
    for kind in kinds {
        let (start, length) = if kind.is_trap() {
            // Armed until it finds its moment, at the latest until the quiet end.
            let start = QUIET_START
                + rng.secs(
                    0.0,
                    (last_end.saturating_sub(QUIET_START) / 3)
                        .as_secs_f64()
                        .max(0.001),
                );
            (start, last_end.saturating_sub(start))
        } else {
            let length = kind.length(rng);
            let latest = last_end.saturating_sub(length).max(QUIET_START);
            let start =
                QUIET_START + rng.secs(0.0, (latest - QUIET_START).as_secs_f64().max(0.001));
            (start, length)
        };
        let replica = rng.below(2) as usize;
        out.push(Fault {
            kind,
            start,
            length: length.min(last_end.saturating_sub(start)),
            replica,
        });
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then(a.kind.cmp(&b.kind)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_scheduled_inside_the_run_and_the_same_seed_gives_the_same_run() {
        let total = Duration::from_secs(180);
        let a = schedule(&mut Rng::new(7), total);
        assert_eq!(a, schedule(&mut Rng::new(7), total));
        assert_ne!(a, schedule(&mut Rng::new(8), total));
        for kind in Kind::ALL {
            assert!(a.iter().any(|f| f.kind == kind), "{kind:?} missing");
        }
        for f in &a {
            assert!(
                f.start >= QUIET_START && f.end() <= total - QUIET_END,
                "{f:?}"
            );
        }
    }
}
