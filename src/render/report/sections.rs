//! The parts of a report's view that repeat: a namespace's row, its rightsizing advice,
//! an upcoming event, a reclamation of the past week, a team's line of the roll-up. All
//! figures come formatted, `unknown` where a value is not known.

use super::fmt::Fmt;
use crate::core::assess::{Sizing, HOURS_PER_MONTH};
use crate::core::config::{Config, ReclaimBy};
use crate::core::format::{
    bytes, cores, cpu_quantity, known, memory_quantity, money_or, percent, Per, Unknown, UNKNOWN,
};
use crate::core::model::Sum;
use crate::core::notice::{expiry_command, EXTEND_BY_DAYS};
use crate::core::report::{Event, Group, GroupTotals, Reclaimed, ReclaimedList, Row, Upcoming};
use chrono::TimeDelta;
use serde::Serialize;
use std::collections::BTreeSet;

/// A row's money: `0.0766` (per hour), `55.92` (per month), or `unknown`; the currency
/// is in the column's header.
fn amount(v: Option<f64>, per: Per) -> String {
    money_or(v, per, "", Unknown::Word)
}

#[derive(Serialize)]
pub(super) struct RowView {
    pub(super) namespace: String,
    pub(super) team: String,
    pub(super) report: String,
    pub(super) state: String,
    /// Protection rule or other fact worth a footnote.
    pub(super) note: String,
    pub(super) protected: bool,
    pub(super) idle: String,
    pub(super) idle_summary: String,
    pub(super) pods: String,
    pub(super) cpu_requested: String,
    pub(super) cpu_used: String,
    pub(super) cpu_gap: String,
    pub(super) cpu_flagged: bool,
    pub(super) memory_requested: String,
    pub(super) memory_used: String,
    pub(super) memory_gap: String,
    pub(super) memory_flagged: bool,
    pub(super) requested_per_hour: String,
    pub(super) used_per_hour: String,
    pub(super) waste_per_hour: String,
    pub(super) waste_per_month: String,
    pub(super) requested_per_month: String,
    pub(super) expires: String,
    pub(super) reclaim_after: String,
    /// Why usage is unknown, if it is.
    pub(super) unknown_reason: String,
}

#[derive(Serialize)]
pub(super) struct AdviceLine {
    pub(super) resource: &'static str,
    pub(super) requested: String,
    pub(super) used: String,
    pub(super) gap: String,
    pub(super) recommended: String,
    /// Recommended as a share of today's requests: `6%`.
    pub(super) share: String,
    /// Per pod on average, as a Kubernetes quantity.
    pub(super) per_pod: String,
}

#[derive(Serialize)]
pub(super) struct Advice {
    pub(super) namespace: String,
    pub(super) waste_per_month: String,
    pub(super) lines: Vec<AdviceLine>,
    /// Recommended quota, in words (`cpu 360m, memory 1080Mi`).
    pub(super) quota: String,
    /// The quota it has today, in words, or `none`.
    pub(super) quota_now: String,
    pub(super) commands: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct UpcomingView {
    pub(super) namespace: String,
    pub(super) team: String,
    pub(super) what: String,
    pub(super) when: String,
    pub(super) until: String,
    pub(super) extend: String,
    pub(super) opt_out: String,
    /// The namespace's first line in the list: the commands are shown once.
    pub(super) first: bool,
}

#[derive(Serialize)]
pub(super) struct ReclaimedView {
    pub(super) known: bool,
    pub(super) ledger: String,
    pub(super) problems: Vec<String>,
    pub(super) entries: Vec<EntryView>,
    pub(super) requested_per_hour: String,
    pub(super) requested_per_month: String,
}

#[derive(Serialize)]
pub(super) struct EntryView {
    pub(super) namespace: String,
    pub(super) team: String,
    pub(super) when: String,
    pub(super) cause: String,
    pub(super) how: String,
    pub(super) requested_per_hour: String,
    pub(super) tombstone: String,
}

#[derive(Serialize)]
pub(super) struct GroupView {
    pub(super) rank: usize,
    pub(super) team: String,
    pub(super) namespaces: usize,
    pub(super) requested_per_hour: String,
    pub(super) used_per_hour: String,
    pub(super) waste_per_hour: String,
    pub(super) waste_per_month: String,
    pub(super) idle_or_pending_per_hour: String,
    pub(super) flagged: usize,
    pub(super) recipients: String,
}

pub(super) fn row_view(r: &Row, f: &Fmt<'_>) -> RowView {
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
        state: super::state_text(r),
        note: r
            .protected
            .as_ref()
            .map(|p| format!("protected: {p}"))
            .unwrap_or_default(),
        protected: r.protected.is_some(),
        idle: super::idle_text(r.idle),
        idle_summary: r.idle_summary.clone(),
        pods: known(r.pods, Unknown::Word, |p| p.to_string()),
        cpu_requested: cores(r.cpu.requested),
        cpu_used: cores(r.cpu.used),
        cpu_gap: percent(r.cpu.gap),
        cpu_flagged: r.cpu.flagged,
        memory_requested: bytes(r.memory.requested),
        memory_used: bytes(r.memory.used),
        memory_gap: percent(r.memory.gap),
        memory_flagged: r.memory.flagged,
        requested_per_hour: amount(r.cost.requested_per_hour, Per::Hour),
        used_per_hour: amount(r.cost.used_per_hour, Per::Hour),
        waste_per_hour: amount(r.cost.waste_per_hour, Per::Hour),
        waste_per_month: amount(r.cost.waste_per_month, Per::Month),
        requested_per_month: amount(r.cost.requested_per_month, Per::Month),
        expires: r.expires_at.map(|t| f.time(t)).unwrap_or_default(),
        reclaim_after: r.reclaim_after.map(|t| f.time(t)).unwrap_or_default(),
        unknown_reason: reasons.join("; "),
    }
}

