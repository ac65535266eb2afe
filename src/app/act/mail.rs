//! E-mail to namespace owners: what each notice says, and sending it over SMTP.
//!
//! A [`Notice`] is plain data: a reminder before expiry, a mark for reclamation with its
//! evidence, a reclamation done, or values that cannot be read. [`render`] turns it into
//! a subject, a plain-text and an HTML body. It is pure: the templates are loaded
//! beforehand ([`Templates::load`]), the built-in ones from `templates/` (compiled into
//! the binary), each replaced by a file of the same name in `smtp.templates_dir`. The
//! text template's first line is `Subject: ...`. Every mail includes `commands.txt` /
//! `commands.html`: the exact `kubectl` commands to extend the namespace by a month
//! (a concrete date, counted from the render context's `now`) or to opt out. Reminders,
//! mark and deletion notices include `destroys.txt` / `destroys.html`: the volumes and
//! Secrets a deletion destroys.
//!
//! [`Mailer`] sends a rendered mail as multipart/alternative (text + HTML) from
//! `smtp.from`, inside multipart/mixed when files are attached (the weekly reports'
//! CSV); `send` returns `Ok` only once the server accepted the message, which is when a
//! mail counts as sent.

use crate::core::assess::{Assessment, Expiry, ExpirySource, Finding, KeyKind, Signal};
use crate::core::config::{Config, SmtpTls};
use crate::core::model::{format_bytes, format_cores, Span, Volumes};
use crate::core::notice::{expiry_command, expiry_verb, EXTEND_BY_DAYS};
use crate::core::plan::{Action, ActionKind, Reason};
use crate::render::templates::{replacement_origin, Folder, LoadError, TemplateError, TemplateSet};
use chrono::{DateTime, TimeDelta, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// One e-mail to a namespace's owners.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub namespace: String,
    /// Where the namespace's expiry is read now. When it is the `expires` annotation
    /// (which wins over the label), the mail's commands set the annotation.
    pub expiry_source: Option<ExpirySource>,
    /// The namespace's PersistentVolumeClaims, which deleting it destroys; `None` when
    /// they could not be listed.
    pub volumes: Option<Volumes>,
    pub kind: NoticeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NoticeKind {
    /// The namespace expires at `expires_at`; this is the reminder `offset` before.
    Reminder {
        expires_at: DateTime<Utc>,
        offset: Span,
    },
    /// Marked for reclamation: deleted after `reclaim_after` unless the owner acts.
    Marked {
        cause: Reason,
        reclaim_after: DateTime<Utc>,
        evidence: Evidence,
    },
    /// Deleted at `at`; `tombstone` says where a record of it was written, if anywhere.
    Reclaimed {
        cause: Reason,
        at: DateTime<Utc>,
        tombstone: Option<String>,
        /// Put to sleep (workloads scaled to zero) instead of deleted.
        asleep: bool,
    },
    /// Values on the namespace that cannot be read.
    Malformed { findings: Vec<Finding> },
}

/// Why a namespace was marked, as shown to its owners.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// It expired at `at`, as set by `source`.
    Expired {
        at: DateTime<Utc>,
        source: ExpirySource,
    },
    /// It is idle: the verdict in one sentence and each signal with value and threshold.
    Idle {
        summary: String,
        signals: Vec<Signal>,
    },
}

impl Notice {
    /// The notice a planned action sends, for the actions that e-mail before they act:
    /// remind, mark and report findings. `None` for every other action, and for a mark
    /// whose cause the assessment does not bear out (expired, but no expiry instant).
    pub fn for_action(a: &Assessment, action: &Action) -> Option<Notice> {
        let kind = match &action.kind {
            ActionKind::Remind {
                offset, expires_at, ..
            } => NoticeKind::Reminder {
                expires_at: *expires_at,
                offset: *offset,
            },
            ActionKind::Mark {
                cause,
                reclaim_after,
            } => NoticeKind::Marked {
                cause: *cause,
                reclaim_after: *reclaim_after,
                evidence: Evidence::of(a, *cause)?,
            },
            ActionKind::ReportFindings { findings, .. } => NoticeKind::Malformed {
                findings: findings.clone(),
            },
            _ => return None,
        };
        Some(Notice::new(a, kind))
    }

    /// The notice that `a`'s namespace was deleted at `at` for `cause`.
    pub fn reclaimed(
        a: &Assessment,
        cause: Reason,
        at: DateTime<Utc>,
        tombstone: Option<String>,
        asleep: bool,
    ) -> Notice {
        Notice::new(
            a,
            NoticeKind::Reclaimed {
                cause,
                at,
                tombstone,
                asleep,
            },
        )
    }

