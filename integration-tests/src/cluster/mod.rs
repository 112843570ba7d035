//! The cluster harness: a private Redis, the devnet and wallet emulators, the
//! master in-process and two slaves in-process, started from one config. The
//! end-to-end tests (every port 0) and the local-cluster launcher
//! `tos-pool-dev` (the config's fixed ports) both use it.

pub mod config;
pub mod demo;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tos_pool_common::config::{Config, Role};
use tos_pool_common::difficulty::Difficulty;
use tos_pool_common::telemetry::{Telemetry, TelemetryGuard, init_telemetry_scoped};
use tos_pool_master::app::MasterHandle;
use tos_pool_slave::app::{DrainReport, Slave};
use tos_pool_slave::server::CountersSnapshot;

use crate::devnet::{Devnet, DevnetConfig, DevnetHandle};
use crate::redis_server::RedisServer;
use crate::tls::TestCertificate;
use crate::wallet::{Wallet, WalletConfig, WalletHandle};

pub use config::{slave_config, test_config, url_port, with_tls};

/// How to start a cluster besides its config.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Use the ports of `redis.url`, `node.url` and `payouts.wallet_rpc`
    /// (the launcher); otherwise free ones (tests).
    pub fixed_ports: bool,
    /// Network difficulty of the devnet emulator.
    pub devnet_difficulty: u64,
    /// Time between the emulated network's own blocks.
    pub block_interval: Duration,
    /// Whether the emulated network produces blocks.
    pub produce_blocks: bool,
    /// Where a self-signed TLS pair is written when the config names none
    /// (or names missing files).
    pub tls_dir: PathBuf,
    /// Slaves to start (the launcher starts 2).
    pub slaves: u16,
    /// Balance of the wallet emulator, atomic units.
    pub wallet_balance: u64,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            fixed_ports: false,
            devnet_difficulty: 1_000_000,
            block_interval: Duration::from_secs(1),
            produce_blocks: true,
            tls_dir: fresh_tls_dir(),
            slaves: 2,
            wallet_balance: 100_000_000_000,
        }
    }
}

/// Why the cluster did not start.
#[derive(Debug, thiserror::Error)]
#[error("cluster: {part} did not start: {reason}")]
pub struct ClusterError {
    /// Which part.
    pub part: &'static str,
    /// Why.
    pub reason: String,
}

fn fail(part: &'static str) -> impl FnOnce(String) -> ClusterError {
    move |reason| ClusterError { part, reason }
}

