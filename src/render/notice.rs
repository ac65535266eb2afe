//! Notices as mail: the views the notice templates see, and rendering a [`Notice`] into a
//! subject, a plain-text and an HTML body with the templates in force ([`Templates`]).
//!
//! The templates are loaded beforehand ([`Templates::load`]), the built-in ones from
//! `templates/`, each replaced by a file of the same name in `smtp.templates_dir`. The
//! text template's first line is `Subject: ...`. Every mail includes `commands.txt` /
//! `commands.html`: the exact `kubectl` commands to extend the namespace by a month
//! (a concrete date, counted from the render context's `now`) or to opt out. Reminders,
//! mark and deletion notices include `destroys.txt` / `destroys.html`: the volumes and
//! Secrets a deletion destroys. Rendering is pure: no I/O, no clock.

use crate::core::assess::{ExpirySource, Finding, KeyKind, Signal};
use crate::core::config::Config;
use crate::core::model::{format_bytes, format_cores, Span, Volumes};
use crate::core::notice::{Commands, Evidence, Notice, NoticeKind, Rendered};
use crate::core::plan::Reason;
use crate::render::templates::{self, replacement_origin, LoadError, TemplateSet, TemplatesError};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::path::Path;

/// The templates in force: the built-in ones, each possibly replaced by an operator's.
#[derive(Debug)]
pub struct Templates {
    set: TemplateSet,
}

impl Templates {
    /// The built-in templates, with those in `dir` (`smtp.templates_dir`) in their place.
    /// Every template is checked here, so a broken one is refused before any mail. Every
    /// `.txt` or `.html` file in `dir` must be a notice's or a weekly report's template;
    /// the reports' are left to `render::report::Templates`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplatesError> {
        let set = templates::notices(dir).map_err(|e| match e {
            LoadError::Folder { path, detail } => TemplatesError::TemplatesDir {
                path: path.display().to_string(),
                detail,
            },
            LoadError::Read { path, error } => TemplatesError::Template {
                origin: replacement_origin(templates::NOTICES_ARE, &path),
                detail: format!("cannot read it: {error}"),
            },
            LoadError::Template(e) => e.into(),
        })?;
        let templates = Templates { set };
        templates.check()?;
        Ok(templates)
    }

    /// Renders every kind of notice once with sample data, so that a template that
    /// names an unknown variable or lacks its subject line is refused at load time.
    fn check(&self) -> Result<(), TemplatesError> {
        let now = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000);
        let ctx = RenderContext {
            templates: self,
            now,
            time_zone: chrono_tz::UTC,
            expires_key: "kube-reclaimer.io/expires",
            grace_period: Span::days(3),
        };
        for notice in samples(now) {
            render(&notice, &ctx)?;
        }
        Ok(())
    }

    /// The templates `config` names: built-in, or with `smtp.templates_dir`'s in place.
    pub fn from_config(config: &Config) -> Result<Templates, TemplatesError> {
        Templates::load(config.smtp.templates_dir.as_deref().map(Path::new))
    }

    /// The operator's file that replaced template `name`, if any.
    pub fn overridden(&self, name: &str) -> Option<&Path> {
        self.set.overridden(name)
    }

    fn render(&self, name: &str, view: &View<'_>) -> Result<String, TemplatesError> {
        Ok(self.set.render(name, view)?)
    }
}

