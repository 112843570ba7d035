//! The rules of the `web` section.

use super::{Problems, has_scheme};
use crate::config::schema::Config;

/// Shortest `web.sample_interval`: the history is sized by it, and a
/// shorter one would only load Redis.
const MIN_SAMPLE_INTERVAL_MS: u128 = 1_000;

/// `web.*`: the sample interval, the explorer link and every endpoint.
pub(super) fn web(config: &Config, p: &mut Problems) {
    let web = &config.web;
    if web.sample_interval.as_millis() < MIN_SAMPLE_INTERVAL_MS {
        p.add(
            "web.sample_interval",
            "must be at least 1s; 1m is what the charts are drawn for",
        );
    }
    let explorer = &web.explorer_tx_url;
    let linkable = has_scheme(explorer, &["http://", "https://"]) && explorer.contains("{tx}");
    if !explorer.is_empty() && !linkable {
        p.add(
            "web.explorer_tx_url",
            format!(
                "{explorer:?} must be an http:// or https:// URL with {{tx}} where the transaction hash goes, or empty for no links"
            ),
        );
    }
    for (index, endpoint) in web.endpoints.iter().enumerate() {
        if endpoint.region.trim().is_empty() {
            p.add(
                format!("web.endpoints[{index}].region"),
                "missing: name where the endpoint is (for example Europe)",
            );
        }
        let schemes = endpoint.protocol.schemes();
        if !has_scheme(&endpoint.url, schemes) {
            p.add(
                format!("web.endpoints[{index}].url"),
                format!(
                    "{:?} is not a {} URL: start it with {}",
                    endpoint.url,
                    endpoint.protocol.name(),
                    schemes.join(" or ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::schema::{EndpointProtocol, WebEndpoint};

    fn problems(config: &Config) -> Vec<String> {
        let mut p = Problems::default();
        web(config, &mut p);
        p.0.into_iter().map(|invalid| invalid.key).collect()
    }

    #[test]
    fn the_defaults_pass() {
        assert!(problems(&Config::default()).is_empty());
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let mut config = Config::default();
        config.web.sample_interval = Duration::from_millis(10);
        config.web.explorer_tx_url = "https://explorer.example/tx/".into();
        config.web.endpoints = vec![
            WebEndpoint {
                region: "Europe".into(),
                protocol: EndpointProtocol::Stratum,
                url: "stratum+tcp://eu.pool.example:3333".into(),
            },
            WebEndpoint {
                region: " ".into(),
                protocol: EndpointProtocol::StratumTls,
                url: "stratum+tcp://eu.pool.example:3334".into(),
            },
        ];
        assert_eq!(
            problems(&config),
            [
                "web.sample_interval",
                "web.explorer_tx_url",
                "web.endpoints[1].region",
                "web.endpoints[1].url"
            ]
        );
        config.web.explorer_tx_url = "https://explorer.example/tx/{tx}".into();
        config.web.sample_interval = Duration::from_secs(1);
        config.web.endpoints.truncate(1);
        assert!(problems(&config).is_empty());
    }
}
