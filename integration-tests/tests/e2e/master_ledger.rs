//! The master's Redis ledger against a real Redis: exactly-once batches
//! through replays, overlaps, races and a crash; stats and hashrates; the
//! PPLNS share log; block transitions and balances.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tos_pool_common::config::RedisConfig;
use tos_pool_integration_tests::redis_server::RedisServer;
use tos_pool_master::ledger::{Ledger, LedgerError, LedgerSettings};
use tos_pool_master::lifecycle::{
    BlockRecord, BlockState, BlockType, ChainObservation, LifecyclePolicy, ObservedBlock, step,
};
use tos_pool_master::pplns::{FeeRate, PplnsSnapshot, walk};
use tos_pool_proto::v1::{Share, ShareBatch, ShareOutcome};

const MINERS: [&str; 3] = [
    "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54",
    "tst1alice",
    "tst1bob",
];

/// A ledger on `server` under the prefix `test`, with `settings`.
pub(crate) async fn ledger(server: &RedisServer, settings: LedgerSettings) -> Ledger {
    let config = RedisConfig {
        url: server.url(),
        key_prefix: "test".into(),
        ..RedisConfig::default()
    };
    Ledger::connect(&config)
        .await
        .expect("the ledger connects to the private Redis")
        .with_settings(settings)
}

/// A plain connection to `server`, to read keys as they are.
pub(crate) async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("the harness URL is valid")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers")
}

/// Outcome of share `seq` in the bulk tests: every 10th stale, every 7th
/// (not 10th) low difficulty, the rest valid.
pub(crate) fn outcome_of(seq: u64) -> ShareOutcome {
    if seq.is_multiple_of(10) {
        ShareOutcome::Stale
    } else if seq.is_multiple_of(7) {
        ShareOutcome::LowDifficulty
    } else {
        ShareOutcome::Valid
    }
}

fn share(seq: u64, address: &str, worker: &str, outcome: ShareOutcome, at_ms: u64) -> Share {
    Share {
        seq,
        job_id: "job".into(),
        height: 10,
        address: address.into(),
        worker: worker.into(),
        difficulty: 1_000,
        actual_difficulty: 2_000,
        outcome: outcome.into(),
        timestamp_ms: at_ms,
        session_id: 1,
    }
}

/// Shares `first..=last` of the bulk pattern: three miners, two workers each.
fn bulk_batch(first: u64, last: u64, now_ms: u64) -> ShareBatch {
    ShareBatch {
        first_seq: first,
        last_seq: last,
        shares: (first..=last)
            .map(|seq| {
                let miner = MINERS[(seq % 3) as usize];
                let worker = if seq % 2 == 0 { "rig-a" } else { "rig-b" };
                share(seq, miner, worker, outcome_of(seq), now_ms)
            })
            .collect(),
    }
}

/// The expected (valid, invalid, stale) of the bulk pattern up to `last`.
pub(crate) fn expected_counts(last: u64) -> (u64, u64, u64) {
    (1..=last).fold((0, 0, 0), |(v, i, s), seq| match outcome_of(seq) {
        ShareOutcome::Valid => (v + 1, i, s),
        ShareOutcome::Stale => (v, i, s + 1),
        _ => (v, i + 1, s),
    })
}

async fn pool_counts(ledger: &Ledger, now_ms: u64) -> (u64, u64, u64) {
    let stats = ledger.pool_stats(now_ms).await.expect("pool stats read");
    let shares = stats.activity.shares;
    (shares.valid, shares.invalid, shares.stale)
}

