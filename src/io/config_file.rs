//! The configuration file on disk: read it, then parse and validate its text in core.

use crate::core::config::{Config, ConfigError};
use std::path::Path;

/// Reads, parses and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    Config::from_yaml(&text, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_loads_and_matches_the_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kube-reclaimer.yaml");
        let config = load(&path).unwrap();
        assert_eq!(config, Config::default());
    }
}