/// One notice of every kind, sent at `now`, for checking the templates.
fn samples(now: DateTime<Utc>) -> Vec<Notice> {
    let source = ExpirySource {
        kind: KeyKind::Label,
        key: "kube-reclaimer.io/expires".into(),
        value: "2024-10-01".into(),
    };
    let signal = Signal {
        signal: "cpu".into(),
        statistic: "highest 5-minute CPU rate over 7d (cores)".into(),
        value: Some(0.001),
        threshold: 0.01,
        status: "below".into(),
        reason: None,
    };
    let mut sample_volumes = Volumes::default();
    sample_volumes.add(crate::core::model::VolumeClaim {
        name: "data".into(),
        bound: true,
        bytes: Some(10.0 * crate::core::model::GIB),
        storage_class: Some("standard".into()),
        reclaim_policy: Some("Delete".into()),
    });
    let kinds = [
        NoticeKind::Reminder {
            expires_at: now + TimeDelta::days(7),
            offset: Span::days(7),
        },
        NoticeKind::Marked {
            cause: Reason::Expired,
            reclaim_after: now + TimeDelta::days(3),
            evidence: Evidence::Expired {
                at: now,
                source: source.clone(),
            },
        },
        NoticeKind::Marked {
            cause: Reason::Idle,
            reclaim_after: now + TimeDelta::days(3),
            evidence: Evidence::Idle {
                summary: "idle: CPU and network below thresholds".into(),
                signals: vec![signal],
            },
        },
        NoticeKind::Reclaimed {
            cause: Reason::Expired,
            at: now,
            tombstone: Some("ConfigMap kube-reclaimer/tombstone-sample".into()),
            asleep: false,
        },
        NoticeKind::Malformed {
            findings: vec![Finding {
                key: "kube-reclaimer.io/expires".into(),
                value: "31-12-2026".into(),
                problem: "not a date".into(),
            }],
        },
    ];
    kinds
        .into_iter()
        .map(|kind| Notice {
            namespace: "sample".into(),
            expiry_source: Some(source.clone()),
            volumes: Some(sample_volumes.clone()),
            kind,
        })
        .collect()
}

/// What a rendering depends on besides the notice.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    pub templates: &'a Templates,
    /// The mail's date: dates in the mail and the extension date count from it.
    pub now: DateTime<Utc>,
    /// Dates are shown in this zone (`time_zone`).
    pub time_zone: chrono_tz::Tz,
    /// The expiry key (`keys.expires`) the commands set.
    pub expires_key: &'a str,
    /// `lifecycle.grace_period`, as told in reminders.
    pub grace_period: Span,
}

impl<'a> RenderContext<'a> {
    pub fn new(config: &'a Config, templates: &'a Templates, now: DateTime<Utc>) -> Self {
        RenderContext {
            templates,
            now,
            time_zone: config.time_zone.0,
            expires_key: &config.keys.expires,
            grace_period: config.lifecycle.grace_period,
        }
    }

    fn show(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.time_zone)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    }
}

/// Everything a template sees.
#[derive(Serialize)]
struct View<'a> {
    /// `reminder`, `marked`, `reclaimed` or `malformed`.
    kind: &'static str,
    namespace: &'a str,
    /// The mail's date, in the configured zone.
    now: String,
    time_zone: &'a str,
    grace_period: String,
    commands: Commands,
    expires_at: Option<String>,
    offset: Option<String>,
    time_left: Option<String>,
    cause: Option<&'static str>,
    reclaim_after: Option<String>,
    evidence: Option<EvidenceView>,
    reclaimed_at: Option<String>,
    tombstone: Option<&'a str>,
    asleep: bool,
    findings: Vec<&'a Finding>,
    /// What deleting the namespace destroys, one line each (its volumes, its Secrets);
    /// empty when nothing is deleted (malformed values, put to sleep).
    destroys: Vec<String>,
}

#[derive(Serialize)]
struct EvidenceView {
    /// `expired` or `idle`.
    kind: &'static str,
    expired_at: Option<String>,
    /// e.g. `label kube-reclaimer.io/expires=2026-11-01`.
    source: Option<String>,
    summary: Option<String>,
    signals: Vec<SignalView>,
}

#[derive(Serialize)]
struct SignalView {
    name: String,
    statistic: String,
    value: String,
    threshold: String,
    /// `below`, `above` or `missing`.
    status: String,
}

/// Renders `notice` with the context's templates. Pure: no I/O, no clock.
pub fn render(notice: &Notice, ctx: &RenderContext<'_>) -> Result<Rendered, TemplatesError> {
    let view = view(notice, ctx);
    let name = notice.template();
    let text_name = format!("{name}.txt");
    let full = ctx.templates.render(&text_name, &view)?;
    let (subject, text) = split_subject(&full).ok_or_else(|| TemplatesError::Template {
        origin: ctx.templates.set.origin(&text_name),
        detail: "it must start with a line `Subject: ...` (not empty), then the body".into(),
    })?;
    let html = ctx.templates.render(&format!("{name}.html"), &view)?;
    Ok(Rendered {
        subject,
        text,
        html,
    })
}

