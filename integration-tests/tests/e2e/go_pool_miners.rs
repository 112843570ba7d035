//! Miners written for the Go pool mine here unchanged, on a real cluster
//! over real sockets: `tosminer` in its three Stratum modes (stratum,
//! ethproxy, ethereumstratum) with the exact messages its source sends; a
//! login without a subscribe and the 5-parameter submit; `eth_getWork`,
//! `eth_submitWork` and `eth_submitHashrate`; a `d=` password and
//! `mining.suggest_difficulty` / client-sent `mining.set_difficulty`, held
//! within the bounds with vardiff off; the WebSocket `subscribe`, `tos_getWork`, `tos_submitWork` and
//! `[nonce, header]` forms; a Xatum login without a handshake. Every
//! accepted share lands in the ledger; malformed forms get a clear error
//! and the session goes on.

use crate::cluster_support;

use std::time::Duration;

use serde_json::{Value, json};
use tos_pool_common::difficulty::{Difficulty, Target};
use tos_pool_integration_tests::cluster::Cluster;
use tos_pool_integration_tests::miners::work::nonce_hex_prefixed;
use tos_pool_integration_tests::miners::{
    Job, MinerError, StratumMiner, TlsClient, Transport, WebSocketMiner, XatumMiner,
};
use tos_pool_integration_tests::tls;

use cluster_support::{
    DEADLINE, address, ledger_valid, options, start, tcp_miner, tls_miner, wait_until,
};

/// Waits until the ledger holds at least `count` valid shares of `worker`.
async fn wait_for_ledger(cluster: &Cluster, address: &str, worker: &str, count: u64) {
    wait_until(
        &format!("{count} valid share(s) of {worker} in the ledger"),
        || async { ledger_valid(cluster, address, worker).await >= count },
    )
    .await;
}

/// The miner's current job, or the next one when it has none yet.
async fn current_job(miner: &StratumMiner) -> Job {
    match miner.latest_job() {
        Some(job) => job,
        None => miner.next_job(DEADLINE).await.expect("a job"),
    }
}

fn target(difficulty: u64) -> Target {
    Difficulty::from_u64(difficulty).expect("non-zero").target()
}

/// The next job pushed at share difficulty `difficulty` (its target).
async fn job_at(miner: &StratumMiner, difficulty: u64) -> Job {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let job = miner
            .next_job(left)
            .await
            .unwrap_or_else(|error| panic!("no job at difficulty {difficulty}: {error}"));
        if job.target == target(difficulty) {
            return job;
        }
    }
}

/// Mines and submits `count` shares (tosminer's 4-parameter submit), each
/// on the newest job; all must be accepted.
async fn mine_accepted(miner: &StratumMiner, count: usize) {
    for _ in 0..count {
        let job = current_job(miner).await;
        let nonce = miner.mine(&job).await.expect("a share");
        let outcome = miner.submit(&job.job_id, nonce).await.expect("an answer");
        assert!(outcome.is_accepted(), "{outcome:?}");
    }
}

