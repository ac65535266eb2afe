//! What the notices and reports tell an owner to type: the command that extends or opts
//! out a namespace, and how far an extension reaches.

use crate::core::assess::{ExpirySource, KeyKind};

/// How far the extension command in a mail pushes the expiry.
pub const EXTEND_BY_DAYS: i64 = 30;

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
