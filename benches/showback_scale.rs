//! How the showback outputs scale: `/metrics` and the weekly reports for a large
//! cluster (default 2 000 namespaces in 40 teams), from a synthetic evaluation; no
//! servers. Prints time per step, output sizes and peak RSS, and where the memory goes:
//! the live heap (a counting allocator) before, at its highest during, and after each
//! step. The steps keep the daemon's order and lifetimes: a cycle (evaluate, record
//! `/metrics`, a scrape; the evaluation is dropped when the cycle ends), then a report
//! run (a fresh evaluation, the reports built, rendered, and each mail turned into the
//! message an SMTP transport sends). Not a test: it asserts nothing about speed; it
//! prints figures.
//!
//! ```sh
//! cargo bench --bench showback_scale
//! BENCH_NAMESPACES=10000 BENCH_TEAMS=200 cargo bench --bench showback_scale
//! ```

use chrono::{DateTime, TimeDelta, Utc};
use kube_reclaimer::app::act::{Deliver, DeliverError, Delivery};
use kube_reclaimer::app::daemon::report::send;
use kube_reclaimer::app::metrics::Metrics;
use kube_reclaimer::core::collected::{Collected, SourceReport, SourceStatus, Sources};
use kube_reclaimer::core::config::{Config, Email};
use kube_reclaimer::core::evaluate::evaluate;
use kube_reclaimer::core::fixtures::{v, Ns};
use kube_reclaimer::core::ledger::Ledger;
use kube_reclaimer::core::model::{Observation, Sample, GIB};
use kube_reclaimer::core::notice::Rendered;
use kube_reclaimer::core::report;
use kube_reclaimer::io::smtp::Attachment;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The system allocator, counting the bytes live and the most live since [`span`] last
/// began.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call goes to `System` unchanged; only the counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: f64 = 1048576.0;

/// Runs `step`: its value, the live bytes before it, and the most live during it.
/// Nests: the enclosing span's highest count is kept.
fn span<T>(step: impl FnOnce() -> T) -> (T, usize, usize) {
    let outer = PEAK.load(Relaxed);
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let value = step();
    let peak = PEAK.load(Relaxed);
    PEAK.fetch_max(outer, Relaxed);
    (value, before, peak)
}

/// One line of the breakdown; a step run once per mail shows its highest figures.
struct Row {
    name: String,
    runs: usize,
    before: usize,
    peak: usize,
    /// The most the step added to what was live before it.
    added: usize,
    after: usize,
    hwm_kib: u64,
}

#[derive(Default)]
struct Phases {
    rows: Vec<Row>,
}

impl Phases {
    /// Runs `step`, adding its figures to the line `name` (made on its first run).
    fn measure<T>(&mut self, name: &str, step: impl FnOnce() -> T) -> T {
        let (value, before, peak) = span(step);
        let after = LIVE.load(Relaxed);
        let hwm_kib = peak_rss_kib();
        let added = peak.saturating_sub(before);
        match self.rows.iter_mut().find(|r| r.name == name) {
            Some(r) => {
                r.runs += 1;
                r.before = r.before.max(before);
                r.peak = r.peak.max(peak);
                r.added = r.added.max(added);
                r.after = r.after.max(after);
                r.hwm_kib = hwm_kib;
            }
            None => self.rows.push(Row {
                name: name.to_string(),
                runs: 1,
                before,
                peak,
                added,
                after,
                hwm_kib,
            }),
        }
        value
    }

    fn print(&self) {
        println!("  memory, MiB: live heap before, highest during (added), after; VmHWM after");
        for r in &self.rows {
            let name = match r.runs {
                1 => r.name.clone(),
                n => format!("{} (x{n}, highest)", r.name),
            };
            println!(
                "    {name:<40} {:>7.1} {:>7.1} ({:>+6.1}) {:>7.1}  {:>7.1}",
                r.before as f64 / MIB,
                r.peak as f64 / MIB,
                r.added as f64 / MIB,
                r.after as f64 / MIB,
                r.hwm_kib as f64 / 1024.0
            );
        }
        let peak = self.rows.iter().map(|r| r.peak).max().unwrap_or(0);
        println!("    {:<40} {:>7.1}", "highest live heap", peak as f64 / MIB);
    }
}

