//! The CSV attached to every report: one row per namespace, RFC 4180 (comma-separated,
//! CRLF line ends, fields quoted when they hold a comma, a quote or a line break, quotes
//! doubled). Column names are stable and carry their units. An unknown value is
//! `unknown`; a value that does not apply (no quota, no expiry) is empty.

use super::Row;
use crate::core::assess::{QuotaLine, Sizing};
use crate::core::format::UNKNOWN;
use crate::core::model::rfc3339;

/// The header, in order.
pub const CSV_COLUMNS: [&str; 31] = [
    "namespace",
    "team",
    "report",
    "state",
    "protected",
    "idle",
    "pods",
    "requested_cpu_cores",
    "used_cpu_cores",
    "cpu_gap_ratio",
    "cpu_flagged",
    "recommended_cpu_cores",
    "requested_memory_bytes",
    "used_memory_bytes",
    "memory_gap_ratio",
    "memory_flagged",
    "recommended_memory_bytes",
    "quota_cpu_cores",
    "recommended_quota_cpu_cores",
    "quota_memory_bytes",
    "recommended_quota_memory_bytes",
    "currency",
    "requested_cost_per_hour",
    "used_cost_per_hour",
    "waste_cost_per_hour",
    "requested_cost_per_month",
    "waste_cost_per_month",
    "expires_at",
    "reclaim_after",
    "idle_reason",
    "usage_unknown_reason",
];

/// A number with at most `decimals` decimals, without trailing zeros.
fn number(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" {
        "0".into()
    } else {
        text
    }
}

fn known(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| UNKNOWN.into(), |v| number(v, decimals))
}

/// Whether a resource is flagged; unknown when requests or usage are.
fn flagged(s: &Sizing) -> String {
    if s.gap.is_none() && (s.requested.is_none() || s.used.is_none()) {
        UNKNOWN.into()
    } else {
        s.flagged.to_string()
    }
}

/// A quota figure: empty without a quota on the resource, unknown when quotas could not
/// be listed.
fn quota(known_quotas: bool, line: &QuotaLine, value: Option<f64>, decimals: usize) -> String {
    match (known_quotas, line.hard) {
        (false, _) => UNKNOWN.into(),
        (true, None) => String::new(),
        (true, Some(_)) => known(value, decimals),
    }
}

/// One field, quoted when RFC 4180 needs it.
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn line(out: &mut String, fields: &[String]) {
    let quoted: Vec<String> = fields.iter().map(|f| field(f)).collect();
    out.push_str(&quoted.join(","));
    out.push_str("\r\n");
}

/// The CSV of `rows`, header first.
pub fn csv<'a>(rows: impl IntoIterator<Item = &'a Row>) -> String {
    let mut out = String::new();
    line(
        &mut out,
        &CSV_COLUMNS
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
    );
    for r in rows {
        let mut reasons: Vec<String> = r
            .cpu
            .unknown_reason
            .iter()
            .chain(&r.memory.unknown_reason)
            .cloned()
            .collect();
        reasons.dedup();
        let fields = vec![
            r.namespace.clone(),
            r.team.clone().unwrap_or_default(),
            r.group.name().to_string(),
            r.state.as_str().to_string(),
            r.protected.is_some().to_string(),
            r.idle.as_str().to_string(),
            r.pods.map_or_else(|| UNKNOWN.into(), |p| p.to_string()),
            known(r.cpu.requested, 6),
            known(r.cpu.used, 6),
            known(r.cpu.gap, 4),
            flagged(&r.cpu),
            known(r.cpu.recommended_request, 6),
            known(r.memory.requested, 0),
            known(r.memory.used, 0),
            known(r.memory.gap, 4),
            flagged(&r.memory),
            known(r.memory.recommended_request, 0),
            quota(r.quota_known, &r.quota_cpu, r.quota_cpu.hard, 6),
            quota(r.quota_known, &r.quota_cpu, r.quota_cpu.recommended, 6),
            quota(r.quota_known, &r.quota_memory, r.quota_memory.hard, 0),
            quota(
                r.quota_known,
                &r.quota_memory,
                r.quota_memory.recommended,
                0,
            ),
            r.cost.currency.clone(),
            known(r.cost.requested_per_hour, 6),
            known(r.cost.used_per_hour, 6),
            known(r.cost.waste_per_hour, 6),
            known(r.cost.requested_per_month, 2),
            known(r.cost.waste_per_month, 2),
            r.expires_at.map(rfc3339).unwrap_or_default(),
            r.reclaim_after.map(rfc3339).unwrap_or_default(),
            r.idle_summary.clone(),
            reasons.join("; "),
        ];
        line(&mut out, &fields);
    }
    out
}