/// The error code of a refused call.
fn code<T: std::fmt::Debug>(result: Result<T, MinerError>) -> i64 {
    match result {
        Err(MinerError::Rpc { error, .. }) => error.code,
        other => panic!("expected an error answer, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tosminer_mines_in_all_three_stratum_modes() {
    let cluster = start(1, |_| {}).await;
    let doors = cluster.slave(0).expect("slave").doors();
    let owner = address(0x51);

    // --stratum-protocol stratum: subscribe, authorize, notify, 4-param submit.
    let stratum = tcp_miner(doors.stratum).await;
    stratum.subscribe().await.expect("subscribe");
    stratum
        .authorize(&format!("{owner}.tmstratum"), "x")
        .await
        .expect("authorize");

    // --stratum-protocol ethproxy: no subscribe, eth_submitLogin [user]
    // (tosminer leaves out a password of "x"), work by mining.notify.
    let ethproxy = tcp_miner(doors.stratum).await;
    ethproxy
        .eth_submit_login(&format!("{owner}.tmethproxy"), "x")
        .await
        .expect("eth_submitLogin answered true");

    // --stratum-protocol ethereumstratum, over TLS 1.2 as tosminer speaks it.
    let tls_door = doors.stratum_tls.expect("the TLS door is open");
    let nicehash = tls_miner(&cluster, tls_door).await;
    let subscription = nicehash
        .subscribe_ethereum_stratum()
        .await
        .expect("EthereumStratum subscribe");
    assert_eq!(subscription.protocol, "EthereumStratum/1.0.0");
    assert_eq!(subscription.extranonce1.len(), 8, "{subscription:?}");
    nicehash
        .authorize(&format!("{owner}.tmethstratum"), "x")
        .await
        .expect("authorize");

    for (worker, miner) in [
        ("tmstratum", &stratum),
        ("tmethproxy", &ethproxy),
        ("tmethstratum", &nicehash),
    ] {
        mine_accepted(miner, 2).await;
        assert_eq!(miner.ping().await.expect("pong"), json!("pong"), "{worker}");
        wait_for_ledger(&cluster, &owner, worker, 2).await;
        assert!(
            miner.protocol_errors().is_empty(),
            "{worker}: {:?}",
            miner.protocol_errors()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_without_subscribe_five_param_submit_and_eth_work() {
    let cluster = start(1, |_| {}).await;
    let stratum = cluster.slave(0).expect("slave").doors().stratum;
    let owner = address(0x52);

    // mining.authorize with no mining.subscribe before it, then the standard
    // 5-parameter submit [worker, job, extranonce2, ntime, nonce].
    let plain = tcp_miner(stratum).await;
    plain
        .authorize(&format!("{owner}.nosub"), "x")
        .await
        .expect("authorize without subscribe");
    let job = current_job(&plain).await;
    let nonce = plain.mine(&job).await.expect("a share");
    let outcome = plain
        .submit_with_ntime(&job.job_id, nonce)
        .await
        .expect("an answer");
    assert!(outcome.is_accepted(), "{outcome:?}");
    let again = plain
        .submit_with_ntime(&job.job_id, nonce)
        .await
        .expect("an answer");
    assert_eq!(again.rejection_code(), Some(22), "a duplicate is still one");
    wait_for_ledger(&cluster, &owner, "nosub", 1).await;

    // eth_getWork, then eth_submitWork naming the work by its header (with
    // and without 0x) and by its job id.
    let eth = tcp_miner(stratum).await;
    eth.eth_submit_login(&format!("{owner}.ethwork"), "x")
        .await
        .expect("eth_submitLogin");
    let hashrate = eth
        .call("eth_submitHashrate", Some(json!(["0x1e8480", "0x01"])))
        .await
        .expect("eth_submitHashrate is answered");
    assert_eq!(hashrate, json!(true));
    let work = eth.eth_get_work().await.expect("eth_getWork");
    let header = hex::encode(work.header);
    for form in [format!("0x{header}"), header.clone(), work.job_id.clone()] {
        let nonce = eth.mine(&work).await.expect("a share");
        let outcome = eth.eth_submit_work(nonce, &form).await.expect("an answer");
        assert!(outcome.is_accepted(), "{form}: {outcome:?}");
    }
    let nonce = eth.mine(&work).await.expect("a share");
    let mut foreign = work.header;
    foreign[0] ^= 0xff;
    let outcome = eth
        .eth_submit_work(nonce, &hex::encode(foreign))
        .await
        .expect("an answer");
    assert_eq!(
        outcome.rejection_code(),
        Some(21),
        "a header of no job sent"
    );
    wait_for_ledger(&cluster, &owner, "ethwork", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_chosen_difficulties_are_clamped_and_vardiff_leaves_them() {
    let cluster = start(1, |config| {
        config.mining.vardiff_enabled = true;
        config.mining.initial_difficulty = 20;
        config.mining.min_difficulty = 5;
        config.mining.max_difficulty = 60;
        // Shares far faster than one per 30 s: a free session goes up.
        config.mining.vardiff_target_time = Duration::from_secs(30);
        config.mining.vardiff_retarget = Duration::from_secs(1);
    })
    .await;
    let stratum = cluster.slave(0).expect("slave").doors().stratum;
    let owner = address(0x53);

    // A d= password, within the bounds and below them.
    let fixed = tcp_miner(stratum).await;
    fixed.subscribe().await.expect("subscribe");
    fixed
        .authorize(&format!("{owner}.dfixed"), "d=40")
        .await
        .expect("authorize");
    job_at(&fixed, 40).await;
    let low = tcp_miner(stratum).await;
    low.authorize(&format!("{owner}.dlow"), "x,d=1")
        .await
        .expect("authorize");
    job_at(&low, 5).await;
    assert_eq!(low.stratum_difficulty(), Some(5.0));

    // suggest_difficulty before the login, below the bounds.
    let suggested = tcp_miner(stratum).await;
    suggested.subscribe().await.expect("subscribe");
    suggested.suggest_difficulty(json!(2)).await.expect("true");
    suggested
        .authorize(&format!("{owner}.suggested"), "x")
        .await
        .expect("authorize");
    job_at(&suggested, 5).await;

    // A client-sent set_difficulty after it, above them: from the next job.
    let asked = tcp_miner(stratum).await;
    asked.subscribe().await.expect("subscribe");
    asked
        .authorize(&format!("{owner}.asked"), "x")
        .await
        .expect("authorize");
    job_at(&asked, 20).await;
    asked.ask_set_difficulty(json!(1e12)).await.expect("true");
    job_at(&asked, 60).await;

    // The control: a free session, whose vardiff moves.
    let free = tcp_miner(stratum).await;
    free.subscribe().await.expect("subscribe");
    free.authorize(&format!("{owner}.free"), "x")
        .await
        .expect("authorize");
    job_at(&free, 20).await;

    for miner in [&fixed, &low, &suggested, &free] {
        mine_accepted(miner, 6).await;
    }
    // Once the free session's difficulty moved, retargets have run for all.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let job = free.next_job(left).await.expect("the free session's jobs");
        if job.target != target(20) {
            break;
        }
    }
    for (miner, difficulty) in [(&fixed, 40), (&low, 5), (&suggested, 5), (&asked, 60)] {
        // A job sent after the retargets, not one queued before them.
        let _queued = miner.latest_job();
        let newest = miner.next_job(DEADLINE).await.expect("a job");
        assert_eq!(newest.target, target(difficulty), "held at {difficulty}");
        assert_eq!(miner.stratum_difficulty(), Some(difficulty as f64));
    }
    wait_for_ledger(&cluster, &owner, "dfixed", 6).await;
    wait_for_ledger(&cluster, &owner, "suggested", 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_xatum_forms_of_the_go_pool() {
    let cluster = start(1, |_| {}).await;
    let doors = cluster.slave(0).expect("slave").doors();
    let owner = address(0x54);

    // WebSocket: subscribe, authorize, tos_getWork, tos_submitWork and the
    // [nonce, header] form, hex with and without 0x.
    let ws = WebSocketMiner::connect(
        doors.websocket.expect("ws door open"),
        Transport::Tcp,
        options(),
    )
    .await
    .expect("connect ws");
    let subscribed = ws.subscribe().await.expect("subscribe");
    assert_eq!(subscribed[0][0][0], "mining.notify", "{subscribed}");
    assert!(subscribed[1].is_u64(), "{subscribed}");
    ws.authorize(&format!("{owner}.wsgo"))
        .await
        .expect("authorize");
    let job = ws.tos_get_work().await.expect("tos_getWork");
    let nonce = ws.mine(&job).await.expect("a share");
    let outcome = ws
        .tos_submit_work(&job.job_id, nonce)
        .await
        .expect("an answer");
    assert!(outcome.is_accepted(), "{outcome:?}");
    let header = hex::encode(job.header);
    for (method, prefixed) in [("tos_submitWork", true), ("submit", false)] {
        let nonce = ws.mine(&job).await.expect("a share");
        let (nonce, header) = if prefixed {
            (nonce_hex_prefixed(nonce), format!("0x{header}"))
        } else {
            (format!("{nonce:016x}"), header.clone())
        };
        let outcome = ws
            .submit_by_header(method, &nonce, &header)
            .await
            .expect("an answer");
        assert!(outcome.is_accepted(), "{method}: {outcome:?}");
    }
    wait_for_ledger(&cluster, &owner, "wsgo", 3).await;

    // Xatum: authorize with no handshake before it.
    let certificate = cluster.certificate.as_ref().expect("a certificate");
    let client = TlsClient::new(tls::client_config_trusting(certificate).expect("TLS config"));
    let xatum = XatumMiner::connect(
        doors.xatum.expect("xatum door open"),
        Transport::Tls(client),
        options(),
    )
    .await
    .expect("connect xatum");
    xatum
        .authorize(&owner, "xatumgo")
        .await
        .expect("authorize without handshake");
    let job = xatum.next_job(DEADLINE).await.expect("a job");
    let outcome = xatum.mine_and_submit_one(&job).await.expect("an answer");
    assert!(outcome.is_accepted(), "{outcome:?}");
    wait_for_ledger(&cluster, &owner, "xatumgo", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_forms_get_clear_errors_and_the_session_goes_on() {
    let cluster = start(1, |config| {
        config.security.ban_malformed_requests = 0;
    })
    .await;
    let stratum = cluster.slave(0).expect("slave").doors().stratum;
    let owner = address(0x55);
    let miner = tcp_miner(stratum).await;

    let refused = miner
        .call(
            "mining.authorize",
            Some(json!([format!("{owner}.bad"), "d=fast"])),
        )
        .await;
    match refused {
        Err(MinerError::Rpc { error, .. }) => {
            assert_eq!(error.code, 24);
            assert!(error.message.contains("d=NUMBER"), "{}", error.message);
        }
        other => panic!("expected a refused login, got {other:?}"),
    }
    for (method, params) in [
        ("mining.suggest_difficulty", json!(["fast"])),
        ("mining.set_difficulty", json!([-4])),
        ("eth_submitLogin", json!([])),
        ("eth_submitWork", json!(["0x01", "job"])),
    ] {
        let answer = miner.call(method, Some(params)).await;
        assert_eq!(code(answer), 20, "{method}");
    }
    miner
        .authorize(&format!("{owner}.good"), "x")
        .await
        .expect("a good login on the same session");
    let job = current_job(&miner).await;
    let outcome = miner
        .submit_params(json!(["w", job.job_id, "00", "6553f100", "0x12"]))
        .await
        .expect("an answer");
    assert_eq!(outcome.rejection_code(), Some(20), "{outcome:?}");
    mine_accepted(&miner, 1).await;
    wait_for_ledger(&cluster, &owner, "good", 1).await;
    let _: Value = miner.ping().await.expect("the session goes on");
}
