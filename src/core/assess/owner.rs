//! Who owns a namespace and who is told about it, with where each fact came from.

use crate::core::config::{Config, Email};
use crate::core::model::NamespaceMeta;
use serde::Serialize;

/// Where the recipients of a namespace's notices come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecipientSource {
    /// The namespace's owner-email annotation.
    Annotation { key: String },
    /// The team's addresses in `owners.teams`.
    Team { team: String },
    /// `owners.fallback_recipients`: no owner e-mail and no known team.
    Fallback,
    /// Nobody can be told: no owner e-mail, no known team, no fallback recipients.
    Nobody,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Owner {
    /// The team label's value, if set.
    pub team: Option<String>,
    /// Whether the team is listed in `owners.teams`.
    pub team_known: bool,
    /// Addresses from the owner-email annotation that are used: readable, in an allowed
    /// domain, distinct, and no more than `owners.max_recipients` of them.
    pub emails: Vec<String>,
    /// Who is told, and why these.
    pub recipients: Vec<String>,
    pub recipients_from: RecipientSource,
}

/// A value on the namespace that could not be read, reported to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub key: String,
    pub value: String,
    pub problem: String,
}

/// Owner of `ns`, plus findings for owner values that could not be read.
pub fn assess_owner(ns: &NamespaceMeta, config: &Config) -> (Owner, Vec<Finding>) {
    let keys = &config.keys;
    let team = ns
        .labels
        .get(&keys.team)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let (emails, findings) = match ns.annotations.get(&keys.owner_email) {
        Some(raw) => owner_emails(raw, config),
        None => (Vec::new(), Vec::new()),
    };
    let team_addresses = team.as_ref().and_then(|t| config.owners.teams.get(t));
    let (recipients, recipients_from) =
        recipients(&emails, team.as_ref().zip(team_addresses), config);
    let owner = Owner {
        team_known: team_addresses.is_some(),
        team,
        emails,
        recipients,
        recipients_from,
    };
    (owner, findings)
}

/// The usable addresses of the owner-email annotation `raw`, and a finding when some
/// (or all) of them cannot be used.
fn owner_emails(raw: &str, config: &Config) -> (Vec<String>, Vec<Finding>) {
    let mut emails: Vec<String> = Vec::new();
    let (mut bad, mut refused) = (Vec::new(), Vec::new());
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<Email>() {
            Ok(email) if !domain_allowed(&email, &config.owners.allowed_domains) => {
                refused.push(email.to_string())
            }
            Ok(email) => {
                let address = email.to_string();
                if !emails.iter().any(|e| e.eq_ignore_ascii_case(&address)) {
                    emails.push(address);
                }
            }
            Err(_) => bad.push(part.to_string()),
        }
    }
    let mut problems = Vec::new();
    if !bad.is_empty() {
        problems.push(format!(
            "not e-mail addresses: {} (expected comma-separated name@example.com)",
            bad.join(", ")
        ));
    }
    if !refused.is_empty() {
        problems.push(format!(
            "not in the allowed mail domains ({}, owners.allowed_domains): {}",
            config.owners.allowed_domains.join(", "),
            refused.join(", ")
        ));
    }
    let cap = config.owners.max_recipients as usize;
    if emails.len() > cap {
        problems.push(format!(
            "{} addresses, at most {cap} allowed (owners.max_recipients): none of them is used",
            emails.len()
        ));
        emails.clear();
    }
    if problems.is_empty() && emails.is_empty() {
        problems.push("no e-mail address in the annotation".into());
    }
    let findings = if problems.is_empty() {
        Vec::new()
    } else {
        vec![Finding {
            key: config.keys.owner_email.clone(),
            value: raw.to_string(),
            problem: problems.join("; "),
        }]
    };
    (emails, findings)
}

