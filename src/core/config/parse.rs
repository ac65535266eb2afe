//! Reading configuration text: YAML to [`Config`], refused with the key that does not
//! parse or every setting that is not allowed. Reading the file itself is I/O and lives
//! outside core.

use super::validate::Problem;
use super::Config;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config file {path} has {} invalid setting(s):\n{}", .problems.len(), list(.problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Parses and validates config text; `origin` names it in messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let parsed: Result<Option<Config>, serde_saphyr::Error> =
            serde_saphyr::with_deserializer_from_str(text, |de| {
                serde_path_to_error::deserialize::<_, Option<Config>>(de).map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    let message = if path.is_empty() || path == "." || path == "?" {
                        inner.to_string()
                    } else {
                        format!("key `{path}`: {inner}")
                    };
                    <serde_saphyr::Error as serde::de::Error>::custom(message)
                })
            });
        let config = parsed
            .map_err(|e| ConfigError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?
            .unwrap_or_default();
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config.normalized())
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_string(),
                problems,
            })
        }
    }

    /// Puts lists in their canonical order: reminder offsets longest first.
    fn normalized(mut self) -> Config {
        self.lifecycle.reminder_offsets.sort_by(|a, b| b.cmp(a));
        self.lifecycle.reminder_offsets.dedup();
        self
    }
}
