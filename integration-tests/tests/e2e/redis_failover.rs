//! Redis Sentinel failover under load: a real `redis-sentinel` watches a
//! Redis master with one replica; the pool's master finds Redis through the
//! sentinel and waits for the replica on every share batch
//! (`redis.min_replicas: 1`). The Redis master is killed -9 while batches
//! flow; the sentinel promotes the replica; the old master comes back as a
//! replica. The pool follows without a restart, no acknowledged share is
//! lost (the Welcome never resumes below an ack) and none counts twice.

use crate::master_support;

use std::time::Duration;

use master_support::{Cluster, TestSlave, batch, channel, hello, miner_address, share};
use tos_pool_common::clock::unix_ms as now_ms;
use tos_pool_integration_tests::redis_sentinel::{RedisSentinel, SentinelOptions};
use tos_pool_integration_tests::redis_server::RedisServer;
use tos_pool_proto::v1::{Job, SlaveMessage, master_message};

const SHARES: u64 = 6_000;
const BATCH: u64 = 50;
/// Batches sent ahead of the last ack.
const WINDOW: u64 = 4;
const SLAVE: &str = "eu-failover";
const BOOT: &str = "boot-failover";
/// Longest the whole run may take: the failover itself takes seconds.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

fn nth_batch(n: u64, job: &Job) -> SlaveMessage {
    let shares = ((n - 1) * BATCH + 1..=n * BATCH)
        .map(|seq| share(seq, job, &miner_address(20 + (seq % 3) as u8), 1 + seq % 4))
        .collect();
    batch(shares)
}

/// Opens a stream resuming after `acked`; `None` while the master cannot
/// serve one (Redis is failing over).
async fn try_join(url: &str, acked: u64) -> Option<(TestSlave, u64)> {
    let channel = channel(url, None).await;
    let mut slave = TestSlave::open(
        channel,
        Some(master_support::SECRET),
        hello(SLAVE, BOOT, acked),
    )
    .await
    .ok()?;
    match slave.next().await {
        Ok(Some(master_message::Kind::Welcome(welcome))) => Some((slave, welcome.acked_seq)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_loses_and_doubles_no_acknowledged_share() {
    let mut primary = RedisServer::builder()
        .aof(true)
        .start()
        .expect("the Redis master starts");
    let replica = RedisServer::builder()
        .arg("--replicaof")
        .arg("127.0.0.1")
        .arg(primary.port().to_string())
        .start()
        .expect("the Redis replica starts");
    let sentinel = RedisSentinel::start(SentinelOptions {
        master_name: "pool".to_string(),
        master_port: primary.port(),
        down_after: Duration::from_millis(1_000),
        failover_timeout: Duration::from_millis(4_000),
    })
    .expect("redis-sentinel starts");
    let sentinel_address = sentinel.address();

    let cluster = Cluster::start(true, |config| {
        // A URL whose host nobody listens on: only the sentinel's answer works.
        config.redis.url = "redis://127.0.0.1:1/0".to_string();
        config.redis.sentinels = vec![sentinel_address];
        config.redis.sentinel_master = "pool".to_string();
        config.redis.min_replicas = 1;
    })
    .await;
    let ledger = cluster.master.ledger();
    assert_eq!(ledger.server(), format!("127.0.0.1:{}", primary.port()));
    let url = cluster.gateway_url();

    let run = async {
        let (mut slave, mut acked) = try_join(&url, 0).await.expect("the first stream opens");
        let job = slave.next_job().await;
        let batches = SHARES / BATCH;
        let mut sent = acked / BATCH;
        let mut killed = false;
        let mut reconnects = 0;
        while acked < SHARES {
            let mut open = true;
            while open && sent < batches && sent < acked / BATCH + WINDOW {
                sent += 1;
                open = slave.try_send(nth_batch(sent, &job)).await;
            }
            let frame = if open { slave.next().await } else { Ok(None) };
            match frame {
                Ok(Some(master_message::Kind::Ack(ack))) => {
                    assert!(ack.up_to_seq >= acked, "acks never go back");
                    acked = ack.up_to_seq;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    // The master ended the stream (Redis failed under it):
                    // reconnect like a slave does and replay after the mark.
                    reconnects += 1;
                    let (again, resume) = loop {
                        if let Some(joined) = try_join(&url, acked).await {
                            break joined;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    };
                    assert!(
                        resume >= acked,
                        "the Welcome resumes at {resume}, below the ack {acked}: an acknowledged share was lost"
                    );
                    assert_eq!(resume % BATCH, 0, "batches are stored whole");
                    slave = again;
                    acked = resume;
                    sent = resume / BATCH;
                }
            }
            if !killed && acked >= SHARES / 3 {
                primary.kill().expect("the Redis master is killed");
                killed = true;
            }
            if killed && !primary.is_running() && sentinel.master_port() == Some(replica.port()) {
                // The old master returns; the sentinel makes it a replica of
                // the new one, so WAIT 1 can be met again.
                primary.restart().expect("the old Redis master restarts");
            }
        }
        reconnects
    };
    let reconnects = tokio::time::timeout(RUN_DEADLINE, run)
        .await
        .unwrap_or_else(|_| panic!("the run did not finish; sentinel log:\n{}", sentinel.log()));
    assert!(reconnects >= 1, "the failover ended at least one stream");

    assert_eq!(
        ledger.server(),
        format!("127.0.0.1:{}", replica.port()),
        "the pool writes to the promoted replica"
    );
    assert!(ledger.failovers() >= 1);
    let pool = ledger.pool_stats(now_ms()).await.expect("pool stats");
    assert_eq!(
        pool.activity.shares.valid, SHARES,
        "every share counted once"
    );
    assert_eq!(
        ledger.acked_seq(SLAVE, BOOT).await.expect("ack point"),
        SHARES
    );
}
