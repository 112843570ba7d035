//! `import-seed` against a real Redis filled in the Go pool's layout
//! (tos-network/tos-pool `internal/storage/redis.go`) by the test itself:
//! balances, matured blocks, confirmed payments and the ban lists land in
//! ours with the right units; a dry run and a second run change nothing; a pool that
//! already holds balances, or a Go pool with blocks in flight, is refused.

use redis::AsyncCommands;
use tos_pool_common::address::Address;
use tos_pool_common::config::RedisConfig;
use tos_pool_common::network::Network;
use tos_pool_integration_tests::redis_server::RedisServer;
use tos_pool_master::import::{self, ImportError, ImportOptions, plan::Refusal};
use tos_pool_master::ledger::{AccessList, Ledger};
use tos_pool_master::lifecycle::BlockState;

fn address(byte: u8) -> String {
    Address::new([byte; 32], Network::Devnet).to_string()
}

fn block_hash() -> String {
    "c0ffee".repeat(10) + "beef"
}

/// The Go pool's Redis in database 1 of `server`.
fn go_url(server: &RedisServer) -> String {
    format!("{}1", server.url())
}

async fn ours(server: &RedisServer) -> Ledger {
    let config = RedisConfig {
        url: format!("{}0", server.url()),
        key_prefix: "tospool".into(),
        ..RedisConfig::default()
    };
    Ledger::connect(&config)
        .await
        .expect("connect to our Redis")
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a valid URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers")
}

/// Writes the fixture the way the Go pool's storage code lays it out.
async fn write_go_fixture(url: &str) {
    let mut go = raw(url).await;
    let (alice, bob) = (address(1), address(2));
    let _: () = go
        .hset_multiple(
            format!("tos:miners:{alice}"),
            &[
                ("balance", "150000000"),
                ("immature", "0"),
                ("pending", "0"),
                ("paid", "250000000"),
                ("blocksFound", "1"),
                ("lastShare", "1700000000"),
            ],
        )
        .await
        .expect("write a miner");
    let _: () = go
        .hset_multiple(
            format!("tos:miners:{bob}"),
            &[("balance", "42"), ("paid", "100000000")],
        )
        .await
        .expect("write a miner");
    // A worker hash is not a miner.
    let _: () = go
        .hset(format!("tos:miners:{alice}:workers"), "rig1", "1700000000")
        .await
        .expect("write workers");
    let block = format!(
        r#"{{"height":120,"hash":"{}","parent_hash":"","nonce":"0","difficulty":1000,"total_difficulty":"0","reward":97486707,"timestamp":1700000000,"finder":"{alice}","worker":"rig1","round_shares":30,"round_height":0,"status":"matured","confirmations":100,"shares":{{"{alice}":20,"{bob}":10}}}}"#,
        block_hash()
    );
    let _: () = go
        .zadd("tos:blocks:matured", block, 120)
        .await
        .expect("write a block");
    for (who, amount) in [(&alice, 250_000_000u64), (&bob, 100_000_000)] {
        let payment = format!(
            r#"{{"tx_hash":"{}","address":"{who}","amount":{amount},"timestamp":1700000500,"status":"confirmed"}}"#,
            "ab".repeat(32)
        );
        let _: () = go
            .zadd("tos:payments:all", payment, 1_700_000_500)
            .await
            .expect("write a payment");
    }
    let _: () = go
        .sadd("tos:blacklist", address(9))
        .await
        .expect("write the blacklist");
    let _: () = go
        .sadd("tos:whitelist", "10.1.2.3")
        .await
        .expect("write the whitelist");
}

/// Every key of our database with its serialized value.
async fn snapshot(url: &str) -> Vec<(String, Vec<u8>)> {
    let mut connection = raw(url).await;
    let mut keys: Vec<String> = connection.keys("*").await.expect("list keys");
    keys.sort();
    let mut dump = Vec::new();
    for key in keys {
        let value: Vec<u8> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .expect("dump a key");
        dump.push((key, value));
    }
    dump
}

