//! Weekly cost reports: pure, no I/O. From one [`Evaluation`], the reclamation ledger and
//! the config, [`build`] makes one report per team and a roll-up for FinOps, with the
//! CSV ([`csv`]), the file names ([`files`]) and the text-table layout ([`table`]);
//! `render::report` turns each into a subject, a plain-text and an HTML body.
//!
//! - Every team in `owners.teams` gets the namespaces whose team label names it; a team
//!   with no namespace gets no report. Namespaces with no team label, or a team not in
//!   `owners.teams`, go into one "unassigned" report for `owners.fallback_recipients`.
//!   Protected namespaces are reported like any other: they cost money too.
//! - The FinOps roll-up (`reports.finops_recipients`) ranks the teams by waste, lists the
//!   namespaces that waste most, and totals everything.
//! - "Upcoming" is what happens in `[at, at + 7d)`: expiries, and reclamations of marked
//!   namespaces (and of those marked now). "Reclaimed last week" is the ledger's entries in
//!   `[at − 7d, at)`.
//! - A value that is not known is never a number: sums say how many values they miss, and
//!   every view writes `unknown`.

pub mod csv;
pub mod files;
pub mod sample;
pub mod table;

pub use csv::{csv, CSV_COLUMNS};

use crate::core::assess::{
    Assessment, Cost, Expiry, ExpirySource, Prices, QuotaLine, Sizing, Verdict,
};
use crate::core::collected::Sources;
use crate::core::config::Config;
use crate::core::evaluate::{reclaim_after, Evaluation, Pending};
use crate::core::ledger::{Entry, Ledger};
use crate::core::model::Sum;
use crate::core::plan::{Lifecycle, NamespacePlan, Reason, State};
use chrono::{DateTime, TimeDelta, Utc};

/// How far the report looks back (reclaimed) and ahead (upcoming).
pub fn week() -> TimeDelta {
    TimeDelta::days(7)
}

/// How many namespaces the roll-up lists by waste.
pub const TOP_NAMESPACES: usize = 10;

/// Which report a namespace is in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// A team of `owners.teams`.
    Team(String),
    /// No team label, or a team that `owners.teams` does not list.
    Unassigned,
}

impl Group {
    /// `payments`, or `unassigned`.
    pub fn name(&self) -> &str {
        match self {
            Group::Team(t) => t,
            Group::Unassigned => "unassigned",
        }
    }

    /// `team payments`, or `namespaces without a known team`.
    pub fn title(&self) -> String {
        match self {
            Group::Team(t) => format!("team {t}"),
            Group::Unassigned => "namespaces without a known team".into(),
        }
    }

    /// Where the report's recipients are configured: `owners.teams.payments`, ...
    pub fn recipients_key(&self) -> String {
        match self {
            Group::Team(team) => format!("owners.teams.{team}"),
            Group::Unassigned => "owners.fallback_recipients".into(),
        }
    }
}

/// Where the roll-up's recipients are configured.
pub const FINOPS_RECIPIENTS_KEY: &str = "reports.finops_recipients";

/// Totals over a set of namespaces; costs per hour unless named per month.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub namespaces: usize,
    pub requested_per_hour: Sum,
    pub used_per_hour: Sum,
    pub waste_per_hour: Sum,
    pub requested_per_month: Sum,
    pub waste_per_month: Sum,
    /// Requested cost of the namespaces that are idle or pending reclamation.
    pub idle_or_pending_per_hour: Sum,
    pub idle_or_pending: usize,
    /// Namespaces neither known idle nor pending reclamation whose idleness is unknown:
    /// the idle cost may be higher by theirs.
    pub idle_unknown: usize,
    /// Namespaces with CPU or memory requests flagged for rightsizing.
    pub flagged: usize,
}

