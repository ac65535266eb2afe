//! Which namespaces are protected: name globs and a Kubernetes-style label selector.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A label selector with the same shape and meaning as Kubernetes' `LabelSelector`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<LabelRequirement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRequirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// True when every requirement holds. Callers refuse empty selectors at load time,
    /// because an empty selector matches everything.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let labels_ok = self
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v));
        labels_ok
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    Operator::In => value.is_some_and(|v| r.values.contains(v)),
                    Operator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// Shell-style glob match on namespace names: `*` any run, `?` one character.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ni = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn globs_match_like_a_shell() {
        let cases = [
            ("kube-*", "kube-system", true),
            ("kube-*", "kube-", true),
            ("kube-*", "kubes", false),
            ("*-prod", "payments-prod", true),
            ("team-?", "team-a", true),
            ("team-?", "team-ab", false),
            ("default", "default", true),
            ("default", "default2", false),
            ("*", "anything", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(glob_matches(pattern, name), expected, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn selector_operators_follow_kubernetes_semantics() {
        let ns = labels(&[("tier", "prod"), ("team", "payments")]);
        let sel = |op, values: &[&str]| LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelRequirement {
                key: "tier".into(),
                operator: op,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        };
        assert!(sel(Operator::In, &["prod", "staging"]).matches(&ns));
        assert!(!sel(Operator::In, &["dev"]).matches(&ns));
        assert!(sel(Operator::NotIn, &["dev"]).matches(&ns));
        assert!(!sel(Operator::NotIn, &["prod"]).matches(&ns));
        assert!(sel(Operator::Exists, &[]).matches(&ns));
        assert!(!sel(Operator::DoesNotExist, &[]).matches(&ns));
        assert!(sel(Operator::NotIn, &["prod"]).matches(&labels(&[])));
    }

    #[test]
    fn match_labels_need_every_pair() {
        let sel = LabelSelector {
            match_labels: labels(&[("tier", "prod"), ("team", "payments")]),
            match_expressions: vec![],
        };
        assert!(sel.matches(&labels(&[
            ("tier", "prod"),
            ("team", "payments"),
            ("x", "y")
        ])));
        assert!(!sel.matches(&labels(&[("tier", "prod")])));
    }
}