/// Sends `first..=last` of one boot in batches of varying size, replaying
/// every third batch and sending every fifth overlapping the previous one.
/// Returns the shares the ledger reported as new.
async fn send_with_replays(
    ledger: &Ledger,
    slave: &str,
    boot: &str,
    last: u64,
    now_ms: u64,
) -> u64 {
    let mut new = 0;
    let mut next = 1;
    let mut round = 0u64;
    while next <= last {
        round += 1;
        let size = 1 + (round * 37) % 200;
        let end = (next + size - 1).min(last);
        let first = if round.is_multiple_of(5) {
            next.saturating_sub(size / 2).max(1)
        } else {
            next
        };
        let batch = bulk_batch(first, end, now_ms);
        let outcome = ledger
            .record_batch(slave, boot, &batch, now_ms)
            .await
            .expect("a contiguous batch is stored");
        assert_eq!(outcome.acked_seq, end);
        assert_eq!(outcome.new_shares, end - next + 1);
        assert_eq!(outcome.skipped_duplicates, next - first);
        new += outcome.new_shares;
        if round.is_multiple_of(3) {
            let replay = ledger
                .record_batch(slave, boot, &batch, now_ms)
                .await
                .expect("a replay is accepted");
            assert_eq!(replay.new_shares, 0);
            assert_eq!(replay.skipped_duplicates, batch.shares.len() as u64);
            assert_eq!(replay.acked_seq, end);
        }
        next = end + 1;
    }
    new
}

#[tokio::test]
async fn ten_thousand_shares_with_replays_overlaps_and_races_count_once() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server, LedgerSettings::default()).await;
    let now = 1_700_000_000_000;

    // Slave eu-1: 6,000 shares with replays and overlaps. Slave us-1: the
    // same 4,000 shares sent by two racing streams of one boot with
    // different batch boundaries, as after a reconnect that overlaps an old
    // stream.
    let replaying = send_with_replays(&ledger, "eu-1", "boot-a", 6_000, now);
    let racer = |size: u64| {
        let ledger = ledger.clone();
        async move {
            let mut new = 0;
            let mut first = 1;
            while first <= 4_000 {
                let last = (first + size - 1).min(4_000);
                let outcome = ledger
                    .record_batch("us-1", "boot-b", &bulk_batch(first, last, now), now)
                    .await
                    .expect("a racing batch is stored or skipped");
                assert!(outcome.acked_seq >= last);
                new += outcome.new_shares;
                first = last + 1;
            }
            new
        }
    };
    let (replaying, first_racer, second_racer) = tokio::join!(replaying, racer(97), racer(250));
    assert_eq!(replaying, 6_000);
    assert_eq!(first_racer + second_racer, 4_000);

    let (v6, i6, s6) = expected_counts(6_000);
    let (v4, i4, s4) = expected_counts(4_000);
    assert_eq!(pool_counts(&ledger, now).await, (v6 + v4, i6 + i4, s6 + s4));
    assert_eq!(v6 + v4 + i6 + i4 + s6 + s4, 10_000);
    assert_eq!(
        ledger.acked_seq("eu-1", "boot-a").await.expect("read"),
        6_000
    );
    assert_eq!(
        ledger.acked_seq("us-1", "boot-b").await.expect("read"),
        4_000
    );
    assert_eq!(ledger.acked_seq("eu-1", "other").await.expect("read"), 0);

    // The share log holds exactly the valid difficulty.
    let entries = ledger.pplns_entries(u128::MAX).await.expect("log read");
    let logged: u64 = entries.iter().map(|e| e.weight).sum();
    assert_eq!(logged, (v6 + v4) * 1_000);
    // Per-miner counts add up to the pool's.
    let mut miners_valid = 0;
    for miner in MINERS {
        let stats = ledger
            .miner_stats(miner, now)
            .await
            .expect("miner stats read")
            .expect("every miner has shares");
        miners_valid += stats.activity.shares.valid;
        assert_eq!(stats.workers_total, 2);
    }
    assert_eq!(miners_valid, v6 + v4);
}

