//! Notices by e-mail: [`Postman`] renders the notice of an action with the templates in
//! force (`render::notice`) and sends it through the SMTP server of the configuration
//! (`io::smtp`); [`DeliverError`] says why a mail was not sent.

use super::{Deliver, Delivery};
use crate::core::config::{Config, ReclaimBy};
use crate::core::notice::{tags, Notice, Rendered};
use crate::core::plan::ActionKind;
use crate::io::smtp::{Attachment, MailError, Mailer};
use crate::render::notice::{render, RenderContext, Templates};
use crate::render::templates::TemplatesError;

/// Why a mail was not sent (or e-mail cannot be set up). The message is what the act
/// stage and the report sender log and record.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The action sends no e-mail.
    #[error("no e-mail is written for a {kind} action")]
    NoNotice { kind: &'static str },
    /// The notice's templates cannot be loaded, or the notice rendered.
    #[error("{0}")]
    Render(#[from] TemplatesError),
    /// The SMTP server did not accept the mail, or cannot be set up.
    #[error("{0}")]
    Smtp(#[from] MailError),
    /// The deliverer sends no reports.
    #[error("this deliverer sends no reports")]
    NoReports,
    /// A dry run sends no e-mail.
    #[error("dry-run sends no e-mail")]
    DryRun,
    /// Another deliverer's failure, in its own words.
    #[error("{0}")]
    Other(String),
}

/// Delivers notices by e-mail: renders the notice of an action with the templates, then
/// sends it through the SMTP server of the configuration.
pub struct Postman<'a> {
    mailer: Mailer,
    templates: Templates,
    config: &'a Config,
}

impl<'a> Postman<'a> {
    pub fn new(config: &'a Config) -> Result<Postman<'a>, DeliverError> {
        Ok(Postman {
            mailer: Mailer::new(config)?,
            templates: Templates::from_config(config)?,
            config,
        })
    }
}

impl Deliver for Postman<'_> {
    async fn deliver(&self, d: Delivery<'_>) -> Result<(), DeliverError> {
        let notice = match (&d.action.kind, d.reclaimed) {
            (ActionKind::Reclaim { cause, by, .. }, true) => Notice::reclaimed(
                d.assessment,
                *cause,
                d.now,
                d.tombstone.map(|p| p.display().to_string()),
                *by == ReclaimBy::Sleep,
            ),
            _ => Notice::for_action(d.assessment, d.action).ok_or_else(|| {
                DeliverError::NoNotice {
                    kind: d.action.kind.as_str(),
                }
            })?,
        };
        let context = RenderContext::new(self.config, &self.templates, d.now);
        let rendered = render(&notice, &context)?;
        // A reclamation tells the owners; the action itself e-mails no one.
        let recipients = if d.reclaimed {
            &d.assessment.owner.recipients
        } else {
            &d.action.recipients
        };
        let tags = tags(
            d.assessment,
            &d.action.kind,
            d.reclaimed,
            d.now,
            &self.mailer.domain(),
        );
        Ok(self
            .mailer
            .send_tagged(recipients, &rendered, &tags)
            .await?)
    }

    async fn deliver_report(
        &self,
        recipients: &[String],
        mail: &Rendered,
        attachments: &[Attachment],
    ) -> Result<(), DeliverError> {
        Ok(self.mailer.send_with(recipients, mail, attachments).await?)
    }
}