impl Totals {
    fn of<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Totals {
        let mut t = Totals::default();
        for r in rows {
            t.namespaces += 1;
            t.requested_per_hour.add(r.cost.requested_per_hour);
            t.used_per_hour.add(r.cost.used_per_hour);
            t.waste_per_hour.add(r.cost.waste_per_hour);
            t.requested_per_month.add(r.cost.requested_per_month);
            t.waste_per_month.add(r.cost.waste_per_month);
            if r.idle_or_pending() {
                t.idle_or_pending += 1;
                t.idle_or_pending_per_hour.add(r.cost.requested_per_hour);
            } else if r.idle == Verdict::Unknown {
                t.idle_unknown += 1;
            }
            if r.cpu.flagged || r.memory.flagged {
                t.flagged += 1;
            }
        }
        t
    }
}

/// One namespace as the reports show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub namespace: String,
    /// The team label's value.
    pub team: Option<String>,
    pub group: Group,
    pub state: State,
    /// Why it is protected (it is reported all the same).
    pub protected: Option<String>,
    pub idle: Verdict,
    pub idle_summary: String,
    pub pods: Option<u32>,
    pub cpu: Sizing,
    pub memory: Sizing,
    pub quotas: Vec<String>,
    pub quota_cpu: QuotaLine,
    pub quota_memory: QuotaLine,
    /// False when quotas could not be listed.
    pub quota_known: bool,
    pub cost: Cost,
    pub expires_at: Option<DateTime<Utc>>,
    pub expiry_source: Option<ExpirySource>,
    /// When it will be reclaimed, if it is marked (or marked by this evaluation) and the
    /// mark stands; at or before `at` when already due.
    pub reclaim_after: Option<DateTime<Utc>>,
    pub reclaim_cause: Option<Reason>,
}

impl Row {
    /// Idle by its verdict, or on its way to reclamation.
    pub fn idle_or_pending(&self) -> bool {
        self.idle == Verdict::Idle || self.reclaim_after.is_some()
    }

    fn new(a: &Assessment, p: &NamespacePlan, lifecycle: &Lifecycle, config: &Config) -> Row {
        let group = group_of(a.owner.team.as_deref(), config);
        let grace = config.lifecycle.grace_period;
        let pending = reclaim_after(p, lifecycle, grace, Pending::Planned);
        let (reclaim_after, reclaim_cause) = (pending.map(|(t, _)| t), pending.map(|(_, r)| r));
        Row {
            namespace: a.name.clone(),
            team: a.owner.team.clone(),
            group,
            state: p.state,
            protected: a.protected.clone(),
            idle: a.idle.verdict,
            idle_summary: a.idle.summary.clone(),
            pods: a.pods,
            cpu: a.rightsizing.cpu.clone(),
            memory: a.rightsizing.memory.clone(),
            quotas: a.quota.quotas.clone(),
            quota_cpu: a.quota.cpu.clone(),
            quota_memory: a.quota.memory.clone(),
            quota_known: a.quota.known,
            cost: a.cost.clone(),
            expires_at: a.expiry.at(),
            expiry_source: match &a.expiry {
                Expiry::None => None,
                Expiry::Never { source }
                | Expiry::At { source, .. }
                | Expiry::Malformed { source, .. } => Some(source.clone()),
            },
            reclaim_after,
            reclaim_cause,
        }
    }
}

/// What happens to a namespace in the coming week.
#[derive(Debug, Clone, PartialEq)]
pub struct Upcoming {
    pub namespace: String,
    pub group: Group,
    pub at: DateTime<Utc>,
    pub event: Event,
    pub expiry_source: Option<ExpirySource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Expires,
    /// Reclaimed (deleted, or put to sleep) for this reason, unless the owner acts.
    Reclaimed(Reason),
}

/// A reclamation of the past week, from the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Reclaimed {
    pub group: Group,
    pub entry: Entry,
}

/// The reclamations of the past week, and whether the ledger could say.
#[derive(Debug, Clone, PartialEq)]
pub struct ReclaimedList {
    pub entries: Vec<Reclaimed>,
    /// Requested cost per hour of these namespaces when they were reclaimed.
    pub requested_per_hour: Sum,
    /// False when the ledger could not be read: the list is unknown, not empty.
    pub known: bool,
    /// What could not be read (the file, or single lines: then the list may be short).
    pub problems: Vec<String>,
    /// The ledger file read.
    pub ledger: String,
}

