//! Validation: every rule a single key's type cannot express, one function per section,
//! each setting that is not allowed reported with its key, its value and what is allowed.

use super::{
    values, Config, Daemon, Idle, Keys, Lifecycle, Mode, Operator, Owners, Pricing, Prometheus,
    Protection, Rightsizing, Smtp, SmtpTls, MAX_IDLE_CPU_CORES, MAX_IDLE_NETWORK_BYTES_PER_SECOND,
};
use crate::core::model::Span;
use std::fmt;

/// One setting that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub value: String,
    pub allowed: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}` is not allowed: {}",
            self.key, self.value, self.allowed
        )
    }
}

/// The problems found so far, in the order the checks ran.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn bad(&mut self, key: &str, value: String, allowed: &str) {
        self.0.push(Problem {
            key: key.to_string(),
            value,
            allowed: allowed.to_string(),
        })
    }
}

impl Config {
    /// Every rule a single key's type cannot express, section by section.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut out = Problems::default();
        own_namespace(&self.own_namespace, &mut out);
        keys(&self.keys, &mut out);
        owners(&self.owners, self.mode, &mut out);
        protection(&self.protection, &mut out);
        lifecycle(&self.lifecycle, &mut out);
        idle(&self.idle, &mut out);
        rightsizing(&self.rightsizing, &mut out);
        pricing(&self.pricing, &mut out);
        prometheus(&self.prometheus, &mut out);
        daemon(&self.daemon, &mut out);
        smtp(&self.smtp, &mut out);
        out.0
    }
}

fn own_namespace(name: &str, out: &mut Problems) {
    if !values::is_dns_label(name) {
        out.bad(
            "own_namespace",
            name.to_string(),
            "a namespace name (lowercase letters, digits and '-', at most 63 characters)",
        );
    }
}

fn keys(k: &Keys, out: &mut Problems) {
    for (key, value) in [
        ("keys.expires", &k.expires),
        ("keys.ttl", &k.ttl),
        ("keys.team", &k.team),
        ("keys.owner_email", &k.owner_email),
    ] {
        if !values::is_label_key(value) {
            out.bad(
                key,
                value.clone(),
                "a Kubernetes label key such as example.com/name (prefix optional, name at most 63 characters of letters, digits, '-', '_', '.')",
            );
        }
    }
    if !k.state_prefix.ends_with('/')
        || !values::is_dns_subdomain(&k.state_prefix[..k.state_prefix.len().saturating_sub(1)])
    {
        out.bad(
            "keys.state_prefix",
            k.state_prefix.clone(),
            "a DNS subdomain followed by '/', e.g. kube-reclaimer.io/",
        );
    }
}

fn owners(o: &Owners, mode: Mode, out: &mut Problems) {
    for (team, emails) in &o.teams {
        if team.trim().is_empty() {
            out.bad("owners.teams", team.clone(), "a non-empty team name");
        }
        if emails.is_empty() {
            out.bad(
                &format!("owners.teams.{team}"),
                "[]".into(),
                "at least one e-mail address (remove the team to use the fallback recipients)",
            );
        }
    }
    if mode == Mode::Enforce && o.fallback_recipients.is_empty() {
        out.bad(
            "owners.fallback_recipients",
            "[]".into(),
            "at least one address in enforce mode, so that namespaces without a known owner are never acted on unannounced",
        );
    }
    for (i, domain) in o.allowed_domains.iter().enumerate() {
        if !values::is_dns_subdomain(&domain.to_ascii_lowercase()) {
            out.bad(
                &format!("owners.allowed_domains[{i}]"),
                domain.clone(),
                "a mail domain such as example.com (it also allows its subdomains)",
            );
        }
    }
    if o.max_recipients == 0 {
        out.bad(
            "owners.max_recipients",
            "0".into(),
            "at least 1 (the most distinct addresses an owner-email annotation may name)",
        );
    }
}

fn protection(p: &Protection, out: &mut Problems) {
    for (i, pattern) in p.namespaces.iter().enumerate() {
        if pattern.trim().is_empty() {
            out.bad(
                &format!("protection.namespaces[{i}]"),
                pattern.clone(),
                "a namespace name or glob such as kube-*",
            );
        }
    }
    let Some(selector) = &p.selector else {
        return;
    };
    if selector.is_empty() {
        out.bad(
            "protection.selector",
            "{}".into(),
            "at least one matchLabels entry or matchExpressions requirement (an empty selector would protect every namespace); remove the key for no selector",
        );
    }
    for (i, r) in selector.match_expressions.iter().enumerate() {
        let needs_values = matches!(r.operator, Operator::In | Operator::NotIn);
        if needs_values == r.values.is_empty() {
            out.bad(
                &format!("protection.selector.matchExpressions[{i}].values"),
                format!("{:?}", r.values),
                "values for In and NotIn, none for Exists and DoesNotExist",
            );
        }
    }
}

fn lifecycle(l: &Lifecycle, out: &mut Problems) {
    if l.allow_short_grace_period {
        if l.grace_period < Span::seconds(1) {
            out.bad(
                "lifecycle.grace_period",
                l.grace_period.to_string(),
                "at least 1s, even with lifecycle.allow_short_grace_period",
            );
        }
    } else if l.grace_period < Span::hours(1) {
        out.bad(
            "lifecycle.grace_period",
            l.grace_period.to_string(),
            "at least 1h, so owners have time to react to the notice (shorter only with lifecycle.allow_short_grace_period: true, for test clusters)",
        );
    }
    if l.notice_max_age.as_seconds() < l.grace_period.as_seconds() + Span::days(1).as_seconds() {
        out.bad(
            "lifecycle.notice_max_age",
            l.notice_max_age.to_string(),
            "at least lifecycle.grace_period + 1d, or every notice goes stale before it is due",
        );
    }
    if l.tombstone_dir.trim().is_empty() {
        out.bad(
            "lifecycle.tombstone_dir",
            l.tombstone_dir.clone(),
            "a directory path: namespaces are only deleted after their objects were saved there",
        );
    }
}

fn idle(i: &Idle, out: &mut Problems) {
    let cpu = i.cpu_threshold.0;
    if !(cpu > 0.0 && cpu <= MAX_IDLE_CPU_CORES) {
        out.bad(
            "idle.cpu_threshold",
            cpu.to_string(),
            "more than 0 and at most 500m cores: above that busy namespaces count as idle (use idle.reclaim: false to reclaim nothing for idleness)",
        );
    }
    let net = i.network_threshold.0;
    if !(net > 0.0 && net <= MAX_IDLE_NETWORK_BYTES_PER_SECOND) {
        out.bad(
            "idle.network_threshold",
            net.to_string(),
            "more than 0 and at most 100Ki bytes per second: above that namespaces in use count as idle (use idle.reclaim: false to reclaim nothing for idleness)",
        );
    }
    window(
        "idle.window",
        i.window,
        Span::days(3),
        "3d: a quiet weekend must not count as idle",
        out,
    );
}

/// A usage window: at least `min` (`why` says why), at most 90 days.
fn window(key: &str, window: Span, min: Span, why: &str, out: &mut Problems) {
    if window < min || window > Span::days(90) {
        out.bad(
            key,
            window.to_string(),
            &format!("at least {why}; at most 90d"),
        );
    }
}

fn rightsizing(r: &Rightsizing, out: &mut Problems) {
    window(
        "rightsizing.window",
        r.window,
        Span::days(1),
        "1d: a shorter one is no usage profile",
        out,
    );
    if !(r.cpu_quantile > 0.0 && r.cpu_quantile <= 1.0) {
        out.bad(
            "rightsizing.cpu_quantile",
            r.cpu_quantile.to_string(),
            "a number in (0, 1], e.g. 0.95 for p95",
        );
    }
    if !(r.gap_threshold > 0.0 && r.gap_threshold < 1.0) {
        out.bad(
            "rightsizing.gap_threshold",
            r.gap_threshold.to_string(),
            "a fraction in (0, 1), e.g. 0.5 to flag requests more than 50% above usage",
        );
    }
    if !(r.headroom >= 0.0 && r.headroom <= 10.0) {
        out.bad(
            "rightsizing.headroom",
            r.headroom.to_string(),
            "a fraction from 0 to 10, e.g. 0.2 for 20% above usage",
        );
    }
}

fn pricing(p: &Pricing, out: &mut Problems) {
    for (key, price) in [
        ("pricing.cpu_per_vcpu_hour", p.cpu_per_vcpu_hour),
        ("pricing.memory_per_gib_hour", p.memory_per_gib_hour),
    ] {
        if !(price.is_finite() && price >= 0.0) {
            out.bad(key, price.to_string(), "a price of zero or more");
        }
    }
}

fn prometheus(prom: &Prometheus, out: &mut Problems) {
    if !(prom.url.starts_with("http://") || prom.url.starts_with("https://"))
        || prom.url.len() <= "https://".len()
    {
        out.bad(
            "prometheus.url",
            prom.url.clone(),
            "an http:// or https:// URL, e.g. http://prometheus.monitoring.svc:9090",
        );
    }
    if let Err(why) = values::check_selector(&prom.selector) {
        out.bad(
            "prometheus.selector",
            prom.selector.clone(),
            &format!(
                "label matchers without braces, e.g. cluster=\"prod-eu\", job=\"kubelet\" ({why})"
            ),
        );
    }
    for name in prom.headers.keys() {
        if !values::is_header_name(name) {
            out.bad(
                &format!("prometheus.headers.{name}"),
                name.clone(),
                "an HTTP header name (letters, digits and '-')",
            );
        }
    }
}

fn daemon(d: &Daemon, out: &mut Problems) {
    if d.listen.parse::<std::net::SocketAddr>().is_err() {
        out.bad(
            "daemon.listen",
            d.listen.clone(),
            "an address and port such as 0.0.0.0:8080 or 127.0.0.1:9090",
        );
    }
    if !values::is_dns_subdomain(&d.lease_name) {
        out.bad(
            "daemon.lease_name",
            d.lease_name.clone(),
            "a Kubernetes object name",
        );
    }
    if d.lease_duration < Span::seconds(5) {
        out.bad(
            "daemon.lease_duration",
            d.lease_duration.to_string(),
            "at least 5s",
        );
    }
    for (key, value) in [
        ("daemon.request_timeout", d.request_timeout),
        ("daemon.cycle_timeout", d.cycle_timeout),
        ("daemon.max_clock_skew", d.max_clock_skew),
    ] {
        if value < Span::seconds(1) {
            out.bad(key, value.to_string(), "at least 1s");
        }
    }
}

fn smtp(s: &Smtp, out: &mut Problems) {
    if s.host.trim().is_empty() {
        out.bad("smtp.host", s.host.clone(), "a host name or address");
    }
    if s.port == 0 {
        out.bad("smtp.port", "0".into(), "a port from 1 to 65535");
    }
    smtp_credentials(s, out);
    for (key, value) in [
        ("smtp.password_file", &s.password_file),
        ("smtp.password_env", &s.password_env),
        ("smtp.ca_file", &s.ca_file),
        ("smtp.templates_dir", &s.templates_dir),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            out.bad(
                key,
                value.clone().unwrap_or_default(),
                "a non-empty path or name, or null",
            );
        }
    }
    if let (Some(ca), SmtpTls::None) = (&s.ca_file, s.tls) {
        out.bad(
            "smtp.ca_file",
            ca.clone(),
            "only with smtp.tls starttls or tls (a plain connection checks no certificate); remove it, or choose a TLS mode",
        );
    }
}

/// A user name and exactly one password source, or neither.
fn smtp_credentials(s: &Smtp, out: &mut Problems) {
    if s.password_file.is_some() && s.password_env.is_some() {
        out.bad(
            "smtp.password_env",
            s.password_env.clone().unwrap_or_default(),
            "only one of smtp.password_file and smtp.password_env",
        );
    }
    if (s.password_file.is_some() || s.password_env.is_some()) && s.username.is_none() {
        out.bad(
            "smtp.username",
            "(unset)".into(),
            "a user name whenever a password is configured",
        );
    }
    if let (Some(user), None, None) = (&s.username, &s.password_file, &s.password_env) {
        out.bad(
            "smtp.username",
            user.clone(),
            "a user name together with smtp.password_file or smtp.password_env (remove it for a server without authentication)",
        );
    }
}
