//! What a notice to a namespace's owners says, as plain data: a reminder before expiry, a
//! mark for reclamation with its evidence, a reclamation done, or values that cannot be
//! read; the commands it offers (extend the namespace by a month, or opt it out) and
//! what a deletion destroys. Pure: the templates that turn it into a mail are in
//! `render::notice`, the sending in `io::smtp`.

use crate::core::assess::{Assessment, Expiry, ExpirySource, Finding, KeyKind, Signal};
use crate::core::model::{format_bytes, Span, Volumes};
use crate::core::plan::{Action, ActionKind, Reason};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// How far the extension command in a mail pushes the expiry.
pub const EXTEND_BY_DAYS: i64 = 30;

/// `annotate` when the expiry is read from the `expires_key` annotation (which wins over
/// the label), else `label`.
pub fn expiry_verb(source: Option<&ExpirySource>, expires_key: &str) -> &'static str {
    match source {
        Some(s) if s.kind == KeyKind::Annotation && s.key == expires_key => "annotate",
        _ => "label",
    }
}

/// The command that sets a namespace's expiry to `value` (a date, or `never`), on the
/// annotation when that is where the expiry is read now, else on the label.
pub fn expiry_command(
    namespace: &str,
    source: Option<&ExpirySource>,
    expires_key: &str,
    value: &str,
) -> String {
    format!(
        "kubectl {} namespace {namespace} {expires_key}={value} --overwrite",
        expiry_verb(source, expires_key)
    )
}

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

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a notice's mail carries besides its text: a Message-ID that is the same
/// whenever the same notice is sent again, and header fields that say what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tags {
    pub message_id: String,
    pub headers: Vec<(String, String)>,
}

/// The tags of the notice of `kind` about `a`, sent at `sent` from an address at `domain`.
///
/// Header fields, for owners' mail filters: `X-Kube-Reclaimer-Namespace`, `-Uid`,
/// `-Notice` (`remind`, `mark`, `reclaimed`, `report_findings`), `-Expires` (RFC 3339,
/// when the namespace has an expiry), `-Offset` (reminders) and `-Cause` (marks and
/// reclamations: `expired` or `idle`).
///
/// The Message-ID is derived from what the notice is (uid, kind, expiry, offset, cause,
/// findings; and, but for reminders, the UTC day it is sent), not drawn at random. A
/// replica stopped between the server's acceptance of a mail and the record of it sends
/// that mail again, and nothing can tell whether the first one arrived; with the same
/// Message-ID, mail systems and clients show it once.
pub fn tags(
    a: &Assessment,
    kind: &ActionKind,
    reclaimed: bool,
    sent: DateTime<Utc>,
    domain: &str,
) -> Tags {
    let mut headers = vec![
        ("X-Kube-Reclaimer-Namespace".to_string(), a.name.clone()),
        ("X-Kube-Reclaimer-Uid".to_string(), a.uid.clone()),
    ];
    let notice = if reclaimed {
        "reclaimed"
    } else {
        kind.as_str()
    };
    headers.push(("X-Kube-Reclaimer-Notice".to_string(), notice.to_string()));
    let expires = match kind {
        ActionKind::Remind { expires_at, .. } => Some(*expires_at),
        _ => a.expiry.at(),
    };
    if let Some(e) = expires {
        headers.push((
            "X-Kube-Reclaimer-Expires".to_string(),
            crate::core::model::rfc3339(e),
        ));
    }
    let mut identity: Vec<String> = headers.iter().map(|(_, v)| v.clone()).collect();
    match kind {
        ActionKind::Remind { offset, .. } => {
            headers.push(("X-Kube-Reclaimer-Offset".to_string(), offset.to_string()));
            identity.push(offset.to_string());
        }
        ActionKind::Mark { cause, .. } | ActionKind::Reclaim { cause, .. } => {
            headers.push((
                "X-Kube-Reclaimer-Cause".to_string(),
                cause.as_str().to_string(),
            ));
            identity.push(cause.as_str().to_string());
        }
        ActionKind::ReportFindings { fingerprint, .. } => identity.push(fingerprint.clone()),
        _ => {}
    }
    // A reminder is unique by its offset and expiry; a mark, reclamation or findings
    // report may rightly come again later (a stale notice, a new sleep), on another day.
    if !matches!(kind, ActionKind::Remind { .. }) {
        identity.push(sent.format("%Y-%m-%d").to_string());
    }
    let identity = identity.join("\n");
    Tags {
        message_id: format!(
            "<kr.{:016x}{:016x}@{domain}>",
            fnv1a(identity.as_bytes(), 0xcbf2_9ce4_8422_2325),
            fnv1a(identity.as_bytes(), 0x6c62_272e_07bb_0142)
        ),
        headers,
    }
}

/// FNV-1a, 64 bits, from `basis`: a stable hash (std's hashers may change between
/// releases, and a Message-ID must not).
fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
    bytes.iter().fold(basis, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The commands a notice offers: extend the namespace by a month, or opt it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Commands {
    /// `label` or `annotate`.
    pub verb: &'static str,
    pub key: String,
    /// The date the extension command sets, `YYYY-MM-DD`.
    pub extend_to: String,
    /// How that date was chosen: `one month from now`, or `one month past the current
    /// expiry` when that is later.
    pub extend_to_note: &'static str,
    pub extend: String,
    pub opt_out: String,
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

    /// The commands that extend the namespace by a month or opt it out, sent at `now`
    /// with dates in `time_zone`. They set the annotation when that is where the expiry
    /// is read (it wins over the label), else the label `expires_key`. The new date is a
    /// month after the mail; for a reminder sent more than a month before expiry, a
    /// month after the expiry, so the command never shortens the life.
    pub fn commands(
        &self,
        now: DateTime<Utc>,
        time_zone: chrono_tz::Tz,
        expires_key: &str,
    ) -> Commands {
        // A recreated namespace has no annotation: the label is what to set.
        let source = match self.kind {
            NoticeKind::Reclaimed { .. } => None,
            _ => self.expiry_source.as_ref(),
        };
        let month = TimeDelta::days(EXTEND_BY_DAYS);
        let (base, extend_to_note) = match self.kind {
            NoticeKind::Reminder { expires_at, .. } if expires_at > now + month => {
                (expires_at, "one month past the current expiry")
            }
            _ => (now, "one month from now"),
        };
        let extend_to = (base + month)
            .with_timezone(&time_zone)
            .format("%Y-%m-%d")
            .to_string();
        let command = |value: &str| expiry_command(&self.namespace, source, expires_key, value);
        Commands {
            verb: expiry_verb(source, expires_key),
            key: expires_key.to_string(),
            extend: command(&extend_to),
            opt_out: command("never"),
            extend_to,
            extend_to_note,
        }
    }

    /// What deleting the namespace destroys, one line each (its volumes, its Secrets);
    /// empty when the notice tells of no deletion (malformed values, put to sleep).
    pub fn destroys(&self) -> Vec<String> {
        let deletes = match self.kind {
            NoticeKind::Malformed { .. } => false,
            NoticeKind::Reclaimed { asleep, .. } => !asleep,
            NoticeKind::Reminder { .. } | NoticeKind::Marked { .. } => true,
        };
        if deletes {
            destroys(self.volumes.as_ref())
        } else {
            Vec::new()
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

#[cfg(test)]
pub(crate) mod tests;