    fn new(a: &Assessment, kind: NoticeKind) -> Notice {
        let expiry_source = match &a.expiry {
            Expiry::None => None,
            Expiry::Never { source }
            | Expiry::At { source, .. }
            | Expiry::Malformed { source, .. } => Some(source.clone()),
        };
        Notice {
            namespace: a.name.clone(),
            expiry_source,
            volumes: a.volumes.clone(),
            kind,
        }
    }

    /// The template name without extension: `reminder`, `marked`, `reclaimed`, `malformed`.
    pub fn template(&self) -> &'static str {
        match self.kind {
            NoticeKind::Reminder { .. } => "reminder",
            NoticeKind::Marked { .. } => "marked",
            NoticeKind::Reclaimed { .. } => "reclaimed",
            NoticeKind::Malformed { .. } => "malformed",
        }
    }
}

impl Evidence {
    /// The evidence for marking `a` for `cause`, if the assessment holds it.
    pub fn of(a: &Assessment, cause: Reason) -> Option<Evidence> {
        match (cause, &a.expiry) {
            (Reason::Expired, Expiry::At { at, source }) => Some(Evidence::Expired {
                at: *at,
                source: source.clone(),
            }),
            (Reason::Expired, _) => None,
            (Reason::Idle, _) => Some(Evidence::Idle {
                summary: a.idle.summary.clone(),
                signals: a.idle.evidence.clone(),
            }),
        }
    }
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A file sent along with a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// e.g. `text/csv; charset=utf-8`.
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Every template, by file name. `commands.*` and `destroys.*` are included by the others.
pub const TEMPLATE_NAMES: [&str; 12] = [
    "reminder.txt",
    "reminder.html",
    "marked.txt",
    "marked.html",
    "reclaimed.txt",
    "reclaimed.html",
    "malformed.txt",
    "malformed.html",
    "commands.txt",
    "commands.html",
    "destroys.txt",
    "destroys.html",
];

const BUILT_IN: [(&str, &str); 12] = [
    (
        "reminder.txt",
        include_str!("../../render/templates/reminder.txt"),
    ),
    (
        "reminder.html",
        include_str!("../../render/templates/reminder.html"),
    ),
    (
        "marked.txt",
        include_str!("../../render/templates/marked.txt"),
    ),
    (
        "marked.html",
        include_str!("../../render/templates/marked.html"),
    ),
    (
        "reclaimed.txt",
        include_str!("../../render/templates/reclaimed.txt"),
    ),
    (
        "reclaimed.html",
        include_str!("../../render/templates/reclaimed.html"),
    ),
    (
        "malformed.txt",
        include_str!("../../render/templates/malformed.txt"),
    ),
    (
        "malformed.html",
        include_str!("../../render/templates/malformed.html"),
    ),
    (
        "commands.txt",
        include_str!("../../render/templates/commands.txt"),
    ),
    (
        "commands.html",
        include_str!("../../render/templates/commands.html"),
    ),
    (
        "destroys.txt",
        include_str!("../../render/templates/destroys.txt"),
    ),
    (
        "destroys.html",
        include_str!("../../render/templates/destroys.html"),
    ),
];

/// What the notices' templates are called in messages.
const WHAT: &str = "e-mail";

/// The templates in force: the built-in ones, each possibly replaced by an operator's.
#[derive(Debug)]
pub struct Templates {
    set: TemplateSet,
}

impl Templates {
    /// The built-in templates, with those in `dir` (`smtp.templates_dir`) in their place.
    /// Every template is checked here, so a broken one is refused before any mail. Every
    /// `.txt` or `.html` file in `dir` must be one of [`TEMPLATE_NAMES`] or of the weekly
    /// reports' ([`crate::render::report::TEMPLATE_NAMES`]), which are left to `report::Templates`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, MailError> {
        let folder = Folder::Check {
            others: &crate::render::report::TEMPLATE_NAMES,
        };
        let set = TemplateSet::load(WHAT, &BUILT_IN, dir, folder).map_err(|e| match e {
            LoadError::Folder { path, detail } => MailError::TemplatesDir {
                path: path.display().to_string(),
                detail,
            },
            LoadError::Read { path, error } => MailError::Template {
                origin: replacement_origin(WHAT, &path),
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
    fn check(&self) -> Result<(), MailError> {
        let now = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000);
        let ctx = RenderContext {
            templates: self,
            now,
            time_zone: chrono_tz::UTC,
            expires_key: "kube-reclaimer.io/expires",
            grace_period: Span::days(3),
        };
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
        for kind in kinds {
            let notice = Notice {
                namespace: "sample".into(),
                expiry_source: Some(source.clone()),
                volumes: Some(sample_volumes.clone()),
                kind,
            };
            render(&notice, &ctx)?;
        }
        Ok(())
    }

    /// The templates `config` names: built-in, or with `smtp.templates_dir`'s in place.
    pub fn from_config(config: &Config) -> Result<Templates, MailError> {
        Templates::load(config.smtp.templates_dir.as_deref().map(Path::new))
    }

    /// The operator's file that replaced template `name`, if any.
    pub fn overridden(&self, name: &str) -> Option<&Path> {
        self.set.overridden(name)
    }

    fn render(&self, name: &str, view: &View<'_>) -> Result<String, MailError> {
        Ok(self.set.render(name, view)?)
    }
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
struct Commands {
    /// `label` or `annotate`.
    verb: &'static str,
    key: String,
    /// The date the extension command sets, `YYYY-MM-DD`.
    extend_to: String,
    /// How that date was chosen: `one month from now`, or `one month past the current
    /// expiry` when that is later.
    extend_to_note: &'static str,
    extend: String,
    opt_out: String,
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
pub fn render(notice: &Notice, ctx: &RenderContext<'_>) -> Result<Rendered, MailError> {
    let view = view(notice, ctx);
    let name = notice.template();
    let text_name = format!("{name}.txt");
    let full = ctx.templates.render(&text_name, &view)?;
    let (subject, text) = split_subject(&full).ok_or_else(|| MailError::Template {
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
    let ns = notice.namespace.as_str();
    let mut view = View {
        kind: notice.template(),
        namespace: ns,
        now: ctx.show(ctx.now),
        time_zone: ctx.time_zone.name(),
        grace_period: ctx.grace_period.to_string(),
        commands: commands(notice, ctx),
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
        destroys: Vec::new(),
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
            view.evidence = Some(match evidence {
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
            });
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
    let deletes = match notice.kind {
        NoticeKind::Malformed { .. } => false,
        NoticeKind::Reclaimed { asleep, .. } => !asleep,
        NoticeKind::Reminder { .. } | NoticeKind::Marked { .. } => true,
    };
    if deletes {
        view.destroys = destroys(notice.volumes.as_ref());
    }
    view
}

/// What deleting a namespace destroys besides its objects (which the tombstone keeps):
/// each PersistentVolumeClaim with its size, StorageClass and the reclaim policy of its
/// volume, and its Secrets, which are never read and so never kept.
fn destroys(volumes: Option<&Volumes>) -> Vec<String> {
    let mut lines = Vec::new();
    match volumes {
        None => lines.push(
            "its PersistentVolumeClaims could not be listed: any volume it holds may be deleted with it".into(),
        ),
        Some(v) if v.claims == 0 => {}
        Some(v) => {
            let plural = |n: u32| if n == 1 { "" } else { "s" };
            lines.push(format!(
                "{} PersistentVolumeClaim{} ({} bound), {} in all:",
                v.claims,
                plural(v.claims),
                v.bound,
                format_bytes(v.bytes)
            ));
            for c in &v.listed {
                let size = c.bytes.map_or("size unknown".into(), format_bytes);
                let class = c.storage_class.as_deref().unwrap_or("none");
                let volume = match (c.bound, c.reclaim_policy.as_deref()) {
                    (false, _) => "not bound to a volume".to_string(),
                    (true, Some("Delete")) => {
                        "reclaim policy Delete: the volume and its data are deleted".into()
                    }
                    (true, Some("Retain")) => {
                        "reclaim policy Retain: the volume is kept, claimed by nothing".into()
                    }
                    (true, Some(p)) => format!("reclaim policy {p}"),
                    (true, None) => "reclaim policy unknown: its data may be deleted".into(),
                };
                lines.push(format!(
                    "claim {}: {size}, StorageClass {class}, {volume}",
                    c.name
                ));
            }
            let more = v.claims as usize - v.listed.len().min(v.claims as usize);
            if more > 0 {
                lines.push(format!("and {more} more claim{}", plural(more as u32)));
            }
        }
    }
    lines.push(
        "its Secrets, if any: kube-reclaimer never reads Secrets, so its record of the namespace holds none of them"
            .into(),
    );
    lines
}

/// The commands that extend the namespace by a month or opt it out. They set the
/// annotation when that is where the expiry is read (it wins over the label), else the
/// label. The new date is a month after the mail; for a reminder sent more than a month
/// before expiry, a month after the expiry, so the command never shortens the life.
fn commands(notice: &Notice, ctx: &RenderContext<'_>) -> Commands {
    let source = match notice.kind {
        NoticeKind::Reclaimed { .. } => None,
        _ => notice.expiry_source.as_ref(),
    };
    let verb = expiry_verb(source, ctx.expires_key);
    let month = TimeDelta::days(EXTEND_BY_DAYS);
    let (base, extend_to_note) = match notice.kind {
        NoticeKind::Reminder { expires_at, .. } if expires_at > ctx.now + month => {
            (expires_at, "one month past the current expiry")
        }
        _ => (ctx.now, "one month from now"),
    };
    let extend_to = (base + month)
        .with_timezone(&ctx.time_zone)
        .format("%Y-%m-%d")
        .to_string();
    let command = |value: &str| expiry_command(&notice.namespace, source, ctx.expires_key, value);
    Commands {
        verb,
        key: ctx.expires_key.to_string(),
        extend: command(&extend_to),
        opt_out: command("never"),
        extend_to,
        extend_to_note,
    }
}

/// `annotate` when the expiry is read from the `expires_key` annotation (which wins over
/// the label), else `label`.
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

/// Sends rendered mail over SMTP as configured in `smtp`.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port (tls mode)`, for messages.
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Reads the password (`smtp.password_file` or the variable `smtp.password_env`) and
    /// the CA file (`smtp.ca_file`), and sets up the transport. Connects to nothing yet.
    pub fn new(config: &Config) -> Result<Mailer, MailError> {
        let s = &config.smtp;
        let mode = match s.tls {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        };
        let server = format!("{}:{} (smtp.tls {mode})", s.host, s.port);
        let from: Mailbox = s.from.as_str().parse().map_err(|e| MailError::Address {
            key: "smtp.from".into(),
            address: s.from.to_string(),
            detail: format!("{e}"),
        })?;
        let tls = match s.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls | SmtpTls::Tls => {
                let mut params = TlsParameters::builder(s.host.clone());
                if let Some(path) = &s.ca_file {
                    params = params.add_root_certificate(read_ca(path)?);
                }
                let params = params.build_rustls().map_err(|e| MailError::Tls {
                    host: s.host.clone(),
                    detail: chain(&e),
                })?;
                if s.tls == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(
                s.timeout.as_seconds().max(1).unsigned_abs(),
            )));
        match (&s.username, password(config)?) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password));
            }
            (Some(_), None) => {
                return Err(MailError::Password {
                    key: "smtp.username".into(),
                    detail: "a user name is set, but neither smtp.password_file nor smtp.password_env; set one, or remove the user name for a server without authentication".into(),
                })
            }
            (None, _) => {}
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            server,
        })
    }

