//! A report as mail and files: subject, plain text and HTML from the templates in
//! `templates/` (each replaceable by a file of the same name in `smtp.templates_dir`),
//! and the CSV. Pure: templates are loaded beforehand, the time is the report's.
//!
//! The templates see preformatted strings: numbers with their units, `unknown` where a
//! value is not known, dates in `time_zone`; the plain-text tables come aligned.

use crate::core::assess::{Sizing, Verdict};
use crate::core::config::{Config, MemoryStatistic, ReclaimBy};
use crate::core::model::{format_bytes, Observation};
use crate::core::notice::{expiry_command, EXTEND_BY_DAYS};
use crate::core::report::{
    csv, Event, Group, Reclaimed, ReclaimedList, Reports, Rollup, Row, Sum, TeamReport, Totals,
    Upcoming,
};
use crate::render::templates::{self, LoadError, TemplateError, TemplateSet};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const UNKNOWN: &str = "unknown";

/// Why a report cannot be rendered. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{origin}: {detail}")]
    Template { origin: String, detail: String },
    #[error("smtp.templates_dir: cannot use `{path}`: {detail}; set it to a readable directory of templates, or to null for the built-in ones")]
    TemplatesDir { path: String, detail: String },
}

impl From<TemplateError> for ReportError {
    fn from(e: TemplateError) -> ReportError {
        ReportError::Template {
            origin: e.origin,
            detail: e.detail,
        }
    }
}

/// The report templates in force: the built-in ones, each possibly replaced by an
/// operator's file in `smtp.templates_dir`.
#[derive(Debug)]
pub struct Templates {
    set: TemplateSet,
}

impl Templates {
    /// The built-in templates, with those of the same name in `dir` in their place. Every
    /// template is rendered once with a sample report, so a broken one is refused here.
    /// Other files in `dir` are left to the e-mail notices' loader, which checks them.
    pub fn load(dir: Option<&Path>) -> Result<Templates, ReportError> {
        let set = templates::reports(dir).map_err(|e| match e {
            LoadError::Folder { path, detail } => ReportError::TemplatesDir {
                path: path.display().to_string(),
                detail,
            },
            LoadError::Read { path, error } => ReportError::TemplatesDir {
                path: path.display().to_string(),
                detail: error.to_string(),
            },
            LoadError::Template(e) => e.into(),
        })?;
        let templates = Templates { set };
        templates.check()?;
        Ok(templates)
    }

    /// The templates `config` names: built-in, or with `smtp.templates_dir`'s in place.
    pub fn from_config(config: &Config) -> Result<Templates, ReportError> {
        Templates::load(config.smtp.templates_dir.as_deref().map(Path::new))
    }

    fn check(&self) -> Result<(), ReportError> {
        let (reports, config) = sample();
        render(&reports, self, &config).map(|_| ())
    }

    fn render(&self, name: &str, view: &View) -> Result<String, ReportError> {
        Ok(self.set.render(name, view)?)
    }
}

/// One report, ready to be sent or written.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportMail {
    /// File name without extension, unique in a run: `team-payments`, `unassigned`,
    /// `finops`.
    pub name: String,
    /// Who it is for, in words: `team payments`, `namespaces without a known team`,
    /// `FinOps roll-up`.
    pub title: String,
    pub recipients: Vec<String>,
    /// Where the recipients come from, for messages: `owners.teams.payments`, ...
    pub recipients_key: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub csv: String,
    pub namespaces: usize,
    pub requested_per_hour: Sum,
    pub waste_per_hour: Sum,
}

impl ReportMail {
    pub fn csv_name(&self) -> String {
        format!("{}.csv", self.name)
    }
}

// ------------------------------------------------------------------ formatting

struct Fmt<'a> {
    zone: chrono_tz::Tz,
    currency: &'a str,
    at: DateTime<Utc>,
}

impl Fmt<'_> {
    fn time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.zone)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    }

    fn date(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.zone).format("%Y-%m-%d").to_string()
    }

    /// Like [`Fmt::sum`] without saying how many values are unknown, for table cells.
    fn short(&self, s: &Sum, per: &str, decimals: usize) -> String {
        match (s.exact(), s.at_least()) {
            (Some(v), _) => format!("{v:.decimals$} {}{per}", self.currency),
            (None, Some(v)) => format!("at least {v:.decimals$} {}{per}", self.currency),
            (None, None) => UNKNOWN.into(),
        }
    }

    /// `5.6789 USD/h`; with unknown values `at least …`; all unknown: `unknown`.
    fn sum(&self, s: &Sum, per: &str, decimals: usize) -> String {
        match (s.exact(), s.at_least()) {
            (Some(v), _) => format!("{v:.decimals$} {}{per}", self.currency),
            (None, Some(v)) => format!(
                "at least {v:.decimals$} {}{per} ({} of {} unknown)",
                self.currency,
                s.unknown,
                s.known + s.unknown
            ),
            (None, None) => UNKNOWN.into(),
        }
    }

    /// How far ahead `t` is, rounded down: `in 2 days 3 hours`, `due now`.
    fn until(&self, t: DateTime<Utc>) -> String {
        let d = t - self.at;
        if d <= TimeDelta::zero() {
            return "due now".into();
        }
        let unit = |n: i64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        match (d.num_days(), d.num_hours() % 24) {
            (0, 0) => format!("in {}", unit(d.num_minutes().max(1), "minute")),
            (0, h) => format!("in {}", unit(h, "hour")),
            (days, 0) => format!("in {}", unit(days, "day")),
            (days, h) => format!("in {} {}", unit(days, "day"), unit(h, "hour")),
        }
    }
}

