//! A report as mail and files: subject, plain text and HTML rendered from the templates
//! in `templates/` (each replaceable by a file of the same name in `smtp.templates_dir`),
//! and the CSV. Rendering is pure: templates are loaded beforehand, the time is the
//! report's.
//!
//! The templates see preformatted strings (`view`): numbers with their units, `unknown`
//! where a value is not known, dates in `time_zone`; the plain-text tables come aligned.

mod fmt;
mod sections;
mod tables;
#[cfg(test)]
mod tests;
mod view;

use crate::core::assess::Verdict;
use crate::core::config::Config;
use crate::core::model::Sum;
use crate::core::report::files::{file_names, FINOPS};
use crate::core::report::{csv, Reports, Row, TeamReport, FINOPS_RECIPIENTS_KEY};
use crate::render::templates::{self, LoadError, TemplateSet, TemplatesError};
use fmt::Fmt;
use std::path::Path;
use view::{finops_view, team_view, Common, View};

/// The report templates in force: the built-in ones, each possibly replaced by an
/// operator's file in `smtp.templates_dir`.
#[derive(Debug)]
pub struct Templates {
    set: TemplateSet,
}

impl Templates {
    /// The built-in templates, with those of the same name in `dir` in their place. Every
    /// template is rendered once with a sample report, so a broken one is refused here.
    /// Other files in `dir` are left to the e-mail notices' loader, which checks them.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplatesError> {
        let set = templates::reports(dir).map_err(|e| match e {
            LoadError::Folder { path, detail } => TemplatesError::TemplatesDir {
                path: path.display().to_string(),
                detail,
            },
            LoadError::Read { path, error } => TemplatesError::TemplatesDir {
                path: path.display().to_string(),
                detail: error.to_string(),
            },
            LoadError::Template(e) => e.into(),
        })?;
        let templates = Templates { set };
        templates.check()?;
        Ok(templates)
    }

    /// The templates `config` names: built-in, or with `smtp.templates_dir`'s in place.
    pub fn from_config(config: &Config) -> Result<Templates, TemplatesError> {
        Templates::load(config.smtp.templates_dir.as_deref().map(Path::new))
    }

    fn check(&self) -> Result<(), TemplatesError> {
        let (reports, config) = crate::core::report::sample::sample();
        render(&reports, self, &config).map(|_| ())
    }

    fn render(&self, name: &str, view: &View) -> Result<String, TemplatesError> {
        Ok(self.set.render(name, view)?)
    }
}

/// One report, ready to be sent or written.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportMail {
    /// File name without extension, unique in a run: `team-payments`, `unassigned`,
    /// `finops`.
    pub name: String,
    /// Who it is for, in words: `team payments`, `namespaces without a known team`,
    /// `FinOps roll-up`.
    pub title: String,
    pub recipients: Vec<String>,
    /// Where the recipients come from, for messages: `owners.teams.payments`, ...
    pub recipients_key: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub csv: String,
    pub namespaces: usize,
    pub requested_per_hour: Sum,
    pub waste_per_hour: Sum,
}

impl ReportMail {
    pub fn csv_name(&self) -> String {
        format!("{}.csv", self.name)
    }
}

fn state_text(row: &Row) -> String {
    row.state.as_str().to_string()
}

fn idle_text(v: Verdict) -> String {
    v.as_str().to_string()
}

/// Renders every report of `reports`: the teams' in order, then the roll-up.
pub fn render(
    reports: &Reports,
    templates: &Templates,
    config: &Config,
) -> Result<Vec<ReportMail>, TemplatesError> {
    mails(reports, templates, config).collect()
}

/// The reports of [`render`], in the same order, each rendered only when asked for: a
/// run that sends (or writes) one before rendering the next holds one at a time.
pub fn mails<'a>(
    reports: &'a Reports,
    templates: &'a Templates,
    config: &'a Config,
) -> impl Iterator<Item = Result<ReportMail, TemplatesError>> + 'a {
    let f = Fmt::new(reports, config);
    let common = Common::new(reports, config, &f);
    let teams = reports.teams.iter().zip(file_names(reports)).map(Some);
    teams.chain([None]).map(move |team| match team {
        Some((t, name)) => team_mail(t, name, reports, templates, config, &f, &common),
        None => finops_mail(reports, templates, config, &f, &common),
    })
}

fn team_mail(
    t: &TeamReport,
    name: String,
    reports: &Reports,
    templates: &Templates,
    config: &Config,
    f: &Fmt<'_>,
    common: &Common,
) -> Result<ReportMail, TemplatesError> {
    let view = team_view(t, reports, config, f, common, &format!("{name}.csv"));
    Ok(ReportMail {
        text: templates.render("report-team.txt", &view)?,
        html: templates.render("report-team.html", &view)?,
        csv: csv(&t.rows),
        title: view.title,
        subject: view.subject,
        name,
        recipients: t.recipients.clone(),
        recipients_key: t.group.recipients_key(),
        namespaces: t.totals.namespaces,
        requested_per_hour: t.totals.requested_per_hour,
        waste_per_hour: t.totals.waste_per_hour,
    })
}

fn finops_mail(
    reports: &Reports,
    templates: &Templates,
    config: &Config,
    f: &Fmt<'_>,
    common: &Common,
) -> Result<ReportMail, TemplatesError> {
    let r = &reports.finops;
    let view = finops_view(r, reports, config, f, common, &format!("{FINOPS}.csv"));
    Ok(ReportMail {
        text: templates.render("report-finops.txt", &view)?,
        html: templates.render("report-finops.html", &view)?,
        csv: csv(&r.rows),
        name: FINOPS.into(),
        title: view.title,
        subject: view.subject,
        recipients: r.recipients.clone(),
        recipients_key: FINOPS_RECIPIENTS_KEY.into(),
        namespaces: r.totals.namespaces,
        requested_per_hour: r.totals.requested_per_hour,
        waste_per_hour: r.totals.waste_per_hour,
    })
}