/// Splits `Subject: ...` off the first line; the body starts after the blank lines.
fn split_subject(full: &str) -> Option<(String, String)> {
    let (first, rest) = full.split_once('\n').unwrap_or((full, ""));
    let subject = first.trim().strip_prefix("Subject:")?.trim();
    if subject.is_empty() {
        return None;
    }
    let body = rest.trim_start_matches(['\n', '\r']);
    Some((subject.to_string(), body.to_string()))
}

fn view<'a>(notice: &'a Notice, ctx: &RenderContext<'a>) -> View<'a> {
    let mut view = View {
        kind: notice.template(),
        namespace: notice.namespace.as_str(),
        now: ctx.show(ctx.now),
        time_zone: ctx.time_zone.name(),
        grace_period: ctx.grace_period.to_string(),
        commands: notice.commands(ctx.now, ctx.time_zone, ctx.expires_key),
        expires_at: None,
        offset: None,
        time_left: None,
        cause: None,
        reclaim_after: None,
        evidence: None,
        reclaimed_at: None,
        tombstone: None,
        asleep: false,
        findings: Vec::new(),
        destroys: notice.destroys(),
    };
    match &notice.kind {
        NoticeKind::Reminder { expires_at, offset } => {
            view.expires_at = Some(ctx.show(*expires_at));
            view.offset = Some(offset.to_string());
            view.time_left = Some(human(*expires_at - ctx.now));
        }
        NoticeKind::Marked {
            cause,
            reclaim_after,
            evidence,
        } => {
            view.cause = Some(cause.as_str());
            view.reclaim_after = Some(ctx.show(*reclaim_after));
            view.evidence = Some(evidence_view(evidence, ctx));
        }
        NoticeKind::Reclaimed {
            cause,
            at,
            tombstone,
            asleep,
        } => {
            view.cause = Some(cause.as_str());
            view.reclaimed_at = Some(ctx.show(*at));
            view.tombstone = tombstone.as_deref();
            view.asleep = *asleep;
        }
        NoticeKind::Malformed { findings } => view.findings = findings.iter().collect(),
    }
    view
}

fn evidence_view(evidence: &Evidence, ctx: &RenderContext<'_>) -> EvidenceView {
    match evidence {
        Evidence::Expired { at, source } => EvidenceView {
            kind: "expired",
            expired_at: Some(ctx.show(*at)),
            source: Some(format!(
                "{} {}={}",
                source.kind.as_str(),
                source.key,
                source.value
            )),
            summary: None,
            signals: Vec::new(),
        },
        Evidence::Idle { summary, signals } => EvidenceView {
            kind: "idle",
            expired_at: None,
            source: None,
            summary: Some(summary.clone()),
            signals: signals.iter().map(signal_view).collect(),
        },
    }
}

fn signal_view(s: &Signal) -> SignalView {
    let show = |v: f64| match s.signal.as_str() {
        "cpu" => format_cores(v),
        "network" => format!("{}/s", format_bytes(v)),
        _ => format!("{v}"),
    };
    let value = match (s.value, &s.reason) {
        (Some(v), _) => show(v),
        (None, Some(reason)) => format!("unknown ({reason})"),
        (None, None) => "unknown".into(),
    };
    SignalView {
        name: s.signal.clone(),
        statistic: s.statistic.clone(),
        value,
        threshold: show(s.threshold),
        status: s.status.clone(),
    }
}

/// A duration as people say it, rounded down: `6 days 23 hours`, `5 hours`, `12 minutes`.
fn human(d: TimeDelta) -> String {
    let unit = |n: i64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let (days, hours, minutes) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
    match (days, hours) {
        (d, 0) if d > 0 => unit(d, "day"),
        (d, h) if d > 0 => format!("{} {}", unit(d, "day"), unit(h, "hour")),
        (_, h) if h > 0 => unit(h, "hour"),
        _ => unit(minutes.max(0), "minute"),
    }
}

#[cfg(test)]
mod tests;