fn money(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| UNKNOWN.into(), |v| format!("{v:.decimals$}"))
}

fn cores(v: Option<f64>) -> String {
    v.map_or_else(|| UNKNOWN.into(), |v| format!("{v:.3}"))
}

fn bytes(v: Option<f64>) -> String {
    v.map_or_else(|| UNKNOWN.into(), format_bytes)
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| UNKNOWN.into(), |v| format!("{:.0}%", v * 100.0))
}

/// CPU as a Kubernetes quantity, rounded up to the millicore: `360m`, or whole cores: `4`.
fn cpu_quantity(cores: f64) -> String {
    let milli = (cores * 1000.0).ceil().max(1.0);
    if milli % 1000.0 == 0.0 {
        format!("{}", milli / 1000.0)
    } else {
        format!("{milli}m")
    }
}

/// Memory as a Kubernetes quantity, rounded up to the MiB: `1080Mi`, or whole GiB: `8Gi`.
fn memory_quantity(bytes: f64) -> String {
    let mib = (bytes / (1024.0 * 1024.0)).ceil().max(1.0);
    if mib % 1024.0 == 0.0 {
        format!("{}Gi", mib / 1024.0)
    } else {
        format!("{mib}Mi")
    }
}

fn state_text(row: &Row) -> String {
    row.state.as_str().to_string()
}

fn idle_text(v: Verdict) -> String {
    v.as_str().to_string()
}

// ------------------------------------------------------------------ views

/// Everything a report template sees.
#[derive(Serialize)]
struct View {
    /// `team`, `unassigned` or `finops`.
    kind: &'static str,
    /// `team payments`, `namespaces without a known team`, `FinOps roll-up`.
    title: String,
    /// The title capitalised, for headings.
    heading: String,
    subject: String,
    /// The team's name, `unassigned`, or `all teams`.
    team: String,
    at: String,
    /// `[at − 7d, at)` and `[at, at + 7d)`, in words.
    past_week: String,
    next_week: String,
    time_zone: String,
    currency: String,
    recipients: Vec<String>,
    /// The recipients, comma-separated, or why there are none.
    to: String,
    prices: String,
    /// Data that is missing, and what that means for the figures.
    warnings: Vec<String>,
    totals: TotalsView,
    /// The summary figures.
    cards: Vec<Card>,
    namespaces: Vec<RowView>,
    rightsizing: Vec<Advice>,
    upcoming: Vec<UpcomingView>,
    reclaimed: ReclaimedView,
    /// The roll-up's teams, ranked by waste (empty in team reports).
    groups: Vec<GroupView>,
    /// The roll-up's namespaces with the highest waste (empty in team reports).
    top: Vec<RowView>,
    /// Configured teams without namespaces (roll-up only).
    empty_teams: Vec<String>,
    /// Aligned plain-text tables of the sections above.
    tables: Tables,
    csv_name: String,
    /// How the figures are computed, one sentence each.
    method: Vec<String>,
}

#[derive(Serialize)]
struct TotalsView {
    namespaces: usize,
    requested_per_hour: String,
    requested_per_month: String,
    used_per_hour: String,
    waste_per_hour: String,
    waste_per_month: String,
    idle_or_pending_per_hour: String,
    idle_or_pending: usize,
    /// `idleness unknown for 2`, or empty.
    idle_unknown: String,
    flagged: usize,
}

/// One summary figure, as the HTML cards show it.
#[derive(Serialize)]
struct Card {
    label: &'static str,
    /// `0.0766 USD/h`, or `unknown`.
    value: String,
    /// The value is a lower bound: some namespaces' values are unknown.
    at_least: bool,
    /// A second line: per month, how many are unknown, counts.
    note: String,
    /// `waste` for the highlighted card, else `plain`.
    tone: &'static str,
}

fn cards(t: &Totals, f: &Fmt<'_>) -> Vec<Card> {
    let value = |s: &Sum| match s.at_least() {
        Some(v) => format!("{v:.4} {}/h", f.currency),
        None => UNKNOWN.into(),
    };
    let at_least = |s: &Sum| s.exact().is_none() && s.at_least().is_some();
    let missing = |s: &Sum| match s.unknown {
        0 => None,
        n => Some(format!("{n} of {} unknown", s.known + n)),
    };
    let note =
        |parts: Vec<Option<String>>| parts.into_iter().flatten().collect::<Vec<_>>().join(" · ");
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    vec![
        Card {
            label: "Requested",
            value: value(&t.requested_per_hour),
            at_least: at_least(&t.requested_per_hour),
            note: note(vec![
                Some(f.short(&t.requested_per_month, "/month", 2)),
                missing(&t.requested_per_hour),
            ]),
            tone: "plain",
        },
        Card {
            label: "Used",
            value: value(&t.used_per_hour),
            at_least: at_least(&t.used_per_hour),
            note: note(vec![
                Some(plural(t.namespaces, "namespace")),
                missing(&t.used_per_hour),
            ]),
            tone: "plain",
        },
        Card {
            label: "Waste",
            value: value(&t.waste_per_hour),
            at_least: at_least(&t.waste_per_hour),
            note: note(vec![
                Some(f.short(&t.waste_per_month, "/month", 2)),
                missing(&t.waste_per_hour),
            ]),
            tone: "waste",
        },
        Card {
            label: "Idle or pending reclamation",
            value: value(&t.idle_or_pending_per_hour),
            at_least: at_least(&t.idle_or_pending_per_hour),
            note: note(vec![
                Some(plural(t.idle_or_pending, "namespace")),
                (t.idle_unknown > 0).then(|| format!("idleness unknown for {}", t.idle_unknown)),
                Some(format!("{} flagged for rightsizing", t.flagged)),
            ]),
            tone: "plain",
        },
    ]
}

