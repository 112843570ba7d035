//! The three front doors on one cluster, over real sockets: Stratum, WebSocket
//! GetWork (ws and wss) and Xatum miners mine at once and every accepted
//! share lands in the ledger once under the right address and worker; each
//! door gets every new job; blocks found through WebSocket and Xatum reach
//! the emulator; every rejection comes back in each protocol's own error
//! shape; shares before the handshake or login, and oversized requests, are
//! refused without disturbing other sessions; a drain says goodbye in each
//! protocol's way.

use crate::cluster_support;

use serde_json::{Value, json};
use tos_pool_integration_tests::cluster::Cluster;
use tos_pool_integration_tests::miners::{
    CloseReason, Connection, Direction, Endpoint, Job, MinerError, TestMiner, TlsClient, Transport,
    WebSocketMiner, XatumMiner,
};
use tos_pool_integration_tests::tls;

use cluster_support::{DEADLINE, address, ledger_valid, options, start, wait_until};

fn tls_client(cluster: &Cluster) -> TlsClient {
    let certificate = cluster
        .certificate
        .as_ref()
        .expect("the harness made a certificate");
    TlsClient::new(tls::client_config_trusting(certificate).expect("client TLS config"))
}

/// Every door of slave 0, as (worker name, endpoint).
fn endpoints(cluster: &Cluster) -> Vec<(&'static str, Endpoint)> {
    let doors = cluster.slave(0).expect("slave").doors();
    let tls = tls_client(cluster);
    vec![
        ("stratum", Endpoint::stratum_tcp(doors.stratum)),
        ("ws", Endpoint::ws(doors.websocket.expect("ws door open"))),
        (
            "wss",
            Endpoint::wss(doors.websocket_tls.expect("wss door open"), tls.clone()),
        ),
        (
            "xatum",
            Endpoint::xatum(doors.xatum.expect("xatum door open"), tls),
        ),
    ]
}

/// A miner connected through `endpoint` and logged in as `login`.
async fn logged_in(endpoint: &Endpoint, login: &str) -> TestMiner {
    let miner = TestMiner::connect(endpoint, options())
        .await
        .unwrap_or_else(|error| panic!("connect {login}: {error}"));
    miner
        .login(login)
        .await
        .unwrap_or_else(|error| panic!("log in {login}: {error}"));
    miner
}

/// The miner's current job, or the next one when it has none yet.
async fn current_job(miner: &TestMiner) -> Job {
    match miner.latest_job() {
        Some(job) => job,
        None => miner.next_job(DEADLINE).await.expect("a job"),
    }
}

/// The next job whose share target is all ones (network difficulty 1).
async fn next_block_job(miner: &TestMiner, above_height: u64) -> Job {
    loop {
        let job = miner.next_job(DEADLINE).await.expect("a job");
        if job.target.0 == [0xff; 32] && job.height > above_height {
            return job;
        }
    }
}