/// A running cluster.
pub struct Cluster {
    /// The config every part was started with (the real ports filled in).
    pub config: Config,
    /// The private Redis.
    pub redis: RedisServer,
    /// The TOS daemon emulator.
    pub devnet: DevnetHandle,
    /// The wallet emulator.
    pub wallet: WalletHandle,
    /// The self-signed certificate the slaves serve, when the harness made it.
    pub certificate: Option<TestCertificate>,
    master: Option<MasterHandle>,
    slaves: Vec<Option<Slave>>,
    /// Each node's telemetry (index 0 the master, then the slaves), each
    /// exporting on its own when `newrelic.enabled`.
    telemetry: Vec<Arc<TelemetryGuard>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("master", &self.config.master.bind)
            .field("slaves", &self.slaves.len())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Starts every part for `base`.
    pub async fn start(base: Config, options: ClusterOptions) -> Result<Cluster, ClusterError> {
        let mut config = base;
        let fixed = |url: &str| {
            if options.fixed_ports {
                url_port(url)
            } else {
                None
            }
        };

        let mut redis = RedisServer::builder();
        if let Some(port) = fixed(&config.redis.url) {
            redis = redis.port(port);
        }
        let redis = redis.start().map_err(|e| fail("redis")(e.to_string()))?;
        config.redis.url = redis.url();

        let miner_key = config
            .miner_public_key()
            .map_err(|e| fail("devnet")(e.to_string()))?;
        let devnet = Devnet::start(DevnetConfig {
            bind: loopback(fixed(&config.node.url)),
            network: config.network,
            difficulty: Difficulty::from_u64(options.devnet_difficulty.max(1))
                .unwrap_or(Difficulty::ONE),
            block_interval: options.block_interval,
            miner_key,
            produce_blocks: options.produce_blocks,
            state_dir: None,
        })
        .await
        .map_err(|e| fail("devnet")(e.to_string()))?;
        config.node.url = devnet.url();
        config.node.upstreams.clear();

        let wallet_port = config.payouts.wallet_rpc.as_deref().and_then(fixed);
        let mut wallet = WalletConfig::new(config.network, config.pool.fee_address.clone());
        wallet.bind = loopback(wallet_port);
        wallet.balance = options.wallet_balance;
        wallet.daemon_url = Some(devnet.url());
        let wallet = Wallet::start(wallet)
            .await
            .map_err(|e| fail("wallet")(e.to_string()))?;
        config.payouts.wallet_rpc = Some(wallet.url());

        let certificate = ensure_tls(&mut config, &options.tls_dir)?;

        let master_telemetry = Arc::new(
            init_telemetry_scoped(&config, Role::Master)
                .map_err(|e| fail("master telemetry")(e.to_string()))?,
        );
        let master = MasterHandle::start(&config, master_telemetry.telemetry())
            .await
            .map_err(|e| fail("master")(e.to_string()))?;
        config.master.bind = master.gateway_addr();

        let mut cluster = Cluster {
            config,
            redis,
            devnet,
            wallet,
            certificate,
            master: Some(master),
            slaves: Vec::new(),
            telemetry: vec![master_telemetry],
        };
        for index in 0..options.slaves {
            let slave_config = cluster.slave_config(index);
            slave_config
                .validate_for(Role::Slave)
                .map_err(|e| fail("slave")(e.to_string()))?;
            let telemetry = Arc::new(
                init_telemetry_scoped(&slave_config, Role::Slave)
                    .map_err(|e| fail("slave telemetry")(e.to_string()))?,
            );
            let slave = tos_pool_slave::app::start(&slave_config, telemetry.telemetry())
                .await
                .map_err(|e| fail("slave")(e.to_string()))?;
            cluster.slaves.push(Some(slave));
            cluster.telemetry.push(telemetry);
        }
        Ok(cluster)
    }

    /// The config slave `index` runs with.
    pub fn slave_config(&self, index: u16) -> Config {
        slave_config(&self.config, index, self.config.master.bind)
    }

    /// The master, while it runs.
    pub fn master(&self) -> Option<&MasterHandle> {
        self.master.as_ref()
    }

    /// Slave `index`, while it runs.
    pub fn slave(&self, index: usize) -> Option<&Slave> {
        self.slaves.get(index).and_then(Option::as_ref)
    }

    /// Every running slave.
    pub fn slaves(&self) -> impl Iterator<Item = &Slave> {
        self.slaves.iter().flatten()
    }

    /// The telemetry handles of the master (`None`) or of slave `Some(index)`.
    pub fn telemetry(&self, slave: Option<usize>) -> Option<Telemetry> {
        let index = slave.map_or(0, |index| index + 1);
        self.telemetry.get(index).map(|guard| guard.telemetry())
    }

    /// Stops the master (slaves keep their miners on the last job).
    pub async fn stop_master(&mut self) {
        if let Some(master) = self.master.take() {
            master.shutdown().await;
        }
    }

    /// Starts the master again on the same gateway address.
    pub async fn restart_master(&mut self) -> Result<(), ClusterError> {
        if self.master.is_none() {
            let telemetry = self.telemetry(None).unwrap_or_default();
            let master = MasterHandle::start(&self.config, telemetry)
                .await
                .map_err(|e| fail("master")(e.to_string()))?;
            self.master = Some(master);
        }
        Ok(())
    }

    /// Drains slave `index` as SIGTERM would.
    pub async fn drain_slave(&mut self, index: usize) -> Option<DrainReport> {
        let slave = self.slaves.get_mut(index)?.take()?;
        Some(slave.drain().await)
    }

    /// Sets the devnet's network difficulty.
    pub fn set_network_difficulty(&self, difficulty: u64) {
        self.devnet
            .set_difficulty(Difficulty::from_u64(difficulty.max(1)).unwrap_or(Difficulty::ONE));
    }

    /// The counters of every running slave, added up.
    pub fn totals(&self) -> CountersSnapshot {
        let mut total = CountersSnapshot::default();
        for slave in self.slaves() {
            let c = slave.counters().snapshot();
            total.sessions += c.sessions;
            total.authorized_sessions += c.authorized_sessions;
            total.shares_valid += c.shares_valid;
            total.shares_invalid += c.shares_invalid;
            total.shares_stale += c.shares_stale;
            total.blocks_found += c.blocks_found;
            total.hashrate += c.hashrate;
        }
        total
    }