#[derive(Serialize)]
struct RowView {
    namespace: String,
    team: String,
    report: String,
    state: String,
    /// Protection rule or other fact worth a footnote.
    note: String,
    protected: bool,
    idle: String,
    idle_summary: String,
    pods: String,
    cpu_requested: String,
    cpu_used: String,
    cpu_gap: String,
    cpu_flagged: bool,
    memory_requested: String,
    memory_used: String,
    memory_gap: String,
    memory_flagged: bool,
    requested_per_hour: String,
    used_per_hour: String,
    waste_per_hour: String,
    waste_per_month: String,
    requested_per_month: String,
    expires: String,
    reclaim_after: String,
    /// Why usage is unknown, if it is.
    unknown_reason: String,
}

#[derive(Serialize)]
struct AdviceLine {
    resource: &'static str,
    requested: String,
    used: String,
    gap: String,
    recommended: String,
    /// Recommended as a share of today's requests: `6%`.
    share: String,
    /// Per pod on average, as a Kubernetes quantity.
    per_pod: String,
}

#[derive(Serialize)]
struct Advice {
    namespace: String,
    waste_per_month: String,
    lines: Vec<AdviceLine>,
    /// Recommended quota, in words (`cpu 360m, memory 1080Mi`).
    quota: String,
    /// The quota it has today, in words, or `none`.
    quota_now: String,
    commands: Vec<String>,
}

#[derive(Serialize)]
struct UpcomingView {
    namespace: String,
    team: String,
    what: String,
    when: String,
    until: String,
    extend: String,
    opt_out: String,
    /// The namespace's first line in the list: the commands are shown once.
    first: bool,
}

#[derive(Serialize)]
struct ReclaimedView {
    known: bool,
    ledger: String,
    problems: Vec<String>,
    entries: Vec<EntryView>,
    requested_per_hour: String,
    requested_per_month: String,
}

#[derive(Serialize)]
struct EntryView {
    namespace: String,
    team: String,
    when: String,
    cause: String,
    how: String,
    requested_per_hour: String,
    tombstone: String,
}

#[derive(Serialize)]
struct GroupView {
    rank: usize,
    team: String,
    namespaces: usize,
    requested_per_hour: String,
    used_per_hour: String,
    waste_per_hour: String,
    waste_per_month: String,
    idle_or_pending_per_hour: String,
    flagged: usize,
    recipients: String,
}

#[derive(Serialize, Default)]
struct Tables {
    namespaces: String,
    rightsizing: String,
    upcoming: String,
    reclaimed: String,
    groups: String,
    top: String,
}