#[tokio::test]
async fn a_batch_with_a_gap_is_refused_and_nothing_is_written() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server, LedgerSettings::default()).await;
    let now = 1_700_000_000_000;
    ledger
        .record_batch("eu-1", "boot", &bulk_batch(1, 10, now), now)
        .await
        .expect("the first batch is stored");
    let before = pool_counts(&ledger, now).await;
    let log_before = ledger.pplns_entries(u128::MAX).await.expect("log read");

    let error = ledger
        .record_batch("eu-1", "boot", &bulk_batch(12, 20, now), now)
        .await
        .expect_err("seq 11 is missing");
    assert!(
        matches!(
            error,
            LedgerError::Gap {
                first_seq: 12,
                acked_seq: 10,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(pool_counts(&ledger, now).await, before);
    assert_eq!(
        ledger.pplns_entries(u128::MAX).await.expect("log read"),
        log_before
    );
    assert_eq!(ledger.acked_seq("eu-1", "boot").await.expect("read"), 10);

    // A new boot must start at 1; a malformed batch is refused too.
    let error = ledger
        .record_batch("eu-1", "boot-2", &bulk_batch(5, 6, now), now)
        .await
        .expect_err("a new boot starts at seq 1");
    assert!(matches!(error, LedgerError::Gap { acked_seq: 0, .. }));
    let mut broken = bulk_batch(11, 13, now);
    broken.shares.swap(0, 1);
    let error = ledger
        .record_batch("eu-1", "boot", &broken, now)
        .await
        .expect_err("shares out of order");
    assert!(matches!(error, LedgerError::MalformedBatch { .. }));
    assert_eq!(pool_counts(&ledger, now).await, before);
    // The resumed batch is accepted.
    let outcome = ledger
        .record_batch("eu-1", "boot", &bulk_batch(11, 20, now), now)
        .await
        .expect("the resumed batch is stored");
    assert_eq!(outcome.new_shares, 10);
    assert_eq!(pool_counts(&ledger, now).await, {
        let (v, i, s) = expected_counts(20);
        (v, i, s)
    });
}

/// Calls `f` until it succeeds, for up to 30 s (Redis is coming back).
async fn retry<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, LedgerError>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match f().await {
            Ok(value) => return value,
            Err(error) if Instant::now() < deadline => {
                tracing::debug!(%error, what, "retrying while Redis comes back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("{what} kept failing: {error}"),
        }
    }
}

#[tokio::test]
async fn a_redis_crash_with_aof_and_a_replay_stay_exact() {
    let mut server = RedisServer::builder()
        .aof(true)
        .start()
        .expect("redis-server starts with AOF");
    let ledger = ledger(&server, LedgerSettings::default()).await;
    let now = 1_700_000_000_000;
    for first in (1..=2_500).step_by(250) {
        ledger
            .record_batch("eu-1", "boot", &bulk_batch(first, first + 249, now), now)
            .await
            .expect("stored before the crash");
    }
    server.kill().expect("redis-server is killed");
    server
        .restart()
        .expect("redis-server comes back on its AOF");

    // The slave reconnects, learns the acked seq and replays everything it
    // still holds (here: from seq 2,001), then goes on to 5,000.
    let acked = retry("reading the acked seq", || ledger.acked_seq("eu-1", "boot")).await;
    assert_eq!(acked, 2_500);
    for first in (2_001..=5_000).step_by(250) {
        let batch = bulk_batch(first, first + 249, now);
        retry("recording a batch", || {
            ledger.record_batch("eu-1", "boot", &batch, now)
        })
        .await;
    }
    let (v, i, s) = expected_counts(5_000);
    assert_eq!(pool_counts(&ledger, now).await, (v, i, s));
    let entries = ledger.pplns_entries(u128::MAX).await.expect("log read");
    assert_eq!(entries.iter().map(|e| e.weight).sum::<u64>(), v * 1_000);
}

#[tokio::test]
async fn workers_are_counted_by_outcome() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server, LedgerSettings::default()).await;
    let now = 1_700_000_000_000;
    let miner = MINERS[0];
    let outcomes = [
        ("rig1", ShareOutcome::Valid),
        ("rig1", ShareOutcome::Valid),
        ("rig1", ShareOutcome::Stale),
        ("rig1", ShareOutcome::Valid),
        ("rig2", ShareOutcome::Duplicate),
        ("rig2", ShareOutcome::LowDifficulty),
        ("rig2", ShareOutcome::Invalid),
        ("rig2", ShareOutcome::Unspecified),
        ("rig2", ShareOutcome::Valid),
        ("rig2", ShareOutcome::Stale),
    ];
    let shares: Vec<Share> = outcomes
        .iter()
        .zip(1..)
        .map(|((worker, outcome), seq)| share(seq, miner, worker, *outcome, now - 10_000 + seq))
        .collect();
    let batch = ShareBatch {
        first_seq: 1,
        last_seq: 10,
        shares,
    };
    ledger
        .record_batch("eu-1", "boot", &batch, now)
        .await
        .expect("stored");

    let workers = ledger.worker_stats(miner, now).await.expect("workers read");
    let counts: Vec<(&str, u64, u64, u64, Option<u64>)> = workers
        .iter()
        .map(|w| {
            let s = w.activity.shares;
            (
                w.worker.as_str(),
                s.valid,
                s.invalid,
                s.stale,
                w.activity.last_share_ms,
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("rig1", 3, 0, 1, Some(now - 10_000 + 4)),
            ("rig2", 1, 4, 1, Some(now - 10_000 + 10)),
        ]
    );
    let stats = ledger
        .miner_stats(miner, now)
        .await
        .expect("miner read")
        .expect("the miner has shares");
    assert_eq!(
        (
            stats.activity.shares.valid,
            stats.activity.shares.invalid,
            stats.activity.shares.stale
        ),
        (4, 4, 2)
    );
    assert_eq!((stats.workers_online, stats.workers_total), (2, 2));
    assert!(
        ledger
            .miner_stats(MINERS[1], now)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        ledger
            .worker_stats(MINERS[1], now)
            .await
            .expect("read")
            .is_empty()
    );
    let pool = ledger.pool_stats(now).await.expect("pool read");
    assert_eq!((pool.miners_online, pool.miners_total), (1, 1));
    // Past the hashrate window the miner is no longer online.
    let later = ledger.pool_stats(now + 3_600_000).await.expect("pool read");
    assert_eq!((later.miners_online, later.miners_total), (0, 1));
}

#[tokio::test]
async fn hashrate_follows_synthetic_timestamps() {
    let server = RedisServer::start().expect("redis-server starts");
    // 60 s and 600 s windows: 6 s buckets.
    let settings = LedgerSettings {
        hashrate_window: Duration::from_secs(60),
        hashrate_large_window: Duration::from_secs(600),
        ..LedgerSettings::default()
    };
    let ledger = ledger(&server, settings).await;
    // now = 6,000 s, the start of bucket 1,000. The short window reads
    // buckets 991..=1000 (54 s so far), the long one 901..=1000 (594 s).
    let now = 6_000_000;
    let mut shares = Vec::new();
    // 54 valid shares of 1,000, one a second from 5,946 s: 1,000 H/s.
    for i in 0..54 {
        shares.push(share(
            0,
            MINERS[0],
            "rig1",
            ShareOutcome::Valid,
            5_946_000 + i * 1_000,
        ));
    }
    // Invalid and stale shares weigh nothing.
    shares.push(share(
        0,
        MINERS[0],
        "rig1",
        ShareOutcome::LowDifficulty,
        5_990_000,
    ));
    shares.push(share(0, MINERS[0], "rig1", ShareOutcome::Stale, 5_991_000));
    // 297 shares at 5,700 s: in the long window only.
    for _ in 0..297 {
        shares.push(share(0, MINERS[0], "rig2", ShareOutcome::Valid, 5_700_000));
    }
    // Outside both windows.
    shares.push(share(0, MINERS[0], "rig2", ShareOutcome::Valid, 5_000_000));
    for (seq, share) in (1..).zip(shares.iter_mut()) {
        share.seq = seq;
    }
    let batch = ShareBatch {
        first_seq: 1,
        last_seq: shares.len() as u64,
        shares,
    };
    ledger
        .record_batch("eu-1", "boot", &batch, now)
        .await
        .expect("stored");

    let miner = ledger
        .miner_stats(MINERS[0], now)
        .await
        .expect("read")
        .expect("the miner has shares");
    assert_eq!(miner.activity.hashrate, 1_000.0);
    assert_eq!(
        miner.activity.hashrate_large,
        (54_000.0 + 297_000.0) / 594.0
    );
    let pool = ledger.pool_stats(now).await.expect("read");
    assert_eq!(pool.activity.hashrate, miner.activity.hashrate);
    assert_eq!(pool.activity.hashrate_large, miner.activity.hashrate_large);
    let workers = ledger.worker_stats(MINERS[0], now).await.expect("read");
    assert_eq!(workers[0].activity.hashrate, 1_000.0);
    assert_eq!(workers[1].activity.hashrate, 0.0);
    assert_eq!(workers[1].activity.hashrate_large, 297_000.0 / 594.0);
    // Three seconds on, the short window spans 57 s.
    let pool = ledger.pool_stats(now + 3_000).await.expect("read");
    assert_eq!(pool.activity.hashrate, 54_000.0 / 57.0);
    // Ten minutes on, nothing is left in either window.
    let pool = ledger.pool_stats(now + 600_000).await.expect("read");
    assert_eq!(
        (pool.activity.hashrate, pool.activity.hashrate_large),
        (0.0, 0.0)
    );
}

/// One batch per second `first..=last`: alice 300 and bob 100 a second.
async fn fill_share_log(ledger: &Ledger, seconds: std::ops::RangeInclusive<u64>) {
    let mut seq = 1;
    let now = (*seconds.end() + 1) * 1_000;
    for second in seconds {
        let mut shares = Vec::new();
        for (address, weight) in [("tst1alice", 300), ("tst1bob", 100)] {
            let mut s = share(
                seq,
                address,
                "rig",
                ShareOutcome::Valid,
                second * 1_000 + 500,
            );
            s.difficulty = weight;
            shares.push(s);
            seq += 1;
        }
        let batch = ShareBatch {
            first_seq: seq - 2,
            last_seq: seq - 1,
            shares,
        };
        ledger
            .record_batch("eu-1", "boot", &batch, now)
            .await
            .expect("stored");
    }
}

#[tokio::test]
async fn pplns_entries_are_newest_first_cut_and_trimmed() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server, LedgerSettings::default()).await;
    // A newest second where carol alone mined, after ten seconds of alice
    // and bob.
    fill_share_log(&ledger, 100..=109).await;
    let mut carol = share(21, "tst1carol", "rig", ShareOutcome::Valid, 110_000);
    carol.difficulty = 1_000;
    let batch = ShareBatch {
        first_seq: 21,
        last_seq: 21,
        shares: vec![carol],
    };
    ledger
        .record_batch("eu-1", "boot", &batch, 111_000)
        .await
        .expect("stored");

    // 1,000 + 400 + half of second 108.
    let entries = ledger.pplns_entries(1_600).await.expect("log read");
    let listed: Vec<(&str, u64)> = entries
        .iter()
        .map(|e| (e.address.as_str(), e.weight))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("tst1carol", 1_000),
            ("tst1alice", 300),
            ("tst1bob", 100),
            ("tst1alice", 150),
            ("tst1bob", 50),
        ]
    );
    assert_eq!(
        walk(&entries, 1_600),
        vec![
            ("tst1alice".to_owned(), 450),
            ("tst1bob".to_owned(), 150),
            ("tst1carol".to_owned(), 1_000)
        ]
    );
    let snapshot = PplnsSnapshot::take(
        &entries,
        &tos_pool_master::pplns::PplnsWindow::fixed(1.6).expect("valid multiple"),
        1_000,
        None,
    );
    assert!(snapshot.is_full());

    // Window 2 × difficulty 1,000, kept twice: 4,000 = 1,000 + 7.5 × 400,
    // so seconds 102..=110 stay and 100..=101 go.
    let dropped = ledger.trim_share_log(1_000).await.expect("trimmed");
    assert_eq!(dropped, 2);
    let all = ledger.pplns_entries(u128::MAX).await.expect("log read");
    assert_eq!(all.iter().map(|e| e.weight).sum::<u64>(), 1_000 + 8 * 400);
    let mut redis = raw(&server).await;
    let (exists_old, exists_kept, indexed): (u8, u8, u64) = redis::pipe()
        .exists("test:pplns:bucket:101")
        .exists("test:pplns:bucket:102")
        .zcard("test:pplns:index")
        .query_async(&mut redis)
        .await
        .expect("raw read");
    assert_eq!((exists_old, exists_kept, indexed), (0, 1, 9));
    // Trimming again changes nothing; a log smaller than the window is kept.
    assert_eq!(ledger.trim_share_log(1_000).await.expect("trimmed"), 0);
    assert_eq!(ledger.trim_share_log(1_000_000).await.expect("trimmed"), 0);
    assert!(ledger.pplns_entries(0).await.expect("read").is_empty());
}

