//! What can go wrong while loading a config, each saying what to do about it.

use std::fmt;
use std::path::PathBuf;

/// One invalid value: the dotted key and what is wrong with it and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Dotted key, e.g. `pool.fee_address` or `node.upstreams[1].url`.
    pub key: String,
    /// What is wrong and the fix.
    pub reason: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}; check the path and its permissions", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not YAML.
    #[error("config is not valid YAML: {message}")]
    Yaml {
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// 1-based column of the problem, when known.
        column: Option<usize>,
        /// The parser's message, location included.
        message: String,
    },
    /// A key the schema does not have (usually a typo).
    #[error("unknown config key `{key}`; check the spelling: expected one of {expected}")]
    UnknownKey {
        /// The dotted key.
        key: String,
        /// The keys allowed at that place.
        expected: String,
    },
    /// A key only the Go pool's config has: the file is a Go pool config.
    #[error(
        "unknown config key `{key}`: this looks like a config of the Go pool \
         (tos-network/tos-pool); convert it with `tos-pool-master migrate-config OLD.yaml > NEW.yaml` \
         (docs/MIGRATION.md)"
    )]
    GoPoolKey {
        /// The dotted key.
        key: String,
    },
    /// A value of the wrong type or form.
    #[error("{key}: {message}")]
    Type {
        /// The dotted key.
        key: String,
        /// What was expected.
        message: String,
    },
    /// A `TOS_POOL_*` environment variable that names no key or holds a bad value.
    #[error("environment variable {variable}: {reason}")]
    Env {
        /// The variable's name.
        variable: String,
        /// What is wrong and the fix.
        reason: String,
    },
    /// Values that parse but break a rule; every problem found is listed.
    #[error("{}", invalid_text(.0))]
    Invalid(Vec<Invalid>),
}

impl ConfigError {
    /// A single invalid value.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid(vec![Invalid {
            key: key.into(),
            reason: reason.into(),
        }])
    }

    /// The keys named by an [`ConfigError::Invalid`] error (empty for others).
    pub fn invalid_keys(&self) -> Vec<&str> {
        match self {
            ConfigError::Invalid(problems) => problems.iter().map(|p| p.key.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

fn invalid_text(problems: &[Invalid]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let mut text = format!("config has {} invalid values:", many.len());
            for problem in many {
                text.push_str("\n  ");
                text.push_str(&problem.to_string());
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_reads_key_then_reason() {
        let one = ConfigError::invalid("pool.fee_address", "bad bech32 checksum");
        assert_eq!(one.to_string(), "pool.fee_address: bad bech32 checksum");
        assert_eq!(one.invalid_keys(), ["pool.fee_address"]);
        let two = ConfigError::Invalid(vec![
            Invalid {
                key: "a.b".into(),
                reason: "x".into(),
            },
            Invalid {
                key: "c.d".into(),
                reason: "y".into(),
            },
        ]);
        assert_eq!(
            two.to_string(),
            "config has 2 invalid values:\n  a.b: x\n  c.d: y"
        );
    }

    #[test]
    fn yaml_error_shows_the_parser_message() {
        let error = ConfigError::Yaml {
            line: Some(3),
            column: Some(7),
            message: "did not find expected key at line 3 column 7".into(),
        };
        assert_eq!(
            error.to_string(),
            "config is not valid YAML: did not find expected key at line 3 column 7"
        );
    }
}
