//! Sections about the cluster's own links and listeners: `master` (the slave
//! gateway, whose secret both roles read) and `slave` (the miner-facing edge).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::duration;

fn bind(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(ip), port))
}

/// `master`: the gRPC gateway slaves connect to. `secret` is read by both
/// roles: the master checks it, slaves send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MasterConfig {
    /// Address the slave gateway listens on.
    pub bind: SocketAddr,
    /// Bearer token shared by the master and its slaves (≥ 16 characters).
    /// Required; best set through `TOS_POOL_MASTER_SECRET`.
    pub secret: String,
    /// PEM certificate chain the gateway serves.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Serve the gateway without TLS; refused unless `bind` is loopback.
    pub allow_plaintext: bool,
    /// A slave silent for this long is considered gone and its index freed.
    #[serde(with = "duration")]
    pub slave_timeout: Duration,
    /// A new gateway connection must finish its TLS handshake and open a
    /// stream with the right token within this; otherwise it is closed.
    #[serde(with = "duration")]
    pub handshake_timeout: Duration,
    /// The gateway pings every connection (HTTP/2 PING) this often and
    /// closes one that does not answer within the same time.
    #[serde(with = "duration")]
    pub keepalive_interval: Duration,
    /// A connection from which nothing at all arrives for this long is
    /// closed (slaves answer the pings, so only a dead or hostile peer goes
    /// quiet); longer than `keepalive_interval`.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Connections the gateway keeps open at once; one beyond it is closed
    /// as soon as it is accepted.
    pub max_connections: u32,
    /// Directory where a found block's record waits, written and fsynced,
    /// when Redis cannot take it at once; replayed into Redis when it
    /// answers again and at every start. Unset: no spool, and a block found
    /// while Redis is down is only logged.
    pub block_spool_dir: Option<PathBuf>,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            bind: bind([127, 0, 0, 1], 50051),
            secret: String::new(),
            tls_cert: None,
            tls_key: None,
            allow_plaintext: false,
            slave_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1_024,
            block_spool_dir: None,
        }
    }
}

/// `slave`: the edge node's link to the master and its miner listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaveConfig {
    /// Name of this slave in the master's logs; defaults to the host name.
    pub id: Option<String>,
    /// The master's gateway URL (`https://`; `http://` only to a loopback
    /// host, with `master.allow_plaintext`).
    pub master_url: String,
    /// PEM CA or certificate to trust for the master; system roots when absent.
    pub master_ca: Option<PathBuf>,
    /// TLS server name to expect from the master; defaults to the URL's host.
    pub master_server_name: Option<String>,
    /// Stratum over plain TCP.
    pub stratum_bind: SocketAddr,
    /// Stratum over TLS; off when absent.
    pub stratum_tls_bind: Option<SocketAddr>,
    /// PEM certificate chain for Stratum TLS, wss and Xatum.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Serve Stratum over WebSocket (ws) on `websocket_bind`.
    pub websocket_enabled: bool,
    /// WebSocket (ws) listener.
    pub websocket_bind: SocketAddr,
    /// WebSocket over TLS (wss) listener; off when absent or when
    /// `websocket_enabled` is false. The same address as `websocket_bind`
    /// serves ws and wss on that one port (each connection's first byte
    /// tells a TLS handshake from an HTTP request).
    pub websocket_tls_bind: Option<SocketAddr>,
    /// Serve Xatum (always TLS) on `xatum_bind`.
    pub xatum_enabled: bool,
    /// Xatum listener.
    pub xatum_bind: SocketAddr,
    /// `/healthz`, `/readyz` and `/metrics`.
    pub http_bind: SocketAddr,
    /// Shares per batch sent to the master.
    pub share_batch_size: u32,
    /// A partial batch is sent after this long.
    #[serde(with = "duration")]
    pub share_flush_interval: Duration,
    /// Shares kept for replay while the master has not acked them; beyond this
    /// new shares are refused rather than buffered without bound.
    pub max_unacked_shares: u64,
    /// The share journal: every share the master has not acked is written
    /// here, and a miner is told "accepted" only once it is on disk, so a
    /// killed slave loses none. Unset: no journal (a killed slave loses its
    /// unacked shares).
    pub journal_path: Option<PathBuf>,
    /// Least time between two syncs of the journal; shares arriving
    /// meanwhile share one sync, and their miners wait for it.
    #[serde(with = "duration")]
    pub journal_fsync_interval: Duration,
    /// On SIGTERM, time allowed to flush shares before exiting.
    #[serde(with = "duration")]
    pub drain_timeout: Duration,
    /// On SIGTERM, time between `/readyz` turning false and the miners being
    /// told to reconnect, so the load balancer's health checks notice first
    /// and send no new miner here (0 = no wait).
    #[serde(with = "duration")]
    pub drain_grace: Duration,
    /// Accept PROXY protocol v1/v2 headers from `trusted_proxies`.
    pub proxy_protocol: bool,
    /// IPs or CIDRs (`10.0.0.0/8`) allowed to send PROXY headers.
    pub trusted_proxies: Vec<String>,
    /// Hashing threads for share validation; 0 = number of cores.
    pub validation_threads: u32,
}

impl Default for SlaveConfig {
    fn default() -> Self {
        SlaveConfig {
            id: None,
            master_url: "https://127.0.0.1:50051".to_string(),
            master_ca: None,
            master_server_name: None,
            stratum_bind: bind([0, 0, 0, 0], 3333),
            stratum_tls_bind: None,
            tls_cert: None,
            tls_key: None,
            websocket_enabled: true,
            websocket_bind: bind([0, 0, 0, 0], 3335),
            websocket_tls_bind: None,
            xatum_enabled: true,
            xatum_bind: bind([0, 0, 0, 0], 3336),
            http_bind: bind([127, 0, 0, 1], 9100),
            share_batch_size: 500,
            share_flush_interval: Duration::from_millis(20),
            max_unacked_shares: 100_000,
            journal_path: None,
            journal_fsync_interval: Duration::ZERO,
            drain_timeout: Duration::from_secs(10),
            drain_grace: Duration::ZERO,
            proxy_protocol: false,
            trusted_proxies: Vec::new(),
            validation_threads: 0,
        }
    }
}

impl SlaveConfig {
    /// Whether any listener needs `tls_cert`/`tls_key`.
    pub fn needs_tls(&self) -> bool {
        self.stratum_tls_bind.is_some() || self.wss_bind().is_some() || self.xatum_enabled
    }

    /// Where wss listens: `websocket_tls_bind`, while the WebSocket door is
    /// enabled at all.
    pub fn wss_bind(&self) -> Option<SocketAddr> {
        self.websocket_tls_bind.filter(|_| self.websocket_enabled)
    }

    /// Whether ws and wss share one port: `websocket_tls_bind` is the same
    /// address as `websocket_bind`.
    pub fn wss_shares_ws_port(&self) -> bool {
        self.wss_bind() == Some(self.websocket_bind)
    }
}
