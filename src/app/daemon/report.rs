//! The weekly cost reports on `schedules.report`: a fresh collect and evaluation, the
//! reclamation ledger of the past week, one mail per team with namespaces, one to the
//! fallback recipients for the namespaces of no known team, and the FinOps roll-up.
//!
//! Only the Lease holder in enforce mode sends, checking right before each mail that it
//! still holds the Lease by its deadline and that its clock is trusted; in dry-run each
//! mail is logged instead.
//! Each mail goes out on its own: one that fails never stops the others, and every
//! outcome is logged. A mail the server did not accept is tried again after each cycle
//! for a day ([`RETRY_FOR`]), so delivery is **at least once** for as long as the daemon
//! runs (a mail that was accepted but reported as failed, say by a timeout after the
//! data, goes out twice). A daemon stopped during a report run does not resend after a
//! restart: `kube-reclaimer report --out DIR` writes the same reports.

use crate::app::act::Deliver;
use crate::app::collect::CollectError;
use crate::app::context::Context;
use crate::app::pipeline::{evaluate_at, lease_gate, Gate, Progress};
use crate::core::notice::Rendered;
use crate::core::report::{self, Reports};
use crate::io::lease::Elector;
use crate::io::ledger;
use crate::io::smtp::Attachment;
use crate::render::report::{ReportMail, Templates};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::path::Path;

/// How long a mail that was not accepted is tried again.
pub const RETRY_FOR: TimeDelta = TimeDelta::days(1);

/// What happened to one report mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `team-payments`, `unassigned`, `finops`.
    pub report: String,
    pub recipients: Vec<String>,
    pub outcome: Status,
    pub detail: String,
}

/// What became of one report mail, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Sent,
    Failed,
    /// Nobody to send to, not the Lease holder by its deadline, or a clock that differs
    /// from the apiserver's.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// The report's CSV as an attachment.
pub fn attachment(m: &ReportMail) -> Attachment {
    Attachment {
        filename: m.csv_name(),
        content_type: "text/csv; charset=utf-8".into(),
        body: m.csv.clone().into_bytes(),
    }
}

fn log(o: &Outcome) {
    let recipients = o.recipients.join(", ");
    let outcome = o.outcome.as_str();
    if o.outcome == Status::Failed {
        tracing::warn!(report = %o.report, %recipients, outcome, detail = %o.detail, "weekly report");
    } else {
        tracing::info!(report = %o.report, %recipients, outcome, detail = %o.detail, "weekly report");
    }
}

/// Sends each mail while `may_send` holds (the Lease), one after the other; a failure
/// never stops the others. Logs and returns every outcome, in order.
pub async fn send(
    mails: &[ReportMail],
    deliver: &impl Deliver,
    may_send: &(dyn Fn() -> bool + Sync),
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for m in mails {
        let outcome = |outcome, detail: String| Outcome {
            report: m.name.clone(),
            recipients: m.recipients.clone(),
            outcome,
            detail,
        };
        let o = if m.recipients.is_empty() {
            outcome(
                Status::Skipped,
                format!("nobody to send it to: {} is empty", m.recipients_key),
            )
        } else if !may_send() {
            outcome(
                Status::Skipped,
                "lost the leader Lease, or the clock is not trusted".into(),
            )
        } else {
            let rendered = Rendered {
                subject: m.subject.clone(),
                text: m.text.clone(),
                html: m.html.clone(),
            };
            match deliver
                .deliver_report(&m.recipients, &rendered, &[attachment(m)])
                .await
            {
                Ok(()) => outcome(Status::Sent, m.subject.clone()),
                Err(e) => outcome(Status::Failed, e.to_string()),
            }
        };
        log(&o);
        outcomes.push(o);
    }
    outcomes
}

/// Report mails not accepted yet, tried again after each cycle.
#[derive(Debug, Default)]
pub struct Reporter {
    /// Each mail with the time of the report run it belongs to.
    pending: Vec<(DateTime<Utc>, ReportMail)>,
}