    /// Sends `rendered` to `recipients` (all in `To`). `Ok` only when the server accepted
    /// the message; any refusal, connection, TLS or authentication failure is an error
    /// and the mail counts as not sent.
    pub async fn send(&self, recipients: &[String], rendered: &Rendered) -> Result<(), MailError> {
        self.send_with(recipients, rendered, &[]).await
    }

    /// Like [`Mailer::send`], with files attached: the message is then multipart/mixed,
    /// the text and HTML alternatives first, then each attachment.
    pub async fn send_with(
        &self,
        recipients: &[String],
        rendered: &Rendered,
        attachments: &[Attachment],
    ) -> Result<(), MailError> {
        if recipients.is_empty() {
            return Err(MailError::NoRecipients);
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(rendered.subject.clone())
            .message_id(None)
            // RFC 3834: no vacation or out-of-office replies to this daemon.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ));
        for r in recipients {
            let to: Mailbox = r.parse().map_err(|e| MailError::Address {
                key: "recipient".into(),
                address: r.clone(),
                detail: format!("{e}"),
            })?;
            builder = builder.to(to);
        }
        let alternative =
            MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone());
        let body = if attachments.is_empty() {
            alternative
        } else {
            let mut mixed = MultiPart::mixed().multipart(alternative);
            for a in attachments {
                let content_type =
                    ContentType::parse(&a.content_type).map_err(|e| MailError::Message {
                        detail: format!("attachment {}: {e}", a.filename),
                    })?;
                mixed = mixed.singlepart(
                    lettre::message::Attachment::new(a.filename.clone())
                        .body(a.body.clone(), content_type),
                );
            }
            mixed
        };
        let message = builder.multipart(body).map_err(|e| MailError::Message {
            detail: e.to_string(),
        })?;
        let response = self
            .transport
            .send(message)
            .await
            .map_err(|e| self.failure(&e))?;
        if response.is_positive() {
            Ok(())
        } else {
            Err(MailError::Rejected {
                server: self.server.clone(),
                detail: format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            })
        }
    }

