//! Configs for the cluster's parts, derived from one base config.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tos_pool_common::address::Address;
use tos_pool_common::config::Config;
use tos_pool_common::network::Network;

use crate::devnet::DEVNET_MINER_KEY;

/// The gateway token of test clusters.
pub const TEST_SECRET: &str = "cluster-test-secret-0123456789";

/// Port offset of the second slave in the local cluster.
pub const SECOND_SLAVE_PORT_OFFSET: u16 = 100;

/// A config for an in-process test cluster: devnet, every bind on
/// 127.0.0.1:0, low share difficulty, fast batches and refreshes.
pub fn test_config() -> Config {
    let mut config = Config {
        network: Network::Devnet,
        ..Config::default()
    };
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    config.pool.fee_address = Address::new(DEVNET_MINER_KEY, Network::Devnet).to_string();
    config.pool.fee_percent = 1.0;
    config.node.health_check_interval = Duration::from_millis(200);
    config.master.bind = any;
    config.master.secret = TEST_SECRET.to_owned();
    config.master.allow_plaintext = true;
    config.slave.id = Some("test-slave-1".to_owned());
    config.slave.stratum_bind = any;
    config.slave.stratum_tls_bind = Some(any);
    config.slave.websocket_enabled = true;
    config.slave.websocket_bind = any;
    config.slave.websocket_tls_bind = Some(any);
    config.slave.xatum_enabled = true;
    config.slave.xatum_bind = any;
    config.slave.http_bind = any;
    config.slave.drain_timeout = Duration::from_secs(5);
    config.slave.validation_threads = 1;
    config.mining.initial_difficulty = 20;
    config.mining.min_difficulty = 1;
    config.mining.vardiff_enabled = false;
    config.mining.job_refresh_interval = Duration::from_millis(100);
    config.unlocker.interval = Duration::from_millis(200);
    config.unlocker.immature_depth = 2;
    config.unlocker.mature_depth = 5;
    config.api.enabled = true;
    config.api.bind = any;
    config.payouts.enabled = false;
    config.security.max_connections_per_ip = 0;
    config.profiling.enabled = false;
    config
}

/// `base` with the TLS pair at `cert` and `key` for the slaves.
pub fn with_tls(mut base: Config, cert: &Path, key: &Path) -> Config {
    base.slave.tls_cert = Some(cert.to_path_buf());
    base.slave.tls_key = Some(key.to_path_buf());
    base
}

/// The config of slave `index` (0 or 1): the second gets its own id and
/// every miner-facing and HTTP port + 100 (port 0 stays 0).
pub fn slave_config(base: &Config, index: u16, master: SocketAddr) -> Config {
    let mut config = base.clone();
    config.slave.master_url = format!("http://{master}");
    // Notifications are the master's; a test's plain-http stand-in URLs
    // would not pass the slave's config check.
    config.notify = Default::default();
    if index == 0 {
        return config;
    }
    let shift = |addr: SocketAddr| {
        if addr.port() == 0 {
            addr
        } else {
            SocketAddr::new(
                addr.ip(),
                addr.port().saturating_add(SECOND_SLAVE_PORT_OFFSET * index),
            )
        }
    };
    let slave = &mut config.slave;
    let base_id = slave.id.clone().unwrap_or_else(|| "slave".to_owned());
    slave.id = Some(format!("{}-{}", base_id.trim_end_matches("-1"), index + 1));
    slave.stratum_bind = shift(slave.stratum_bind);
    slave.stratum_tls_bind = slave.stratum_tls_bind.map(shift);
    slave.websocket_bind = shift(slave.websocket_bind);
    slave.websocket_tls_bind = slave.websocket_tls_bind.map(shift);
    slave.xatum_bind = shift(slave.xatum_bind);
    slave.http_bind = shift(slave.http_bind);
    config
}

/// The port of an `http://host:port/...` or `redis://host:port/...` URL.
pub fn url_port(url: &str) -> Option<u16> {
    let rest = url.split("://").nth(1)?;
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    authority.rsplit(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_slave_shifts_its_ports_by_100() {
        let mut base = test_config();
        base.slave.id = Some("dev-slave-1".into());
        base.slave.stratum_bind = "127.0.0.1:3333".parse().expect("addr");
        base.slave.http_bind = "127.0.0.1:9100".parse().expect("addr");
        let master = "127.0.0.1:50051".parse().expect("addr");
        let second = slave_config(&base, 1, master);
        assert_eq!(second.slave.id.as_deref(), Some("dev-slave-2"));
        assert_eq!(second.slave.stratum_bind.port(), 3433);
        assert_eq!(second.slave.http_bind.port(), 9200);
        assert_eq!(second.slave.stratum_tls_bind.map(|a| a.port()), Some(0));
        assert_eq!(second.slave.master_url, "http://127.0.0.1:50051");
        let first = slave_config(&base, 0, master);
        assert_eq!(first.slave.stratum_bind.port(), 3333);
    }

    #[test]
    fn ports_are_read_from_urls() {
        assert_eq!(url_port("redis://127.0.0.1:6390/0"), Some(6390));
        assert_eq!(url_port("http://127.0.0.1:18080/json_rpc"), Some(18080));
        assert_eq!(url_port("redis://:pw@host:7000"), Some(7000));
        assert_eq!(url_port("redis://host/0"), None);
    }
}
