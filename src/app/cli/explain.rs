//! `explain NAMESPACE`: the assessment and plan of one namespace in sentences, every
//! number with where it came from.

use super::table::action_brief;
use crate::core::assess::{Assessment, Expiry, Prices, QuotaLine, RecipientSource, Verdict};
use crate::core::collected::Sources;
use crate::core::config::{Config, MemoryStatistic};
use crate::core::format::{money_or, Per, Unknown};
use crate::core::model::{format_bytes, format_cores};
use crate::core::plan::NamespacePlan;
use chrono::{DateTime, Utc};
use std::fmt::Write;

fn opt(v: Option<f64>, show: fn(f64) -> String) -> String {
    v.map_or_else(|| "unknown".into(), show)
}

/// The explanation of one namespace, section by section.
pub fn render(
    a: &Assessment,
    p: &NamespacePlan,
    config: &Config,
    sources: &Sources,
    prices: &Prices,
    at: DateTime<Utc>,
    dry_run: bool,
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Namespace {} (uid {}), as of {}", a.name, a.uid, rfc(at));
    let _ = writeln!(o, "\nState: {}", p.state.as_str());
    for note in &p.notes {
        let _ = writeln!(o, "  {note}");
    }
    owner(&mut o, a, config);
    expiry(&mut o, a, at);
    idle(&mut o, a, config);
    rightsizing(&mut o, a, config);
    quota(&mut o, a);
    cost(&mut o, a, prices);
    actions(&mut o, a, p, dry_run);
    sources_of(&mut o, sources);
    o
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Who owns it and who is told.
fn owner(o: &mut String, a: &Assessment, config: &Config) {
    let _ = writeln!(o, "\nOwner");
    match &a.owner.team {
        Some(team) => {
            let known = if a.owner.team_known {
                "listed in owners.teams"
            } else {
                "not listed in owners.teams"
            };
            let _ = writeln!(o, "  team {team} (label {}; {known})", config.keys.team);
        }
        None => {
            let _ = writeln!(o, "  no team (label {} not set)", config.keys.team);
        }
    }
    if a.owner.emails.is_empty() {
        let _ = writeln!(
            o,
            "  no owner e-mail (annotation {})",
            config.keys.owner_email
        );
    } else {
        let _ = writeln!(
            o,
            "  owner e-mail {} (annotation {})",
            a.owner.emails.join(", "),
            config.keys.owner_email
        );
    }
    let from = match &a.owner.recipients_from {
        RecipientSource::Annotation { key } => format!("the owner e-mail annotation {key}"),
        RecipientSource::Team { team } => format!("team {team}'s addresses in owners.teams"),
        RecipientSource::Fallback => {
            "owners.fallback_recipients (no owner e-mail, no known team)".into()
        }
        RecipientSource::Nobody => {
            "nobody: no owner e-mail, no known team, no fallback recipients".into()
        }
    };
    let _ = writeln!(
        o,
        "  notices go to {} — from {from}",
        if a.owner.recipients.is_empty() {
            "no one".into()
        } else {
            a.owner.recipients.join(", ")
        }
    );
}

/// When it expires, and from which label or annotation.
fn expiry(o: &mut String, a: &Assessment, at: DateTime<Utc>) {
    let _ = writeln!(o, "\nExpiry");
    match &a.expiry {
        Expiry::None => {
            let _ = writeln!(o, "  none: no expiry label or annotation is set");
        }
        Expiry::Never { source } => {
            let _ = writeln!(
                o,
                "  never: opted out by {} {}={}",
                source.kind.as_str(),
                source.key,
                source.value
            );
        }
        Expiry::At { at: t, source } => {
            let when = if *t <= at { "expired" } else { "expires" };
            let _ = writeln!(
                o,
                "  {when} {} — from {} {}={}",
                rfc(*t),
                source.kind.as_str(),
                source.key,
                source.value
            );
        }
        Expiry::Malformed { source, error } => {
            let _ = writeln!(
                o,
                "  unreadable {} {}: {error}",
                source.kind.as_str(),
                source.key
            );
            let _ = writeln!(
                o,
                "  (an unreadable value is reported to the owner and is never a reason to reclaim)"
            );
        }
    }
}

/// The idle verdict and each signal behind it.
fn idle(o: &mut String, a: &Assessment, config: &Config) {
    let _ = writeln!(
        o,
        "\nIdle ({} over {})",
        a.idle.verdict.as_str(),
        config.idle.window
    );
    let _ = writeln!(o, "  {}", a.idle.summary);
    for s in &a.idle.evidence {
        let value = match (s.value, &s.reason) {
            (Some(v), _) => format!("{v:.4} ({} threshold {})", s.status, s.threshold),
            (None, Some(reason)) => format!("missing ({reason})"),
            (None, None) => "missing".into(),
        };
        let _ = writeln!(
            o,
            "  - {}: {} = {value} [Prometheus]",
            s.signal, s.statistic
        );
    }
    if a.idle.verdict == Verdict::Unknown {
        let _ = writeln!(o, "  unknown never leads to marking or reclamation");
    }
}

/// Requests against usage, per resource.
fn rightsizing(o: &mut String, a: &Assessment, config: &Config) {
    let r = &config.rightsizing;
    let memory_stat = match r.memory_statistic {
        MemoryStatistic::MaxWorkingSet => "highest working set".to_string(),
        MemoryStatistic::QuantileWorkingSet => {
            format!("p{:.0} working set", r.cpu_quantile * 100.0)
        }
    };
    let pods = a.pods.map_or("pods unknown".into(), |n| {
        format!("{n} pod(s) holding resources")
    });
    let _ = writeln!(
        o,
        "\nRightsizing over {} (CPU: p{:.0} of 5-minute rates; memory: {memory_stat}; flag above {:.0}%)",
        r.window,
        r.cpu_quantile * 100.0,
        r.gap_threshold * 100.0
    );
    for (name, s, show, floor) in [
        (
            "CPU",
            &a.rightsizing.cpu,
            format_cores as fn(f64) -> String,
            format_cores(r.min_cpu_request.0),
        ),
        (
            "memory",
            &a.rightsizing.memory,
            format_bytes as fn(f64) -> String,
            format_bytes(r.min_memory_request.0),
        ),
    ] {
        let verdict = match (s.gap, s.flagged) {
            (Some(g), true) => format!(
                "gap {:.0}%: flagged; recommended request {}",
                g * 100.0,
                opt(s.recommended_request, show)
            ),
            (Some(g), false) => format!(
                "gap {:.0}%: not flagged (threshold {:.0}%, noise floor {floor})",
                g * 100.0,
                r.gap_threshold * 100.0
            ),
            (None, _) => match &s.unknown_reason {
                Some(reason) => format!("gap unknown: {reason}"),
                None => "gap undefined: nothing requested".into(),
            },
        };
        let _ = writeln!(
            o,
            "  - {name}: requested {} (pod specs, {pods}), used {} (Prometheus) → {verdict}",
            opt(s.requested, show),
            opt(s.used, show),
        );
    }
}

/// The ResourceQuotas, or the one that would fit.
fn quota(o: &mut String, a: &Assessment) {
    let _ = writeln!(o, "\nQuota");
    if !a.quota.known {
        let _ = writeln!(o, "  unknown: quotas could not be listed");
    } else if a.quota.quotas.is_empty() {
        let _ = writeln!(
            o,
            "  no ResourceQuota; a quota fitting usage with headroom would be CPU {}, memory {}",
            opt(a.quota.cpu.recommended, format_cores),
            opt(a.quota.memory.recommended, format_bytes)
        );
    } else {
        let _ = writeln!(o, "  quotas: {}", a.quota.quotas.join(", "));
        for (name, line, show) in [
            ("CPU", &a.quota.cpu, format_cores as fn(f64) -> String),
            ("memory", &a.quota.memory, format_bytes as fn(f64) -> String),
        ] {
            quota_line(o, name, line, show);
        }
    }
}

/// What it costs per hour and per month, and at which prices.
fn cost(o: &mut String, a: &Assessment, prices: &Prices) {
    let c = &a.cost;
    let _ = writeln!(
        o,
        "\nCost per hour ({} {} per vCPU-hour, {} per GiB-hour, from {})",
        c.currency, prices.cpu_per_vcpu_hour, prices.memory_per_gib_hour, prices.source
    );
    if let Some(why) = &prices.fallback {
        let _ = writeln!(o, "  {why}");
    }
    let money = |v: Option<f64>| money_or(v, Per::Hour, &c.currency, Unknown::Word);
    for (what, line) in [("CPU", &c.cpu), ("memory", &c.memory)] {
        let _ = writeln!(
            o,
            "  {what}: requested {}, used {}, waste {}",
            money(line.requested),
            money(line.used),
            money(line.waste)
        );
    }
    let _ = writeln!(
        o,
        "  total: requested {}, used {}, waste (requested but unused) {}",
        money(c.requested_per_hour),
        money(c.used_per_hour),
        money(c.waste_per_hour)
    );
    let month = |v: Option<f64>| money_or(v, Per::Month, &c.currency, Unknown::Word);
    let _ = writeln!(
        o,
        "  per month (730 h): requested {}, waste {}",
        month(c.requested_per_month),
        month(c.waste_per_month)
    );
}

/// The planned actions, and the values that could not be read.
fn actions(o: &mut String, a: &Assessment, p: &NamespacePlan, dry_run: bool) {
    let _ = writeln!(
        o,
        "\nActions{}",
        if dry_run {
            " (dry-run: planned, not executed)"
        } else {
            ""
        }
    );
    if p.actions.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for action in &p.actions {
        let to = if action.recipients.is_empty() {
            String::new()
        } else {
            format!(" → {}", action.recipients.join(", "))
        };
        let _ = writeln!(o, "  - {}: {}{to}", action_brief(action), action.reason);
    }
    if !a.findings.is_empty() {
        let _ = writeln!(o, "\nUnreadable values");
        for f in &a.findings {
            let _ = writeln!(o, "  - {}={:?}: {}", f.key, f.value, f.problem);
        }
    }
}

/// How each source fared.
fn sources_of(o: &mut String, sources: &Sources) {
    let _ = writeln!(
        o,
        "\nSources: Kubernetes {} ({} requests); Prometheus {} ({} queries)",
        sources.kubernetes.status,
        sources.kubernetes.requests,
        sources.prometheus.status,
        sources.prometheus.requests
    );
    for problem in sources
        .kubernetes
        .problems
        .iter()
        .chain(&sources.prometheus.problems)
    {
        let _ = writeln!(o, "  - {problem}");
    }
    for choice in &sources.prometheus_series {
        let _ = writeln!(
            o,
            "  - {}: {} series ({})",
            choice.statistic.describe(),
            choice.series.map_or("no", |s| s.as_str()),
            choice.reason
        );
    }
}

fn quota_line(o: &mut String, name: &str, q: &QuotaLine, show: fn(f64) -> String) {
    let _ = writeln!(
        o,
        "  - {name}: hard {}, counted by the quota {}, requested {}, used {}, slack {}, recommended {}",
        opt(q.hard, show),
        opt(q.quota_used, show),
        opt(q.requested, show),
        opt(q.used, show),
        opt(q.slack, show),
        opt(q.recommended, show),
    );
    for v in &q.violations {
        let _ = writeln!(o, "    ! {v}");
    }
}