fn policy() -> LifecyclePolicy {
    LifecyclePolicy {
        immature_depth: 10,
        mature_depth: 100,
        orphan_depth: 24,
        missing_grace_depth: 30,
        fee: FeeRate::from_percent(1.0).expect("1% is valid"),
        fee_address: "tst1pool".to_owned(),
    }
}

fn candidate(hash: &str, height: u64) -> BlockRecord {
    let snapshot = PplnsSnapshot::new(
        1_000,
        2_000_000,
        2_000,
        vec![("tst1alice".to_owned(), 1_500), ("tst1bob".to_owned(), 500)],
    )
    .expect("weights fit the window");
    BlockRecord::candidate(
        hash.to_owned(),
        height,
        1_700_000_000_000,
        "tst1alice".to_owned(),
        snapshot,
        97_486_707,
    )
}

fn seen(height: u64, depth: u64, reward: u64) -> ChainObservation {
    ChainObservation {
        tip_height: height + depth,
        block: Some(ObservedBlock {
            block_type: BlockType::Normal,
            topoheight: Some(height),
            miner_reward: reward,
        }),
    }
}

async fn balances(ledger: &Ledger) -> BTreeMap<&'static str, (i64, i64)> {
    let mut map = BTreeMap::new();
    for address in ["tst1alice", "tst1bob", "tst1pool"] {
        let b = ledger.balances(address).await.expect("balances read");
        map.insert(address, (b.immature, b.confirmed));
    }
    map
}

