//! The rules a parsed config must meet. Every broken rule is collected, each
//! naming its key and the fix, so an operator sees all problems at once.

mod rules;
mod web;

pub use rules::is_loopback_host;

use std::net::IpAddr;
use std::time::Duration;

use crate::address::Address;
use crate::config::Role;
use crate::config::error::Invalid;
use crate::config::schema::Config;

/// Collects problems.
#[derive(Default)]
pub(crate) struct Problems(pub(crate) Vec<Invalid>);

impl Problems {
    /// Records that `key` is wrong for `reason`.
    pub(crate) fn add(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(Invalid {
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// `key` must be a non-zero duration.
    fn positive(&mut self, key: &str, value: Duration) {
        if value.is_zero() {
            self.add(key, "must be longer than 0; write for example 10s or 500ms");
        }
    }

    /// `key` must be a finite number in `min..=max`.
    fn in_range(&mut self, key: &str, value: f64, min: f64, max: f64) {
        if !(value.is_finite() && (min..=max).contains(&value)) {
            self.add(
                key,
                format!("{value} is out of range; use a number from {min} to {max}"),
            );
        }
    }

    /// `key` must be an `http://` or `https://` URL.
    fn http_url(&mut self, key: &str, url: &str) {
        if !has_scheme(url, &["http://", "https://"]) {
            self.add(key, format!("{url:?} is not an http:// or https:// URL"));
        }
    }

    /// Two optional paths that only make sense together.
    fn pair<A, B>(&mut self, key_a: &str, a: &Option<A>, key_b: &str, b: &Option<B>) {
        match (a, b) {
            (Some(_), None) => self.add(
                key_b,
                format!("missing: {key_a} is set, so set {key_b} too"),
            ),
            (None, Some(_)) => self.add(
                key_a,
                format!("missing: {key_b} is set, so set {key_a} too"),
            ),
            _ => {}
        }
    }

    /// `key` must be an address of the config's network.
    fn address(&mut self, key: &str, text: &str, config: &Config) {
        if let Err(error) = Address::parse(text, config.network) {
            self.add(
                key,
                format!(
                    "{error} (network is {}: a normal address starting with {}1)",
                    config.network,
                    config.network.address_prefix()
                ),
            );
        }
    }
}

/// Whether `url` starts with one of `schemes` and has something after it.
pub(crate) fn has_scheme(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|scheme| {
        url.strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty())
    })
}

/// Whether `text` is an IP address or a CIDR block such as `10.0.0.0/8`.
pub(crate) fn is_ip_or_cidr(text: &str) -> bool {
    match text.split_once('/') {
        None => text.parse::<IpAddr>().is_ok(),
        Some((ip, bits)) => match (ip.parse::<IpAddr>(), bits.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(bits)) => bits <= 32,
            (Ok(IpAddr::V6(_)), Ok(bits)) => bits <= 128,
            _ => false,
        },
    }
}

/// Every problem of `config` that does not depend on the role.
pub(crate) fn check(config: &Config) -> Vec<Invalid> {
    let mut problems = Problems::default();
    rules::pool_and_node(config, &mut problems);
    rules::cluster(config, &mut problems);
    rules::mining(config, &mut problems);
    rules::money(config, &mut problems);
    rules::service(config, &mut problems);
    web::web(config, &mut problems);
    problems.0
}

/// Problems that only matter for `role`.
pub(crate) fn check_role(config: &Config, role: Role) -> Vec<Invalid> {
    let mut problems = Problems::default();
    match role {
        Role::Master => rules::master_role(config, &mut problems),
        Role::Slave => rules::slave_role(config, &mut problems),
    }
    problems.0
}
