//! The view a report template sees: the page of a team's report or of the FinOps
//! roll-up, with its summary figures, warnings and the method, built from the parts in
//! `sections` and the plain-text tables in `tables`.

use super::fmt::Fmt;
use super::sections::{
    advice, group_view, reclaimed_view, row_view, upcoming_views, Advice, GroupView, ReclaimedView,
    RowView, UpcomingView,
};
use super::tables::{
    groups_table, namespaces_table, reclaimed_table, rightsizing_table, upcoming_table,
};
use crate::core::config::{Config, MemoryStatistic};
use crate::core::format::{
    capitalised, cpu_quantity, memory_quantity, money_or, plural, Per, Unknown, UNKNOWN,
};
use crate::core::model::Sum;
use crate::core::report::{
    Group, ReclaimedList, Reports, Rollup, Row, TeamReport, Totals, FINOPS_RECIPIENTS_KEY,
};
use serde::Serialize;

/// Everything a report template sees.
#[derive(Serialize)]
pub(super) struct View {
    /// `team`, `unassigned` or `finops`.
    pub(super) kind: &'static str,
    /// `team payments`, `namespaces without a known team`, `FinOps roll-up`.
    pub(super) title: String,
    /// The title capitalised, for headings.
    pub(super) heading: String,
    pub(super) subject: String,
    /// The team's name, `unassigned`, or `all teams`.
    pub(super) team: String,
    pub(super) at: String,
    /// `[at − 7d, at)` and `[at, at + 7d)`, in words.
    pub(super) past_week: String,
    pub(super) next_week: String,
    pub(super) time_zone: String,
    pub(super) currency: String,
    pub(super) recipients: Vec<String>,
    /// The recipients, comma-separated, or why there are none.
    pub(super) to: String,
    pub(super) prices: String,
    /// Data that is missing, and what that means for the figures.
    pub(super) warnings: Vec<String>,
    pub(super) totals: TotalsView,
    /// The summary figures.
    pub(super) cards: Vec<Card>,
    pub(super) namespaces: Vec<RowView>,
    pub(super) rightsizing: Vec<Advice>,
    pub(super) upcoming: Vec<UpcomingView>,
    pub(super) reclaimed: ReclaimedView,
    /// The roll-up's teams, ranked by waste (empty in team reports).
    pub(super) groups: Vec<GroupView>,
    /// The roll-up's namespaces with the highest waste (empty in team reports).
    pub(super) top: Vec<RowView>,
    /// Configured teams without namespaces (roll-up only).
    pub(super) empty_teams: Vec<String>,
    /// Aligned plain-text tables of the sections above.
    pub(super) tables: Tables,
    pub(super) csv_name: String,
    /// How the figures are computed, one sentence each.
    pub(super) method: Vec<String>,
}

#[derive(Serialize)]
pub(super) struct TotalsView {
    pub(super) namespaces: usize,
    pub(super) requested_per_hour: String,
    pub(super) requested_per_month: String,
    pub(super) used_per_hour: String,
    pub(super) waste_per_hour: String,
    pub(super) waste_per_month: String,
    pub(super) idle_or_pending_per_hour: String,
    pub(super) idle_or_pending: usize,
    /// `idleness unknown for 2`, or empty.
    pub(super) idle_unknown: String,
    pub(super) flagged: usize,
}

/// One summary figure, as the HTML cards show it.
#[derive(Serialize)]
pub(super) struct Card {
    pub(super) label: &'static str,
    /// `0.0766 USD/h`, or `unknown`.
    pub(super) value: String,
    /// The value is a lower bound: some namespaces' values are unknown.
    pub(super) at_least: bool,
    /// A second line: per month, how many are unknown, counts.
    pub(super) note: String,
    /// `waste` for the highlighted card, else `plain`.
    pub(super) tone: &'static str,
}