/// Who is told: the owner e-mails, else the known team's addresses, else the fallback
/// recipients, else nobody.
fn recipients(
    emails: &[String],
    team: Option<(&String, &Vec<Email>)>,
    config: &Config,
) -> (Vec<String>, RecipientSource) {
    let to_strings = |list: &[Email]| list.iter().map(|e| e.to_string()).collect();
    if !emails.is_empty() {
        (
            emails.to_vec(),
            RecipientSource::Annotation {
                key: config.keys.owner_email.clone(),
            },
        )
    } else if let Some((team, addresses)) = team {
        (
            to_strings(addresses),
            RecipientSource::Team { team: team.clone() },
        )
    } else if !config.owners.fallback_recipients.is_empty() {
        (
            to_strings(&config.owners.fallback_recipients),
            RecipientSource::Fallback,
        )
    } else {
        (Vec::new(), RecipientSource::Nobody)
    }
}

/// Whether `email`'s domain is one of `allowed` or below one (any domain when `allowed`
/// is empty). Domains compare without regard to case.
fn domain_allowed(email: &Email, allowed: &[String]) -> bool {
    let Some((_, domain)) = email.as_str().rsplit_once('@') else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    allowed.is_empty()
        || allowed.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            domain == a
                || domain
                    .strip_suffix(&a)
                    .is_some_and(|rest| rest.ends_with('.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    const TEAM: &str = "kube-reclaimer.io/team";
    const EMAIL: &str = "kube-reclaimer.io/owner-email";

    fn config() -> Config {
        Config::from_yaml(
            "owners:
  teams: {payments: [pay@example.com, pay-lead@example.com]}
  fallback_recipients: [platform@example.com]
",
            "test",
        )
        .unwrap()
    }

    fn ns(team: Option<&str>, email: Option<&str>) -> NamespaceMeta {
        NamespaceMeta {
            name: "n".into(),
            uid: "u".into(),
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            labels: team
                .map(|t| (TEAM.to_string(), t.to_string()))
                .into_iter()
                .collect(),
            annotations: email
                .map(|e| (EMAIL.to_string(), e.to_string()))
                .into_iter()
                .collect(),
            deleting_since: None,
        }
    }

    #[test]
    fn recipients_are_owner_emails_then_team_then_fallback() {
        let c = config();
        let cases = [
            (
                Some("payments"),
                Some("dev@example.com, ops@example.com"),
                vec!["dev@example.com", "ops@example.com"],
                "annotation",
            ),
            (
                Some("payments"),
                None,
                vec!["pay@example.com", "pay-lead@example.com"],
                "team",
            ),
            (
                Some("unknown-team"),
                None,
                vec!["platform@example.com"],
                "fallback",
            ),
            (None, None, vec!["platform@example.com"], "fallback"),
            (
                None,
                Some("not-an-address"),
                vec!["platform@example.com"],
                "fallback",
            ),
            (
                Some("payments"),
                Some("bad"),
                vec!["pay@example.com", "pay-lead@example.com"],
                "team",
            ),
        ];
        for (team, email, expected, from) in cases {
            let (owner, _) = assess_owner(&ns(team, email), &c);
            assert_eq!(owner.recipients, expected, "{team:?} {email:?}");
            let got = serde_json::to_value(&owner.recipients_from).unwrap();
            assert_eq!(got["kind"], from, "{team:?} {email:?}");
        }
    }

    #[test]
    fn malformed_owner_emails_are_findings_and_good_ones_are_kept() {
        let (owner, findings) =
            assess_owner(&ns(None, Some("dev@example.com, nobody, a b@c")), &config());
        assert_eq!(owner.emails, vec!["dev@example.com"]);
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("nobody"));
        assert!(findings[0].problem.contains("a b@c"));
        let (_, findings) = assess_owner(&ns(None, Some(" , ")), &config());
        assert_eq!(findings[0].problem, "no e-mail address in the annotation");
    }

    fn restricted(extra: &str) -> Config {
        Config::from_yaml(
            &format!(
                "owners:
  teams: {{payments: [pay@example.com]}}
  fallback_recipients: [platform@example.net]
  allowed_domains: [example.com]
{extra}"
            ),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn addresses_outside_the_allowed_domains_are_refused_and_a_finding() {
        let c = restricted("");
        let (owner, findings) = assess_owner(
            &ns(
                Some("payments"),
                Some(
                    "dev@example.com, ops@EU.Example.COM, x@example.com.evil.org, y@notexample.com",
                ),
            ),
            &c,
        );
        assert_eq!(owner.recipients, ["dev@example.com", "ops@EU.Example.COM"]);
        assert_eq!(owner.emails, owner.recipients);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].key, EMAIL);
        assert!(
            findings[0]
                .problem
                .contains("x@example.com.evil.org, y@notexample.com")
                && findings[0].problem.contains("owners.allowed_domains"),
            "{findings:?}"
        );
        // No address left: the team hears, and is told why.
        let (owner, findings) = assess_owner(&ns(Some("payments"), Some("boss@outside.org")), &c);
        assert_eq!(owner.recipients, ["pay@example.com"]);
        assert_eq!(
            owner.recipients_from,
            RecipientSource::Team {
                team: "payments".into()
            }
        );
        assert!(owner.emails.is_empty());
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("boss@outside.org"));
        // Without a team, the fallback (configured by the platform, any domain) hears.
        let (owner, _) = assess_owner(&ns(None, Some("boss@outside.org")), &c);
        assert_eq!(owner.recipients, ["platform@example.net"]);
        assert_eq!(owner.recipients_from, RecipientSource::Fallback);
    }

    #[test]
    fn without_allowed_domains_any_domain_is_accepted() {
        let (owner, findings) = assess_owner(&ns(None, Some("a@one.org, b@two.net")), &config());
        assert_eq!(owner.recipients, ["a@one.org", "b@two.net"]);
        assert!(findings.is_empty());
    }

    #[test]
    fn more_owner_addresses_than_the_cap_are_refused_whole() {
        let c = restricted("  max_recipients: 2\n");
        let (owner, findings) = assess_owner(
            &ns(
                Some("payments"),
                Some("a@example.com, b@example.com, c@example.com"),
            ),
            &c,
        );
        assert_eq!(owner.recipients, ["pay@example.com"]);
        assert!(owner.emails.is_empty());
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].problem.contains("3 addresses")
                && findings[0].problem.contains("owners.max_recipients")
                && findings[0].problem.contains('2'),
            "{findings:?}"
        );
        // The same address twice counts once; at the cap is fine.
        let (owner, findings) = assess_owner(
            &ns(
                Some("payments"),
                Some("a@example.com, b@example.com, A@example.com"),
            ),
            &c,
        );
        assert_eq!(owner.recipients, ["a@example.com", "b@example.com"]);
        assert!(findings.is_empty(), "{findings:?}");
        // Default cap: 5.
        let many = (1..=6)
            .map(|i| format!("u{i}@example.com"))
            .collect::<Vec<_>>()
            .join(",");
        let (owner, findings) = assess_owner(&ns(None, Some(&many)), &config());
        assert_eq!(owner.recipients, ["platform@example.com"]);
        assert_eq!(findings.len(), 1);
    }

    #[test]
    fn malformed_and_refused_addresses_make_one_finding() {
        let c = restricted("");
        let (owner, findings) = assess_owner(
            &ns(None, Some("dev@example.com, nobody, boss@outside.org")),
            &c,
        );
        assert_eq!(owner.recipients, ["dev@example.com"]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].problem.contains("nobody"));
        assert!(findings[0].problem.contains("boss@outside.org"));
    }

    #[test]
    fn nobody_is_said_out_loud_when_there_is_no_one_to_tell() {
        let (owner, _) = assess_owner(&ns(Some("ghosts"), None), &Config::default());
        assert!(owner.recipients.is_empty());
        assert_eq!(owner.recipients_from, RecipientSource::Nobody);
        assert_eq!(owner.team.as_deref(), Some("ghosts"));
        assert!(!owner.team_known);
    }
}