/// Columns separated by two spaces; the columns in `right` right-aligned.
fn table(headers: &[&str], right: &[usize], rows: &[Vec<String>]) -> String {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([headers[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if right.contains(&i) {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn totals_view(t: &Totals, f: &Fmt<'_>) -> TotalsView {
    TotalsView {
        namespaces: t.namespaces,
        requested_per_hour: f.sum(&t.requested_per_hour, "/h", 4),
        requested_per_month: f.short(&t.requested_per_month, "/month", 2),
        used_per_hour: f.sum(&t.used_per_hour, "/h", 4),
        waste_per_hour: f.sum(&t.waste_per_hour, "/h", 4),
        waste_per_month: f.short(&t.waste_per_month, "/month", 2),
        idle_or_pending_per_hour: f.sum(&t.idle_or_pending_per_hour, "/h", 4),
        idle_or_pending: t.idle_or_pending,
        idle_unknown: match t.idle_unknown {
            0 => String::new(),
            n => format!("idleness unknown for {n}"),
        },
        flagged: t.flagged,
    }
}

fn row_view(r: &Row, f: &Fmt<'_>) -> RowView {
    let mut reasons: Vec<String> = r
        .cpu
        .unknown_reason
        .iter()
        .chain(&r.memory.unknown_reason)
        .cloned()
        .collect();
    reasons.dedup();
    RowView {
        namespace: r.namespace.clone(),
        team: r.team.clone().unwrap_or_else(|| "none".into()),
        report: r.group.name().to_string(),
        state: state_text(r),
        note: r
            .protected
            .as_ref()
            .map(|p| format!("protected: {p}"))
            .unwrap_or_default(),
        protected: r.protected.is_some(),
        idle: idle_text(r.idle),
        idle_summary: r.idle_summary.clone(),
        pods: r.pods.map_or_else(|| UNKNOWN.into(), |p| p.to_string()),
        cpu_requested: cores(r.cpu.requested),
        cpu_used: cores(r.cpu.used),
        cpu_gap: percent(r.cpu.gap),
        cpu_flagged: r.cpu.flagged,
        memory_requested: bytes(r.memory.requested),
        memory_used: bytes(r.memory.used),
        memory_gap: percent(r.memory.gap),
        memory_flagged: r.memory.flagged,
        requested_per_hour: money(r.cost.requested_per_hour, 4),
        used_per_hour: money(r.cost.used_per_hour, 4),
        waste_per_hour: money(r.cost.waste_per_hour, 4),
        waste_per_month: money(r.cost.waste_per_month, 2),
        requested_per_month: money(r.cost.requested_per_month, 2),
        expires: r.expires_at.map(|t| f.time(t)).unwrap_or_default(),
        reclaim_after: r.reclaim_after.map(|t| f.time(t)).unwrap_or_default(),
        unknown_reason: reasons.join("; "),
    }
}

fn advice(r: &Row, headroom: f64) -> Option<Advice> {
    if !(r.cpu.flagged || r.memory.flagged) {
        return None;
    }
    let pods = r.pods.filter(|p| *p > 0).map(f64::from);
    let line = |resource: &'static str,
                s: &Sizing,
                show: fn(Option<f64>) -> String,
                quantity: fn(f64) -> String| {
        let share = s
            .recommended_request
            .zip(s.requested.filter(|r| *r > 0.0))
            .map(|(rec, req)| rec / req);
        AdviceLine {
            resource,
            requested: show(s.requested),
            used: show(s.used),
            gap: percent(s.gap),
            recommended: show(s.recommended_request),
            share: percent(share),
            per_pod: s
                .recommended_request
                .zip(pods)
                .map_or_else(|| UNKNOWN.into(), |(rec, pods)| quantity(rec / pods)),
        }
    };
    let mut lines = Vec::new();
    if r.cpu.flagged {
        lines.push(line("CPU", &r.cpu, cores, cpu_quantity));
    }
    if r.memory.flagged {
        lines.push(line("memory", &r.memory, bytes, memory_quantity));
    }
    let ns = &r.namespace;
    let mut commands = vec![format!(
        "kubectl -n {ns} get pods -o custom-columns='POD:.metadata.name,CPU:.spec.containers[*].resources.requests.cpu,MEMORY:.spec.containers[*].resources.requests.memory'"
    )];
    let per_pod: Vec<String> = lines
        .iter()
        .filter(|l| l.per_pod != UNKNOWN)
        .map(|l| {
            let key = if l.resource == "CPU" { "cpu" } else { "memory" };
            format!("{key}={}", l.per_pod)
        })
        .collect();
    if !per_pod.is_empty() {
        commands.push(format!(
            "kubectl -n {ns} set resources deployment/NAME --requests={}",
            per_pod.join(",")
        ));
    }
    let rec_cpu = r.cpu.used.map(|u| cpu_quantity(u * (1.0 + headroom)));
    let rec_mem = r.memory.used.map(|u| memory_quantity(u * (1.0 + headroom)));
    let mut quota_parts = Vec::new();
    let mut hard = Vec::new();
    if let Some(q) = &rec_cpu {
        quota_parts.push(format!("requests.cpu={q}"));
        hard.push(format!("\"requests.cpu\":\"{q}\""));
    }
    if let Some(q) = &rec_mem {
        quota_parts.push(format!("requests.memory={q}"));
        hard.push(format!("\"requests.memory\":\"{q}\""));
    }
    let quota_now = match (&r.quota_known, r.quota_cpu.hard, r.quota_memory.hard) {
        (false, _, _) => UNKNOWN.to_string(),
        (true, None, None) => "none".into(),
        (true, cpu, mem) => {
            let mut parts = Vec::new();
            if let Some(c) = cpu {
                parts.push(format!("requests.cpu={}", cpu_quantity(c)));
            }
            if let Some(m) = mem {
                parts.push(format!("requests.memory={}", memory_quantity(m)));
            }
            parts.join(", ")
        }
    };
    if r.quotas.len() == 1 && !hard.is_empty() && quota_now != "none" {
        commands.push(format!(
            "kubectl -n {ns} patch resourcequota {} --type merge -p '{{\"spec\":{{\"hard\":{{{}}}}}}}'",
            r.quotas[0],
            hard.join(",")
        ));
    }
    Some(Advice {
        namespace: ns.clone(),
        waste_per_month: money(r.cost.waste_per_month, 2),
        lines,
        quota: if quota_parts.is_empty() {
            UNKNOWN.into()
        } else {
            quota_parts.join(", ")
        },
        quota_now,
        commands,
    })
}

fn upcoming_view(u: &Upcoming, rows: &[&Row], f: &Fmt<'_>, config: &Config) -> UpcomingView {
    let extend_to = f.date(f.at + TimeDelta::days(EXTEND_BY_DAYS));
    let key = &config.keys.expires;
    let what = match u.event {
        Event::Expires => "expires".to_string(),
        Event::Reclaimed(cause) => format!(
            "{} ({})",
            match config.lifecycle.reclaim_by {
                ReclaimBy::Delete => "deleted",
                ReclaimBy::Sleep => "put to sleep",
            },
            cause.as_str()
        ),
    };
    let team = rows
        .iter()
        .find(|r| r.namespace == u.namespace)
        .and_then(|r| r.team.clone())
        .unwrap_or_else(|| "none".into());
    UpcomingView {
        namespace: u.namespace.clone(),
        team,
        what,
        when: f.time(u.at),
        until: f.until(u.at),
        extend: expiry_command(&u.namespace, u.expiry_source.as_ref(), key, &extend_to),
        opt_out: expiry_command(&u.namespace, u.expiry_source.as_ref(), key, "never"),
        first: true,
    }
}

/// The upcoming events as shown, each namespace's commands on its first line only.
fn upcoming_views(
    list: &[Upcoming],
    rows: &[&Row],
    f: &Fmt<'_>,
    config: &Config,
) -> Vec<UpcomingView> {
    let mut seen = BTreeSet::new();
    list.iter()
        .map(|u| UpcomingView {
            first: seen.insert(u.namespace.clone()),
            ..upcoming_view(u, rows, f, config)
        })
        .collect()
}

fn reclaimed_view(list: &ReclaimedList, f: &Fmt<'_>) -> ReclaimedView {
    let entry = |r: &Reclaimed| {
        let e = &r.entry;
        EntryView {
            namespace: e.namespace.clone(),
            team: e.team.clone().unwrap_or_else(|| "none".into()),
            when: f.time(e.at),
            cause: e.cause.as_str().to_string(),
            how: match e.by {
                ReclaimBy::Delete => "deleted".into(),
                ReclaimBy::Sleep => "put to sleep".into(),
            },
            requested_per_hour: money(e.requested_cost_per_hour, 4),
            tombstone: e.tombstone.clone().unwrap_or_default(),
        }
    };
    let mut per_month = Sum::default();
    for r in &list.entries {
        per_month.add(
            r.entry
                .requested_cost_per_hour
                .map(|c| c * crate::core::assess::HOURS_PER_MONTH),
        );
    }
    ReclaimedView {
        known: list.known,
        ledger: list.ledger.clone(),
        problems: list.problems.clone(),
        entries: list.entries.iter().map(entry).collect(),
        requested_per_hour: f.sum(&list.requested_per_hour, "/h", 4),
        requested_per_month: f.short(&per_month, "/month", 2),
    }
}

/// Sentences on data that is missing or stands in for other data.
fn warnings(reports: &Reports, rows: &[&Row], list: &ReclaimedList) -> Vec<String> {
    let mut out = Vec::new();
    if reports.dry_run {
        out.push("kube-reclaimer runs in dry-run mode: nothing is marked or reclaimed. The reclamation dates below are what enforce mode would do.".into());
    }
    let prometheus = &reports.sources.prometheus;
    let failed = !prometheus.problems.is_empty();
    let cause = format!(
        "Prometheus {} ({})",
        prometheus.status,
        prometheus.problems.join("; ")
    );
    let usage_unknown = rows
        .iter()
        .filter(|r| r.cost.used_per_hour.is_none())
        .count();
    if usage_unknown > 0 {
        out.push(format!(
            "Usage is unknown for {usage_unknown} of {} namespaces: {}. Their used cost and waste are unknown, not zero, and they are not flagged.",
            rows.len(),
            if failed {
                cause
            } else {
                "their metrics are missing (the reason is given for each)".into()
            }
        ));
    } else if failed {
        out.push(format!(
            "{cause}: the statistics it could not give are unknown."
        ));
    }
    let kubernetes = &reports.sources.kubernetes;
    if !kubernetes.problems.is_empty() {
        out.push(format!(
            "The Kubernetes API answered only in part ({}): requests or quotas are unknown where it failed.",
            kubernetes.problems.join("; ")
        ));
    }
    if let Some(fallback) = &reports.prices.fallback {
        out.push(fallback.clone());
    }
    if !list.known {
        out.push(format!(
            "What was reclaimed last week is unknown: {}",
            list.problems.join("; ")
        ));
    } else if !list.problems.is_empty() {
        out.push(format!(
            "What was reclaimed last week may be incomplete: {} line(s) of the ledger could not be read ({}).",
            list.problems.len(),
            list.problems.join("; ")
        ));
    }
    out
}

fn prices_text(reports: &Reports) -> String {
    let p = &reports.prices;
    let source = match p.source {
        "opencost" => "OpenCost's node prices, averaged over nodes",
        _ if p.fallback.is_some() => "the configured prices (OpenCost's were not available)",
        _ => "the configured prices",
    };
    format!(
        "{} {} per vCPU-hour and {} {} per GiB-hour, from {source}",
        p.cpu_per_vcpu_hour, p.currency, p.memory_per_gib_hour, p.currency
    )
}

fn method(config: &Config) -> Vec<String> {
    let r = &config.rightsizing;
    let memory = match r.memory_statistic {
        MemoryStatistic::MaxWorkingSet => "the highest memory working set".to_string(),
        MemoryStatistic::QuantileWorkingSet => {
            format!("the p{:.0} memory working set", r.cpu_quantile * 100.0)
        }
    };
    vec![
        "Requested: what the pods (running or pending) request in their specs.".into(),
        format!(
            "Used: p{:.0} of 5-minute CPU rates and {memory} over the last {} (Prometheus).",
            r.cpu_quantile * 100.0,
            r.window
        ),
        "Waste: what is requested but not used, per resource, priced: Σ max(0, requested − used) × price. Per month = per hour × 730.".into(),
        format!(
            "Flagged: requests more than {:.0}% above usage (and at least {} CPU or {} memory); recommended request and quota = usage + {:.0}%.",
            r.gap_threshold * 100.0,
            cpu_quantity(r.min_cpu_request.0),
            memory_quantity(r.min_memory_request.0),
            r.headroom * 100.0
        ),
        "Idle or pending reclamation: the requested cost of namespaces that are idle, or marked for reclamation.".into(),
    ]
}

fn namespaces_table(rows: &[RowView], currency: &str, with_team: bool) -> String {
    let mut headers = vec!["NAMESPACE"];
    if with_team {
        headers.push("TEAM");
    }
    let rest = [
        "STATE".to_string(),
        "PODS".into(),
        "CPU REQ".into(),
        "CPU USED".into(),
        "MEM REQ".into(),
        "MEM USED".into(),
        format!("{currency}/H REQ"),
        format!("{currency}/H WASTE"),
        format!("{currency}/MONTH WASTE"),
        "FLAGS".into(),
    ];
    headers.extend(rest.iter().map(String::as_str));
    let offset = usize::from(with_team);
    // PODS to USD/MONTH WASTE.
    let right: Vec<usize> = (2..10).map(|i| i + offset).collect();
    let data: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut flags = Vec::new();
            if r.cpu_flagged {
                flags.push("cpu");
            }
            if r.memory_flagged {
                flags.push("memory");
            }
            let mut cells = vec![r.namespace.clone()];
            if with_team {
                cells.push(r.team.clone());
            }
            cells.extend([
                r.state.clone(),
                r.pods.clone(),
                r.cpu_requested.clone(),
                r.cpu_used.clone(),
                r.memory_requested.clone(),
                r.memory_used.clone(),
                r.requested_per_hour.clone(),
                r.waste_per_hour.clone(),
                r.waste_per_month.clone(),
                flags.join(","),
            ]);
            cells
        })
        .collect();
    table(&headers, &right, &data)
}

fn upcoming_table(rows: &[UpcomingView]) -> String {
    let data: Vec<Vec<String>> = rows
        .iter()
        .map(|u| {
            vec![
                u.namespace.clone(),
                u.what.clone(),
                u.when.clone(),
                u.until.clone(),
            ]
        })
        .collect();
    table(&["NAMESPACE", "WHAT", "WHEN", "IN"], &[], &data)
}

fn reclaimed_table(view: &ReclaimedView, currency: &str) -> String {
    let data: Vec<Vec<String>> = view
        .entries
        .iter()
        .map(|e| {
            vec![
                e.namespace.clone(),
                e.team.clone(),
                e.when.clone(),
                format!("{} ({})", e.how, e.cause),
                e.requested_per_hour.clone(),
            ]
        })
        .collect();
    let cost = format!("{currency}/H REQ");
    table(
        &["NAMESPACE", "TEAM", "WHEN", "HOW", cost.as_str()],
        &[4],
        &data,
    )
}

fn rightsizing_table(advice: &[Advice]) -> String {
    let data: Vec<Vec<String>> = advice
        .iter()
        .flat_map(|a| {
            a.lines.iter().map(move |l| {
                vec![
                    a.namespace.clone(),
                    l.resource.to_string(),
                    l.requested.clone(),
                    l.used.clone(),
                    l.gap.clone(),
                    l.recommended.clone(),
                    l.per_pod.clone(),
                ]
            })
        })
        .collect();
    table(
        &[
            "NAMESPACE",
            "RESOURCE",
            "REQUESTED",
            "USED",
            "GAP",
            "RECOMMENDED",
            "PER POD",
        ],
        &[2, 3, 4, 5, 6],
        &data,
    )
}

/// Where a report's recipients are configured.
fn recipients_key(group: &Group) -> String {
    match group {
        Group::Team(team) => format!("owners.teams.{team}"),
        Group::Unassigned => "owners.fallback_recipients".into(),
    }
}

fn to(recipients: &[String], key: &str) -> String {
    if recipients.is_empty() {
        format!("nobody ({key} is empty)")
    } else {
        recipients.join(", ")
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A file name made of letters, digits, `.`, `_` and `-`, not starting with `.`.
fn safe(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

/// Unique file names: a second `team-a_b` becomes `team-a_b-2`.
fn unique(name: String, taken: &mut BTreeSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while !taken.insert(candidate.to_ascii_lowercase()) {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    candidate
}

fn subject(title: &str, totals: &Totals, f: &Fmt<'_>, rollup: bool) -> String {
    let what = |s: &Sum| match (s.exact(), s.at_least()) {
        (Some(v), _) => format!("{v:.4} {}/h", f.currency),
        (None, Some(v)) => format!("at least {v:.4} {}/h", f.currency),
        (None, None) => format!("unknown {}/h", f.currency),
    };
    let start = if rollup {
        "Weekly cost roll-up for all teams".to_string()
    } else {
        format!("Weekly cost report for {title}")
    };
    format!(
        "{start}: {} requested, {} waste",
        what(&totals.requested_per_hour),
        what(&totals.waste_per_hour)
    )
}

struct Common {
    at: String,
    past_week: String,
    next_week: String,
    time_zone: String,
    currency: String,
    prices: String,
    method: Vec<String>,
}

fn team_view(
    t: &TeamReport,
    reports: &Reports,
    config: &Config,
    f: &Fmt<'_>,
    c: &Common,
    csv_name: &str,
) -> View {
    let rows: Vec<&Row> = t.rows.iter().collect();
    let namespaces: Vec<RowView> = t.rows.iter().map(|r| row_view(r, f)).collect();
    let rightsizing: Vec<Advice> = t
        .rows
        .iter()
        .filter_map(|r| advice(r, config.rightsizing.headroom))
        .collect();
    let upcoming = upcoming_views(&t.upcoming, &rows, f, config);
    let reclaimed = reclaimed_view(&t.reclaimed, f);
    let title = t.group.title();
    View {
        kind: match t.group {
            Group::Team(_) => "team",
            Group::Unassigned => "unassigned",
        },
        subject: subject(&title, &t.totals, f, false),
        heading: capitalised(&title),
        title,
        team: t.group.name().to_string(),
        at: c.at.clone(),
        past_week: c.past_week.clone(),
        next_week: c.next_week.clone(),
        time_zone: c.time_zone.clone(),
        currency: c.currency.clone(),
        recipients: t.recipients.clone(),
        to: to(&t.recipients, &recipients_key(&t.group)),
        prices: c.prices.clone(),
        warnings: warnings(reports, &rows, &t.reclaimed),
        totals: totals_view(&t.totals, f),
        cards: cards(&t.totals, f),
        tables: Tables {
            namespaces: namespaces_table(&namespaces, &c.currency, t.group == Group::Unassigned),
            rightsizing: rightsizing_table(&rightsizing),
            upcoming: upcoming_table(&upcoming),
            reclaimed: reclaimed_table(&reclaimed, &c.currency),
            ..Tables::default()
        },
        namespaces,
        rightsizing,
        upcoming,
        reclaimed,
        groups: Vec::new(),
        top: Vec::new(),
        empty_teams: Vec::new(),
        csv_name: csv_name.to_string(),
        method: c.method.clone(),
    }
}

fn finops_view(
    r: &Rollup,
    reports: &Reports,
    config: &Config,
    f: &Fmt<'_>,
    c: &Common,
    csv_name: &str,
) -> View {
    let rows: Vec<&Row> = r.rows.iter().collect();
    let groups: Vec<GroupView> = r
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| GroupView {
            rank: i + 1,
            team: match &g.group {
                Group::Team(t) => t.clone(),
                Group::Unassigned => "unassigned (no known team)".into(),
            },
            namespaces: g.totals.namespaces,
            requested_per_hour: f.short(&g.totals.requested_per_hour, "/h", 4),
            used_per_hour: f.short(&g.totals.used_per_hour, "/h", 4),
            waste_per_hour: f.short(&g.totals.waste_per_hour, "/h", 4),
            waste_per_month: f.short(&g.totals.waste_per_month, "/month", 2),
            idle_or_pending_per_hour: f.short(&g.totals.idle_or_pending_per_hour, "/h", 4),
            flagged: g.totals.flagged,
            recipients: if g.recipients.is_empty() {
                "nobody".into()
            } else {
                g.recipients.join(", ")
            },
        })
        .collect();
    let top: Vec<RowView> = r.top.iter().map(|x| row_view(x, f)).collect();
    let upcoming = upcoming_views(&r.upcoming, &rows, f, config);
    let reclaimed = reclaimed_view(&r.reclaimed, f);
    let groups_table = table(
        &[
            "#",
            "TEAM",
            "NAMESPACES",
            "REQUESTED",
            "WASTE",
            "WASTE PER MONTH",
            "IDLE OR PENDING",
            "FLAGGED",
        ],
        &[0, 2, 3, 4, 5, 6, 7],
        &groups
            .iter()
            .map(|g| {
                vec![
                    g.rank.to_string(),
                    g.team.clone(),
                    g.namespaces.to_string(),
                    g.requested_per_hour.clone(),
                    g.waste_per_hour.clone(),
                    g.waste_per_month.clone(),
                    g.idle_or_pending_per_hour.clone(),
                    g.flagged.to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    let title = "FinOps roll-up".to_string();
    View {
        kind: "finops",
        subject: subject(&title, &r.totals, f, true),
        heading: title.clone(),
        title,
        team: "all teams".into(),
        at: c.at.clone(),
        past_week: c.past_week.clone(),
        next_week: c.next_week.clone(),
        time_zone: c.time_zone.clone(),
        currency: c.currency.clone(),
        recipients: r.recipients.clone(),
        to: to(&r.recipients, "reports.finops_recipients"),
        prices: c.prices.clone(),
        warnings: warnings(reports, &rows, &r.reclaimed),
        totals: totals_view(&r.totals, f),
        cards: cards(&r.totals, f),
        tables: Tables {
            namespaces: String::new(),
            rightsizing: String::new(),
            upcoming: upcoming_table(&upcoming),
            reclaimed: reclaimed_table(&reclaimed, &c.currency),
            groups: groups_table,
            top: namespaces_table(&top, &c.currency, true),
        },
        namespaces: Vec::new(),
        rightsizing: Vec::new(),
        upcoming,
        reclaimed,
        groups,
        top,
        empty_teams: reports.empty_teams.clone(),
        csv_name: csv_name.to_string(),
        method: c.method.clone(),
    }
}

/// Renders every report of `reports`: the teams' in order, then the roll-up.
pub fn render(
    reports: &Reports,
    templates: &Templates,
    config: &Config,
) -> Result<Vec<ReportMail>, ReportError> {
    let f = Fmt {
        zone: config.time_zone.0,
        currency: &reports.prices.currency,
        at: reports.at,
    };
    let week = crate::core::report::week();
    let common = Common {
        at: f.time(reports.at),
        past_week: format!("{} to {}", f.time(reports.at - week), f.time(reports.at)),
        next_week: format!("{} to {}", f.time(reports.at), f.time(reports.at + week)),
        time_zone: config.time_zone.0.name().to_string(),
        currency: reports.prices.currency.clone(),
        prices: prices_text(reports),
        method: method(config),
    };
    let mut taken = BTreeSet::from(["finops".to_string(), "index".to_string()]);
    let mut out = Vec::new();
    for t in &reports.teams {
        let name = match &t.group {
            Group::Team(team) => unique(format!("team-{}", safe(team)), &mut taken),
            Group::Unassigned => unique("unassigned".into(), &mut taken),
        };
        let view = team_view(t, reports, config, &f, &common, &format!("{name}.csv"));
        out.push(ReportMail {
            text: templates.render("report-team.txt", &view)?,
            html: templates.render("report-team.html", &view)?,
            csv: csv(&t.rows),
            title: view.title,
            subject: view.subject,
            name,
            recipients: t.recipients.clone(),
            recipients_key: recipients_key(&t.group),
            namespaces: t.totals.namespaces,
            requested_per_hour: t.totals.requested_per_hour,
            waste_per_hour: t.totals.waste_per_hour,
        });
    }
    let r = &reports.finops;
    let view = finops_view(r, reports, config, &f, &common, "finops.csv");
    out.push(ReportMail {
        text: templates.render("report-finops.txt", &view)?,
        html: templates.render("report-finops.html", &view)?,
        csv: csv(&r.rows),
        name: "finops".into(),
        title: view.title,
        subject: view.subject,
        recipients: r.recipients.clone(),
        recipients_key: "reports.finops_recipients".into(),
        namespaces: r.totals.namespaces,
        requested_per_hour: r.totals.requested_per_hour,
        waste_per_hour: r.totals.waste_per_hour,
    });
    Ok(out)
}

/// A small report run with every section filled, to check templates with.
fn sample() -> (Reports, Config) {
    use crate::core::collected::Collected;
    use crate::core::ledger::{Entry, Ledger};
    use crate::core::model::{NamespaceMeta, Sample, Usage, Workload};
    let config = Config {
        owners: crate::core::config::Owners {
            teams: [(
                "payments".to_string(),
                vec![crate::core::config::Email::new_unchecked("pay@example.com")],
            )]
            .into(),
            fallback_recipients: vec![crate::core::config::Email::new_unchecked(
                "platform@example.com",
            )],
            ..Default::default()
        },
        ..Config::default()
    };
    let at = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000);
    let namespace = |name: &str, team: Option<&str>, expires: Option<DateTime<Utc>>| {
        let mut labels = BTreeMap::new();
        if let Some(t) = team {
            labels.insert(config.keys.team.clone(), t.to_string());
        }
        let mut annotations = BTreeMap::new();
        if let Some(t) = expires {
            annotations.insert(config.keys.expires.clone(), crate::core::model::rfc3339(t));
        }
        Observation {
            namespace: NamespaceMeta {
                name: name.into(),
                uid: format!("uid-{name}"),
                created_at: at - TimeDelta::days(30),
                labels,
                annotations,
                deleting_since: None,
            },
            workload: Some(Workload {
                pods: 2,
                cpu_request_cores: 2.0,
                memory_request_bytes: 4.0 * crate::core::model::GIB,
            }),
            quotas: Some(vec![crate::core::model::QuotaObservation {
                name: "compute".into(),
                cpu_hard_cores: Some(4.0),
                cpu_used_cores: Some(2.0),
                memory_hard_bytes: Some(8.0 * crate::core::model::GIB),
                memory_used_bytes: None,
            }]),
            volumes: Some(Default::default()),
            usage: Usage {
                cpu_quantile_cores: Sample::Value { value: 0.1 },
                cpu_max_cores: Sample::Value { value: 0.2 },
                memory_bytes: Sample::Value { value: 1e8 },
                network_max_bytes_per_second: Sample::Value { value: 5000.0 },
                history_since: Some(at - TimeDelta::days(30)),
                history_missing: None,
            },
        }
    };
    let mut unknown = namespace("sample-unknown", None, Some(at - TimeDelta::days(1)));
    unknown.usage = Usage::unavailable("connection refused");
    let ok = crate::core::collected::SourceReport {
        status: crate::core::collected::SourceStatus::Ok,
        requests: 1,
        problems: Vec::new(),
    };
    let collected = Collected {
        observations: vec![
            namespace("sample-a", Some("payments"), Some(at + TimeDelta::days(2))),
            unknown,
        ],
        opencost: None,
        sources: crate::core::collected::Sources {
            kubernetes: ok.clone(),
            prometheus: ok,
        },
        pods_seen: 4,
    };
    let evaluation = crate::core::evaluate::evaluate(collected, &config, at);
    let ledger = Ledger::of(
        "reclaimed.jsonl",
        vec![Entry {
            at: at - TimeDelta::days(1),
            namespace: "sample-old".into(),
            uid: "uid-old".into(),
            team: Some("payments".into()),
            cause: crate::core::plan::Reason::Idle,
            by: ReclaimBy::Delete,
            tombstone: Some("/tombstones/sample-old.yaml".into()),
            requested_cost_per_hour: Some(0.05),
            currency: "USD".into(),
        }],
    );
    (
        crate::core::report::build(&evaluation, &ledger, &config),
        config,
    )
}

#[cfg(test)]
pub(crate) fn sample_for_tests() -> (Reports, Config) {
    sample()
}