#[tokio::test]
async fn a_transition_applied_twice_changes_balances_once() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server, LedgerSettings::default()).await;
    let record = candidate(&"aa".repeat(32), 1_000);
    assert!(ledger.insert_candidate(&record).await.expect("stored"));
    assert!(
        !ledger
            .insert_candidate(&record)
            .await
            .expect("second insert is a no-op")
    );

    let transition = step(&record, &seen(1_000, 10, 1_000), &policy()).expect("immature");
    let hash = record.hash.as_str();
    assert!(
        ledger
            .apply_transition(hash, BlockState::Candidate, &transition)
            .await
            .expect("applied")
    );
    let once = balances(&ledger).await;
    assert_eq!(once["tst1alice"], (743, 0));
    assert!(
        !ledger
            .apply_transition(hash, BlockState::Candidate, &transition)
            .await
            .expect("a repeat is a no-op")
    );
    assert_eq!(balances(&ledger).await, once);
    let stored = ledger.block(hash).await.expect("read").expect("stored");
    assert_eq!(stored.state, BlockState::Immature);
    assert!(
        ledger
            .blocks_in_state(BlockState::Candidate)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        ledger
            .blocks_in_state(BlockState::Immature)
            .await
            .expect("read"),
        vec![stored]
    );

    let unknown = ledger
        .apply_transition("ff", BlockState::Candidate, &transition)
        .await
        .expect_err("no such block");
    assert!(matches!(unknown, LedgerError::UnknownBlock { .. }));
}