    /// Every endpoint, as (name, where) pairs, in a stable order.
    pub fn endpoints(&self) -> Vec<(String, String)> {
        let mut list = Vec::new();
        for (index, slave) in self.slaves.iter().enumerate() {
            let Some(slave) = slave else { continue };
            let config = self.slave_config(index as u16);
            let name = config
                .slave
                .id
                .clone()
                .unwrap_or_else(|| format!("slave-{index}"));
            let doors = slave.doors();
            list.push((
                format!("{name} stratum+tcp"),
                format!("stratum+tcp://{}", doors.stratum),
            ));
            list.push((
                format!("{name} stratum+tls"),
                doors
                    .stratum_tls
                    .map_or_else(|| "off".to_owned(), |addr| format!("stratum+ssl://{addr}")),
            ));
            let off = || "off".to_owned();
            list.push((
                format!("{name} ws"),
                doors
                    .websocket
                    .map_or_else(off, |addr| format!("ws://{addr}/")),
            ));
            list.push((
                format!("{name} wss"),
                doors
                    .websocket_tls
                    .map_or_else(off, |addr| format!("wss://{addr}/")),
            ));
            list.push((
                format!("{name} xatum"),
                doors
                    .xatum
                    .map_or_else(off, |addr| format!("xatum+tls://{addr}")),
            ));
            list.push((
                format!("{name} http"),
                format!("http://{}/metrics", slave.http_addr()),
            ));
        }
        list.push((
            "master gRPC".to_owned(),
            format!("http://{}", self.config.master.bind),
        ));
        list.push((
            "master API".to_owned(),
            self.master
                .as_ref()
                .and_then(MasterHandle::api_addr)
                .map_or_else(
                    || "off".to_owned(),
                    |addr| format!("http://{addr}/api/stats"),
                ),
        ));
        list.push(("devnet".to_owned(), self.devnet.url()));
        list.push(("wallet".to_owned(), self.wallet.url()));
        list.push(("redis".to_owned(), self.redis.url()));
        list
    }

    /// Stops every part: slaves drain, then the master, then the emulators.
    pub async fn shutdown(mut self) {
        for index in 0..self.slaves.len() {
            self.drain_slave(index).await;
        }
        self.stop_master().await;
        self.wallet.shutdown().await;
        self.devnet.shutdown().await;
        drop(self.redis);
        // Exporting what is buffered blocks: off the async threads.
        let telemetry = std::mem::take(&mut self.telemetry);
        let _ = tokio::task::spawn_blocking(move || drop(telemetry)).await;
    }
}

fn loopback(port: Option<u16>) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port.unwrap_or(0)))
}

/// Where a cluster writes its self-signed TLS pair: a directory of its own,
/// so clusters started at the same time in one test process never overwrite
/// each other's certificate and key.
fn fresh_tls_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let cluster = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tos-pool-cluster-{}-{cluster}", std::process::id()))
}

/// Uses the configured TLS pair when both files exist; otherwise writes a
/// self-signed one (to the configured paths, or under `dir`) so every TLS
/// door opens.
fn ensure_tls(config: &mut Config, dir: &Path) -> Result<Option<TestCertificate>, ClusterError> {
    let slave = &mut config.slave;
    if !slave.needs_tls() {
        return Ok(None);
    }
    if let (Some(cert), Some(key)) = (&slave.tls_cert, &slave.tls_key)
        && cert.exists()
        && key.exists()
    {
        return Ok(None);
    }
    let cert_path = slave
        .tls_cert
        .clone()
        .unwrap_or_else(|| dir.join("slave.crt"));
    let key_path = slave
        .tls_key
        .clone()
        .unwrap_or_else(|| dir.join("slave.key"));
    let certificate = TestCertificate::self_signed(&["localhost", "127.0.0.1"])
        .map_err(|e| fail("tls")(e.to_string()))?;
    for (path, text) in [
        (&cert_path, &certificate.cert_pem),
        (&key_path, &certificate.key_pem),
    ] {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| fail("tls")(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(path, text).map_err(|e| fail("tls")(format!("{}: {e}", path.display())))?;
    }
    slave.tls_cert = Some(cert_path);
    slave.tls_key = Some(key_path);
    Ok(Some(certificate))
}