fn options(server: &RedisServer, dry_run: bool, force: bool) -> ImportOptions {
    ImportOptions {
        from: go_url(server),
        dry_run,
        force,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_copies_balances_blocks_and_payments_once() {
    let server = RedisServer::start().expect("start Redis");
    write_go_fixture(&go_url(&server)).await;
    let ledger = ours(&server).await;
    let our_url = format!("{}0", server.url());

    // A dry run reports and writes nothing.
    let dry = import::run(&ledger, Network::Devnet, &options(&server, true, false))
        .await
        .expect("dry run");
    assert!(!dry.written);
    assert_eq!(dry.balances_set, 4, "{dry:?}");
    assert_eq!((dry.blocks_added, dry.payments_added), (1, 1));
    assert_eq!(dry.blacklist_added.len() + dry.whitelist_added.len(), 2);
    assert!(snapshot(&our_url).await.is_empty(), "a dry run wrote");

    let report = import::run(&ledger, Network::Devnet, &options(&server, false, false))
        .await
        .expect("import");
    assert!(report.written);
    assert_eq!(report.source.confirmed, 150_000_042);
    assert_eq!(report.after.confirmed, report.source.confirmed);
    assert_eq!(report.after.paid, 350_000_000);
    assert_eq!(report.after.miners, 2);
    assert_eq!(report.blacklist_added, vec![address(9)]);
    assert_eq!(report.whitelist_added, vec!["10.1.2.3".to_owned()]);
    // The lists land in our runtime lists, which the master sends to slaves.
    assert_eq!(
        ledger
            .access_list(AccessList::Blacklist)
            .await
            .expect("read"),
        vec![address(9)]
    );
    assert_eq!(
        ledger
            .access_list(AccessList::Whitelist)
            .await
            .expect("read"),
        vec!["10.1.2.3".to_owned()]
    );

    // Amounts are the same atomic units on both sides.
    let alice = ledger.balances(&address(1)).await.expect("balances");
    assert_eq!((alice.confirmed, alice.paid), (150_000_000, 250_000_000));
    let bob = ledger.balances(&address(2)).await.expect("balances");
    assert_eq!((bob.confirmed, bob.paid), (42, 100_000_000));
    // Times move from seconds to milliseconds.
    let block = ledger
        .block(&block_hash())
        .await
        .expect("read the block")
        .expect("the block was imported");
    assert_eq!(block.state, BlockState::Matured);
    assert_eq!(block.found_at_ms, 1_700_000_000_000);
    assert_eq!(block.final_reward, Some(97_486_707));
    let history = ledger
        .miner_payments(&address(1), 0, 10)
        .await
        .expect("history");
    assert_eq!(history.total, 1);
    assert_eq!(history.items[0].amount, 250_000_000);
    assert_eq!(history.items[0].timestamp_ms, 1_700_000_500_000);

    // A second run (forced past the balances it wrote itself) changes nothing.
    let before = snapshot(&our_url).await;
    let again = import::run(&ledger, Network::Devnet, &options(&server, false, false))
        .await
        .expect("second import");
    assert!(!again.written);
    assert_eq!(
        (again.balances_set, again.blocks_added, again.payments_added),
        (0, 0, 0)
    );
    assert_eq!(again.before, again.after);
    let forced = import::run(&ledger, Network::Devnet, &options(&server, false, true))
        .await
        .expect("forced import");
    assert!(!forced.written);
    assert_eq!(
        snapshot(&our_url).await,
        before,
        "a second run changed data"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_with_balances_is_refused_unless_forced() {
    let server = RedisServer::start().expect("start Redis");
    write_go_fixture(&go_url(&server)).await;
    let ledger = ours(&server).await;
    let our_url = format!("{}0", server.url());
    let mut connection = raw(&our_url).await;
    let _: () = connection
        .hset(ledger.keys().balance_confirmed(), address(7), 5)
        .await
        .expect("an existing balance");
    let before = snapshot(&our_url).await;
    let refused = import::run(&ledger, Network::Devnet, &options(&server, false, false))
        .await
        .expect_err("refused");
    assert!(
        matches!(
            refused,
            ImportError::Refused(Refusal::AlreadyHasBalances { .. })
        ),
        "{refused}"
    );
    assert!(refused.to_string().contains("--force"), "{refused}");
    assert_eq!(snapshot(&our_url).await, before, "a refused import wrote");
    let forced = import::run(&ledger, Network::Devnet, &options(&server, false, true))
        .await
        .expect("forced import");
    assert!(forced.written);
    assert_eq!(forced.after.confirmed, 150_000_042 + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_pool_with_blocks_in_flight_is_refused() {
    let server = RedisServer::start().expect("start Redis");
    write_go_fixture(&go_url(&server)).await;
    let mut go = raw(&go_url(&server)).await;
    let _: () = go
        .zadd(
            "tos:blocks:immature",
            r#"{"height":130,"hash":"x","status":"immature"}"#,
            130,
        )
        .await
        .expect("an immature block");
    let ledger = ours(&server).await;
    let refused = import::run(&ledger, Network::Devnet, &options(&server, false, true))
        .await
        .expect_err("refused");
    assert!(
        matches!(
            refused,
            ImportError::Refused(Refusal::InFlight {
                blocks: 1,
                payments: 0
            })
        ),
        "{refused}"
    );
    assert!(snapshot(&format!("{}0", server.url())).await.is_empty());
}