/// What to change in a namespace flagged for rightsizing, or nothing when it is not.
pub(super) fn advice(r: &Row, headroom: f64) -> Option<Advice> {
    if !(r.cpu.flagged || r.memory.flagged) {
        return None;
    }
    let pods = r.pods.filter(|p| *p > 0).map(f64::from);
    let mut lines = Vec::new();
    if r.cpu.flagged {
        lines.push(advice_line("CPU", &r.cpu, pods, cores, cpu_quantity));
    }
    if r.memory.flagged {
        lines.push(advice_line(
            "memory",
            &r.memory,
            pods,
            bytes,
            memory_quantity,
        ));
    }
    let (quota_parts, hard) = recommended_quota(r, headroom);
    let quota_now = quota_now(r);
    Some(Advice {
        namespace: r.namespace.clone(),
        waste_per_month: amount(r.cost.waste_per_month, Per::Month),
        commands: commands(r, &lines, &hard, &quota_now),
        lines,
        quota: if quota_parts.is_empty() {
            UNKNOWN.into()
        } else {
            quota_parts.join(", ")
        },
        quota_now,
    })
}

/// One flagged resource: `show` writes its amounts, `quantity` the request per pod.
fn advice_line(
    resource: &'static str,
    s: &Sizing,
    pods: Option<f64>,
    show: fn(Option<f64>) -> String,
    quantity: fn(f64) -> String,
) -> AdviceLine {
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
        per_pod: known(
            s.recommended_request.zip(pods),
            Unknown::Word,
            |(rec, pods)| quantity(rec / pods),
        ),
    }
}

/// The recommended quota: in words (`requests.cpu=360m`) and as the JSON of a patch's
/// `hard` (`"requests.cpu":"360m"`), for the resources whose usage is known.
fn recommended_quota(r: &Row, headroom: f64) -> (Vec<String>, Vec<String>) {
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
    (quota_parts, hard)
}

/// The quota the namespace has today, in words, `none`, or `unknown`.
fn quota_now(r: &Row) -> String {
    match (&r.quota_known, r.quota_cpu.hard, r.quota_memory.hard) {
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
    }
}

/// The commands that show the requests, set them per pod, and patch the quota (when the
/// namespace has exactly one).
fn commands(r: &Row, lines: &[AdviceLine], hard: &[String], quota_now: &str) -> Vec<String> {
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
    if r.quotas.len() == 1 && !hard.is_empty() && quota_now != "none" {
        commands.push(format!(
            "kubectl -n {ns} patch resourcequota {} --type merge -p '{{\"spec\":{{\"hard\":{{{}}}}}}}'",
            r.quotas[0],
            hard.join(",")
        ));
    }
    commands
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
pub(super) fn upcoming_views(
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

pub(super) fn reclaimed_view(list: &ReclaimedList, f: &Fmt<'_>) -> ReclaimedView {
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
            requested_per_hour: amount(e.requested_cost_per_hour, Per::Hour),
            tombstone: e.tombstone.clone().unwrap_or_default(),
        }
    };
    let mut per_month = Sum::default();
    for r in &list.entries {
        per_month.add(r.entry.requested_cost_per_hour.map(|c| c * HOURS_PER_MONTH));
    }
    ReclaimedView {
        known: list.known,
        ledger: list.ledger.clone(),
        problems: list.problems.clone(),
        entries: list.entries.iter().map(entry).collect(),
        requested_per_hour: f.sum(&list.requested_per_hour, Per::Hour),
        requested_per_month: f.short(&per_month, Per::Month),
    }
}

/// A team's line of the roll-up, ranked `rank` (from 1).
pub(super) fn group_view(rank: usize, g: &GroupTotals, f: &Fmt<'_>) -> GroupView {
    GroupView {
        rank,
        team: match &g.group {
            Group::Team(t) => t.clone(),
            Group::Unassigned => "unassigned (no known team)".into(),
        },
        namespaces: g.totals.namespaces,
        requested_per_hour: f.short(&g.totals.requested_per_hour, Per::Hour),
        used_per_hour: f.short(&g.totals.used_per_hour, Per::Hour),
        waste_per_hour: f.short(&g.totals.waste_per_hour, Per::Hour),
        waste_per_month: f.short(&g.totals.waste_per_month, Per::Month),
        idle_or_pending_per_hour: f.short(&g.totals.idle_or_pending_per_hour, Per::Hour),
        flagged: g.totals.flagged,
        recipients: if g.recipients.is_empty() {
            "nobody".into()
        } else {
            g.recipients.join(", ")
        },
    }
}
