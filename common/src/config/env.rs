//! `TOS_POOL_<SECTION>_<KEY>` environment overrides, applied to the parsed
//! YAML before it is read into the schema.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use crate::config::error::ConfigError;
use crate::config::keys::KeyCatalogue;

/// Prefix of every override variable.
pub const ENV_PREFIX: &str = "TOS_POOL_";

/// Variables with [`ENV_PREFIX`] that are not config keys and are ignored:
/// `TOS_POOL_CONFIG` (the config file path the binaries read).
pub const ENV_NOT_KEYS: &[&str] = &["TOS_POOL_CONFIG"];

/// Applies every override in `env` to `doc`. Returns dotted key → variable
/// name for the keys that were set, so later type errors can name the variable.
///
/// Keys whose default is text or absent take the value literally (an empty
/// value means absent); all others read it as a YAML scalar or flow list,
/// so `1`, `true`, `10s` and `[a, b]` work.
pub(crate) fn apply_env(
    doc: &mut Mapping,
    env: impl IntoIterator<Item = (String, String)>,
    catalogue: &KeyCatalogue,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut applied = BTreeMap::new();
    for (variable, raw) in env {
        let Some(name) = variable.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_NOT_KEYS.contains(&variable.as_str()) {
            continue;
        }
        let name = name.to_ascii_lowercase();
        if catalogue.is_scalar(&name) {
            doc.insert(
                Value::String(name.clone()),
                Value::String(raw.trim().to_string()),
            );
            applied.insert(name, variable);
            continue;
        }
        let (section_name, key) = name.split_once('_').unwrap_or((name.as_str(), ""));
        let Some(keys) = catalogue.section(section_name) else {
            return Err(ConfigError::Env {
                variable,
                reason: format!(
                    "names no config key; write TOS_POOL_<SECTION>_<KEY> with a section among {}",
                    catalogue.top_level_names()
                ),
            });
        };
        let Some(default) = keys.get(key) else {
            return Err(ConfigError::Env {
                variable,
                reason: format!(
                    "section {section_name} has no key {key:?}; its keys are {}",
                    KeyCatalogue::key_names(keys)
                ),
            });
        };
        let value = env_value(default, &raw).map_err(|reason| ConfigError::Env {
            variable: variable.clone(),
            reason,
        })?;
        let section = doc
            .entry(Value::String(section_name.to_string()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !section.is_mapping() {
            *section = Value::Mapping(Mapping::new());
        }
        if let Value::Mapping(section) = section {
            section.insert(Value::String(key.to_string()), value);
        }
        applied.insert(format!("{section_name}.{key}"), variable);
    }
    Ok(applied)
}

/// The YAML value an override's text stands for, given the key's default.
fn env_value(default: &Value, raw: &str) -> Result<Value, String> {
    match default {
        Value::Null if raw.is_empty() => Ok(Value::Null),
        Value::Null | Value::String(_) => Ok(Value::String(raw.to_string())),
        _ if raw.trim().is_empty() => Err("is empty; give a value or unset the variable".into()),
        _ => serde_yaml::from_str(raw)
            .map_err(|e| format!("{raw:?} is not a YAML value ({e}); lists are written [a, b]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn catalogue() -> KeyCatalogue {
        KeyCatalogue::new().expect("defaults serialize")
    }

    #[test]
    fn sets_keys_with_underscores_and_creates_sections() {
        let mut doc = Mapping::new();
        let applied = apply_env(
            &mut doc,
            env(&[
                ("TOS_POOL_MINING_INITIAL_DIFFICULTY", "1"),
                ("TOS_POOL_NETWORK", "devnet"),
                ("TOS_POOL_SECURITY_BLACKLIST", "[a, b]"),
                ("TOS_POOL_REDIS_PASSWORD", "12345"),
                ("TOS_POOL_CONFIG", "/etc/tos-pool/master.yaml"),
                ("HOME", "/root"),
            ]),
            &catalogue(),
        )
        .expect("all variables are known");
        assert_eq!(doc["mining"]["initial_difficulty"], Value::from(1u64));
        assert_eq!(doc["network"], Value::from("devnet"));
        assert_eq!(
            doc["security"]["blacklist"],
            serde_yaml::from_str::<Value>("[a, b]").expect("yaml")
        );
        // A password made of digits stays text.
        assert_eq!(doc["redis"]["password"], Value::from("12345"));
        assert_eq!(
            applied.get("redis.password").map(String::as_str),
            Some("TOS_POOL_REDIS_PASSWORD")
        );
        assert_eq!(applied.len(), 4);
    }

    #[test]
    fn refuses_unknown_variables_by_name() {
        for name in [
            "TOS_POOL_REDIS_PASWORD",
            "TOS_POOL_REDISPASSWORD",
            "TOS_POOL_MOON_X",
        ] {
            let mut doc = Mapping::new();
            let error = apply_env(&mut doc, env(&[(name, "x")]), &catalogue())
                .expect_err("typo must not pass");
            assert!(
                matches!(&error, ConfigError::Env { variable, .. } if variable == name),
                "{error}"
            );
        }
    }

    #[test]
    fn empty_text_means_absent_for_optional_keys_and_is_refused_for_numbers() {
        let mut doc = Mapping::new();
        apply_env(
            &mut doc,
            env(&[("TOS_POOL_REDIS_PASSWORD", "")]),
            &catalogue(),
        )
        .expect("ok");
        assert_eq!(doc["redis"]["password"], Value::Null);
        let error = apply_env(
            &mut doc,
            env(&[("TOS_POOL_MINING_JOB_BACKLOG", " ")]),
            &catalogue(),
        )
        .expect_err("empty number");
        assert!(error.to_string().contains("TOS_POOL_MINING_JOB_BACKLOG"));
    }
}
