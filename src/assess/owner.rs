//! Who owns a namespace and who is told about it, with where each fact came from.

use crate::config::{Config, Email};
use crate::model::NamespaceMeta;
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
    /// Addresses from the owner-email annotation that could be read.
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
    let mut findings = Vec::new();
    let team = ns
        .labels
        .get(&keys.team)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let mut emails = Vec::new();
    if let Some(raw) = ns.annotations.get(&keys.owner_email) {
        let mut bad = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<Email>() {
                Ok(email) => emails.push(email.to_string()),
                Err(_) => bad.push(part.to_string()),
            }
        }
        if !bad.is_empty() || emails.is_empty() {
            findings.push(Finding {
                key: keys.owner_email.clone(),
                value: raw.clone(),
                problem: if bad.is_empty() {
                    "no e-mail address in the annotation".into()
                } else {
                    format!(
                        "not e-mail addresses: {} (expected comma-separated name@example.com)",
                        bad.join(", ")
                    )
                },
            });
        }
    }
    let team_addresses = team.as_ref().and_then(|t| config.owners.teams.get(t));
    let (recipients, recipients_from) = if !emails.is_empty() {
        (
            emails.clone(),
            RecipientSource::Annotation {
                key: keys.owner_email.clone(),
            },
        )
    } else if let (Some(addresses), Some(team)) = (team_addresses, &team) {
        (
            addresses.iter().map(|e| e.to_string()).collect(),
            RecipientSource::Team { team: team.clone() },
        )
    } else if !config.owners.fallback_recipients.is_empty() {
        (
            config
                .owners
                .fallback_recipients
                .iter()
                .map(|e| e.to_string())
                .collect(),
            RecipientSource::Fallback,
        )
    } else {
        (Vec::new(), RecipientSource::Nobody)
    };
    let owner = Owner {
        team_known: team_addresses.is_some(),
        team,
        emails,
        recipients,
        recipients_from,
    };
    (owner, findings)
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

    #[test]
    fn nobody_is_said_out_loud_when_there_is_no_one_to_tell() {
        let (owner, _) = assess_owner(&ns(Some("ghosts"), None), &Config::default());
        assert!(owner.recipients.is_empty());
        assert_eq!(owner.recipients_from, RecipientSource::Nobody);
        assert_eq!(owner.team.as_deref(), Some("ghosts"));
        assert!(!owner.team_known);
    }
}
