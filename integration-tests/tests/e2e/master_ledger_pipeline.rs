//! Share batches handed to the ledger several at once (`record_batches`,
//! what the gateway does with the batches queued while Redis stored the
//! last ones): stored in order and counted once through replays, overlaps,
//! gaps, malformed batches and a script Redis no longer holds; a worker
//! with only refused shares still creates no key.

use crate::master_ledger::{expected_counts, outcome_of, raw};

use tos_pool_integration_tests::redis_server::RedisServer;
use tos_pool_master::ledger::{BatchOutcome, Ledger, LedgerError, LedgerSettings};
use tos_pool_proto::v1::{Share, ShareBatch, ShareOutcome};

const MINERS: [&str; 3] = ["tst1alice", "tst1bob", "tst1carol"];
const NOW: u64 = 1_700_000_000_000;

async fn ledger(server: &RedisServer) -> Ledger {
    crate::master_ledger::ledger(server, LedgerSettings::default()).await
}

fn share(seq: u64, address: &str, worker: &str, outcome: ShareOutcome) -> Share {
    Share {
        seq,
        job_id: "job".into(),
        height: 10,
        address: address.into(),
        worker: worker.into(),
        difficulty: 1_000,
        actual_difficulty: 1_000,
        outcome: outcome.into(),
        timestamp_ms: NOW - 1_000,
        session_id: 1,
    }
}

/// Shares `first..=last`: three miners, two workers each.
fn batch(first: u64, last: u64) -> ShareBatch {
    ShareBatch {
        first_seq: first,
        last_seq: last,
        shares: (first..=last)
            .map(|seq| {
                let worker = if seq % 2 == 0 { "rig-a" } else { "rig-b" };
                share(seq, MINERS[(seq % 3) as usize], worker, outcome_of(seq))
            })
            .collect(),
    }
}

async fn pool_counts(ledger: &Ledger) -> (u64, u64, u64) {
    let shares = ledger
        .pool_stats(NOW)
        .await
        .expect("pool stats read")
        .activity
        .shares;
    (shares.valid, shares.invalid, shares.stale)
}

fn stored(results: Vec<Result<BatchOutcome, LedgerError>>) -> Vec<(u64, u64)> {
    results
        .into_iter()
        .map(|result| {
            let outcome = result.expect("the batch is stored");
            (outcome.acked_seq, outcome.new_shares)
        })
        .collect()
}

#[tokio::test]
async fn pipelined_batches_are_stored_in_order_and_counted_once() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server).await;
    let first: Vec<ShareBatch> = (0..4).map(|n| batch(n * 100 + 1, n * 100 + 100)).collect();
    let results = ledger.record_batches("eu-1", "boot", &first, NOW).await;
    assert_eq!(
        stored(results),
        [(100, 100), (200, 100), (300, 100), (400, 100)]
    );
    // The same batches again (a slave replaying after a lost ack).
    let results = ledger.record_batches("eu-1", "boot", &first, NOW).await;
    assert_eq!(stored(results), [(400, 0), (400, 0), (400, 0), (400, 0)]);

    // A replay, an overlap (cut after the mark), a batch after it and one
    // beyond a gap: the first three are stored, the gap is refused.
    let mixed = [
        batch(301, 400),
        batch(351, 450),
        batch(451, 500),
        batch(520, 530),
    ];
    let mut results = ledger.record_batches("eu-1", "boot", &mixed, NOW).await;
    assert_eq!(results.len(), 4);
    let gap = results
        .pop()
        .map(|result| result.expect_err("seqs 501..519 are missing"));
    assert!(
        matches!(
            gap,
            Some(LedgerError::Gap {
                first_seq: 520,
                acked_seq: 500,
                ..
            })
        ),
        "{gap:?}"
    );
    assert_eq!(stored(results), [(400, 0), (450, 50), (500, 50)]);

    // A malformed batch ends the list; the ones before it are stored, the
    // ones after it are not tried.
    let mut broken = batch(511, 520);
    broken.shares.swap(0, 1);
    let mut results = ledger
        .record_batches(
            "eu-1",
            "boot",
            &[batch(501, 510), broken, batch(511, 520)],
            NOW,
        )
        .await;
    assert_eq!(results.len(), 2);
    assert!(matches!(
        results.pop(),
        Some(Err(LedgerError::MalformedBatch { .. }))
    ));
    assert_eq!(stored(results), [(510, 10)]);

    assert_eq!(ledger.acked_seq("eu-1", "boot").await.expect("read"), 510);
    assert_eq!(pool_counts(&ledger).await, expected_counts(510));
    let logged: u64 = ledger
        .pplns_entries(u128::MAX)
        .await
        .expect("log read")
        .iter()
        .map(|entry| entry.weight)
        .sum();
    assert_eq!(logged, expected_counts(510).0 * 1_000);
}

