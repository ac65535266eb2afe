//! Protection: whether a namespace may never be acted on, and the rule that protects it.

use crate::core::config::{glob_matches, Config, SYSTEM_NAMESPACES};
use std::collections::BTreeMap;

/// Why `name` may never be acted on, if it is protected: the daemon's own namespace,
/// a Kubernetes system namespace, a `protection.namespaces` entry or the selector.
pub fn protection_of(
    config: &Config,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    if name == config.own_namespace {
        return Some("the daemon's own namespace".into());
    }
    if SYSTEM_NAMESPACES.contains(&name) {
        return Some("a Kubernetes system namespace".into());
    }
    if let Some(pattern) = config
        .protection
        .namespaces
        .iter()
        .find(|p| glob_matches(p, name))
    {
        return Some(format!(
            "name matches protection.namespaces entry `{pattern}`"
        ));
    }
    match &config.protection.selector {
        Some(selector) if selector.matches(labels) => {
            Some("labels match protection.selector".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::ConfigError;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(text, "test.yaml")
    }

    #[test]
    fn the_defaults_protect_the_system_and_own_namespaces() {
        let c = Config::default();
        for ns in [
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "default",
            "kube-reclaimer",
        ] {
            assert!(protection_of(&c, ns, &BTreeMap::new()).is_some(), "{ns}");
        }
    }

    #[test]
    fn protection_by_name_glob_and_selector() {
        let c = load(
            "protection:
  namespaces: ['*-prod', monitoring]
  selector:
    matchExpressions: [{key: tier, operator: In, values: [critical]}]
",
        )
        .unwrap();
        let none = BTreeMap::new();
        let critical: BTreeMap<String, String> =
            [("tier".to_string(), "critical".to_string())].into();
        assert!(protection_of(&c, "payments-prod", &none).is_some());
        assert!(protection_of(&c, "monitoring", &none).is_some());
        assert!(protection_of(&c, "scratch", &critical).is_some());
        assert!(protection_of(&c, "scratch", &none).is_none());
        assert!(
            protection_of(&c, "kube-reclaimer", &none).is_some(),
            "own namespace always"
        );
    }

    #[test]
    fn a_configured_list_adds_to_the_system_namespaces_never_replaces_them() {
        let none = BTreeMap::new();
        for yaml in [
            "protection: {namespaces: [monitoring]}",
            "protection: {namespaces: []}",
            "protection: {namespaces: [], selector: null}\nown_namespace: reclaimer",
        ] {
            let c = load(yaml).unwrap();
            for ns in [
                "kube-system",
                "kube-public",
                "kube-node-lease",
                "default",
                c.own_namespace.as_str(),
            ] {
                assert!(
                    protection_of(&c, ns, &none).is_some(),
                    "{yaml}: {ns} must stay protected"
                );
            }
            assert!(
                protection_of(&c, "kube-system-tools", &none).is_none(),
                "{yaml}"
            );
            assert_eq!(
                c.protected_names()[..4],
                ["kube-system", "kube-public", "kube-node-lease", "default"],
                "{yaml}"
            );
        }
        let c = load("protection: {namespaces: [monitoring]}").unwrap();
        assert!(protection_of(&c, "monitoring", &none).is_some());
        assert_eq!(
            protection_of(&c, "kube-system", &none).as_deref(),
            Some("a Kubernetes system namespace")
        );
    }
}