/// Builds each report's message as `io::smtp` does and formats it as the SMTP transport
/// does before sending; sends nothing. Counts the bytes it would have sent.
#[derive(Default)]
struct Formatting {
    bytes: AtomicUsize,
}

impl Deliver for Formatting {
    async fn deliver(&self, _: Delivery<'_>) -> Result<(), DeliverError> {
        Err(DeliverError::NoReports)
    }

    async fn deliver_report(
        &self,
        recipients: &[String],
        mail: &Rendered,
        attachments: &[Attachment],
    ) -> Result<(), DeliverError> {
        let other = |e: &dyn std::fmt::Display| DeliverError::Other(e.to_string());
        let from: Mailbox = "kube-reclaimer@example.com"
            .parse()
            .map_err(|e| other(&e))?;
        let mut builder = Message::builder().from(from).subject(mail.subject.clone());
        for r in recipients {
            builder = builder.to(r.parse::<Mailbox>().map_err(|e| other(&e))?);
        }
        let alternative = MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone());
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for a in attachments {
            let content_type = ContentType::parse(&a.content_type).map_err(|e| other(&e))?;
            mixed = mixed.singlepart(
                lettre::message::Attachment::new(a.filename.clone())
                    .body(a.body.clone(), content_type),
            );
        }
        let message = builder.multipart(mixed).map_err(|e| other(&e))?;
        let formatted = message.formatted();
        self.bytes.fetch_add(formatted.len(), Relaxed);
        Ok(())
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Namespaces of every kind: busy, over-provisioned, idle, expiring, expired, unknown
/// usage, unlabelled; deterministic.
fn observations(count: usize, teams: usize, at: DateTime<Utc>) -> Vec<Observation> {
    let created = (at - TimeDelta::days(60)).to_rfc3339();
    let history = (at - TimeDelta::days(30)).to_rfc3339();
    (0..count)
        .map(|i| {
            let cores = 0.25 * (1 + i % 16) as f64;
            let mut ns = Ns::new(&format!("ns-{i:05}"))
                .created(&created)
                .requests(5, cores, cores * 2.0 * GIB)
                .history_since(Some(&history));
            ns.0.namespace.uid = format!("uid-{i}");
            if i % 10 != 0 {
                ns = ns.label("kube-reclaimer.io/team", &format!("team-{}", i % teams));
            }
            match i % 7 {
                0 => {
                    let date = (at + TimeDelta::days((i % 20) as i64 - 5)).format("%Y-%m-%d");
                    ns = ns.label("kube-reclaimer.io/expires", &date.to_string());
                }
                1 => ns = ns.label("kube-reclaimer.io/ttl", "30d"),
                _ => {}
            }
            let share = [0.02, 0.3, 0.9, 0.001][i % 4];
            let ns = if i % 13 == 0 {
                ns.cpu(Sample::NoSeries, Sample::NoSeries)
                    .memory(Sample::NoSeries)
                    .network(Sample::NoSeries)
            } else {
                ns.cpu(v(cores * share), v(cores * share * 1.5))
                    .memory(v(GIB * cores * share * 2.0))
                    .network(v(if share < 0.01 { 10.0 } else { 5e4 }))
            };
            ns.build()
        })
        .collect()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn collected(namespaces: usize, teams: usize, at: DateTime<Utc>) -> Collected {
    let ok = || SourceReport {
        status: SourceStatus::Ok,
        requests: 0,
        problems: vec![],
    };
    Collected {
        observations: observations(namespaces, teams, at),
        opencost: None,
        sources: Sources {
            kubernetes: ok(),
            prometheus: ok(),
            prometheus_series: Vec::new(),
        },
        pods_seen: namespaces * 5,
    }
}

fn main() {
    let namespaces = env_or("BENCH_NAMESPACES", 2000);
    let teams = env_or("BENCH_TEAMS", 40).max(1);
    let at: DateTime<Utc> = "2026-12-01T08:00:00Z".parse().expect("a time");
    let mut config = Config::default();
    for t in 0..teams {
        let email: Email = format!("team-{t}@example.com").parse().expect("an address");
        config.owners.teams.insert(format!("team-{t}"), vec![email]);
    }
    config.owners.fallback_recipients = vec!["platform@example.com".parse().expect("address")];
    config.reports.finops_recipients = vec!["finops@example.com".parse().expect("address")];
    let templates = kube_reclaimer::render::report::Templates::from_config(&config)
        .expect("built-in templates");
    let ledger = Ledger::of("bench/reclaimed.jsonl", vec![]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut phases = Phases::default();

    // A cycle: its evaluation lives until the cycle ends; the metrics stay.
    let input = phases.measure("cycle: observations (collect)", || {
        collected(namespaces, teams, at)
    });
    let started = Instant::now();
    let evaluation = phases.measure("cycle: evaluate", || evaluate(input, &config, at));
    let evaluate_s = started.elapsed().as_secs_f64();
    let metrics = Metrics::new();
    let started = Instant::now();
    phases.measure("cycle: /metrics record", || {
        metrics.record_evaluation(&evaluation, &config)
    });
    let record_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let body = phases.measure("scrape: /metrics render", || metrics.render());
    let render_s = started.elapsed().as_secs_f64();
    let series = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let body_len = body.len();
    drop(body);
    drop(evaluation);

    // A report run, as `Reporter::run` does it.
    let input = phases.measure("report: observations (collect)", || {
        collected(namespaces, teams, at)
    });
    let evaluation = phases.measure("report: evaluate", || evaluate(input, &config, at));
    let started = Instant::now();
    let reports = phases.measure("report: build", || {
        report::build(&evaluation, &ledger, &config)
    });
    let build_s = started.elapsed().as_secs_f64();
    // The evaluation is dropped once the reports are built; each mail is rendered,
    // sent, and dropped before the next.
    drop(evaluation);
    let deliver = Formatting::default();
    let (mut reports_s, mut send_s) = (0.0, 0.0);
    let (mut count, mut bytes, mut finops_kib) = (0, 0, 0.0);
    let mut mails = kube_reclaimer::render::report::mails(&reports, &templates, &config);
    loop {
        let started = Instant::now();
        let Some(m) = phases.measure("report: render one (text, HTML, CSV)", || mails.next())
        else {
            break;
        };
        reports_s += started.elapsed().as_secs_f64();
        let m = m.expect("renders");
        count += 1;
        bytes += m.text.len() + m.html.len() + m.csv.len();
        if m.name == "finops" {
            finops_kib = m.html.len() as f64 / 1024.0;
        }
        let started = Instant::now();
        phases.measure("report: send one (message built)", || {
            runtime.block_on(send(std::slice::from_ref(&m), &deliver, &|| true))
        });
        send_s += started.elapsed().as_secs_f64();
    }
    drop(mails);
    drop(reports);

    println!("showback_scale: {namespaces} namespaces, {teams} teams");
    println!("  evaluate (assess + plan):   {:>8.1} ms", evaluate_s * 1e3);
    println!("  /metrics record:            {:>8.1} ms", record_s * 1e3);
    println!(
        "  /metrics render:            {:>8.1} ms  ({series} samples, {:.1} MiB)",
        render_s * 1e3,
        body_len as f64 / MIB
    );
    println!("  reports build:              {:>8.1} ms", build_s * 1e3);
    println!(
        "  reports render:             {:>8.1} ms  ({count} mails, {:.1} MiB of text + HTML + CSV; FinOps HTML {finops_kib:.0} KiB)",
        reports_s * 1e3,
        bytes as f64 / MIB,
    );
    println!(
        "  report messages built:      {:>8.1} ms  ({:.1} MiB as sent)",
        send_s * 1e3,
        deliver.bytes.load(Relaxed) as f64 / MIB
    );
    phases.print();
    println!(
        "  peak RSS:                   {:>8.1} MiB",
        peak_rss_kib() as f64 / 1024.0
    );
}
