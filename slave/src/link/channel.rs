//! The gRPC endpoint of the master: URL, TLS trust and timeouts.

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use super::config::LinkConfig;
use super::error::LinkError;

/// Builds the endpoint for `config.master_url`: TLS for `https://` (trusting
/// `master_ca` when set, else the system roots), plaintext only for
/// `http://`. Reads the CA file now so a wrong path fails at start.
pub fn endpoint(config: &LinkConfig) -> Result<Endpoint, LinkError> {
    let url = config.master_url.trim();
    let bad_url = |reason: String| LinkError::Config {
        key: "slave.master_url",
        reason,
    };
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|error| {
            bad_url(format!(
                "{url:?} is not a URL ({error}); write https://host:port"
            ))
        })?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(config.keepalive_interval)
        .keep_alive_timeout(config.keepalive_interval)
        .keep_alive_while_idle(true);
    let scheme = endpoint.uri().scheme_str().unwrap_or_default().to_owned();
    match scheme.as_str() {
        "https" => {
            endpoint = endpoint
                .tls_config(tls_config(config)?)
                .map_err(|error| bad_url(format!("TLS setup failed: {error}")))?;
        }
        "http" => {
            let host = endpoint.uri().host().unwrap_or_default();
            if !tos_pool_common::config::is_loopback_host(host) {
                tracing::warn!(
                    url,
                    "master link is plaintext to a non-loopback host; use https:// outside development"
                );
            }
        }
        other => {
            return Err(bad_url(format!(
                "scheme {other:?} is not supported; use https:// (or http:// on loopback)"
            )));
        }
    }
    Ok(endpoint)
}

fn tls_config(config: &LinkConfig) -> Result<ClientTlsConfig, LinkError> {
    let mut tls = ClientTlsConfig::new();
    match &config.master_ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|error| LinkError::Config {
                key: "slave.master_ca",
                reason: format!(
                    "cannot read {}: {error}; point it at the master's PEM CA or certificate",
                    path.display()
                ),
            })?;
            if !pem
                .windows(b"-----BEGIN CERTIFICATE-----".len())
                .any(|window| window == b"-----BEGIN CERTIFICATE-----")
            {
                return Err(LinkError::Config {
                    key: "slave.master_ca",
                    reason: format!("{} holds no PEM certificate", path.display()),
                });
            }
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        None => tls = tls.with_native_roots(),
    }
    if let Some(name) = &config.master_server_name {
        tls = tls.domain_name(name.clone());
    }
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> LinkConfig {
        LinkConfig {
            master_url: url.to_owned(),
            ..LinkConfig::default()
        }
    }

    #[test]
    fn plaintext_and_tls_urls_are_accepted() {
        assert!(endpoint(&config("http://127.0.0.1:50051")).is_ok());
        assert!(endpoint(&config("https://master.example:50051")).is_ok());
    }

    #[test]
    fn other_schemes_and_garbage_name_the_key() {
        for url in ["ftp://host:1", "not a url"] {
            match endpoint(&config(url)) {
                Err(LinkError::Config { key, .. }) => assert_eq!(key, "slave.master_url"),
                other => panic!("{url}: expected a config error, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_missing_ca_file_names_the_key() {
        let mut config = config("https://master.example:50051");
        config.master_ca = Some("/nonexistent/ca.pem".into());
        match endpoint(&config) {
            Err(LinkError::Config { key, .. }) => assert_eq!(key, "slave.master_ca"),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(tos_pool_common::config::is_loopback_host("127.0.0.1"));
        assert!(tos_pool_common::config::is_loopback_host("[::1]"));
        assert!(tos_pool_common::config::is_loopback_host("localhost"));
        assert!(!tos_pool_common::config::is_loopback_host("10.0.0.1"));
        assert!(!tos_pool_common::config::is_loopback_host("master.example"));
    }
}