#[tokio::test]
async fn a_lifecycle_run_leaves_only_confirmed_balances() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server, LedgerSettings::default()).await;
    let heights = [1_000u64, 1_001, 1_002];
    for height in heights {
        let record = candidate(&format!("{height:064x}"), height);
        assert!(ledger.insert_candidate(&record).await.expect("stored"));
    }
    let reward = 97_486_707;
    // Three unlocker passes: below the immature depth, immature, matured.
    // Each pass runs twice, as a crashed and restarted unlocker would.
    for depth in [5, 50, 150] {
        for _ in 0..2 {
            for state in [BlockState::Candidate, BlockState::Immature] {
                for record in ledger.blocks_in_state(state).await.expect("listed") {
                    let observation = seen(record.height, depth, reward);
                    if let Some(transition) = step(&record, &observation, &policy()) {
                        ledger
                            .apply_transition(&record.hash, record.state, &transition)
                            .await
                            .expect("applied");
                    }
                }
            }
        }
        if depth == 50 {
            let immature = balances(&ledger).await;
            let sum: i64 = immature.values().map(|(i, _)| i).sum();
            assert_eq!(sum, 3 * reward as i64);
            assert!(immature.values().all(|(_, confirmed)| *confirmed == 0));
        }
    }
    let split = candidate("x", 0)
        .snapshot
        .split(reward, policy().fee, "tst1pool");
    let end = balances(&ledger).await;
    for (address, amount) in &split.credits {
        assert_eq!(end[address.as_str()], (0, 3 * *amount as i64), "{address}");
    }
    assert_eq!(
        ledger
            .blocks_in_state(BlockState::Matured)
            .await
            .expect("read")
            .len(),
        3
    );
    let recent = ledger.recent_blocks(0, 2).await.expect("read");
    let recent_heights: Vec<u64> = recent.iter().map(|r| r.height).collect();
    assert_eq!(recent_heights, vec![1_002, 1_001]);
    let next = ledger.recent_blocks(2, 2).await.expect("read");
    assert_eq!(
        next.iter().map(|r| r.height).collect::<Vec<_>>(),
        vec![1_000]
    );
    let pending = ledger.balances("tst1alice").await.expect("read");
    assert_eq!((pending.pending, pending.paid), (0, 0));
}

