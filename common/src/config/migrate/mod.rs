//! Turns a config of the Go pool (tos-network/tos-pool) into one of ours.
//!
//! Pure code over a YAML value: [`migrate_go_config`] walks the Go pool's
//! sections key by key and produces a [`Migration`], every key of which is
//! either carried over (renamed or not), converted (a different unit or
//! meaning), or dropped, each with a comment that says so.
//! [`Migration::to_yaml`] writes it as a commented config that passes our
//! `--check` once the values the Go pool did not need are filled in.

mod sections;
mod service;
mod values;

#[cfg(test)]
mod tests;

use serde_yaml::{Mapping, Value};

use crate::config::ConfigError;

pub use values::parse_go_duration;

/// What became of one key of the old config.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `key` (inside its section) is written with `value`; `note` says where
    /// it came from and what changed.
    Set {
        /// Key inside the section (`fee_percent`), or the top-level key.
        key: String,
        /// The value written.
        value: Value,
        /// Why, written as a comment above the key.
        note: String,
    },
    /// A key of the old config that has no place in ours; `note` says why.
    Dropped {
        /// The old dotted key (`payouts.gas_limit`).
        old_key: String,
        /// Why it is gone and what to do instead.
        note: String,
    },
}

/// One section of the new config (or the top level, with an empty name).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MigratedSection {
    /// Section name (`pool`); empty for top-level scalars such as `network`.
    pub name: String,
    /// What happened to each key, in output order.
    pub changes: Vec<Change>,
}

impl MigratedSection {
    fn new(name: &str) -> MigratedSection {
        MigratedSection {
            name: name.to_string(),
            changes: Vec::new(),
        }
    }

    fn set(&mut self, key: &str, value: Value, note: impl Into<String>) {
        self.changes.push(Change::Set {
            key: key.to_string(),
            value,
            note: note.into(),
        });
    }

    fn drop_key(&mut self, old_key: impl Into<String>, note: impl Into<String>) {
        self.changes.push(Change::Dropped {
            old_key: old_key.into(),
            note: note.into(),
        });
    }

    /// The value written for `key`, if any.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.changes.iter().find_map(|change| match change {
            Change::Set { key: k, value, .. } if k == key => Some(value),
            _ => None,
        })
    }

    /// The note of the change that wrote `key` or dropped `old_key`.
    pub fn note(&self, key: &str) -> Option<&str> {
        self.changes.iter().find_map(|change| match change {
            Change::Set { key: k, note, .. } if k == key => Some(note.as_str()),
            Change::Dropped { old_key, note } if old_key == key => Some(note.as_str()),
            _ => None,
        })
    }
}

/// The converted config: sections in output order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Migration {
    /// The sections, the top level (name `""`) first.
    pub sections: Vec<MigratedSection>,
}

impl Migration {
    /// The section named `name`, if the migration wrote it.
    pub fn section(&self, name: &str) -> Option<&MigratedSection> {
        self.sections.iter().find(|section| section.name == name)
    }

    /// The value written at dotted `key` (`pool.fee_percent`, `network`).
    pub fn value(&self, key: &str) -> Option<&Value> {
        let (section, inner) = key.split_once('.').unwrap_or(("", key));
        self.section(section)?.value(inner)
    }

    /// The note of dotted `key`, written or dropped (`payouts.gas_limit`).
    pub fn note(&self, key: &str) -> Option<&str> {
        self.sections.iter().find_map(|section| {
            let inner = if section.name.is_empty() {
                key
            } else {
                key.strip_prefix(&section.name)?.strip_prefix('.')?
            };
            section.note(inner).or_else(|| section.note(key))
        })
    }

    /// The new config as commented YAML.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from(
            "# Converted from a Go pool (tos-network/tos-pool) config by `migrate-config`.\n\
             # Every key that was renamed, converted or dropped has a comment saying so.\n\
             # Review it, move secrets into TOS_POOL_* environment variables, then run\n\
             # `tos-pool-master --check -c THIS.yaml` (and the same for the slave).\n",
        );
        for section in &self.sections {
            let indent = if section.name.is_empty() { "" } else { "  " };
            if !section.name.is_empty() {
                let has_keys = section
                    .changes
                    .iter()
                    .any(|change| matches!(change, Change::Set { .. }));
                out.push('\n');
                out.push_str(&section.name);
                // A section of comments only stays a valid, empty mapping.
                out.push_str(if has_keys { ":\n" } else { ": {}\n" });
            }
            for change in &section.changes {
                match change {
                    Change::Set { key, value, note } => {
                        comment(&mut out, indent, note);
                        out.push_str(indent);
                        out.push_str(key);
                        out.push_str(": ");
                        out.push_str(&flow(value));
                        out.push('\n');
                    }
                    Change::Dropped { old_key, note } => {
                        comment(&mut out, indent, &format!("dropped {old_key}: {note}"));
                    }
                }
            }
        }
        out
    }
}

/// Writes `note` as `# ` lines at `indent`, one per line of the note.
fn comment(out: &mut String, indent: &str, note: &str) {
    for line in note.lines() {
        out.push_str(indent);
        out.push_str("# ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// A value in YAML flow form, on one line (JSON is valid YAML flow).
fn flow(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// Converts the Go pool's config `text` (YAML). Fails only when the text is
/// not YAML or not a mapping of sections.
pub fn migrate_go_config(text: &str) -> Result<Migration, ConfigError> {
    let value: Value = serde_yaml::from_str(text).map_err(|error| ConfigError::Yaml {
        line: error.location().map(|l| l.line()),
        column: error.location().map(|l| l.column()),
        message: error.to_string(),
    })?;
    let doc = match value {
        Value::Null => Mapping::new(),
        Value::Mapping(doc) => doc,
        _ => {
            return Err(ConfigError::Type {
                key: "config".to_string(),
                message: "expected a mapping of sections (pool, node, redis, ...)".to_string(),
            });
        }
    };
    Ok(sections::migrate(&doc))
}

/// Keys that only a Go pool config has (dotted); loading one of them is
/// answered with a pointer to `migrate-config`.
pub(crate) const GO_ONLY_KEYS: &[&str] = &[
    "pool.fee",
    "node.timeout",
    "node.health_check_timeout",
    "redis.db",
    "master.enabled",
    "slave.enabled",
    "slave.getwork_enabled",
    "slave.getwork_bind",
    "payouts.gas_limit",
    "payouts.gas_price",
    "api.admin_enabled",
    "security.max_workers_per_address",
    "security.ban_threshold",
    "security.rate_limit_shares",
    "notify.enabled",
    "notify.pool_url",
    "notify.discord_url",
    "notify.telegram_bot",
    "notify.telegram_chat",
];

/// Whether dotted `key` is one only the Go pool's config has.
pub(crate) fn is_go_only_key(key: &str) -> bool {
    GO_ONLY_KEYS.contains(&key)
}