impl Reporter {
    /// Mails waiting to be tried again.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// One report run, at a report time: collects, evaluates, reads the ledger, builds
    /// every report; the Lease holder in enforce mode renders and sends them one at a
    /// time, dry-run logs them. A report that cannot be rendered is not sent; the
    /// others are.
    pub async fn run(
        &mut self,
        ctx: &Context,
        deliver: &impl Deliver,
        elector: &Elector,
        may_send: &(dyn Fn() -> bool + Sync),
    ) {
        let started = std::time::Instant::now();
        let (reports, templates) = match prepare(ctx).await {
            Ok(prepared) => prepared,
            Err(e) => {
                tracing::error!(error = %e, "weekly reports not made; next at the next report time");
                return;
            }
        };
        let now = Utc::now();
        let mails = crate::render::report::mails(&reports, &templates, &ctx.config);
        // The clock is checked right before each mail (`may_send`).
        match lease_gate(ctx.config.mode, true, elector, "not sending weekly reports").await {
            Gate::DryRun => {
                for m in mails.filter_map(rendered) {
                    tracing::info!(report = %m.name, recipients = %m.recipients.join(", "), subject = %m.subject, "dry-run: would send weekly report");
                }
                return;
            }
            Gate::Leader => {}
            Gate::Untrusted | Gate::Unreachable | Gate::Follower => {
                tracing::info!("another replica holds the Lease: it sends the weekly reports");
                return;
            }
        }
        let (mut sent, mut failed) = (0, 0);
        for m in mails {
            let Some(m) = rendered(m) else {
                failed += 1;
                continue;
            };
            let outcomes = send(std::slice::from_ref(&m), deliver, may_send).await;
            sent += outcomes
                .iter()
                .filter(|o| o.outcome == Status::Sent)
                .count();
            failed += outcomes
                .iter()
                .filter(|o| o.outcome == Status::Failed)
                .count();
            self.keep_failed([m], &outcomes, now);
        }
        tracing::info!(
            sent,
            failed,
            seconds = started.elapsed().as_secs_f64(),
            "weekly reports done"
        );
    }

    /// Tries the mails not accepted yet again, those of report runs less than
    /// [`RETRY_FOR`] before `now`; the rest are dropped, saying so.
    pub async fn retry(
        &mut self,
        deliver: &impl Deliver,
        may_send: &(dyn Fn() -> bool + Sync),
        now: DateTime<Utc>,
    ) {
        if self.pending.is_empty() {
            return;
        }
        let (current, expired): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(at, _)| now - *at < RETRY_FOR);
        for (_, m) in &expired {
            tracing::warn!(report = %m.name, "weekly report not sent within a day; given up (kube-reclaimer report --out writes it)");
        }
        if !may_send() {
            self.pending = current;
            return;
        }
        for (at, m) in current {
            let outcomes = send(std::slice::from_ref(&m), deliver, may_send).await;
            if outcomes.iter().any(|o| o.outcome == Status::Failed) {
                self.pending.push((at, m));
            }
        }
    }

    fn keep_failed(
        &mut self,
        mails: impl IntoIterator<Item = ReportMail>,
        outcomes: &[Outcome],
        at: DateTime<Utc>,
    ) {
        for (m, o) in mails.into_iter().zip(outcomes) {
            if o.outcome == Status::Failed {
                self.pending.push((at, m));
            }
        }
    }
}

/// A report rendered, or `None` when it cannot be (said in the log).
fn rendered(
    mail: Result<ReportMail, crate::render::templates::TemplatesError>,
) -> Option<ReportMail> {
    mail.map_err(|e| tracing::error!(error = %e, "weekly report cannot be rendered; not sent"))
        .ok()
}

/// Loads the report templates, collects and evaluates now, reads the ledger, builds the
/// reports (rendered one at a time as they are sent).
async fn prepare(ctx: &Context) -> Result<(Reports, Templates), ReportRunError> {
    let config = &ctx.config;
    // Read again at every run: an operator's template edited since the start applies to
    // the next reports (`run` refused a broken one when it started).
    let templates = Templates::from_config(config)?;
    let unknown = "the reports show its values as unknown";
    let evaluation = evaluate_at(ctx, Utc::now(), Progress::Log { unknown }).await?;
    let ledger = ledger::read(Path::new(&config.lifecycle.tombstone_dir));
    for problem in &ledger.problems {
        tracing::warn!(%problem, "reclamation ledger; the reports say what could not be read");
    }
    let reports = report::build(&evaluation, &ledger, config);
    for team in &reports.empty_teams {
        tracing::info!(team = %team, "team has no namespaces: no weekly report");
    }
    Ok((reports, templates))
}

