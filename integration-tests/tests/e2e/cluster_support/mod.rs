//! What the cluster end-to-end tests share: starting a cluster on free
//! ports, connecting test miners over Stratum TCP or TLS, waiting on
//! conditions with a deadline, and reading the ledger.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tos_pool_common::address::Address;
use tos_pool_common::config::Config;
use tos_pool_common::network::Network;
use tos_pool_integration_tests::cluster::{Cluster, ClusterOptions, test_config};
use tos_pool_integration_tests::miners::{MinerOptions, StratumMiner, Transport};
use tos_pool_integration_tests::tls;

/// Longest a test waits for anything.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Starts a cluster of `slaves` slaves on free ports; `tweak` may change the
/// config first. The devnet's difficulty is high so blocks come only when a
/// test lowers it.
pub async fn start(slaves: u16, tweak: impl FnOnce(&mut Config)) -> Cluster {
    start_with_blocks(slaves, Duration::from_secs(1), tweak).await
}

/// [`start`], with the emulated network making a block every `block_interval`.
pub async fn start_with_blocks(
    slaves: u16,
    block_interval: Duration,
    tweak: impl FnOnce(&mut Config),
) -> Cluster {
    let mut config = test_config();
    tweak(&mut config);
    let cluster = Cluster::start(
        config,
        ClusterOptions {
            slaves,
            devnet_difficulty: 1_000_000_000,
            block_interval,
            ..ClusterOptions::default()
        },
    )
    .await
    .expect("the cluster starts");
    wait_until("every slave is welcomed and has a job", || async {
        cluster
            .slaves()
            .all(|slave| slave.link().is_connected() && slave.link().jobs().borrow().is_some())
    })
    .await;
    cluster
}

/// Waits until `check` is true, polling every 50 ms; panics with `what`
/// after [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A devnet miner address made of one repeated key byte.
pub fn address(byte: u8) -> String {
    Address::new([byte; 32], Network::Devnet).to_string()
}

/// Options for test miners.
pub fn options() -> MinerOptions {
    MinerOptions::default().with_timeout(Duration::from_secs(20))
}

/// A Stratum miner over plain TCP.
pub async fn tcp_miner(addr: SocketAddr) -> StratumMiner {
    StratumMiner::connect(addr, Transport::Tcp, options())
        .await
        .expect("connect over TCP")
}

/// A Stratum miner over TLS 1.2 only (as tosminer), trusting the cluster's
/// self-signed certificate.
pub async fn tls_miner(cluster: &Cluster, addr: SocketAddr) -> StratumMiner {
    let certificate = cluster
        .certificate
        .as_ref()
        .expect("the harness made a certificate");
    let config = tls::client_config_tls12_only(certificate).expect("client TLS config");
    StratumMiner::connect(addr, Transport::tls(config), options())
        .await
        .expect("connect over TLS")
}

/// Subscribes and authorizes `miner` as `login`.
pub async fn log_in(miner: &StratumMiner, login: &str) {
    miner.subscribe().await.expect("subscribe");
    miner.authorize(login, "x").await.expect("authorize");
}

/// Valid shares the ledger holds for `address`'s `worker` (0 if none).
pub async fn ledger_valid(cluster: &Cluster, address: &str, worker: &str) -> u64 {
    let Some(master) = cluster.master() else {
        return 0;
    };
    let now = tos_pool_common::clock::unix_ms();
    match master.ledger().worker_stats(address, now).await {
        Ok(workers) => workers
            .iter()
            .find(|stats| stats.worker == worker)
            .map_or(0, |stats| stats.activity.shares.valid),
        Err(_) => 0,
    }
}

/// Mines and submits `count` shares on the newest job; returns how many
/// were accepted.
pub async fn mine_shares(miner: &StratumMiner, count: usize) -> u64 {
    let mut accepted = 0;
    for _ in 0..count {
        let job = match miner.latest_job() {
            Some(job) => job,
            None => miner.next_job(DEADLINE).await.expect("a job"),
        };
        let outcome = miner.mine_and_submit_one(&job).await.expect("submit");
        if outcome.is_accepted() {
            accepted += 1;
        }
    }
    accepted
}