#[tokio::test]
async fn pipelined_batches_survive_a_flushed_script() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server).await;
    let mut redis = raw(&server).await;
    let results = ledger
        .record_batches("eu-1", "boot", &[batch(1, 10), batch(11, 20)], NOW)
        .await;
    assert_eq!(stored(results), [(10, 10), (20, 10)]);
    // Redis forgets its scripts (a restart without persistence of them, a
    // failover, SCRIPT FLUSH): the pipelined calls fail and the batches are
    // written one by one, the script loaded again.
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut redis)
        .await
        .expect("scripts flushed");
    let results = ledger
        .record_batches(
            "eu-1",
            "boot",
            &[batch(21, 30), batch(31, 40), batch(41, 50)],
            NOW,
        )
        .await;
    assert_eq!(stored(results), [(30, 10), (40, 10), (50, 10)]);
    assert_eq!(pool_counts(&ledger).await, expected_counts(50));
}

#[tokio::test]
async fn a_refused_only_worker_in_pipelined_batches_creates_no_key() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server).await;
    let mut redis = raw(&server).await;
    let junk = "tst1junk";
    let refused = |seq: u64, outcome: ShareOutcome| ShareBatch {
        first_seq: seq,
        last_seq: seq + 1,
        shares: vec![
            share(seq, MINERS[0], "rig", ShareOutcome::Valid),
            share(seq + 1, junk, "junk-rig", outcome),
        ],
    };
    let results = ledger
        .record_batches(
            "eu-1",
            "boot",
            &[
                refused(1, ShareOutcome::Duplicate),
                refused(3, ShareOutcome::Stale),
                refused(5, ShareOutcome::LowDifficulty),
            ],
            NOW,
        )
        .await;
    assert_eq!(stored(results), [(2, 2), (4, 2), (6, 2)]);
    let keys = ledger.keys();
    let exists: u64 = redis::cmd("EXISTS")
        .arg(keys.worker_stats(junk, "junk-rig"))
        .arg(keys.workers(junk))
        .query_async(&mut redis)
        .await
        .expect("EXISTS answers");
    assert_eq!(exists, 0, "refused shares created a key");
    let listed: Option<u64> = redis::cmd("ZSCORE")
        .arg(keys.miners())
        .arg(junk)
        .query_async(&mut redis)
        .await
        .expect("ZSCORE answers");
    assert_eq!(listed, None);
    // The pool counts them all; the valid worker has its key.
    assert_eq!(pool_counts(&ledger).await, (3, 2, 1));
    assert_eq!(
        ledger
            .worker_stats(MINERS[0], NOW)
            .await
            .expect("read")
            .len(),
        1
    );

    // Once the worker has a valid share, its refused ones count on it too.
    let results = ledger
        .record_batches(
            "eu-1",
            "boot",
            &[
                refused(7, ShareOutcome::Valid),
                refused(9, ShareOutcome::Stale),
            ],
            NOW,
        )
        .await;
    assert_eq!(stored(results), [(8, 2), (10, 2)]);
    let workers = ledger.worker_stats(junk, NOW).await.expect("read");
    let counts: Vec<(&str, u64, u64, u64)> = workers
        .iter()
        .map(|worker| {
            let shares = worker.activity.shares;
            (
                worker.worker.as_str(),
                shares.valid,
                shares.invalid,
                shares.stale,
            )
        })
        .collect();
    assert_eq!(counts, [("junk-rig", 1, 0, 1)]);
}