#[derive(Debug, thiserror::Error)]
pub enum ReportRunError {
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error(transparent)]
    Templates(#[from] crate::render::templates::TemplatesError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::act::{DeliverError, Delivery};
    use std::sync::Mutex;

    /// Recipients, subject, and each attachment's name and type.
    type Sent = (Vec<String>, String, Vec<String>);

    /// Accepts every mail but those to `refuse`, `fails` times each; records what it sent.
    #[derive(Default)]
    struct Outbox {
        refuse: String,
        fails: Mutex<u32>,
        sent: Mutex<Vec<Sent>>,
    }

    impl Deliver for Outbox {
        async fn deliver(&self, _: Delivery<'_>) -> Result<(), DeliverError> {
            Err(DeliverError::Other("no notices here".into()))
        }

        async fn deliver_report(
            &self,
            recipients: &[String],
            mail: &Rendered,
            attachments: &[Attachment],
        ) -> Result<(), DeliverError> {
            if recipients.contains(&self.refuse) {
                let mut fails = self.fails.lock().unwrap();
                if *fails > 0 {
                    *fails -= 1;
                    return Err(DeliverError::Other(format!("550 {} refused", self.refuse)));
                }
            }
            let files = attachments
                .iter()
                .map(|a| format!("{} {}", a.filename, a.content_type))
                .collect();
            self.sent
                .lock()
                .unwrap()
                .push((recipients.to_vec(), mail.subject.clone(), files));
            Ok(())
        }
    }

    fn mail(name: &str, recipients: &[&str]) -> ReportMail {
        ReportMail {
            name: name.into(),
            title: name.into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            recipients_key: format!("key.{name}"),
            subject: format!("Weekly cost report for {name}"),
            text: "text".into(),
            html: "<html></html>".into(),
            csv: "namespace\r\n".into(),
            namespaces: 1,
            requested_per_hour: Default::default(),
            waste_per_hour: Default::default(),
        }
    }

    fn outcomes(o: &[Outcome]) -> Vec<(&str, &str)> {
        o.iter()
            .map(|o| (o.report.as_str(), o.outcome.as_str()))
            .collect()
    }

    #[test]
    fn each_outcome_is_logged_by_its_serde_name() {
        for status in [Status::Sent, Status::Failed, Status::Skipped] {
            let name = serde_json::to_value(status).unwrap();
            assert_eq!(name.as_str(), Some(status.as_str()));
        }
    }

    #[tokio::test]
    async fn a_failed_mail_never_stops_the_others() {
        let outbox = Outbox {
            refuse: "b@example.com".into(),
            fails: Mutex::new(1),
            ..Default::default()
        };
        let mails = [
            mail("team-a", &["a@example.com"]),
            mail("team-b", &["b@example.com"]),
            mail("unassigned", &[]),
            mail("finops", &["finops@example.com"]),
        ];
        let got = send(&mails, &outbox, &|| true).await;
        assert_eq!(
            outcomes(&got),
            [
                ("team-a", "sent"),
                ("team-b", "failed"),
                ("unassigned", "skipped"),
                ("finops", "sent")
            ]
        );
        assert_eq!(got[1].detail, "550 b@example.com refused");
        assert_eq!(
            got[2].detail,
            "nobody to send it to: key.unassigned is empty"
        );
        let sent = outbox.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            sent[0],
            (
                vec!["a@example.com".to_string()],
                "Weekly cost report for team-a".to_string(),
                vec!["team-a.csv text/csv; charset=utf-8".to_string()]
            )
        );
    }

    #[tokio::test]
    async fn nothing_is_sent_without_the_lease() {
        let outbox = Outbox::default();
        let got = send(&[mail("team-a", &["a@example.com"])], &outbox, &|| false).await;
        assert_eq!(outcomes(&got), [("team-a", "skipped")]);
        assert!(outbox.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn mails_not_accepted_are_tried_again_after_cycles_for_a_day() {
        let outbox = Outbox {
            refuse: "b@example.com".into(),
            fails: Mutex::new(2),
            ..Default::default()
        };
        let mails = [
            mail("team-a", &["a@example.com"]),
            mail("team-b", &["b@example.com"]),
        ];
        let at = crate::core::fixtures::utc("2026-11-23T08:00:00Z");
        let mut reporter = Reporter::default();
        let got = send(&mails, &outbox, &|| true).await;
        reporter.keep_failed(mails.clone(), &got, at);
        assert_eq!(reporter.pending(), 1);
        // Not the Lease holder: kept, not sent.
        reporter
            .retry(&outbox, &|| false, at + TimeDelta::minutes(30))
            .await;
        assert_eq!(reporter.pending(), 1);
        assert_eq!(*outbox.fails.lock().unwrap(), 1, "not tried");
        // Fails once more, then goes out; once out, never again.
        for minutes in [60, 90, 120] {
            reporter
                .retry(&outbox, &|| true, at + TimeDelta::minutes(minutes))
                .await;
        }
        assert_eq!(reporter.pending(), 0);
        let to_b = |o: &Outbox| {
            o.sent
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.0 == ["b@example.com"])
                .count()
        };
        assert_eq!(to_b(&outbox), 1);

        // A day later it is given up.
        let outbox = Outbox {
            refuse: "b@example.com".into(),
            fails: Mutex::new(100),
            ..Default::default()
        };
        let mut reporter = Reporter::default();
        let got = send(&mails, &outbox, &|| true).await;
        reporter.keep_failed(mails.clone(), &got, at);
        reporter.retry(&outbox, &|| true, at + RETRY_FOR).await;
        assert_eq!(reporter.pending(), 0);
        assert_eq!(to_b(&outbox), 0);
    }
}