    fn failure(&self, e: &lettre::transport::smtp::Error) -> MailError {
        let server = self.server.clone();
        let detail = chain(e);
        let code = e.status().map(u16::from);
        let auth = matches!(code, Some(530 | 534 | 535 | 538))
            || (e.is_client() && detail.contains("authentication"));
        if auth {
            MailError::Auth { server, detail }
        } else if code.is_some() {
            MailError::Rejected { server, detail }
        } else {
            MailError::Unreachable { server, detail }
        }
    }
}

fn password(config: &Config) -> Result<Option<String>, MailError> {
    let s = &config.smtp;
    let error = |key: &str, detail: String| MailError::Password {
        key: key.into(),
        detail,
    };
    let password = if let Some(path) = &s.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            error(
                "smtp.password_file",
                format!("cannot read `{path}`: {e}; mount the password there (e.g. from a Secret) or fix the path"),
            )
        })?;
        let password = text.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            return Err(error(
                "smtp.password_file",
                format!("`{path}` is empty; it must hold the SMTP password"),
            ));
        }
        password
    } else if let Some(name) = &s.password_env {
        match std::env::var(name) {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => {
                return Err(error(
                    "smtp.password_env",
                    format!("the environment variable `{name}` is empty; it must hold the SMTP password"),
                ))
            }
            Err(e) => {
                return Err(error(
                    "smtp.password_env",
                    format!("the environment variable `{name}` cannot be read ({e}); set it to the SMTP password"),
                ))
            }
        }
    } else {
        return Ok(None);
    };
    Ok(Some(password))
}

