//! The one configuration schema of both roles: YAML, overridden by
//! `TOS_POOL_<SECTION>_<KEY>` environment variables, then validated with
//! errors that name the key and the fix.
//!
//! ```no_run
//! # use tos_pool_common::config::{Config, Role};
//! let config = Config::load_for(std::path::Path::new("config/master.yaml"), Role::Master)?;
//! # Ok::<(), tos_pool_common::config::ConfigError>(())
//! ```

pub mod duration;
mod env;
mod error;
mod keys;
pub mod migrate;
mod schema;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::address::Address;

pub use duration::{DurationError, format_duration, parse_duration};
pub use env::{ENV_NOT_KEYS, ENV_PREFIX};
pub use error::{ConfigError, Invalid};
pub use schema::{
    ApiConfig, Config, HttpConfig, LogConfig, LogFormat, MasterConfig, MiningConfig,
    NewRelicConfig, NewRelicRegion, NodeConfig, NotifyConfig, PayoutsConfig, PoolConfig,
    PplnsConfig, ProfilingConfig, RedisConfig, SecurityConfig, SlaveConfig, UnlockerConfig,
    UpstreamConfig, ValidationConfig,
};
pub use schema::{EndpointProtocol, WebConfig, WebEndpoint};
pub use validate::is_loopback_host;

/// Which binary reads the config; some rules hold for one role only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `tos-pool-master`.
    Master,
    /// `tos-pool-slave`.
    Slave,
}

impl Config {
    /// Reads the YAML file at `path`, applies `TOS_POOL_*` overrides from the
    /// process environment and checks the rules shared by both roles.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_yaml_str(&text, process_env()?)
    }

    /// [`Config::load`], then the rules of `role`.
    pub fn load_for(path: &Path, role: Role) -> Result<Config, ConfigError> {
        let config = Config::load(path)?;
        config.validate_for(role)?;
        Ok(config)
    }

    /// Parses YAML `text`, applies the overrides in `env` (name, value pairs;
    /// names without the `TOS_POOL_` prefix are ignored) and checks the rules
    /// shared by both roles.
    pub fn from_yaml_str(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut doc = parse_document(text)?;
        let catalogue = keys::KeyCatalogue::new()?;
        catalogue.check(&mut doc)?;
        let from_env = env::apply_env(&mut doc, env, &catalogue)?;
        let config: Config =
            serde_path_to_error::deserialize(Value::Mapping(doc)).map_err(|error| {
                let key = error.path().to_string();
                let message = error.into_inner().to_string();
                match from_env.iter().find(|(set, _)| is_within(&key, set)) {
                    Some((_, variable)) => ConfigError::Env {
                        variable: variable.clone(),
                        reason: format!("sets {key}: {message}"),
                    },
                    None if key == "." => ConfigError::Type {
                        key: "config".to_string(),
                        message,
                    },
                    None => ConfigError::Type { key, message },
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the rules shared by both roles; reports every broken one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        problems_to_result(validate::check(self))
    }

    /// Checks the shared rules and those of `role`; reports every broken one.
    pub fn validate_for(&self, role: Role) -> Result<(), ConfigError> {
        let mut problems = validate::check(self);
        problems.extend(validate::check_role(self, role));
        problems_to_result(problems)
    }

    /// `pool.fee_address`, parsed for the configured network.
    pub fn fee_address(&self) -> Result<Address, ConfigError> {
        Address::parse(&self.pool.fee_address, self.network)
            .map_err(|error| ConfigError::invalid("pool.fee_address", error.to_string()))
    }

    /// The public key for every header's miner field: `pool.miner_key`, or
    /// the key of `pool.fee_address`.
    pub fn miner_public_key(&self) -> Result<[u8; 32], ConfigError> {
        match &self.pool.miner_key {
            Some(text) => {
                let mut key = [0u8; 32];
                hex::decode_to_slice(text, &mut key).map_err(|error| {
                    ConfigError::invalid(
                        "pool.miner_key",
                        format!("{error}; expected 64 hex characters"),
                    )
                })?;
                Ok(key)
            }
            None => Ok(self.fee_address()?.public_key()),
        }
    }
}

/// The YAML document as a mapping; an empty document is an empty mapping.
fn parse_document(text: &str) -> Result<Mapping, ConfigError> {
    let mut value: Value = serde_yaml::from_str(text).map_err(|error| {
        let location = error.location();
        ConfigError::Yaml {
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message: error.to_string(),
        }
    })?;
    value.apply_merge().map_err(|error| ConfigError::Yaml {
        line: None,
        column: None,
        message: error.to_string(),
    })?;
    match value {
        Value::Null => Ok(Mapping::new()),
        Value::Mapping(doc) => Ok(doc),
        _ => Err(ConfigError::Type {
            key: "config".to_string(),
            message: "expected a mapping of sections (network, pool, node, ...)".to_string(),
        }),
    }
}

/// Whether dotted `path` is `key` or lies inside it.
fn is_within(path: &str, key: &str) -> bool {
    path.strip_prefix(key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// The `TOS_POOL_*` variables of this process.
fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(ENV_PREFIX) {
            continue;
        }
        let value = value.into_string().map_err(|_| ConfigError::Env {
            variable: name.to_string(),
            reason: "is not valid UTF-8".to_string(),
        })?;
        vars.push((name.to_string(), value));
    }
    Ok(vars)
}

fn problems_to_result(problems: Vec<Invalid>) -> Result<(), ConfigError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(problems))
    }
}
