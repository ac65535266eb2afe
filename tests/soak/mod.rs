//! A chaos soak on the real bed: two `kube-reclaimer run` replicas in enforce mode, a
//! population of namespaces whose truth changes while they run (owners extending and
//! opting out mid-grace, namespaces re-created under the same name or restored from
//! their own tombstone, idle ones, busy ones, one that wakes up, volumes, a protected
//! and a malformed one), faults injected at seeded random times, and an independent
//! checker over what the outside world saw.
//!
//! `run(world, seed, length)` is one soak; the same seed gives the same faults at the
//! same offsets and the same owner behaviour.

pub mod checker;
pub mod faults;
pub mod http_proxy;
pub mod smtp;
pub mod world;

use anyhow::{Context, Result};
use checker::{Change, Deletion, Disruption, Findings, Made, Mailed, Rules};
use chrono::{DateTime, Utc};
use faults::{Fault, Kind, Rng};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use world::{Replica, World};

/// The daemon's cycle, grace period and reminder offsets in a soak.
pub const CYCLE_SECONDS: u64 = 10;
pub const GRACE_SECONDS: i64 = 30;
pub const OFFSETS: [i64; 2] = [120, 60];
const LEASE: &str = "9s";
/// How far ahead a skewed replica's clock runs.
const SKEW: &str = "+180s";
const TICK: Duration = Duration::from_millis(100);

/// The namespaces that need a metrics history (idle, busy, waking), per seed, with their
/// CPU cores and network bytes/s.
fn metered(seed: u64) -> Vec<(String, f64, f64, bool)> {
    let p = prefix(seed);
    vec![
        (format!("{p}-idle-a"), 0.002, 40.0, false),
        (format!("{p}-idle-b"), 0.001, 20.0, false),
        (format!("{p}-idle-vol"), 0.002, 40.0, true),
        (format!("{p}-wakes"), 0.002, 40.0, false),
        (format!("{p}-busy"), 0.4, 50_000.0, false),
    ]
}

pub fn prefix(seed: u64) -> String {
    format!("s{seed}")
}

/// The bed's scenario for the given seeds: the metered namespaces with 4 days of history.
pub fn scenario(seeds: &[u64]) -> String {
    let mut out = String::from("history: 4d\nstep: 2m\nnamespaces:\n");
    for seed in seeds {
        for (name, cores, bytes, _) in metered(*seed) {
            out.push_str(&format!(
                "  - name: {name}
    labels: {{soak-run: {p}}}
    annotations: {{kube-reclaimer.io/owner-email: owner-{name}@example.com}}
    pods:
      - name: app
        phase: Running
        network: {{pattern: steady, bytes: {bytes}}}
        containers:
          - name: app
            cpu_request: 500m
            memory_request: 256Mi
            cpu: {{pattern: steady, cores: {cores}}}
            memory: 50Mi
    expect: {{idle: unknown, cpu_flagged: false, memory_flagged: false, state: active}}
",
                p = prefix(*seed)
            ));
        }
    }
    out
}

/// Levels the exporter starts with, for every seed.
pub fn start_exporter(world: &World, seeds: &[u64]) {
    for seed in seeds {
        for (name, cores, bytes, _) in metered(*seed) {
            world.exporter.set(&name, "app", cores, bytes);
        }
    }
}

#[derive(Debug, Default)]
pub struct Figures {
    pub seed: u64,
    pub seconds: u64,
    pub cycles: usize,
    pub faults: BTreeMap<&'static str, usize>,
    pub kills: usize,
    pub restarts: u32,
    pub mails: usize,
    pub findings: Findings,
    pub crashes: Vec<String>,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = &self.findings;
        writeln!(
            f,
            "soak seed {} ({} s): {} cycles, {} mails, {} kills, {} replica starts",
            self.seed, self.seconds, self.cycles, self.mails, self.kills, self.restarts
        )?;
        let kinds: Vec<String> = self
            .faults
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(
            f,
            "  faults injected ({}): {}",
            self.faults.values().sum::<usize>(),
            kinds.join(", ")
        )?;
        writeln!(
            f,
            "  deleted: {} expired + {} idle, all rightful: {}",
            x.deleted_expired,
            x.deleted_idle,
            x.wrongful.is_empty()
        )?;
        writeln!(
            f,
            "  reminders: {} delivered, {} due checked, {} unjudged; duplicates {}, lost {}, wrongful actions {}, retransmissions after a kill (same Message-ID) {}",
            x.reminders_delivered, x.reminders_due_checked, x.reminders_unjudged, x.duplicates.len(), x.lost.len(), x.wrongful.len(), x.retransmissions
        )?;
        match x.longest_delivery {
            Some(d) => writeln!(
                f,
                "  longest from a due reminder (or the end of its fault) to its delivery: {} s",
                d.num_milliseconds() as f64 / 1000.0
            )?,
            None => writeln!(f, "  no reminder delivered")?,
        }
        for line in x
            .wrongful
            .iter()
            .chain(&x.duplicates)
            .chain(&x.lost)
            .chain(&self.crashes)
        {
            writeln!(f, "  ! {line}")?;
        }
        Ok(())
    }
}