fn read_ca(path: &str) -> Result<Certificate, MailError> {
    let error = |detail: String| MailError::CaFile {
        path: path.to_string(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|e| error(format!("cannot read it: {e}")))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(error(
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Certificate::from_pem(&pem).map_err(|e| error(chain(&e)))
}

/// An error and its sources, joined with `: `, without repeats (lettre nests
/// "Connection error: Connection error: ...").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    let mut parts: Vec<&str> = out.split(": ").collect();
    parts.dedup();
    parts.join(": ")
}

/// Why a mail could not be rendered or sent. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{origin}: {detail}")]
    Template { origin: String, detail: String },
    #[error("smtp.templates_dir: cannot use `{path}`: {detail}; set it to a readable directory of templates, or to null for the built-in ones")]
    TemplatesDir { path: String, detail: String },
    #[error("{key}: {detail}")]
    Password { key: String, detail: String },
    #[error(
        "smtp.ca_file: cannot use `{path}`: {detail}; it must be a PEM file of CA certificates"
    )]
    CaFile { path: String, detail: String },
    #[error("{key}: `{address}` is not an address a mail can be sent to/from ({detail})")]
    Address {
        key: String,
        address: String,
        detail: String,
    },
    #[error("no recipients: a mail needs at least one address")]
    NoRecipients,
    #[error("cannot build the message: {detail}")]
    Message { detail: String },
    #[error("cannot set up TLS for smtp.host `{host}`: {detail}")]
    Tls { host: String, detail: String },
    #[error("mail not sent: cannot deliver to the SMTP server {server}: {detail}; check smtp.host, smtp.port, smtp.tls (and smtp.ca_file for a private CA), and that the server is up")]
    Unreachable { server: String, detail: String },
    #[error("mail not sent: authentication with the SMTP server {server} failed: {detail}; check smtp.username and the password in smtp.password_file or smtp.password_env")]
    Auth { server: String, detail: String },
    #[error("mail not sent: the SMTP server {server} refused it: {detail}")]
    Rejected { server: String, detail: String },
}

impl From<TemplateError> for MailError {
    fn from(e: TemplateError) -> MailError {
        MailError::Template {
            origin: e.origin,
            detail: e.detail,
        }
    }
}

#[cfg(test)]
mod tests;
