//! Which file each report of a run is written to: `team-<name>` (letters, digits, `.`,
//! `_` and `-` only), `unassigned` and `finops`, unique without regard to case and never
//! `index` (the summary the `report` command writes next to them).

use super::{Group, Reports};
use std::collections::BTreeSet;

/// The roll-up's file name.
pub const FINOPS: &str = "finops";

/// The file names of `reports.teams`, in their order, without extension; the roll-up's
/// is [`FINOPS`].
pub fn file_names(reports: &Reports) -> Vec<String> {
    let mut taken = BTreeSet::from([FINOPS.to_string(), "index".to_string()]);
    reports
        .teams
        .iter()
        .map(|t| match &t.group {
            Group::Team(team) => unique(format!("team-{}", safe(team)), &mut taken),
            Group::Unassigned => unique("unassigned".into(), &mut taken),
        })
        .collect()
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