/// What the harness does later, as an owner would.
#[derive(Debug, Clone)]
enum Owner {
    Extend {
        uid: String,
        name: String,
        by: Duration,
    },
    OptOut {
        uid: String,
        name: String,
    },
    Recreate {
        name: String,
    },
    Restore {
        name: String,
        old_uid: String,
    },
}

struct Soak<'w> {
    world: &'w World,
    seed: u64,
    prefix: String,
    rng: Rng,
    started: Instant,
    start_utc: DateTime<Utc>,
    replicas: Vec<Replica>,
    restart_at: [Option<Instant>; 2],
    tombstones: [PathBuf; 2],
    made: Vec<Made>,
    changes: Vec<Change>,
    deletions: Vec<Deletion>,
    disruptions: Vec<Disruption>,
    kills: Vec<DateTime<Utc>>,
    owner_todo: Vec<(Instant, Owner)>,
    mails_seen: usize,
    mailed: Vec<Mailed>,
    seen: BTreeMap<String, (String, bool)>,
    incarnations: BTreeMap<String, u32>,
    log: std::fs::File,
    crashes: Vec<String>,
    binding: bool,
    /// Armed kills that found their moment (each fires once per fault).
    fired: BTreeSet<Kind>,
    /// How often one name is re-created or restored: the population lives as long as the run.
    max_incarnations: u32,
    /// Faults injected, by kind (armed kills only once they fired).
    injected: BTreeMap<&'static str, usize>,
}

fn api(world: &World) -> Api<Namespace> {
    Api::all(world.bed.client.clone())
}

