//! Settings of the master link, taken from the config file's `slave` and
//! `master` sections.

use std::path::PathBuf;
use std::time::Duration;

use tos_pool_proto::v1::MinerProtocol;

use super::backoff::Backoff;
use crate::journal::JournalConfig;

/// How the slave reaches and talks to its master.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// The master's gateway URL (`slave.master_url`): `https://` for TLS,
    /// `http://` only for loopback development.
    pub master_url: String,
    /// Bearer token (`master.secret`).
    pub secret: String,
    /// PEM CA or pinned certificate of the master (`slave.master_ca`);
    /// the system roots when absent.
    pub master_ca: Option<PathBuf>,
    /// TLS name expected from the master (`slave.master_server_name`);
    /// the URL's host when absent.
    pub master_server_name: Option<String>,
    /// This slave's stable name (`slave.id`).
    pub slave_id: String,
    /// Region label sent in Hello.
    pub region: String,
    /// Version of the slave binary sent in Hello.
    pub version: String,
    /// Miner-facing doors this slave has open, sent in Hello.
    pub protocols: Vec<MinerProtocol>,
    /// Most shares per batch (`slave.share_batch_size`); the master's
    /// `Settings.share_batch_max` lowers it.
    pub share_batch_size: usize,
    /// Longest a share waits before its batch is sent
    /// (`slave.share_flush_interval`); the master's setting lowers it.
    pub share_flush_interval: Duration,
    /// Most shares kept while not acked (`slave.max_unacked_shares`).
    pub max_unacked_shares: usize,
    /// Most block candidates waiting to be sent or answered.
    pub max_pending_blocks: usize,
    /// The share journal (`slave.journal_path`,
    /// `slave.journal_fsync_interval`); none when unset.
    pub journal: Option<JournalConfig>,
    /// Reconnect schedule.
    pub backoff: Backoff,
    /// Time allowed for the TCP and TLS connection.
    pub connect_timeout: Duration,
    /// Time allowed between Hello and Welcome.
    pub welcome_timeout: Duration,
    /// HTTP/2 keep-alive ping interval: finds a dead master on a silent link.
    pub keepalive_interval: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            master_url: "https://127.0.0.1:50051".to_owned(),
            secret: String::new(),
            master_ca: None,
            master_server_name: None,
            slave_id: "slave".to_owned(),
            region: String::new(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocols: Vec::new(),
            share_batch_size: 500,
            share_flush_interval: Duration::from_millis(20),
            max_unacked_shares: 100_000,
            max_pending_blocks: 64,
            journal: None,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(5),
            welcome_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(10),
        }
    }
}

impl LinkConfig {
    /// The link settings of a slave's config: `slave.*`, `master.secret`,
    /// and `pool.region`. The slave id is `slave.id`, else `pool.node_id`,
    /// else the `HOSTNAME` environment variable, else `"slave"`.
    pub fn from_config(config: &tos_pool_common::config::Config) -> LinkConfig {
        let slave = &config.slave;
        let slave_id = slave
            .id
            .clone()
            .or_else(|| config.pool.node_id.clone())
            .or_else(|| {
                std::env::var("HOSTNAME")
                    .ok()
                    .filter(|name| !name.is_empty())
            })
            .unwrap_or_else(|| "slave".to_owned());
        let mut protocols = vec![MinerProtocol::Stratum];
        if slave.stratum_tls_bind.is_some() {
            protocols.push(MinerProtocol::StratumTls);
        }
        if slave.websocket_enabled {
            protocols.push(MinerProtocol::Websocket);
        }
        if slave.wss_bind().is_some() {
            protocols.push(MinerProtocol::WebsocketTls);
        }
        if slave.xatum_enabled {
            protocols.push(MinerProtocol::Xatum);
        }
        LinkConfig {
            master_url: slave.master_url.clone(),
            secret: config.master.secret.clone(),
            master_ca: slave.master_ca.clone(),
            master_server_name: slave.master_server_name.clone(),
            slave_id,
            region: config.pool.region.clone(),
            protocols,
            share_batch_size: slave.share_batch_size.max(1) as usize,
            share_flush_interval: slave.share_flush_interval,
            max_unacked_shares: usize::try_from(slave.max_unacked_shares).unwrap_or(usize::MAX),
            journal: slave.journal_path.clone().map(|path| JournalConfig {
                path,
                fsync_interval: slave.journal_fsync_interval,
            }),
            ..LinkConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_keys_reach_the_link() {
        let mut config = tos_pool_common::config::Config::default();
        config.slave.id = Some("eu-1".to_owned());
        config.slave.master_url = "https://master:50051".to_owned();
        config.slave.share_batch_size = 42;
        config.slave.max_unacked_shares = 7;
        config.slave.xatum_enabled = false;
        config.slave.journal_path = Some(PathBuf::from("/var/lib/tos-pool/shares.journal"));
        config.slave.journal_fsync_interval = Duration::from_millis(3);
        config.master.secret = "0123456789abcdef".to_owned();
        let link = LinkConfig::from_config(&config);
        assert_eq!(link.slave_id, "eu-1");
        assert_eq!(link.master_url, "https://master:50051");
        assert_eq!(link.secret, "0123456789abcdef");
        assert_eq!(link.share_batch_size, 42);
        assert_eq!(link.max_unacked_shares, 7);
        assert!(!link.protocols.contains(&MinerProtocol::Xatum));
        assert!(link.protocols.contains(&MinerProtocol::Stratum));
        assert_eq!(
            link.journal,
            Some(JournalConfig {
                path: PathBuf::from("/var/lib/tos-pool/shares.journal"),
                fsync_interval: Duration::from_millis(3),
            })
        );
        let unjournaled = LinkConfig::from_config(&tos_pool_common::config::Config::default());
        assert_eq!(unjournaled.journal, None);
    }
}
