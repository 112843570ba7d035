//! The miners set written by the share-batch script: a batch naming more
//! miners than the script sends to Redis in one command still stores every
//! miner's latest share time, and never moves one back.

use tos_pool_common::config::RedisConfig;
use tos_pool_integration_tests::redis_server::RedisServer;
use tos_pool_master::ledger::Ledger;
use tos_pool_proto::v1::{Share, ShareBatch, ShareOutcome};

/// More miners than one chunk of the script (1,000), and not a multiple.
const MINERS: u64 = 2_500;

fn address(n: u64) -> String {
    format!("tst1miner{n:05}")
}

fn batch(first_seq: u64, at_ms: impl Fn(u64) -> u64) -> ShareBatch {
    let shares: Vec<Share> = (0..MINERS)
        .map(|n| Share {
            seq: first_seq + n,
            job_id: "job".into(),
            height: 10,
            address: address(n),
            worker: "rig".into(),
            difficulty: 1_000,
            actual_difficulty: 1_000,
            outcome: ShareOutcome::Valid.into(),
            timestamp_ms: at_ms(n),
            session_id: 1,
        })
        .collect();
    ShareBatch {
        first_seq,
        last_seq: first_seq + MINERS - 1,
        shares,
    }
}

#[tokio::test]
async fn every_miner_of_a_large_batch_keeps_its_latest_share_time() {
    let server = RedisServer::start().expect("redis-server starts");
    let config = RedisConfig {
        url: server.url(),
        key_prefix: "test".into(),
        ..RedisConfig::default()
    };
    let ledger = Ledger::connect(&config)
        .await
        .expect("the ledger connects to the private Redis");
    let now = 1_700_000_000_000;
    let first = |n: u64| now - 100_000 + n;
    // The second batch moves even miners forward and odd ones back.
    let second = |n: u64| {
        if n.is_multiple_of(2) {
            now - 50_000 + n
        } else {
            now - 200_000
        }
    };

    let outcome = ledger
        .record_batch("eu-1", "boot", &batch(1, first), now)
        .await
        .expect("the first batch is stored");
    assert_eq!(outcome.new_shares, MINERS);
    let outcome = ledger
        .record_batch("eu-1", "boot", &batch(MINERS + 1, second), now)
        .await
        .expect("the second batch is stored");
    assert_eq!(outcome.new_shares, MINERS);

    let mut redis = redis::Client::open(server.url())
        .expect("the harness URL is valid")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let stored: Vec<(String, u64)> = redis::cmd("ZRANGE")
        .arg(ledger.keys().miners())
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut redis)
        .await
        .expect("the miners set reads");
    let expected: Vec<(String, u64)> = (0..MINERS)
        .map(|n| (address(n), first(n).max(second(n))))
        .collect();
    let mut stored = stored;
    stored.sort();
    assert_eq!(stored.len(), expected.len());
    assert_eq!(stored, expected);
}