/// One report: a team's, or the unassigned namespaces'.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamReport {
    pub group: Group,
    pub recipients: Vec<String>,
    /// By waste per hour, highest first; unknown waste last; then by name.
    pub rows: Vec<Row>,
    pub totals: Totals,
    /// By time.
    pub upcoming: Vec<Upcoming>,
    pub reclaimed: ReclaimedList,
}

/// One team's line in the roll-up.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTotals {
    pub group: Group,
    pub recipients: Vec<String>,
    pub totals: Totals,
}

/// The roll-up across all teams.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    pub recipients: Vec<String>,
    /// Ranked by waste per hour, highest first (unknown waste last).
    pub groups: Vec<GroupTotals>,
    /// The namespaces with the highest known waste (at most [`TOP_NAMESPACES`]).
    pub top: Vec<Row>,
    /// Every namespace, ranked by waste.
    pub rows: Vec<Row>,
    pub totals: Totals,
    pub upcoming: Vec<Upcoming>,
    pub reclaimed: ReclaimedList,
}

/// Everything one report run produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Reports {
    pub at: DateTime<Utc>,
    pub dry_run: bool,
    pub prices: Prices,
    pub sources: Sources,
    /// The ledger file the past week was read from.
    pub ledger_path: String,
    /// Teams with at least one namespace, in `owners.teams` order, then the unassigned
    /// namespaces if there are any.
    pub teams: Vec<TeamReport>,
    /// Teams of `owners.teams` with no namespace: they get no report (their
    /// reclamations of the past week are in the roll-up).
    pub empty_teams: Vec<String>,
    pub finops: Rollup,
}

/// Waste per hour, highest first, unknown last, then by name.
fn by_waste(a: &Row, b: &Row) -> std::cmp::Ordering {
    let key = |r: &Row| r.cost.waste_per_hour.unwrap_or(f64::NEG_INFINITY);
    key(b)
        .total_cmp(&key(a))
        .then_with(|| a.namespace.cmp(&b.namespace))
}