/// Mines one share on `miner`'s job at `target == all ones` and waits until
/// the emulator holds the block; returns the job's height.
async fn find_block(cluster: &Cluster, miner: &TestMiner, above_height: u64) -> u64 {
    let job = next_block_job(miner, above_height).await;
    let outcome = miner.mine_and_submit_one(&job).await.expect("submit");
    assert!(outcome.is_accepted(), "{:?}: {outcome:?}", miner.protocol());
    let extra_nonce: [u8; 32] = job.header[48..80].try_into().expect("32 bytes");
    wait_until("the emulator accepted the pool's block", || async {
        cluster
            .devnet
            .submitted_blocks()
            .iter()
            .any(|block| block.extra_nonce == extra_nonce)
    })
    .await;
    job.height
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_mines_at_once_and_each_share_lands_once() {
    let mut cluster = start(1, |config| config.mining.initial_difficulty = 1).await;
    let mut miners = Vec::new();
    for (index, (worker, endpoint)) in endpoints(&cluster).into_iter().enumerate() {
        let address = address(u8::try_from(index).expect("four doors") + 40);
        let miner = logged_in(&endpoint, &format!("{address}.{worker}")).await;
        miners.push((miner, address, worker));
    }

    // All four mine side by side.
    let mined =
        futures_util::future::join_all(miners.iter().map(|(miner, _, worker)| async move {
            let mut accepted = 0u64;
            for _ in 0..2 {
                let job = current_job(miner).await;
                let outcome = miner.mine_and_submit_one(&job).await.expect("submit");
                assert!(outcome.is_accepted(), "{worker}: {outcome:?}");
                accepted += 1;
            }
            accepted
        }))
        .await;
    for ((_, address, worker), expected) in miners.iter().zip(&mined) {
        wait_until("the ledger holds every accepted share", || async {
            ledger_valid(&cluster, address, worker).await >= *expected
        })
        .await;
        assert_eq!(
            ledger_valid(&cluster, address, worker).await,
            *expected,
            "{worker}: each accepted share once, under its own address and worker"
        );
    }

    // A new job (network difficulty 1) is pushed to every door.
    cluster.set_network_difficulty(1);
    for (miner, _, worker) in &miners {
        let job = next_block_job(miner, 0).await;
        assert!(job.height > 0, "{worker}");
    }

    // A block through WebSocket, then one through Xatum.
    let by_protocol = |wanted: &str| {
        &miners
            .iter()
            .find(|(_, _, worker)| *worker == wanted)
            .expect("a miner")
            .0
    };
    let height = find_block(&cluster, by_protocol("ws"), 0).await;
    find_block(&cluster, by_protocol("xatum"), height).await;

    // Draining says goodbye in each protocol's way.
    cluster.drain_slave(0).await;
    for (miner, _, worker) in &miners {
        let reason = miner.closed_within(DEADLINE).await.expect("closed");
        match *worker {
            "ws" | "wss" => assert!(
                matches!(&reason, CloseReason::WebSocket { code: 1001, reason } if reason.contains("going away")),
                "{worker}: {reason:?}"
            ),
            "xatum" => assert!(
                miner
                    .transcript()
                    .texts(Direction::ToClient)
                    .iter()
                    .any(|text| text.contains("\"method\":\"reconnect\"")),
                "xatum got a final reconnect message"
            ),
            _ => assert!(miner.reconnect_requested(), "{worker}"),
        }
    }
    cluster.shutdown().await;
}

/// The error object of a raw answer, which must be `{"code","message"}`.
fn error_code(answer: &Value) -> i64 {
    let error = &answer["error"];
    assert!(
        error.is_object() && error["message"].is_string(),
        "error shape: {answer}"
    );
    assert_eq!(answer["result"], Value::Null, "{answer}");
    error["code"].as_i64().expect("a numeric code")
}

fn rpc_code(result: Result<impl std::fmt::Debug, MinerError>) -> i64 {
    match result {
        Err(MinerError::Rpc { error, .. }) => error.code,
        other => panic!("expected an error answer, got {other:?}"),
    }
}

/// The last answer the pool sent that carries an error, parsed.
fn last_error(miner: &Connection) -> Value {
    miner
        .transcript()
        .texts(Direction::ToClient)
        .iter()
        .rev()
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .find(|message| !message["error"].is_null() && message.get("error").is_some())
        .expect("an error answer")
}

/// Asserts `miner` still answers and mines.
async fn still_mines(miner: &TestMiner) {
    let job = current_job(miner).await;
    let outcome = miner.mine_and_submit_one(&job).await.expect("submit");
    assert!(outcome.is_accepted(), "{:?}: {outcome:?}", miner.protocol());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_door_refuses_in_its_own_shape_without_disturbing_others() {
    // No bans: every test connection comes from 127.0.0.1.
    let cluster = start(1, |config| {
        config.security.ban_malformed_requests = 0;
        config.security.ban_invalid_percent = 0.0;
        config.security.max_request_size = 1024;
    })
    .await;
    let doors = cluster.slave(0).expect("slave").doors();
    let tls = tls_client(&cluster);
    let ws_addr = doors.websocket.expect("ws door open");
    let xatum_addr = doors.xatum.expect("xatum door open");

    // Neighbours on every door, logged in and mining throughout.
    let mut neighbours = Vec::new();
    for (worker, endpoint) in endpoints(&cluster) {
        neighbours.push(logged_in(&endpoint, &format!("{}.{worker}", address(60))).await);
    }

    // WebSocket: nothing before authorize, then every share rejection.
    let login = format!("{}.rig", address(61));
    let ws = WebSocketMiner::connect(ws_addr, Transport::Tcp, options())
        .await
        .expect("connect ws");
    let answer = ws
        .request("getwork", Some(json!([])))
        .await
        .expect("answer");
    assert_eq!(error_code(&answer), 24, "getwork before authorize");
    let answer = ws
        .request("submit", Some(json!(["job", "0x0000000000000001"])))
        .await
        .expect("answer");
    assert_eq!(error_code(&answer), 24, "submit before authorize");
    let bad = "tst1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq.rig";
    assert_eq!(rpc_code(ws.authorize(bad).await), 24);
    ws.authorize(&login).await.expect("authorize");
    let job = ws.getwork().await.expect("getwork");
    let answer = ws
        .request("submit", Some(json!(["no-such-job", "0x0000000000000001"])))
        .await
        .expect("answer");
    assert_eq!(error_code(&answer), 21, "job not found");
    let nonce = ws.mine(&job).await.expect("a share");
    assert!(
        ws.submit(&job.job_id, nonce)
            .await
            .expect("answer")
            .is_accepted()
    );
    let nonce_hex = format!("{nonce:016x}");
    let answer = ws
        .request("mining.submit", Some(json!([job.job_id, nonce_hex])))
        .await
        .expect("answer");
    assert_eq!(
        error_code(&answer),
        22,
        "duplicate, through the mining.* alias"
    );
    let (_, outcome) = ws.submit_bad_share(&job).await.expect("answer");
    assert_eq!(outcome.rejection_code(), Some(23));
    assert_eq!(error_code(&last_error(&ws)), 23);
    let answer = ws.request("mining.configure", None).await.expect("answer");
    assert_eq!(error_code(&answer), 20, "unknown method");
    ws.send_raw_text("{not json").await.expect("send");
    wait_until("the bad frame is answered", || async {
        last_error(&ws)["id"].is_null()
    })
    .await;
    assert_eq!(error_code(&last_error(&ws)), 20);
    // An oversized frame closes with 1008 and a reason.
    ws.send_oversized_text(4096).await.expect("send");
    match ws.closed_within(DEADLINE).await.expect("closed") {
        CloseReason::WebSocket { code, reason } => {
            assert_eq!(code, 1008, "{reason}");
            assert!(reason.contains("1024"), "{reason}");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    // Xatum: no share before the handshake (or a login, which opens the
    // session too), then every share rejection.
    let xatum = XatumMiner::connect(xatum_addr, Transport::Tls(tls.clone()), options())
        .await
        .expect("connect xatum");
    let (address_only, worker) = login.split_once('.').expect("ADDRESS.WORKER");
    let answer = xatum
        .request(
            "submit",
            Some(json!({"job_id": "j", "nonce": "0x0000000000000001"})),
        )
        .await
        .expect("answer");
    assert_eq!(error_code(&answer), 25, "submit before handshake");
    assert!(answer["id"].is_string(), "string ids are echoed: {answer}");
    let handshake = xatum.handshake().await.expect("handshake");
    assert_eq!(handshake.protocol, "xatum/1.0");
    assert_eq!(handshake.session_id.len(), 8);
    let answer = xatum
        .request(
            "submit",
            Some(json!({"job_id": "j", "nonce": "0x0000000000000001"})),
        )
        .await
        .expect("answer");
    assert_eq!(error_code(&answer), 24, "submit before authorize");
    xatum
        .authorize(address_only, worker)
        .await
        .expect("authorize");
    let job = xatum.next_job(DEADLINE).await.expect("a pushed job");
    let answer = xatum
        .request(
            "submit",
            Some(json!({"job_id": "no-such-job", "nonce": "0000000000000001"})),
        )
        .await
        .expect("answer");
    assert_eq!(error_code(&answer), 21, "job not found");
    let nonce = xatum.mine(&job).await.expect("a share");
    assert!(
        xatum
            .submit(&job.job_id, nonce)
            .await
            .expect("answer")
            .is_accepted()
    );
    let answer = xatum
        .request(
            "submit",
            Some(json!({"job_id": job.job_id, "nonce": format!("0x{nonce:016x}")})),
        )
        .await
        .expect("answer");
    assert_eq!(error_code(&answer), 22, "duplicate");
    let (_, outcome) = xatum.submit_bad_share(&job).await.expect("answer");
    assert_eq!(outcome.rejection_code(), Some(23));
    assert_eq!(error_code(&last_error(&xatum)), 23);
    xatum.ping().await.expect("pong");
    let answer = xatum.request("getwork", None).await.expect("answer");
    assert_eq!(error_code(&answer), 20, "unknown method");
    // An oversized line gets an error, then the connection closes.
    xatum
        .send_raw_text(&format!(
            "{{\"id\":\"9\",\"method\":\"ping\",\"pad\":\"{}\"}}",
            "x".repeat(2048)
        ))
        .await
        .expect("send");
    xatum.closed_within(DEADLINE).await.expect("closed");
    assert!(
        last_error(&xatum)["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("1024")),
        "the close says why"
    );

    // A handshake for another protocol is refused and the connection closed.
    let other = XatumMiner::connect(xatum_addr, Transport::Tls(tls.clone()), options())
        .await
        .expect("connect xatum");
    assert_eq!(
        rpc_code(other.handshake_with("2.0.0", "xatum/2.0").await),
        20
    );
    other.closed_within(DEADLINE).await.expect("closed");

    // Xatum is TLS only: plain TCP gets no answer, and no session.
    let plain = XatumMiner::connect(
        xatum_addr,
        Transport::Tcp,
        options().with_timeout(std::time::Duration::from_secs(2)),
    )
    .await
    .expect("the TCP connection itself opens");
    assert!(plain.handshake().await.is_err());

    // None of this disturbed the neighbours.
    for miner in &neighbours {
        still_mines(miner).await;
    }
    cluster.shutdown().await;
}

/// A ws and a wss miner on `cluster`'s WebSocket doors each get one share
/// accepted.
async fn ws_and_wss_mine(cluster: &Cluster) {
    let doors = cluster.slave(0).expect("slave").doors();
    let endpoints = [
        ("ws", Endpoint::ws(doors.websocket.expect("ws door open"))),
        (
            "wss",
            Endpoint::wss(
                doors.websocket_tls.expect("wss door open"),
                tls_client(cluster),
            ),
        ),
    ];
    for (index, (worker, endpoint)) in endpoints.into_iter().enumerate() {
        let address = address(u8::try_from(index).expect("two doors") + 70);
        let miner = logged_in(&endpoint, &format!("{address}.{worker}")).await;
        let job = current_job(&miner).await;
        let outcome = miner.mine_and_submit_one(&job).await.expect("submit");
        assert!(outcome.is_accepted(), "{worker}: {outcome:?}");
        wait_until("the ledger holds the share", || async {
            ledger_valid(cluster, &address, worker).await == 1
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_and_wss_serve_on_one_port_or_on_two() {
    // The same address for both (as the harness sets them): one port, and
    // each connection's first byte decides TLS or plain.
    let cluster = start(1, |config| config.mining.initial_difficulty = 1).await;
    let doors = cluster.slave(0).expect("slave").doors();
    assert_eq!(doors.websocket, doors.websocket_tls, "one port");
    ws_and_wss_mine(&cluster).await;
    cluster.shutdown().await;

    // Two addresses: two listeners, plain and TLS.
    let cluster = start(1, |config| {
        config.mining.initial_difficulty = 1;
        config.slave.websocket_bind = std::net::SocketAddr::from(([127, 0, 0, 2], 0));
    })
    .await;
    let doors = cluster.slave(0).expect("slave").doors();
    assert_ne!(doors.websocket, doors.websocket_tls, "two ports");
    ws_and_wss_mine(&cluster).await;
    cluster.shutdown().await;
}
