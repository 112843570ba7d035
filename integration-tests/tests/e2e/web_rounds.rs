//! Rounds and luck in a real Redis: a round holds exactly the valid share
//! difficulty of the batches since the last block, a replayed batch adds
//! nothing, a block closes its round once however often it is stored, and
//! the luck sums and the finder's count follow.

use tos_pool_common::clock::unix_ms;
use tos_pool_common::config::RedisConfig;
use tos_pool_integration_tests::redis_server::RedisServer;
use tos_pool_master::history::luck::windows;
use tos_pool_master::ledger::Ledger;
use tos_pool_master::lifecycle::BlockRecord;
use tos_pool_master::pplns::PplnsSnapshot;
use tos_pool_proto::v1::{Share, ShareBatch, ShareOutcome};

const FINDER: &str = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";

fn batch(first: u64, outcomes: &[(ShareOutcome, u64)], at_ms: u64) -> ShareBatch {
    let shares: Vec<Share> = outcomes
        .iter()
        .enumerate()
        .map(|(index, &(outcome, difficulty))| Share {
            seq: first + index as u64,
            job_id: "job".into(),
            height: 10,
            address: FINDER.into(),
            worker: "rig".into(),
            difficulty,
            actual_difficulty: difficulty * 2,
            outcome: outcome.into(),
            timestamp_ms: at_ms,
            session_id: 1,
        })
        .collect();
    ShareBatch {
        first_seq: first,
        last_seq: first + shares.len() as u64 - 1,
        shares,
    }
}

fn block(hash_byte: char, difficulty: u64, found_at_ms: u64) -> BlockRecord {
    let snapshot = PplnsSnapshot::new(difficulty, 2_000_000, 2 * u128::from(difficulty), [])
        .expect("an empty window");
    BlockRecord::candidate(
        hash_byte.to_string().repeat(64),
        10,
        found_at_ms,
        FINDER.into(),
        snapshot,
        50,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_closes_its_round_once_and_replays_add_nothing() {
    let server = RedisServer::start().expect("Redis starts");
    let config = RedisConfig {
        url: server.url(),
        key_prefix: "rounds".into(),
        ..RedisConfig::default()
    };
    let ledger = Ledger::connect(&config).await.expect("the ledger connects");
    let now = unix_ms();

    // 300 + 400 valid; stale and low-difficulty shares are not work.
    let first = batch(
        1,
        &[
            (ShareOutcome::Valid, 300),
            (ShareOutcome::Stale, 1_000),
            (ShareOutcome::LowDifficulty, 1_000),
            (ShareOutcome::Valid, 400),
        ],
        now,
    );
    ledger
        .record_batch("s", "b", &first, now)
        .await
        .expect("stored");
    ledger
        .record_batch("s", "b", &first, now)
        .await
        .expect("a replay is answered");
    assert_eq!(ledger.current_round_shares().await.expect("read"), 700);

    let found = block('a', 1_400, now);
    assert!(ledger.insert_candidate(&found).await.expect("stored"));
    assert!(!ledger.insert_candidate(&found).await.expect("known"));
    assert_eq!(
        ledger.close_round(&found).await.expect("closed before"),
        700
    );
    assert_eq!(
        ledger.round_shares(&[&found.hash]).await.expect("read"),
        [Some(700)]
    );
    assert_eq!(ledger.current_round_shares().await.expect("read"), 0);
    assert_eq!(ledger.blocks_found_by(FINDER).await.expect("read"), 1);

    // The next round starts from zero.
    let second = batch(5, &[(ShareOutcome::Valid, 500)], now);
    ledger
        .record_batch("s", "b", &second, now)
        .await
        .expect("stored");
    let next = block('b', 1_000, now);
    assert!(ledger.insert_candidate(&next).await.expect("stored"));
    assert_eq!(
        ledger
            .round_shares(&[&next.hash, "unknown"])
            .await
            .expect("read"),
        [Some(500), None]
    );
    assert_eq!(ledger.blocks_found_by(FINDER).await.expect("read"), 2);

    let (hourly, all_time) = ledger.luck_sums().await.expect("read");
    assert_eq!(
        (all_time.blocks, all_time.round_shares, all_time.difficulty),
        (2, 1_200, 2_400)
    );
    let luck = windows(&hourly, all_time, now);
    for window in &luck {
        assert_eq!(window.sums, all_time, "{}", window.window);
        assert_eq!(window.effort, Some(0.5), "{}", window.window);
    }
}
