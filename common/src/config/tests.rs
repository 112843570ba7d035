//! Loading, overrides and every validation rule, through the public entry
//! points.

mod load;
mod rules;

use super::{Config, ConfigError};

/// The devnet address of the private key `01 00…00` (TOS.md).
pub(super) const DEVNET_ADDRESS: &str =
    "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";
/// The public key inside [`DEVNET_ADDRESS`].
pub(super) const DEVNET_KEY: &str =
    "8c9240b456a9e6dc65c377a1048d745f94a08cdb7f44cbcd7b46f34048871134";
/// A mainnet address (TOS.md).
pub(super) const MAINNET_ADDRESS: &str =
    "tos1qsl6sj2u0gp37tr6drrq964rd4d8gnaxnezgytmt0cfltnp2wsgqqak28je";

/// The smallest valid config: devnet, a fee address and a secret.
pub(super) fn minimal_yaml() -> String {
    format!(
        "network: devnet\npool:\n  fee_address: {DEVNET_ADDRESS}\nmaster:\n  secret: 0123456789abcdef\n"
    )
}

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Loads `yaml` with `pairs` as the environment.
pub(super) fn load(yaml: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_yaml_str(yaml, env(pairs))
}

/// The minimal config with `pairs` applied, expected to break exactly the
/// rules of `keys`.
#[track_caller]
pub(super) fn assert_invalid(pairs: &[(&str, &str)], keys: &[&str]) -> ConfigError {
    let error = load(&minimal_yaml(), pairs).expect_err("the override breaks a rule");
    assert_eq!(error.invalid_keys(), keys, "{error}");
    error
}
