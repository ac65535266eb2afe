//! `report --out DIR`: the weekly cost reports as files, sent to nobody.

use super::SourceArgs;
use crate::app::pipeline::{evaluate_at, Progress};
use crate::core::config::Config;
use crate::core::format::{self, Partial, Per};
use crate::core::model::Sum;
use crate::core::report;
use crate::io::ledger;
use crate::render::report::ReportMail;
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::fmt::Write;
use std::path::Path;

/// Refuses a folder that holds anything: reports of two runs are never mixed, and no
/// file of someone else's is overwritten.
fn check_out(out: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                anyhow::bail!(
                    "{} is not empty; give a new or empty folder (reports of different runs are never mixed, and nothing is overwritten)",
                    out.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            Err(e).with_context(|| format!("cannot use {} as the output folder", out.display()))
        }
    }
}

fn money(s: &Sum, currency: &str) -> String {
    format::sum(s, Per::Hour, currency, Partial::AtLeast)
}

/// Collects and evaluates as `plan` does, reads the ledger, renders every report and
/// writes `NAME.txt`, `NAME.html` and `NAME.csv` per report, plus `index.txt` (what is
/// printed). Returns the summary for standard output.
pub async fn write(
    config: Config,
    out: &Path,
    at: Option<DateTime<Utc>>,
    sources: SourceArgs,
) -> anyhow::Result<String> {
    check_out(out)?;
    let templates = crate::render::report::Templates::from_config(&config)
        .context("cannot load the report templates")?;
    let ctx = super::context(config, sources).await?;
    let config = &ctx.config;
    let at = at.unwrap_or_else(Utc::now);
    let evaluation = evaluate_at(&ctx, at, Progress::Terminal).await?;
    let ledger = ledger::read(Path::new(&config.lifecycle.tombstone_dir));
    for problem in &ledger.problems {
        eprintln!("warning: reclamation ledger: {problem}");
    }
    let reports = report::build(&evaluation, &ledger, config);
    let mails = crate::render::report::render(&reports, &templates, config)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = Vec::new();
    for m in &mails {
        for (extension, body) in [("txt", &m.text), ("html", &m.html), ("csv", &m.csv)] {
            let path = out.join(format!("{}.{extension}", m.name));
            std::fs::write(&path, body)
                .with_context(|| format!("cannot write {}", path.display()))?;
            written.push(path);
        }
    }
    let summary = summary(&reports, &mails, out, config);
    let index = out.join("index.txt");
    std::fs::write(&index, &summary)
        .with_context(|| format!("cannot write {}", index.display()))?;
    eprintln!("wrote {} files to {}", written.len() + 1, out.display());
    Ok(summary)
}

fn summary(reports: &report::Reports, mails: &[ReportMail], out: &Path, config: &Config) -> String {
    let currency = &reports.prices.currency;
    let zone = config.time_zone.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Weekly cost reports as of {} ({}), written to {}:",
        crate::core::model::rfc3339(reports.at),
        reports
            .at
            .with_timezone(&zone)
            .format("%a %Y-%m-%d %H:%M %Z"),
        out.display()
    );
    for m in mails {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  {}: {} namespace{}, {} requested, {} waste",
            m.title,
            m.namespaces,
            if m.namespaces == 1 { "" } else { "s" },
            money(&m.requested_per_hour, currency),
            money(&m.waste_per_hour, currency)
        );
        let to = if m.recipients.is_empty() {
            format!("nobody: {} is empty", m.recipients_key)
        } else {
            m.recipients.join(", ")
        };
        let _ = writeln!(s, "    to:      {to}");
        let _ = writeln!(s, "    subject: {}", m.subject);
        for extension in ["txt", "html", "csv"] {
            let _ = writeln!(
                s,
                "    {}",
                out.join(format!("{}.{extension}", m.name)).display()
            );
        }
    }
    for team in &reports.empty_teams {
        let _ = writeln!(s);
        let _ = writeln!(s, "  team {team}: no namespaces, so no report");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Nothing was sent: `report` only writes files. The daemon (`run` in mode enforce) e-mails these on schedules.report ({}, {}).",
        config.schedules.report.expression,
        zone.name()
    );
    s
}