fn upcoming(rows: &[Row], at: DateTime<Utc>) -> Vec<Upcoming> {
    let within = |t: DateTime<Utc>| at <= t && t < at + week();
    let mut out = Vec::new();
    for r in rows {
        if let Some(t) = r.expires_at.filter(|t| within(*t)) {
            out.push(Upcoming {
                namespace: r.namespace.clone(),
                group: r.group.clone(),
                at: t,
                event: Event::Expires,
                expiry_source: r.expiry_source.clone(),
            });
        }
        if let (Some(t), Some(cause)) = (r.reclaim_after, r.reclaim_cause) {
            // Already due: reclaimed at the next cycle, shown as due now.
            if t < at + week() {
                out.push(Upcoming {
                    namespace: r.namespace.clone(),
                    group: r.group.clone(),
                    at: t.max(at),
                    event: Event::Reclaimed(cause),
                    expiry_source: r.expiry_source.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.namespace.cmp(&b.namespace)));
    out
}

fn group_of(team: Option<&str>, config: &Config) -> Group {
    match team {
        Some(t) if config.owners.teams.contains_key(t) => Group::Team(t.to_string()),
        _ => Group::Unassigned,
    }
}

fn reclaimed(
    ledger: &Ledger,
    at: DateTime<Utc>,
    config: &Config,
    keep: impl Fn(&Group) -> bool,
) -> ReclaimedList {
    let mut entries: Vec<Reclaimed> = ledger
        .entries
        .iter()
        .filter(|e| at - week() <= e.at && e.at < at)
        .map(|e| Reclaimed {
            group: group_of(e.team.as_deref(), config),
            entry: e.clone(),
        })
        .filter(|r| keep(&r.group))
        .collect();
    entries.sort_by(|a, b| {
        a.entry
            .at
            .cmp(&b.entry.at)
            .then_with(|| a.entry.namespace.cmp(&b.entry.namespace))
    });
    let mut requested_per_hour = Sum::default();
    for r in &entries {
        requested_per_hour.add(r.entry.requested_cost_per_hour);
    }
    ReclaimedList {
        entries,
        requested_per_hour,
        known: ledger.readable,
        problems: ledger.problems.clone(),
        ledger: ledger.path.clone(),
    }
}

fn addresses(emails: &[crate::core::config::Email]) -> Vec<String> {
    emails.iter().map(|e| e.to_string()).collect()
}

/// Builds every report of one run from an evaluation and the ledger as read.
pub fn build(e: &Evaluation, ledger: &Ledger, config: &Config) -> Reports {
    let mut rows: Vec<Row> = e
        .assessments
        .iter()
        .zip(&e.plan.namespaces)
        .zip(&e.lifecycles)
        .map(|((a, p), l)| Row::new(a, p, l, config))
        .collect();
    rows.sort_by(by_waste);
    let all_upcoming = upcoming(&rows, e.at);
    let (teams, empty_teams) = team_reports(&rows, &all_upcoming, ledger, e.at, config);
    let finops = Rollup {
        recipients: addresses(&config.reports.finops_recipients),
        groups: ranked_groups(&teams),
        top: rows
            .iter()
            .filter(|r| r.cost.waste_per_hour.is_some_and(|w| w > 0.0))
            .take(TOP_NAMESPACES)
            .cloned()
            .collect(),
        totals: Totals::of(&rows),
        upcoming: all_upcoming,
        reclaimed: reclaimed(ledger, e.at, config, |_| true),
        rows,
    };
    Reports {
        at: e.at,
        dry_run: e.plan.dry_run,
        prices: e.prices.clone(),
        sources: e.sources.clone(),
        ledger_path: ledger.path.clone(),
        teams,
        empty_teams,
        finops,
    }
}

/// The teams' reports (in `owners.teams` order, then the unassigned namespaces', if
/// any), and the teams without namespaces, which get none.
fn team_reports(
    rows: &[Row],
    all_upcoming: &[Upcoming],
    ledger: &Ledger,
    at: DateTime<Utc>,
    config: &Config,
) -> (Vec<TeamReport>, Vec<String>) {
    let report = |group: Group, recipients: Vec<String>| {
        let mine: Vec<Row> = rows.iter().filter(|r| r.group == group).cloned().collect();
        TeamReport {
            totals: Totals::of(&mine),
            upcoming: all_upcoming
                .iter()
                .filter(|u| u.group == group)
                .cloned()
                .collect(),
            reclaimed: reclaimed(ledger, at, config, |g| *g == group),
            rows: mine,
            group,
            recipients,
        }
    };
    let mut teams = Vec::new();
    let mut empty_teams = Vec::new();
    for (team, emails) in &config.owners.teams {
        let r = report(Group::Team(team.clone()), addresses(emails));
        if r.rows.is_empty() {
            empty_teams.push(team.clone());
        } else {
            teams.push(r);
        }
    }
    let unassigned = report(
        Group::Unassigned,
        addresses(&config.owners.fallback_recipients),
    );
    if !unassigned.rows.is_empty() {
        teams.push(unassigned);
    }
    (teams, empty_teams)
}

/// The teams' lines of the roll-up, ranked by waste per hour (unknown last), then by team.
fn ranked_groups(teams: &[TeamReport]) -> Vec<GroupTotals> {
    let mut groups: Vec<GroupTotals> = teams
        .iter()
        .map(|t| GroupTotals {
            group: t.group.clone(),
            recipients: t.recipients.clone(),
            totals: t.totals.clone(),
        })
        .collect();
    groups.sort_by(|a, b| {
        let key = |g: &GroupTotals| g.totals.waste_per_hour.at_least().unwrap_or(-1.0);
        key(b)
            .total_cmp(&key(a))
            .then_with(|| a.group.cmp(&b.group))
    });
    groups
}

#[cfg(test)]
pub(crate) mod tests;
