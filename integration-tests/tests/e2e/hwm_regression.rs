//! The master's share mark goes back (Redis lost its last writes, a replica
//! took over): the slave must not replay into a gap forever. Real Redis is
//! put back to an older state (every key dumped, then restored); the
//! slave starts a new boot, and the shares it still held are counted once.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tos_pool_integration_tests::cluster::Cluster;

use crate::cluster_support::{
    address, ledger_valid, log_in, mine_shares, start, tcp_miner, wait_until,
};

/// Every key of Redis with its dumped value.
type Snapshot = Vec<(String, Vec<u8>)>;

async fn redis(cluster: &Cluster) -> MultiplexedConnection {
    redis::Client::open(cluster.redis.url())
        .expect("the URL is valid")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers")
}

async fn snapshot(redis: &mut MultiplexedConnection) -> Snapshot {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(redis)
        .await
        .expect("KEYS");
    let mut dumped = Vec::new();
    for key in keys {
        let value: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(redis)
            .await
            .expect("DUMP");
        if let Some(value) = value {
            dumped.push((key, value));
        }
    }
    dumped
}

/// Puts Redis back to `snapshot`, as a restart that lost its last writes.
async fn restore(redis: &mut MultiplexedConnection, snapshot: &Snapshot) {
    let () = redis::cmd("FLUSHALL")
        .query_async(redis)
        .await
        .expect("FLUSHALL");
    for (key, value) in snapshot {
        let () = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(value.as_slice())
            .arg("REPLACE")
            .query_async(redis)
            .await
            .expect("RESTORE");
    }
}

async fn hwm_keys(redis: &mut MultiplexedConnection) -> Vec<String> {
    redis::cmd("KEYS")
        .arg("*ledger:hwm:*")
        .query_async(redis)
        .await
        .expect("KEYS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_that_lost_acked_shares_counts_the_held_ones_once_under_a_new_boot() {
    let mut cluster = start(1, |_| {}).await;
    let mut db = redis(&cluster).await;
    let slave = cluster.slave(0).expect("slave");
    let link = slave.link().clone();
    let miner = tcp_miner(slave.doors().stratum).await;
    let address = address(21);
    log_in(&miner, &format!("{address}.rig")).await;

    // 1. Shares stored and acked; Redis as it will be "restored".
    let kept = mine_shares(&miner, 3).await;
    wait_until("the first shares are acked", || async {
        link.counters().acked_seq == kept && link.counters().unacked_shares == 0
    })
    .await;
    let older = snapshot(&mut db).await;
    let first_boot = link.boot_id();

    // 2. More shares stored and acked: these are the ones Redis will lose.
    let lost = mine_shares(&miner, 2).await;
    wait_until("the later shares are acked", || async {
        link.counters().acked_seq == kept + lost && link.counters().unacked_shares == 0
    })
    .await;

    // 3. The master goes away; the slave holds shares it answered.
    cluster.stop_master().await;
    wait_until("the slave sees the master gone", || async {
        !link.is_connected()
    })
    .await;
    let held = mine_shares(&miner, 4).await;
    assert_eq!(held, 4, "shares are answered while the master is away");
    assert_eq!(link.counters().unacked_shares, 4);

    // 4. Redis comes back without its last writes: the mark is below what
    //    the master acked.
    restore(&mut db, &older).await;
    assert_eq!(ledger_valid_raw(&cluster, &address).await, kept);
    cluster.restart_master().await.expect("the master restarts");

    // 5. The slave starts a new boot and the held shares are counted once.
    wait_until("the held shares reach the ledger", || async {
        ledger_valid(&cluster, &address, "rig").await >= kept + held
    })
    .await;
    wait_until("the slave is settled under its new boot", || async {
        link.is_connected() && link.counters().unacked_shares == 0
    })
    .await;
    let counters = link.counters();
    assert_eq!(counters.boot_renewals, 1, "{counters:?}");
    assert_eq!(counters.shares_lost_by_master, lost, "{counters:?}");
    assert_eq!(
        counters.acked_seq, held,
        "renumbered 1..n under the new boot"
    );
    assert_ne!(link.boot_id(), first_boot);
    assert_eq!(hwm_keys(&mut db).await.len(), 2, "one mark per boot");

    // 6. No loop: new shares flow under the new boot, and nothing more is
    //    counted than the slave holds.
    let after = mine_shares(&miner, 2).await;
    wait_until("later shares reach the ledger", || async {
        ledger_valid(&cluster, &address, "rig").await >= kept + held + after
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ledger_valid(&cluster, &address, "rig").await,
        kept + held + after,
        "every held share once, the lost ones not invented"
    );
    assert_eq!(link.counters().boot_renewals, 1);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_that_goes_back_under_a_live_stream_is_recovered_not_looped() {
    let cluster = start(1, |_| {}).await;
    let mut db = redis(&cluster).await;
    let slave = cluster.slave(0).expect("slave");
    let link = slave.link().clone();
    let miner = tcp_miner(slave.doors().stratum).await;
    let address = address(22);
    log_in(&miner, &format!("{address}.rig")).await;

    let kept = mine_shares(&miner, 2).await;
    wait_until("the first shares are acked", || async {
        link.counters().acked_seq == kept && link.counters().unacked_shares == 0
    })
    .await;
    let older = snapshot(&mut db).await;
    let lost = mine_shares(&miner, 3).await;
    wait_until("the later shares are acked", || async {
        link.counters().acked_seq == kept + lost && link.counters().unacked_shares == 0
    })
    .await;

    // Redis goes back while the stream is up: the next batch is a gap to
    // the master, which ends the stream; the Welcome after it decides.
    restore(&mut db, &older).await;
    let after = mine_shares(&miner, 3).await;
    wait_until("the shares after the loss reach the ledger", || async {
        ledger_valid(&cluster, &address, "rig").await >= kept + after
    })
    .await;
    wait_until("the slave is settled", || async {
        link.is_connected() && link.counters().unacked_shares == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ledger_valid(&cluster, &address, "rig").await, kept + after);
    let counters = link.counters();
    assert_eq!(counters.boot_renewals, 1, "{counters:?}");
    assert_eq!(counters.shares_lost_by_master, lost, "{counters:?}");
    assert!(
        counters.reconnects <= 2,
        "recovered in a reconnect or two, not a loop: {counters:?}"
    );
    cluster.shutdown().await;
}

/// Valid shares of `address`'s `rig` straight from Redis, while the master
/// is down.
async fn ledger_valid_raw(cluster: &Cluster, address: &str) -> u64 {
    let mut db = redis(cluster).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*stats:worker:{address}:rig"))
        .query_async(&mut db)
        .await
        .expect("KEYS");
    let Some(key) = keys.first() else {
        return 0;
    };
    let valid: Option<u64> = redis::cmd("HGET")
        .arg(key)
        .arg("valid")
        .query_async(&mut db)
        .await
        .expect("HGET");
    valid.unwrap_or(0)
}