impl Soak<'_> {
    fn say(&mut self, what: &str) {
        use std::io::Write;
        let line = format!("{:>7.1}s {what}", self.started.elapsed().as_secs_f64());
        let _ = writeln!(self.log, "{line}");
        if std::env::var("SOAK_VERBOSE").is_ok() {
            crate::support::bed::progress(&line);
        }
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.world.runtime.block_on(f)
    }

    fn create(
        &mut self,
        name: &str,
        expires: Option<String>,
        protected: bool,
        malformed: bool,
    ) -> Result<String> {
        let mut annotations = BTreeMap::from([(
            "kube-reclaimer.io/owner-email".to_string(),
            format!("owner-{name}@example.com"),
        )]);
        if let Some(e) = &expires {
            annotations.insert("kube-reclaimer.io/expires".into(), e.clone());
        }
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"soak-run": self.prefix}, "annotations": annotations}
        }))?;
        let created = self.block_on(api(self.world).create(&PostParams::default(), &ns))?;
        let uid = created.metadata.uid.unwrap_or_default();
        self.made.push(Made {
            at: Utc::now(),
            name: name.into(),
            uid: uid.clone(),
            expires: expires
                .as_deref()
                .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
                .map(|e| e.with_timezone(&Utc)),
            idle_slot: false,
            volume: false,
            protected,
            malformed,
        });
        self.say(&format!("created {name} ({uid}) expiring {expires:?}"));
        Ok(uid)
    }

    /// A PersistentVolume bound to claim `data` in `ns`, as the PV controller would write it.
    fn bind_volume(&mut self, ns: &str) -> Result<()> {
        let pv_name = format!("{ns}-pv");
        let client = self.world.bed.client.clone();
        let claim: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "data", "namespace": ns},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                     "storageClassName": "manual", "volumeName": pv_name}
        }))?;
        let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
            "metadata": {"name": pv_name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "manual",
                     "hostPath": {"path": format!("/tmp/{pv_name}")},
                     "claimRef": {"namespace": ns, "name": "data"}}
        }))?;
        self.block_on(async {
            let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
            let c = claims.create(&PostParams::default(), &claim).await?;
            let mut pv = pv;
            if let Some(r) = pv.spec.as_mut().and_then(|s| s.claim_ref.as_mut()) {
                r.uid = c.metadata.uid.clone();
            }
            Api::<PersistentVolume>::all(client.clone()).create(&PostParams::default(), &pv).await?;
            let status = serde_json::json!({"status": {"phase": "Bound"}});
            Api::<PersistentVolume>::all(client.clone())
                .patch_status(&pv_name, &PatchParams::default(), &Patch::Merge(&status))
                .await?;
            claims
                .patch_status("data", &PatchParams::default(), &Patch::Merge(&serde_json::json!({
                    "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
                })))
                .await?;
            Ok::<_, kube::Error>(())
        })?;
        if let Some(m) = self.made.iter_mut().rev().find(|m| m.name == ns) {
            m.volume = true;
        }
        Ok(())
    }

    /// Makes a bed namespace weeks old (through etcd) and records it.
    fn age(&mut self, name: &str, wakes: bool, busy: bool) -> Result<()> {
        let ns = self.block_on(api(self.world).get(name))?;
        let mut value = serde_json::to_value(&ns)?;
        let created = (Utc::now() - chrono::Duration::days(30))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.remove("resourceVersion");
            meta.remove("managedFields");
            meta.insert("creationTimestamp".into(), created.into());
        }
        self.world.put_in_etcd(name, &value)?;
        let uid = ns.metadata.uid.unwrap_or_default();
        self.made.push(Made {
            at: Utc::now(),
            name: name.into(),
            uid: uid.clone(),
            expires: None,
            idle_slot: !busy,
            volume: false,
            protected: false,
            malformed: false,
        });
        self.say(&format!(
            "aged {name} ({uid}) to 30 days; wakes: {wakes}, busy: {busy}"
        ));
        Ok(())
    }

    fn config(&self, r: usize) -> Result<PathBuf> {
        let dir = &self.world.bed.state_dir;
        let listen = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let path = dir.join(format!("soak-{}-replica-{r}.yaml", self.prefix));
        let yaml = format!(
            "mode: enforce
own_namespace: default
owners: {{fallback_recipients: [platform@example.com]}}
protection:
  namespaces: [{p}-protected]
  selector:
    matchExpressions: [{{key: soak-run, operator: NotIn, values: [{p}]}}]
smtp: {{host: 127.0.0.1, port: {smtp}, tls: none, from: kube-reclaimer@example.com, timeout: 10s}}
prometheus: {{timeout: 10s}}
schedules: {{cycle: '*/{CYCLE_SECONDS} * * * * *'}}
daemon: {{listen: '127.0.0.1:{listen}', lease_name: soak-{p}, lease_duration: {LEASE}, request_timeout: 8s, cycle_timeout: 90s}}
idle: {{reclaim: true, window: 3d}}
rightsizing: {{window: 3d}}
lifecycle:
  reminder_offsets: [{o0}s, {o1}s]
  grace_period: {GRACE_SECONDS}s
  allow_short_grace_period: true
  tombstone_dir: {t}
",
            p = self.prefix,
            smtp = self.world.smtp.port,
            o0 = OFFSETS[0],
            o1 = OFFSETS[1],
            t = self.tombstones[r].display(),
        );
        std::fs::write(&path, yaml)?;
        Ok(path)
    }

    fn kill(&mut self, r: usize, why: &str, down: Duration) {
        self.replicas[r].kill();
        let now = Utc::now();
        self.kills.push(now);
        self.restart_at[r] = Some(Instant::now() + down);
        self.disruptions.push(Disruption {
            what: format!("replica {r} killed ({why})"),
            from: now,
            to: now
                + chrono::Duration::from_std(down + Duration::from_secs(12)).unwrap_or_default(),
        });
        self.say(&format!(
            "SIGKILL replica {r}: {why}; restarts in {:.1}s",
            down.as_secs_f64()
        ));
    }

    fn skewed(&self, r: usize, faults: &[Fault]) -> bool {
        let t = self.started.elapsed();
        faults
            .iter()
            .any(|f| f.kind == Kind::ClockSkew && f.replica == r && f.start <= t && t < f.end())
    }

    fn restart_due(&mut self, faults: &[Fault]) -> Result<()> {
        for r in 0..2 {
            if let Some(status) = self.replicas[r].exited() {
                let line = format!("replica {r} exited by itself: {status}");
                self.say(&line);
                self.crashes.push(line);
                self.restart_at[r] = Some(Instant::now());
            }
            if self.restart_at[r].is_some_and(|t| Instant::now() >= t) {
                self.restart_at[r] = None;
                let skew = self.skewed(r, faults);
                self.replicas[r].skew = skew.then(|| SKEW.to_string());
                self.replicas[r].start(self.world.faketime.as_deref())?;
                self.say(&format!(
                    "started replica {r}{}",
                    if skew {
                        " with its clock 180 s ahead"
                    } else {
                        ""
                    }
                ));
            }
        }
        Ok(())
    }

    /// Sets every proxy and server switch from the faults in force now.
    fn apply_faults(
        &mut self,
        faults: &[Fault],
        applied: &mut BTreeSet<usize>,
        ended: &mut BTreeSet<usize>,
    ) -> Result<()> {
        let t = self.started.elapsed();
        let active: Vec<&Fault> = faults
            .iter()
            .filter(|f| f.start <= t && t < f.end())
            .collect();
        let on = |k: Kind| active.iter().any(|f| f.kind == k);
        let on_for = |k: Kind, r: usize| active.iter().any(|f| f.kind == k && f.replica == r);
        let w = self.world;
        for r in 0..2 {
            let p = &w.api[r].faults;
            p.cut.store(on(Kind::ApiUnreachable), Ordering::SeqCst);
            p.delay_ms.store(
                if on_for(Kind::ApiSlow, r) { 2500 } else { 0 },
                Ordering::SeqCst,
            );
            let code = if on_for(Kind::ApiConflicts, r) {
                409
            } else if on_for(Kind::ApiWrites5xx, r) {
                503
            } else {
                0
            };
            p.write_status.store(code, Ordering::SeqCst);
            p.stall_leases
                .store(on_for(Kind::LeaseStalled, r), Ordering::SeqCst);
            p.trap_delete.store(
                on(Kind::KillBetweenTombstoneAndDelete)
                    && !self.fired.contains(&Kind::KillBetweenTombstoneAndDelete),
                Ordering::SeqCst,
            );
            p.trap_patch.store(
                on(Kind::KillBetweenMailAndRecord)
                    && !self.fired.contains(&Kind::KillBetweenMailAndRecord),
                Ordering::SeqCst,
            );
        }
        let pf = &w.prometheus.faults;
        pf.cut.store(on(Kind::PrometheusDown), Ordering::SeqCst);
        pf.partial
            .store(on(Kind::PrometheusPartial), Ordering::SeqCst);
        pf.hole.store(on(Kind::PrometheusHole), Ordering::SeqCst);
        let s = &w.smtp.switches;
        s.down.store(on(Kind::SmtpDown), Ordering::SeqCst);
        s.tarpit_ms
            .store(if on(Kind::SmtpSlow) { 2500 } else { 0 }, Ordering::SeqCst);
        if let Ok(mut refuse) = s.refuse.lock() {
            *refuse = on(Kind::SmtpRefusesRecipient)
                .then(|| format!("owner-{}-exp-0@example.com", self.prefix));
        }
        let want_binding = on(Kind::AdmissionRefuses);
        if want_binding != self.binding {
            self.binding = want_binding;
            admission(w, &self.prefix, want_binding)?;
        }
        // Starts and ends: the log, disruptions, kills and clock-skew restarts.
        for (i, f) in faults.iter().enumerate() {
            if f.start <= t && applied.insert(i) {
                if !f.kind.is_trap() {
                    *self.injected.entry(f.kind.as_str()).or_default() += 1;
                }
                self.say(&format!(
                    "fault {} on replica {} for {:.1}s",
                    f.kind.as_str(),
                    f.replica,
                    f.length.as_secs_f64()
                ));
                match f.kind {
                    Kind::Kill => self.kill(f.replica, "at a random moment", f.length),
                    Kind::ClockSkew => self.kill(
                        f.replica,
                        "to restart it with a skewed clock",
                        Duration::from_millis(200),
                    ),
                    _ => {}
                }
            }
            if f.end() <= t && ended.insert(i) {
                let from = self.start_utc + chrono::Duration::from_std(f.start).unwrap_or_default();
                let to = self.start_utc + chrono::Duration::from_std(f.end()).unwrap_or_default();
                if !matches!(
                    f.kind,
                    Kind::Kill
                        | Kind::KillBetweenMailAndRecord
                        | Kind::KillBetweenTombstoneAndDelete
                ) {
                    self.disruptions.push(Disruption {
                        what: f.kind.as_str().into(),
                        from,
                        to,
                    });
                }
                self.fired.remove(&f.kind);
                if f.kind == Kind::ClockSkew {
                    self.kill(
                        f.replica,
                        "to restart it with the right clock",
                        Duration::from_millis(200),
                    );
                }
                self.say(&format!(
                    "fault {} on replica {} over",
                    f.kind.as_str(),
                    f.replica
                ));
            }
        }
        Ok(())
    }

    /// Requests held at an armed trap: kill the sender when it is the moment.
    fn traps(&mut self) {
        while let Ok(held) = self.world.held.try_recv() {
            let fire = match held.trap {
                http_proxy::Trap::NamespaceDelete => true,
                http_proxy::Trap::NamespacePatch => {
                    let recent = Utc::now() - chrono::Duration::seconds(5);
                    self.world.smtp.mails().iter().any(|m| {
                        m.at >= recent
                            && m.header("X-Kube-Reclaimer-Namespace")
                                == Some(held.namespace.as_str())
                    })
                }
            };
            self.say(&format!(
                "replica {} sent a {:?} of {} while a trap was armed: {}",
                held.replica,
                held.trap,
                held.namespace,
                if fire {
                    "its moment"
                } else {
                    "let through (no mail about it just before)"
                }
            ));
            if fire {
                let (kind, flag) = match held.trap {
                    http_proxy::Trap::NamespaceDelete => (Kind::KillBetweenTombstoneAndDelete, 0),
                    http_proxy::Trap::NamespacePatch => (Kind::KillBetweenMailAndRecord, 1),
                };
                self.fired.insert(kind);
                *self.injected.entry(kind.as_str()).or_default() += 1;
                for p in &self.world.api {
                    let trap = if flag == 0 {
                        &p.faults.trap_delete
                    } else {
                        &p.faults.trap_patch
                    };
                    trap.store(false, Ordering::SeqCst);
                }
                let why = match held.trap {
                    http_proxy::Trap::NamespaceDelete => {
                        format!("between the tombstone and the delete of {}", held.namespace)
                    }
                    http_proxy::Trap::NamespacePatch => {
                        format!("between the mail about {} and its record", held.namespace)
                    }
                };
                let _ = held.decide.send(true);
                self.kill(held.replica, &why, Duration::from_secs(2));
            } else {
                let _ = held.decide.send(false);
            }
        }
    }

    /// New mails: parsed for the checker; owners react to some.
    fn read_mails(&mut self) {
        let mails = self.world.smtp.mails();
        for m in &mails[self.mails_seen..] {
            let Some(uid) = m.header("X-Kube-Reclaimer-Uid") else {
                continue;
            };
            let time = |k: &str| {
                m.header(k)
                    .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                    .map(|t| t.with_timezone(&Utc))
            };
            let offset = m
                .header("X-Kube-Reclaimer-Offset")
                .and_then(|o| crate::support::scenario::Span::parse(o).ok())
                .map(|s| s.0.num_seconds());
            let mailed = Mailed {
                at: m.at,
                uid: uid.to_string(),
                namespace: m
                    .header("X-Kube-Reclaimer-Namespace")
                    .unwrap_or("")
                    .to_string(),
                notice: m
                    .header("X-Kube-Reclaimer-Notice")
                    .unwrap_or("")
                    .to_string(),
                expires: time("X-Kube-Reclaimer-Expires"),
                offset,
                message_id: m.header("Message-ID").unwrap_or("").to_string(),
            };
            self.say(&format!(
                "mail {} about {} ({}) to {} offset {:?} expires {:?}",
                mailed.notice,
                mailed.namespace,
                mailed.uid,
                m.to.join(","),
                mailed.offset,
                mailed.expires
            ));
            let expiring = mailed.namespace.contains("-exp-");
            let later = |rng: &mut Rng, lo: f64, hi: f64| Instant::now() + rng.secs(lo, hi);
            match mailed.notice.as_str() {
                "remind" if expiring && self.rng.chance(0.25) => {
                    self.extend_later(uid, &mailed.namespace, (1.0, 8.0));
                }
                "mark" if expiring => {
                    if self.rng.chance(0.3) {
                        self.extend_later(
                            uid,
                            &mailed.namespace,
                            (2.0, GRACE_SECONDS as f64 - 5.0),
                        );
                    } else if self.rng.chance(0.15) {
                        let at = later(&mut self.rng, 2.0, GRACE_SECONDS as f64 - 5.0);
                        self.owner_todo.push((
                            at,
                            Owner::OptOut {
                                uid: uid.into(),
                                name: mailed.namespace.clone(),
                            },
                        ));
                    }
                }
                _ => {}
            }
            self.mailed.push(mailed);
        }
        self.mails_seen = mails.len();
    }

    /// The owner extends `name` by 150–240 s, after a delay drawn from `delay` (seconds).
    fn extend_later(&mut self, uid: &str, name: &str, delay: (f64, f64)) {
        let by = self.rng.secs(150.0, 240.0);
        let at = Instant::now() + self.rng.secs(delay.0, delay.1);
        let (uid, name) = (uid.to_string(), name.to_string());
        self.owner_todo.push((at, Owner::Extend { uid, name, by }));
    }

    /// The namespaces of this run as the apiserver has them now: deletions seen.
    fn poll(&mut self) -> Result<()> {
        let lp = ListParams::default().labels(&format!("soak-run={}", self.prefix));
        let list = self.block_on(api(self.world).list(&lp))?;
        let now = Utc::now();
        let mut present = BTreeSet::new();
        for ns in list.items {
            let uid = ns.metadata.uid.clone().unwrap_or_default();
            let name = ns.metadata.name.clone().unwrap_or_default();
            present.insert(uid.clone());
            let deleting = ns
                .metadata
                .deletion_timestamp
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0));
            let entry = self
                .seen
                .entry(uid.clone())
                .or_insert((name.clone(), false));
            if let (Some(stamp), false) = (deleting, entry.1) {
                entry.1 = true;
                self.deletions.push(Deletion {
                    at: now,
                    stamp,
                    name: name.clone(),
                    uid: uid.clone(),
                });
                self.say(&format!("deleted: {name} ({uid})"));
                self.after_deletion(&name, &uid);
            }
        }
        let vanished: Vec<(String, String)> = self
            .seen
            .iter()
            .filter(|(uid, (_, deleted))| !deleted && !present.contains(*uid))
            .map(|(uid, (name, _))| (uid.clone(), name.clone()))
            .collect();
        for (uid, name) in vanished {
            if let Some(e) = self.seen.get_mut(&uid) {
                e.1 = true;
            }
            self.deletions.push(Deletion {
                at: now,
                stamp: now - chrono::Duration::milliseconds(300),
                name: name.clone(),
                uid: uid.clone(),
            });
            self.say(&format!("deleted (gone between two looks): {name} ({uid})"));
            self.after_deletion(&name, &uid);
        }
        Ok(())
    }

    fn after_deletion(&mut self, name: &str, uid: &str) {
        let n = self.incarnations.entry(name.to_string()).or_insert(1);
        if *n >= self.max_incarnations {
            return;
        }
        *n += 1;
        let at = Instant::now() + self.rng.secs(3.0, 15.0);
        if self.rng.chance(0.4) {
            self.owner_todo
                .push((at, Owner::Recreate { name: name.into() }));
        } else if self.rng.chance(0.5) {
            self.owner_todo.push((
                at,
                Owner::Restore {
                    name: name.into(),
                    old_uid: uid.into(),
                },
            ));
        }
    }

    fn owners(&mut self) -> Result<()> {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) =
            self.owner_todo.drain(..).partition(|(t, _)| *t <= now);
        self.owner_todo = later;
        for (_, action) in due {
            if let Err(e) = self.owner(&action) {
                self.say(&format!("owner {action:?}: {e:#}"));
            }
        }
        Ok(())
    }

    fn owner(&mut self, action: &Owner) -> Result<()> {
        let apis = api(self.world);
        match action {
            Owner::Extend { uid, name, .. } | Owner::OptOut { uid, name } => {
                let value = match action {
                    Owner::Extend { by, .. } => Some(
                        (Utc::now() + chrono::Duration::from_std(*by)?)
                            .format("%Y-%m-%dT%H:%M:%SZ")
                            .to_string(),
                    ),
                    _ => None,
                };
                let patch = serde_json::json!({
                    "metadata": {"uid": uid, "annotations": {"kube-reclaimer.io/expires": value.clone().unwrap_or_else(|| "never".into())}}
                });
                self.block_on(apis.patch(name, &PatchParams::default(), &Patch::Merge(&patch)))?;
                let expires = value
                    .as_deref()
                    .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                    .map(|t| t.with_timezone(&Utc));
                self.changes.push(Change::Expiry {
                    at: Utc::now(),
                    uid: uid.clone(),
                    expires,
                });
                self.say(&format!("owner of {name} set the expiry to {value:?}"));
            }
            Owner::Recreate { name } => {
                if self.block_on(apis.get_opt(name))?.is_some() {
                    self.owner_todo
                        .push((Instant::now() + Duration::from_secs(2), action.clone()));
                    return Ok(());
                }
                let e = (Utc::now() + chrono::Duration::from_std(self.rng.secs(70.0, 150.0))?)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string();
                self.create(name, Some(e), false, false)?;
            }
            Owner::Restore { name, old_uid } => {
                if self.block_on(apis.get_opt(name))?.is_some() {
                    self.owner_todo
                        .push((Instant::now() + Duration::from_secs(2), action.clone()));
                    return Ok(());
                }
                let Some(file) = self.tombstone_of(name) else {
                    self.say(&format!("no tombstone of {name} to restore"));
                    return Ok(());
                };
                let out = self
                    .world
                    .bed
                    .kubectl()
                    .args(["apply", "-f"])
                    .arg(&file)
                    .output()?;
                let restored = self.block_on(apis.get_opt(name))?;
                let Some(ns) = restored else {
                    anyhow::bail!(
                        "kubectl apply of {}: {}",
                        file.display(),
                        String::from_utf8_lossy(&out.stderr)
                    );
                };
                let old = self.made.iter().rev().find(|m| m.uid == *old_uid).cloned();
                let expires = old.as_ref().and_then(|m| {
                    let mut e = m.expires;
                    for c in &self.changes {
                        if let Change::Expiry { uid, expires, .. } = c {
                            if uid == old_uid {
                                e = *expires;
                            }
                        }
                    }
                    e
                });
                let uid = ns.metadata.uid.unwrap_or_default();
                self.made.push(Made {
                    at: Utc::now(),
                    name: name.clone(),
                    uid: uid.clone(),
                    expires,
                    idle_slot: false,
                    volume: false,
                    protected: false,
                    malformed: false,
                });
                self.say(&format!("restored {name} from {} as {uid}", file.display()));
            }
        }
        Ok(())
    }

    fn tombstone_of(&self, name: &str) -> Option<PathBuf> {
        let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
        for dir in &self.tombstones {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let file = e.file_name().to_string_lossy().to_string();
                if !file.starts_with(&format!("{name}-")) && !file.starts_with(&format!("{name}."))
                {
                    continue;
                }
                let Ok(modified) = e.metadata().and_then(|m| m.modified()) else {
                    continue;
                };
                if best.as_ref().is_none_or(|(t, _)| modified > *t) {
                    best = Some((modified, e.path()));
                }
            }
        }
        best.map(|(_, p)| p)
    }
}

