//! `plan --output table`: one row per namespace.

use crate::core::assess::Assessment;
use crate::core::evaluate::Evaluation;
use crate::core::format::{money_or, Per, Unknown};
use crate::core::plan::{Action, ActionKind, NamespacePlan};
use std::fmt::Write;

fn cores(v: Option<f64>) -> String {
    v.map_or("?".into(), |v| format!("{v:.2}"))
}

fn bytes(v: Option<f64>) -> String {
    let Some(v) = v else { return "?".into() };
    const GI: f64 = 1024.0 * 1024.0 * 1024.0;
    const MI: f64 = 1024.0 * 1024.0;
    if v >= GI {
        format!("{:.1}Gi", v / GI)
    } else {
        format!("{:.0}Mi", v / MI)
    }
}

fn gap(g: Option<f64>, flagged: bool) -> String {
    match g {
        Some(g) => format!("{:.0}%{}", g * 100.0, if flagged { "*" } else { "" }),
        None => "?".into(),
    }
}

fn money(v: Option<f64>) -> String {
    money_or(v, Per::Hour, "", Unknown::Mark)
}

pub fn action_brief(a: &Action) -> String {
    match &a.kind {
        ActionKind::Remind { offset, .. } => format!("remind({offset})"),
        ActionKind::Mark { cause, .. } => format!("mark({})", cause.as_str()),
        ActionKind::Reclaim {
            cause,
            by: crate::core::config::ReclaimBy::Sleep,
            ..
        } => format!("sleep({})", cause.as_str()),
        ActionKind::Reclaim { cause, .. } => format!("reclaim({})", cause.as_str()),
        ActionKind::ReclaimDeferred { cause } => format!("deferred({})", cause.as_str()),
        other => other.as_str().to_string(),
    }
}

const HEADERS: [&str; 12] = [
    "NAMESPACE",
    "STATE",
    "TEAM",
    "EXPIRES",
    "IDLE",
    "CPU REQ/USED",
    "GAP",
    "MEM REQ/USED",
    "GAP",
    "COST/H",
    "WASTE/H",
    "ACTIONS",
];

/// The table, one row per namespace, then what the columns mean.
pub fn render(e: &Evaluation) -> String {
    let rows: Vec<Vec<String>> = e
        .assessments
        .iter()
        .zip(&e.plan.namespaces)
        .map(|(a, p)| row(a, p))
        .collect();
    let mut out = aligned(&HEADERS.map(String::from), &rows);
    let currency = e
        .assessments
        .first()
        .map_or("", |a| a.cost.currency.as_str());
    let _ = writeln!(
        out,
        "\n{} namespaces, {} pods as of {}. GAP = unused share of requests (* = flagged). COST/H (requested) and WASTE/H (requested but unused) in {currency} per hour.",
        e.assessments.len(),
        e.pods_seen,
        e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    if e.plan.dry_run {
        let _ = writeln!(out, "dry-run: the actions above are planned, not executed.");
    }
    out
}

fn row(a: &Assessment, p: &NamespacePlan) -> Vec<String> {
    let (c, m) = (&a.rightsizing.cpu, &a.rightsizing.memory);
    let expires = match a.expiry.at() {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None if a.expiry.opted_out() => "never".into(),
        None if !a.findings.is_empty()
            && matches!(a.expiry, crate::core::assess::Expiry::Malformed { .. }) =>
        {
            "malformed".into()
        }
        None => "-".into(),
    };
    let actions: Vec<String> = p.actions.iter().map(action_brief).collect();
    vec![
        a.name.clone(),
        p.state.as_str().to_string(),
        a.owner.team.clone().unwrap_or_else(|| "-".into()),
        expires,
        a.idle.verdict.as_str().to_string(),
        format!("{}/{}", cores(c.requested), cores(c.used)),
        gap(c.gap, c.flagged),
        format!("{}/{}", bytes(m.requested), bytes(m.used)),
        gap(m.gap, m.flagged),
        money(a.cost.requested_per_hour),
        money(a.cost.waste_per_hour),
        if actions.is_empty() {
            "-".into()
        } else {
            actions.join(",")
        },
    ]
}

/// The header and the rows in columns as wide as their widest cell.
fn aligned(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(headers).chain(rows.iter().map(Vec::as_slice)) {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    }
    out
}
