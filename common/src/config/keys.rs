//! The catalogue of known keys, read from the serialized defaults so it can
//! never drift from the schema, and the unknown-key check built on it.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use crate::config::error::ConfigError;
use crate::config::schema::Config;

/// Every top-level key and, for sections, every key inside with its default.
pub(crate) struct KeyCatalogue {
    /// Top-level key → `Some(section keys with defaults)`, or `None` for a
    /// top-level scalar such as `network`.
    entries: BTreeMap<String, Option<BTreeMap<String, Value>>>,
}

impl KeyCatalogue {
    /// The catalogue of [`Config`].
    pub(crate) fn new() -> Result<KeyCatalogue, ConfigError> {
        let defaults = serde_yaml::to_value(Config::default()).map_err(|e| ConfigError::Type {
            key: "config".to_string(),
            message: format!("the default config does not serialize ({e}); this is a bug"),
        })?;
        let mut entries = BTreeMap::new();
        if let Value::Mapping(top) = defaults {
            for (key, value) in top {
                let Value::String(key) = key else { continue };
                let section = match value {
                    Value::Mapping(keys) => Some(
                        keys.into_iter()
                            .filter_map(|(k, v)| match k {
                                Value::String(k) => Some((k, v)),
                                _ => None,
                            })
                            .collect(),
                    ),
                    _ => None,
                };
                entries.insert(key, section);
            }
        }
        Ok(KeyCatalogue { entries })
    }

    /// The top-level keys, comma-separated.
    pub(crate) fn top_level_names(&self) -> String {
        self.entries.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// Whether `name` is a top-level scalar (not a section).
    pub(crate) fn is_scalar(&self, name: &str) -> bool {
        matches!(self.entries.get(name), Some(None))
    }

    /// The keys of section `name` with their defaults; `None` if no such section.
    pub(crate) fn section(&self, name: &str) -> Option<&BTreeMap<String, Value>> {
        self.entries.get(name).and_then(Option::as_ref)
    }

    /// The keys of a section, comma-separated.
    pub(crate) fn key_names(keys: &BTreeMap<String, Value>) -> String {
        keys.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// Refuses keys the schema does not have and turns empty sections
    /// (`pool:` with nothing under it) into empty mappings.
    pub(crate) fn check(&self, doc: &mut Mapping) -> Result<(), ConfigError> {
        for (key, value) in doc.iter_mut() {
            let Value::String(name) = key else {
                return Err(ConfigError::UnknownKey {
                    key: format!("{key:?}"),
                    expected: self.top_level_names(),
                });
            };
            let Some(entry) = self.entries.get(name.as_str()) else {
                return Err(ConfigError::UnknownKey {
                    key: name.clone(),
                    expected: self.top_level_names(),
                });
            };
            let Some(known) = entry else { continue };
            if value.is_null() {
                *value = Value::Mapping(Mapping::new());
            }
            let Value::Mapping(section) = value else {
                return Err(ConfigError::Type {
                    key: name.clone(),
                    message: format!("expected a mapping of keys ({})", Self::key_names(known)),
                });
            };
            for inner in section.keys() {
                let known_key = matches!(inner, Value::String(k) if known.contains_key(k));
                if !known_key {
                    let inner_name = match inner {
                        Value::String(k) => k.clone(),
                        other => format!("{other:?}"),
                    };
                    let key = format!("{name}.{inner_name}");
                    if super::migrate::is_go_only_key(&key) {
                        return Err(ConfigError::GoPoolKey { key });
                    }
                    return Err(ConfigError::UnknownKey {
                        key,
                        expected: Self::key_names(known),
                    });
                }
            }
        }
        Ok(())
    }
}
