//! Exactly-once shares across a master restart: 10,000 shares in batches,
//! the master killed partway, the slave replaying what was not acked after
//! `Welcome.acked_seq`; the ledger holds exactly 10,000.

use crate::master_support;

use std::collections::BTreeMap;

use master_support::{Cluster, TestSlave, batch, miner_address, share, within};
use tos_pool_common::clock::unix_ms as now_ms;
use tos_pool_common::telemetry::Telemetry;
use tos_pool_master::app::MasterHandle;
use tos_pool_proto::v1::{Job, SlaveMessage};

const SHARES: u64 = 10_000;
const BATCH: u64 = 100;
const ADDRESSES: u64 = 3;

/// Batch `n` (1-based) of the run: shares `(n-1)*BATCH+1 ..= n*BATCH`,
/// spread over the miners.
fn nth_batch(n: u64, job: &Job) -> SlaveMessage {
    let shares = ((n - 1) * BATCH + 1..=n * BATCH)
        .map(|seq| share(seq, job, &miner_address(address_byte(seq)), 1 + seq % 5))
        .collect();
    batch(shares)
}

fn address_byte(seq: u64) -> u8 {
    10 + (seq % ADDRESSES) as u8
}

#[tokio::test]
async fn a_restart_partway_loses_and_doubles_no_share() {
    let mut cluster = Cluster::start(true, |_| {}).await;
    let boot = "boot-exactly-once";
    let (mut slave, welcome) = TestSlave::join(&cluster.gateway_url(), "eu-1", boot, 0).await;
    assert_eq!(welcome.acked_seq, 0);
    let job = slave.next_job().await;
    let batches = SHARES / BATCH;

    // Send the first half without waiting, then kill the master as soon as
    // part of it is acked: later batches are written or not, acked or not.
    for n in 1..=batches / 2 {
        slave.send(nth_batch(n, &job)).await;
    }
    let seen = slave.acked(2_000).await;
    let killed = std::mem::replace(
        &mut cluster.master,
        MasterHandle::start(&cluster.config, Telemetry::disabled())
            .await
            .expect("the master restarts"),
    );
    drop(killed);
    assert!(seen < SHARES);

    // Reconnect to the new master with the same boot and replay every batch
    // after its ack point, then send the rest.
    let (mut slave, welcome) = TestSlave::join(&cluster.gateway_url(), "eu-1", boot, seen).await;
    let resume = welcome.acked_seq;
    assert!(resume >= seen, "the ledger holds at least what was acked");
    assert_eq!(resume % BATCH, 0, "batches are stored whole");
    for n in resume / BATCH + 1..=batches {
        slave.send(nth_batch(n, &job)).await;
    }
    assert_eq!(slave.acked(SHARES).await, SHARES);

    // Replays of stored batches change nothing: the first one, the ones the
    // killed master wrote but never acked, and the last one.
    let mut replays = vec![1, batches];
    replays.extend(seen / BATCH + 1..=resume / BATCH);
    for &n in &replays {
        slave.send(nth_batch(n, &job)).await;
    }
    within(async {
        for _ in &replays {
            assert_eq!(slave.acked(1).await, SHARES);
        }
    })
    .await;

    let ledger = cluster.master.ledger();
    let pool = ledger.pool_stats(now_ms()).await.expect("pool stats");
    assert_eq!(pool.activity.shares.valid, SHARES);
    assert_eq!(pool.activity.shares.invalid + pool.activity.shares.stale, 0);
    let mut expected: BTreeMap<u8, u64> = BTreeMap::new();
    for seq in 1..=SHARES {
        *expected.entry(address_byte(seq)).or_default() += 1;
    }
    for (byte, count) in expected {
        let miner = ledger
            .miner_stats(&miner_address(byte), now_ms())
            .await
            .expect("miner stats")
            .expect("the miner is known");
        assert_eq!(miner.activity.shares.valid, count, "miner {byte}");
    }
    assert_eq!(
        ledger.acked_seq("eu-1", boot).await.expect("ack point"),
        SHARES
    );
}