/// CPU seconds Redis has used so far (user + system), from `INFO cpu`.
async fn redis_cpu_seconds(server: &RedisServer) -> f64 {
    let mut redis = raw(server).await;
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut redis)
        .await
        .expect("INFO answers");
    info.lines()
        .filter(|line| line.starts_with("used_cpu_user:") || line.starts_with("used_cpu_sys:"))
        .filter_map(|line| line.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum()
}

/// Throughput of record_batch, and Redis CPU per share (the figure that
/// holds on a busy machine: Redis runs scripts on one core). Not a
/// pass/fail test (speed is never asserted); run with
/// `cargo test -p tos-pool-integration-tests --test master_ledger -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn measure_batch_throughput() {
    let server = RedisServer::start().expect("redis-server starts");
    let ledger = ledger(&server, LedgerSettings::default()).await;
    let now = 1_700_000_000_000u64;
    for (miners, workers) in [(10u64, 10u64), (1_000, 1)] {
        let slaves = 4u64;
        let batches = 200u64;
        let size = 500u64;
        let started = Instant::now();
        let cpu_before = redis_cpu_seconds(&server).await;
        let tasks: Vec<_> = (0..slaves)
            .map(|slave| {
                let ledger = ledger.clone();
                tokio::spawn(async move {
                    let boot = format!("boot-{miners}");
                    for b in 0..batches {
                        let first = b * size + 1;
                        let shares = (first..first + size)
                            .map(|seq| {
                                let miner = format!("tst1miner{}", seq % miners);
                                let worker = format!("rig{}", seq % workers);
                                share(seq, &miner, &worker, ShareOutcome::Valid, now + seq / 50)
                            })
                            .collect();
                        let batch = ShareBatch {
                            first_seq: first,
                            last_seq: first + size - 1,
                            shares,
                        };
                        ledger
                            .record_batch(&format!("slave-{slave}"), &boot, &batch, now + 10_000)
                            .await
                            .expect("stored");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("the writer task ends");
        }
        let total = slaves * batches * size;
        let rate = total as f64 / started.elapsed().as_secs_f64();
        let cpu = redis_cpu_seconds(&server).await - cpu_before;
        eprintln!(
            "{total} shares, {miners} miners × {workers} workers, {slaves} slaves, batches of {size}: \
             {rate:.0} shares/s wall clock, Redis CPU {:.2} µs/share (≈ {:.0} shares/s per Redis core)",
            cpu * 1e6 / total as f64,
            total as f64 / cpu
        );
    }
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_that_names_the_fix() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let config = RedisConfig {
        url: format!("redis://user:hunter2@127.0.0.1:{port}/0"),
        connect_timeout: Duration::from_secs(2),
        ..RedisConfig::default()
    };
    let error = Ledger::connect(&config)
        .await
        .expect_err("nothing listens there");
    let message = error.to_string();
    assert!(
        matches!(
            error,
            LedgerError::Connect { .. } | LedgerError::ConnectTimeout { .. }
        ),
        "{message}"
    );
    assert!(
        message.contains("redis.url") || message.contains("redis.connect_timeout"),
        "{message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}
