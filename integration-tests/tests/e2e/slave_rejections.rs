//! Every rejection reason of PROTOCOLS.md gets its code from a real slave,
//! and the session (or, after a forced close, its neighbour) keeps working.

use crate::cluster_support;

use serde_json::json;
use tos_pool_integration_tests::miners::{MinerError, StratumMiner};

use cluster_support::{DEADLINE, address, log_in, start, tcp_miner};

fn code(result: Result<serde_json::Value, MinerError>) -> i64 {
    match result {
        Err(MinerError::Rpc { error, .. }) => error.code,
        other => panic!("expected an error answer, got {other:?}"),
    }
}

/// The next message that is not a notification: the answer to a line sent raw.
async fn next_answer(miner: &StratumMiner) -> serde_json::Value {
    loop {
        let message = miner.next_push(DEADLINE).await.expect("an answer");
        if message.get("method").is_none() {
            return message;
        }
    }
}

async fn still_works(miner: &StratumMiner) {
    assert_eq!(miner.ping().await.expect("ping"), json!("pong"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rejection_has_its_code_and_the_session_goes_on() {
    // No bans here: every test connection comes from 127.0.0.1.
    let cluster = start(1, |config| {
        config.security.ban_malformed_requests = 0;
        config.security.ban_invalid_percent = 0.0;
        config.security.max_request_size = 1024;
    })
    .await;
    let stratum = cluster.slave(0).expect("slave").doors().stratum;
    let login = format!("{}.rig", address(3));

    // Not subscribed (25), then unauthorized (24).
    let miner = tcp_miner(stratum).await;
    let submit = json!([login, "job", "00000000", "0000000000000001"]);
    assert_eq!(
        code(miner.call("mining.submit", Some(submit.clone())).await),
        25
    );
    miner.subscribe().await.expect("subscribe");
    assert_eq!(code(miner.call("mining.submit", Some(submit)).await), 24);

    // Bad address (24), then a good one works on the same session.
    let bad = "tst1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq.rig";
    assert_eq!(
        code(
            miner
                .call("mining.authorize", Some(json!([bad, "x"])))
                .await
        ),
        24
    );
    miner.authorize(&login, "x").await.expect("authorize");
    let job = miner.next_job(DEADLINE).await.expect("a job");

    // Job not found (21): a job the pool never issued.
    let outcome = miner.submit("no-such-job", 1).await.expect("answer");
    assert_eq!(outcome.rejection_code(), Some(21), "{outcome:?}");

    // Duplicate (22).
    let nonce = miner.mine(&job).await.expect("a share");
    assert!(
        miner
            .submit(&job.job_id, nonce)
            .await
            .expect("answer")
            .is_accepted()
    );
    let again = miner.submit(&job.job_id, nonce).await.expect("answer");
    assert_eq!(again.rejection_code(), Some(22), "{again:?}");

    // Low difficulty (23).
    let (_, low) = miner.submit_bad_share(&job).await.expect("answer");
    assert_eq!(low.rejection_code(), Some(23), "{low:?}");

    // Malformed: unknown method and bad JSON get code 20; the session goes on.
    assert_eq!(code(miner.call("mining.bogus", Some(json!([]))).await), 20);
    miner.send_raw_text("this is not json").await.expect("send");
    let answer = next_answer(&miner).await;
    assert_eq!(answer["error"][0], json!(20), "{answer}");
    still_works(&miner).await;

    // An oversized line is refused with 20 and closes that connection only.
    let neighbour = tcp_miner(stratum).await;
    log_in(&neighbour, &format!("{}.other", address(4))).await;
    let victim = tcp_miner(stratum).await;
    victim
        .send_raw_text(&format!("{{\"id\":1,\"method\":\"{}\"}}", "x".repeat(2048)))
        .await
        .expect("send");
    let answer = next_answer(&victim).await;
    assert_eq!(answer["error"][0], json!(20), "{answer}");
    victim
        .closed_within(DEADLINE)
        .await
        .expect("the oversized line closes the connection");
    still_works(&neighbour).await;
    still_works(&miner).await;

    let totals = cluster.slave(0).expect("slave").counters().snapshot();
    assert!(totals.malformed_requests >= 3, "{totals:?}");
    // The unknown job counts as invalid on the slave (toward the ban), with
    // the duplicate and the low-difficulty share.
    assert!(totals.shares_invalid >= 3, "{totals:?}");
    assert_eq!(totals.shares_stale, 0, "{totals:?}");

    // The refused shares reach the master's per-worker counts too: the
    // duplicate and the low-difficulty share. The unknown job never leaves
    // the slave: the pool never issued it.
    let ledger = cluster.master().expect("master").ledger().clone();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let now = tos_pool_common::clock::unix_ms();
        let workers = ledger
            .worker_stats(&address(3), now)
            .await
            .expect("worker stats");
        let rig = workers.iter().find(|worker| worker.worker == "rig");
        if let Some(rig) = rig {
            let shares = &rig.activity.shares;
            if shares.valid >= 1 && shares.invalid >= 2 {
                assert_eq!((shares.invalid, shares.stale), (2, 0), "{shares:?}");
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ledger never counted the refused shares: {workers:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_ban_the_ip_and_close_its_connections() {
    let cluster = start(1, |config| {
        config.security.ban_malformed_requests = 2;
    })
    .await;
    let stratum = cluster.slave(0).expect("slave").doors().stratum;
    let neighbour = tcp_miner(stratum).await;
    log_in(&neighbour, &format!("{}.rig", address(5))).await;
    let offender = tcp_miner(stratum).await;
    offender.send_raw_text("garbage").await.expect("send");
    offender.send_raw_text("more garbage").await.expect("send");
    offender
        .closed_within(DEADLINE)
        .await
        .expect("banned connection closes");
    // Every connection from the banned IP (here: the neighbour too) closes,
    // and new ones are refused.
    neighbour
        .closed_within(DEADLINE)
        .await
        .expect("same IP closes");
    let late = tcp_miner(stratum).await;
    late.closed_within(DEADLINE).await.expect("refused at once");
    let totals = cluster.slave(0).expect("slave").counters().snapshot();
    assert_eq!(totals.bans, 1, "{totals:?}");
    assert!(totals.connections_refused >= 1, "{totals:?}");
    cluster.shutdown().await;
}