fn cards(t: &Totals, f: &Fmt<'_>) -> Vec<Card> {
    let value = |s: &Sum| money_or(s.at_least(), Per::Hour, &f.unit(Per::Hour), Unknown::Word);
    let at_least = |s: &Sum| s.exact().is_none() && s.at_least().is_some();
    let missing = |s: &Sum| match s.unknown {
        0 => None,
        n => Some(format!("{n} of {} unknown", s.known + n)),
    };
    let note =
        |parts: Vec<Option<String>>| parts.into_iter().flatten().collect::<Vec<_>>().join(" · ");
    vec![
        Card {
            label: "Requested",
            value: value(&t.requested_per_hour),
            at_least: at_least(&t.requested_per_hour),
            note: note(vec![
                Some(f.short(&t.requested_per_month, Per::Month)),
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
                Some(f.short(&t.waste_per_month, Per::Month)),
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

#[derive(Serialize, Default)]
pub(super) struct Tables {
    pub(super) namespaces: String,
    pub(super) rightsizing: String,
    pub(super) upcoming: String,
    pub(super) reclaimed: String,
    pub(super) groups: String,
    pub(super) top: String,
}

fn totals_view(t: &Totals, f: &Fmt<'_>) -> TotalsView {
    TotalsView {
        namespaces: t.namespaces,
        requested_per_hour: f.sum(&t.requested_per_hour, Per::Hour),
        requested_per_month: f.short(&t.requested_per_month, Per::Month),
        used_per_hour: f.sum(&t.used_per_hour, Per::Hour),
        waste_per_hour: f.sum(&t.waste_per_hour, Per::Hour),
        waste_per_month: f.short(&t.waste_per_month, Per::Month),
        idle_or_pending_per_hour: f.sum(&t.idle_or_pending_per_hour, Per::Hour),
        idle_or_pending: t.idle_or_pending,
        idle_unknown: match t.idle_unknown {
            0 => String::new(),
            n => format!("idleness unknown for {n}"),
        },
        flagged: t.flagged,
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

/// The recipients, comma-separated, or who would be (`nobody (KEY is empty)`).
fn to(recipients: &[String], key: &str) -> String {
    if recipients.is_empty() {
        format!("nobody ({key} is empty)")
    } else {
        recipients.join(", ")
    }
}

/// `Weekly cost report for team payments: 0.0766 USD/h requested, at least 0.0401 USD/h
/// waste`. A sum with nothing known reads `unknown USD/h` here, the unit kept.
fn subject(title: &str, totals: &Totals, f: &Fmt<'_>, rollup: bool) -> String {
    let what = |s: &Sum| match s.at_least() {
        Some(_) => f.short(s, Per::Hour),
        None => format!("{UNKNOWN} {}", f.unit(Per::Hour)),
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

/// What every report of a run shows alike.
pub(super) struct Common {
    at: String,
    past_week: String,
    next_week: String,
    time_zone: String,
    currency: String,
    prices: String,
    method: Vec<String>,
}

impl Common {
    pub(super) fn new(reports: &Reports, config: &Config, f: &Fmt<'_>) -> Common {
        let week = crate::core::report::week();
        Common {
            at: f.time(reports.at),
            past_week: format!("{} to {}", f.time(reports.at - week), f.time(reports.at)),
            next_week: format!("{} to {}", f.time(reports.at), f.time(reports.at + week)),
            time_zone: config.time_zone.0.name().to_string(),
            currency: reports.prices.currency.clone(),
            prices: prices_text(reports),
            method: method(config),
        }
    }
}

/// The view of a team's report, or of the unassigned namespaces'.
pub(super) fn team_view(
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
        to: to(&t.recipients, &t.group.recipients_key()),
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

/// The view of the FinOps roll-up.
pub(super) fn finops_view(
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
        .map(|(i, g)| group_view(i + 1, g, f))
        .collect();
    let top: Vec<RowView> = r.top.iter().map(|x| row_view(x, f)).collect();
    let upcoming = upcoming_views(&r.upcoming, &rows, f, config);
    let reclaimed = reclaimed_view(&r.reclaimed, f);
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
        to: to(&r.recipients, FINOPS_RECIPIENTS_KEY),
        prices: c.prices.clone(),
        warnings: warnings(reports, &rows, &r.reclaimed),
        totals: totals_view(&r.totals, f),
        cards: cards(&r.totals, f),
        tables: Tables {
            namespaces: String::new(),
            rightsizing: String::new(),
            upcoming: upcoming_table(&upcoming),
            reclaimed: reclaimed_table(&reclaimed, &c.currency),
            groups: groups_table(&groups),
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