/// The admission policy that refuses the daemon's namespace updates (its user is the
/// bed's token user), bound while `on`.
fn admission(world: &World, prefix: &str, on: bool) -> Result<()> {
    let name = format!("soak-{prefix}-refuse-daemon-updates");
    let yaml = format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {name}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ['']
      apiVersions: [v1]
      operations: [UPDATE]
      resources: [namespaces]
  validations:
  - expression: \"request.userInfo.username != 'kube-reclaimer-admin-token'\"
    message: the soak refuses the daemon's namespace updates for a while
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {name}}}
spec:
  policyName: {name}
  validationActions: [Deny]
  matchResources:
    objectSelector:
      matchLabels: {{soak-run: {prefix}}}
"
    );
    let file = world.bed.state_dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml)?;
    let verb = if on { "apply" } else { "delete" };
    let out = world
        .bed
        .kubectl()
        .args([verb, "--wait=false", "-f"])
        .arg(&file)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl {verb}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// One soak of `length` with `seed` on `world` (whose bed has `scenario(&[seed, ..])`).
pub fn run(world: &World, seed: u64, length: Duration) -> Result<Figures> {
    let mut rng = Rng::new(seed);
    let faults = faults::schedule(&mut rng, length);
    let prefix = prefix(seed);
    let dir = world.bed.state_dir.join(format!("soak-{prefix}"));
    std::fs::create_dir_all(&dir)?;
    let log_path = dir.join("events.log");
    let tombstones = [dir.join("tombstones-0"), dir.join("tombstones-1")];
    let mut soak = Soak {
        world,
        seed,
        prefix: prefix.clone(),
        rng,
        started: Instant::now(),
        start_utc: Utc::now(),
        replicas: Vec::new(),
        restart_at: [None, None],
        tombstones: tombstones.clone(),
        made: Vec::new(),
        changes: Vec::new(),
        deletions: Vec::new(),
        disruptions: Vec::new(),
        kills: Vec::new(),
        owner_todo: Vec::new(),
        mails_seen: world.smtp.mails().len(),
        mailed: Vec::new(),
        seen: BTreeMap::new(),
        incarnations: BTreeMap::new(),
        log: std::fs::File::create(&log_path)?,
        crashes: Vec::new(),
        binding: false,
        fired: BTreeSet::new(),
        max_incarnations: 3 + (length.as_secs() / 120) as u32,
        injected: BTreeMap::new(),
    };
    crate::support::bed::progress(&format!(
        "soak seed {seed}: {} s, {} faults; replay with SOAK_SEED={seed} SOAK_SECONDS={}; events in {}",
        length.as_secs(),
        faults.len(),
        length.as_secs(),
        log_path.display()
    ));
    for f in &faults {
        soak.say(&format!(
            "scheduled {} on replica {} at {:.1}s for {:.1}s",
            f.kind.as_str(),
            f.replica,
            f.start.as_secs_f64(),
            f.length.as_secs_f64()
        ));
    }
    // The population.
    for (name, _, _, volume) in metered(seed) {
        soak.age(&name, name.ends_with("-wakes"), name.ends_with("-busy"))?;
        if volume {
            soak.bind_volume(&name)?;
        }
    }
    let rfc = |secs: f64| {
        (Utc::now() + chrono::Duration::milliseconds((secs * 1000.0) as i64))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    for i in 0..6 {
        let at = soak
            .rng
            .secs(40.0, (length.as_secs_f64() - 20.0).max(60.0))
            .as_secs_f64();
        let name = format!("{prefix}-exp-{i}");
        soak.create(&name, Some(rfc(at)), false, false)?;
        if i == 5 {
            soak.bind_volume(&name)?;
        }
    }
    soak.create(
        &format!("{prefix}-protected"),
        Some(rfc(-3600.0)),
        true,
        false,
    )?;
    soak.create(
        &format!("{prefix}-malformed"),
        Some("next-tuesday".into()),
        false,
        true,
    )?;
    let wakes_at = soak.started + soak.rng.secs(10.0, length.as_secs_f64() / 2.0);
    let mut woken = false;
    for r in 0..2 {
        let config = soak.config(r)?;
        soak.replicas.push(Replica {
            config,
            kubeconfig: world.kubeconfigs[r].clone(),
            log: dir.join(format!("replica-{r}.log")),
            prometheus_url: format!("http://127.0.0.1:{}", world.prometheus.port),
            child: None,
            skew: None,
            starts: 0,
        });
        soak.replicas[r].start(world.faketime.as_deref())?;
    }
    soak.started = Instant::now();
    soak.start_utc = Utc::now();
    let (mut applied, mut ended) = (BTreeSet::new(), BTreeSet::new());
    let mut next_poll = Instant::now();
    while soak.started.elapsed() < length {
        soak.apply_faults(&faults, &mut applied, &mut ended)?;
        soak.traps();
        soak.restart_due(&faults)?;
        soak.read_mails();
        if Instant::now() >= next_poll {
            if let Err(e) = soak.poll() {
                soak.say(&format!("list failed: {e:#}"));
            }
            next_poll = Instant::now() + Duration::from_millis(250);
        }
        soak.owners()?;
        if !woken && Instant::now() >= wakes_at {
            woken = true;
            let name = format!("{prefix}-wakes");
            world.exporter.set(&name, "app", 0.5, 80_000.0);
            if let Some(m) = soak.made.iter().find(|m| m.name == name) {
                let uid = m.uid.clone();
                soak.changes.push(Change::Busy {
                    at: Utc::now(),
                    uid,
                });
            }
            soak.say(&format!("{name} is busy from now on"));
        }
        std::thread::sleep(TICK);
    }
    for r in soak.replicas.iter_mut() {
        r.stop();
    }
    if soak.binding {
        admission(world, &prefix, false)?;
    }
    soak.read_mails();
    soak.poll()?;
    let end = Utc::now();
    // The final objects: which carry the daemon's annotations.
    let lp = ListParams::default().labels(&format!("soak-run={prefix}"));
    let list = soak.block_on(api(world).list(&lp))?;
    let ours = [
        "kube-reclaimer.io/expires",
        "kube-reclaimer.io/owner-email",
        "kubectl.kubernetes.io/last-applied-configuration",
    ];
    let touched: BTreeSet<String> = list
        .items
        .iter()
        .filter(|ns| {
            ns.metadata.annotations.as_ref().is_some_and(|a| {
                a.keys()
                    .any(|k| k.starts_with("kube-reclaimer.io/") && !ours.contains(&k.as_str()))
            })
        })
        .filter_map(|ns| ns.metadata.name.clone())
        .collect();
    // For whoever reads a failing run: how the daemon saw the metered namespaces at the end.
    let mut explained = String::new();
    for (name, ..) in metered(seed) {
        let out = std::process::Command::new(world::binary())
            .args(["explain", &name, "--config"])
            .arg(&soak.replicas[0].config)
            .arg("--kubeconfig")
            .arg(&world.bed.kubeconfig)
            .args(["--prometheus-url", &world.bed.prometheus_url])
            .output()?;
        explained.push_str(&String::from_utf8_lossy(&out.stdout));
        explained.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    std::fs::write(dir.join("explain-at-end.txt"), explained)?;
    let rules = Rules {
        grace: chrono::Duration::seconds(GRACE_SECONDS),
        offsets: OFFSETS
            .iter()
            .map(|s| chrono::Duration::seconds(*s))
            .collect(),
        healthy: chrono::Duration::seconds(4 * CYCLE_SECONDS as i64),
        busy_visible_after: chrono::Duration::minutes(6),
    };
    let findings = checker::check(&checker::Run {
        made: &soak.made,
        changes: &soak.changes,
        mails: &soak.mailed,
        deletions: &soak.deletions,
        disruptions: &soak.disruptions,
        kills: &soak.kills,
        touched: &touched,
        end,
        rules: &rules,
    });
    let mut figures = Figures {
        seed,
        seconds: length.as_secs(),
        findings,
        kills: soak.kills.len(),
        restarts: soak.replicas.iter().map(|r| r.starts).sum(),
        mails: soak.mailed.len(),
        crashes: soak.crashes.clone(),
        ..Figures::default()
    };
    figures.faults = soak.injected.clone();
    for r in &soak.replicas {
        let text =
            std::fs::read_to_string(&r.log).with_context(|| format!("{}", r.log.display()))?;
        figures.cycles += text.lines().filter(|l| l.contains("cycle done")).count();
    }
    let _ = soak.seed;
    Ok(figures)
}
