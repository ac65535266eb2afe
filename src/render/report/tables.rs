//! The plain-text tables of a report's view, one per section: which columns each has and
//! which are right-aligned; [`crate::core::report::table`] lays them out.

use super::sections::{Advice, GroupView, ReclaimedView, RowView, UpcomingView};
use crate::core::report::table::aligned;

pub(super) fn namespaces_table(rows: &[RowView], currency: &str, with_team: bool) -> String {
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
    aligned(&headers, &right, &data)
}

pub(super) fn upcoming_table(rows: &[UpcomingView]) -> String {
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
    aligned(&["NAMESPACE", "WHAT", "WHEN", "IN"], &[], &data)
}

pub(super) fn reclaimed_table(view: &ReclaimedView, currency: &str) -> String {
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
    aligned(
        &["NAMESPACE", "TEAM", "WHEN", "HOW", cost.as_str()],
        &[4],
        &data,
    )
}

pub(super) fn rightsizing_table(advice: &[Advice]) -> String {
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
    aligned(
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

/// The roll-up's teams, ranked.
pub(super) fn groups_table(groups: &[GroupView]) -> String {
    let data: Vec<Vec<String>> = groups
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
        .collect();
    aligned(
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
        &data,
    )
}
