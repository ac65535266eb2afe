//! The reclamation ledger: one JSON line per namespace reclaimed (deleted or put to
//! sleep), in `<lifecycle.tombstone_dir>/reclaimed.jsonl`. The daemon keeps its state on
//! namespaces, which are gone once deleted; the ledger is what the weekly reports read
//! to say what was reclaimed. It lives next to the tombstones, on the same persistent
//! volume.
//!
//! A line, fields in this order (stable names):
//!
//! ```text
//! {"at":"2026-11-23T08:30:00Z","namespace":"team-a","uid":"6f1c…","team":"payments",
//!  "cause":"expired","by":"delete","tombstone":"/var/lib/kube-reclaimer/tombstones/team-a-6f1c…-20261123T083000Z.yaml",
//!  "requested_cost_per_hour":0.0632,"currency":"USD"}
//! ```
//!
//! `requested_cost_per_hour` is priced as the cycle priced everything (OpenCost's prices
//! when `pricing.source: opencost` and they were read, else the configured ones).
//! `team` and `requested_cost_per_hour` are `null` when unknown; `tombstone` is `null`
//! for `by: sleep` (nothing is deleted). The file itself is
//! written and read by `io::ledger`; this module is its data and parsing.

use crate::core::assess::Assessment;
use crate::core::config::ReclaimBy;
use crate::core::plan::Reason;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The ledger's file name inside `lifecycle.tombstone_dir`.
pub const FILE_NAME: &str = "reclaimed.jsonl";

/// One reclamation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub namespace: String,
    pub uid: String,
    /// The team label's value at the time, if set.
    pub team: Option<String>,
    pub cause: Reason,
    pub by: ReclaimBy,
    /// The tombstone file written before the deletion (`None` when put to sleep).
    pub tombstone: Option<String>,
    /// What the namespace's pods requested, priced, when it was reclaimed.
    pub requested_cost_per_hour: Option<f64>,
    pub currency: String,
}

impl Entry {
    /// The entry for `a`'s namespace, reclaimed at `at` for `cause` by `by`, its objects
    /// saved in `tombstone` (none when put to sleep).
    pub fn reclaimed(
        a: &Assessment,
        cause: Reason,
        by: ReclaimBy,
        at: DateTime<Utc>,
        tombstone: Option<&Path>,
    ) -> Entry {
        Entry {
            at,
            namespace: a.name.clone(),
            uid: a.uid.clone(),
            team: a.owner.team.clone(),
            cause,
            by,
            tombstone: tombstone.map(|p| p.display().to_string()),
            requested_cost_per_hour: a.cost.requested_per_hour,
            currency: a.cost.currency.clone(),
        }
    }
}

/// What could be read from the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Ledger {
    /// The file read (or that would be read).
    pub path: String,
    /// Every entry that could be read, in file order.
    pub entries: Vec<Entry>,
    /// What could not be read: the whole file, or single lines. Empty when the ledger
    /// was read completely (or the directory exists and nothing was reclaimed yet).
    pub problems: Vec<String>,
    /// False when the file itself could not be read: then nothing is known.
    pub readable: bool,
}

impl Ledger {
    /// A ledger read completely, with these entries (for tests and tools).
    pub fn of(path: &str, entries: Vec<Entry>) -> Ledger {
        Ledger {
            path: path.to_string(),
            entries,
            problems: Vec::new(),
            readable: true,
        }
    }

    /// A ledger that could not be read at all.
    pub fn unreadable(path: &str, problem: String) -> Ledger {
        Ledger {
            path: path.to_string(),
            entries: Vec::new(),
            problems: vec![problem],
            readable: false,
        }
    }
}

/// Parses the ledger's bytes; `shown` names the file in problems.
pub fn parse(shown: &str, bytes: &[u8]) -> Ledger {
    let mut ledger = Ledger::of(shown, Vec::new());
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry = std::str::from_utf8(line)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Entry>(text).map_err(|e| e.to_string()));
        match entry {
            Ok(entry) => ledger.entries.push(entry),
            Err(e) => ledger
                .problems
                .push(format!("{shown} line {}: not a ledger entry ({e})", i + 1)),
        }
    }
    ledger
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::fixtures::utc;

    /// An entry of team payments for `namespace` at `at`.
    pub(crate) fn entry(namespace: &str, at: &str) -> Entry {
        Entry {
            at: utc(at),
            namespace: namespace.into(),
            uid: format!("uid-{namespace}"),
            team: Some("payments".into()),
            cause: Reason::Expired,
            by: ReclaimBy::Delete,
            tombstone: Some(format!("/t/{namespace}.yaml")),
            requested_cost_per_hour: Some(0.0632),
            currency: "USD".into(),
        }
    }

    #[test]
    fn bad_lines_are_named_and_the_good_ones_kept() {
        let good = serde_json::to_string(&entry("a", "2026-11-20T10:00:00Z")).unwrap();
        let truncated = &good[..good.len() / 2];
        let text = format!("{good}\n\n{truncated}\n{{\"at\":\"yesterday\"}}\n{good}");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"\n\xff\xfe\n");
        let ledger = parse("ledger", &bytes);
        assert_eq!(ledger.entries.len(), 2);
        assert!(ledger.readable);
        let lines: Vec<&str> = ledger
            .problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            lines,
            ["ledger line 3", "ledger line 4", "ledger line 6"],
            "{:?}",
            ledger.problems
        );
    }
}
