//! Where a fault run's processes live: fixed loopback ports (a restarted
//! process comes back where its peers expect it), config files, state
//! directories and logs, all under the run directory.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tos_pool_common::config::Config;

use crate::cluster::config::{slave_config, test_config};

/// Share difficulty of the miners (the pool's fixed starting difficulty).
pub const SHARE_DIFFICULTY: u64 = 20;

/// The run's ports, chosen free at the start and kept for every restart.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// Redis.
    pub redis: u16,
    /// The daemon emulator's JSON-RPC.
    pub daemon: u16,
    /// The wallet emulator's JSON-RPC.
    pub wallet: u16,
    /// The master's gRPC gateway.
    pub gateway: u16,
    /// The master's REST API.
    pub api: u16,
    /// Each slave's Stratum door.
    pub stratum: [u16; 2],
    /// Each slave's operations server.
    pub slave_http: [u16; 2],
}

impl Ports {
    /// Free loopback ports, all different.
    pub fn pick() -> std::io::Result<Ports> {
        // Hold every listener until all are picked, so none repeats.
        let listeners = (0..9)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<std::io::Result<Vec<_>>>()?;
        let ports = listeners
            .iter()
            .map(|listener| listener.local_addr().map(|addr| addr.port()))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Ports {
            redis: ports[0],
            daemon: ports[1],
            wallet: ports[2],
            gateway: ports[3],
            api: ports[4],
            stratum: [ports[5], ports[6]],
            slave_http: [ports[7], ports[8]],
        })
    }
}

/// A loopback socket address.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// The run directory's parts.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The run directory.
    pub dir: PathBuf,
    /// The ports.
    pub ports: Ports,
}

impl Layout {
    /// A file or directory of the run.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The log of a process.
    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// The master's config: payouts on and fast, blocks maturing within
    /// seconds, the block spool on, every port fixed.
    pub fn master_config(&self) -> Config {
        let ports = self.ports;
        let mut config = test_config();
        config.redis.url = format!("redis://127.0.0.1:{}/0", ports.redis);
        config.node.url = format!("http://127.0.0.1:{}/json_rpc", ports.daemon);
        config.node.upstreams.clear();
        config.master.bind = loopback(ports.gateway);
        config.api.bind = loopback(ports.api);
        config.master.block_spool_dir = Some(self.path("block-spool"));
        config.mining.initial_difficulty = SHARE_DIFFICULTY;
        config.payouts.enabled = true;
        config.payouts.wallet_rpc = Some(format!("http://127.0.0.1:{}/json_rpc", ports.wallet));
        config.payouts.interval = Duration::from_secs(3);
        config.payouts.threshold = 1_000_000;
        config.payouts.confirmations = 1;
        config.unlocker.interval = Duration::from_millis(500);
        config.slave.stratum_tls_bind = None;
        config.slave.websocket_tls_bind = None;
        config.slave.websocket_enabled = false;
        config.slave.xatum_enabled = false;
        config
    }

    /// Slave `index`'s config, with its own fixed ports and journal.
    pub fn slave_config(&self, master: &Config, index: usize) -> Config {
        let mut config = slave_config(master, index as u16, loopback(self.ports.gateway));
        config.slave.id = Some(format!("chaos-slave-{index}"));
        config.slave.stratum_bind = loopback(self.ports.stratum[index]);
        config.slave.http_bind = loopback(self.ports.slave_http[index]);
        config.slave.journal_path = Some(self.path(&format!("slave{index}.journal")));
        config
    }
}

/// Writes `config` as YAML to `path`.
pub fn write_config(config: &Config, path: &Path) -> std::io::Result<()> {
    let text = serde_yaml::to_string(config).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}
