//! The reclamation ledger's file, `<lifecycle.tombstone_dir>/reclaimed.jsonl`: appending
//! an entry (one `write` on a file opened with `O_APPEND`, so concurrent writers never
//! interleave within a line, then `fsync`) and reading the file back. The entries and
//! their parsing are [`crate::core::ledger`]'s.

use crate::core::assess::Assessment;
use crate::core::config::{Config, ReclaimBy};
use crate::core::ledger::{parse, Entry, Ledger, FILE_NAME};
use crate::core::plan::Reason;
use chrono::{DateTime, Utc};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The ledger's path for a tombstone directory.
pub fn path(tombstone_dir: &Path) -> PathBuf {
    tombstone_dir.join(FILE_NAME)
}

/// Appends `entry` as one line, creating the directory and file when needed.
pub fn append(tombstone_dir: &Path, entry: &Entry) -> std::io::Result<()> {
    let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
    line.push('\n');
    std::fs::create_dir_all(tombstone_dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path(tombstone_dir))?;
    // One write per line: with O_APPEND the line lands whole at the end of the file.
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// Records that `a`'s namespace was reclaimed at `at`, in the ledger of
/// `lifecycle.tombstone_dir`. The reclamation is done by then: a ledger that cannot be
/// written is logged, and the note returned for the action's outcome.
pub fn record(
    config: &Config,
    a: &Assessment,
    cause: Reason,
    by: ReclaimBy,
    at: DateTime<Utc>,
    tombstone: Option<&Path>,
) -> Option<String> {
    let entry = Entry::reclaimed(a, cause, by, at, tombstone);
    let dir = Path::new(&config.lifecycle.tombstone_dir);
    let error = append(dir, &entry).err()?;
    let note = format!(
        "not recorded in the ledger {} ({error}): the weekly report will not list it",
        path(dir).display()
    );
    tracing::warn!(namespace = %a.name, %note, "ledger");
    Some(note)
}

/// Reads the ledger of `tombstone_dir`.
///
/// - The directory exists but holds no ledger file: nothing was reclaimed yet (complete,
///   empty).
/// - The directory does not exist: unknown. Reclaiming creates it, so either nothing was
///   ever reclaimed or the persistent volume is not mounted where `lifecycle.tombstone_dir`
///   says; the report cannot tell which and says so.
/// - The file cannot be read: unknown, with the error.
/// - A line that is not an entry is a problem naming the line; the other lines count.
pub fn read(tombstone_dir: &Path) -> Ledger {
    let file = path(tombstone_dir);
    let shown = file.display().to_string();
    match std::fs::metadata(tombstone_dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Ledger::unreadable(
                &shown,
                format!(
                    "{} (lifecycle.tombstone_dir) is not a directory",
                    tombstone_dir.display()
                ),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ledger::unreadable(
                &shown,
                format!(
                    "the directory {} (lifecycle.tombstone_dir) does not exist: either nothing was ever reclaimed, or the persistent volume is not mounted there",
                    tombstone_dir.display()
                ),
            )
        }
        Err(e) => {
            return Ledger::unreadable(
                &shown,
                format!("cannot read {}: {e}", tombstone_dir.display()),
            )
        }
    }
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ledger::of(&shown, vec![]),
        Err(e) => return Ledger::unreadable(&shown, format!("cannot read {shown}: {e}")),
    };
    parse(&shown, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ledger::tests::entry;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kube-reclaimer-ledger-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn entries_appended_are_read_back_in_order() {
        let dir = temp_dir("append").join("nested");
        let a = entry("a", "2026-11-20T10:00:00Z");
        let mut b = entry("b", "2026-11-21T10:00:00Z");
        b.by = ReclaimBy::Sleep;
        b.tombstone = None;
        b.team = None;
        b.requested_cost_per_hour = None;
        append(&dir, &a).unwrap();
        append(&dir, &b).unwrap();
        let ledger = read(&dir);
        assert_eq!(ledger.entries, vec![a, b]);
        assert!(ledger.problems.is_empty() && ledger.readable);
        let text = std::fs::read_to_string(path(&dir)).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.starts_with(r#"{"at":"2026-11-20T10:00:00Z","namespace":"a","uid":"uid-a","team":"payments","cause":"expired","by":"delete","#),
            "{text}"
        );
        assert!(text.contains(r#""by":"sleep","tombstone":null"#), "{text}");
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn an_existing_directory_without_a_ledger_means_nothing_reclaimed_yet() {
        let dir = temp_dir("empty");
        std::fs::create_dir_all(&dir).unwrap();
        let ledger = read(&dir);
        assert!(ledger.readable && ledger.problems.is_empty() && ledger.entries.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_directory_is_unknown_never_nothing() {
        let ledger = read(&temp_dir("missing"));
        assert!(!ledger.readable);
        assert!(
            ledger.problems[0].contains("does not exist")
                && ledger.problems[0].contains("persistent volume"),
            "{:?}",
            ledger.problems
        );
    }

    #[test]
    fn a_ledger_that_is_not_a_file_is_unreadable() {
        let dir = temp_dir("not-a-file");
        std::fs::create_dir_all(path(&dir)).unwrap();
        let ledger = read(&dir);
        assert!(!ledger.readable);
        assert!(ledger.problems[0].starts_with("cannot read"), "{ledger:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
