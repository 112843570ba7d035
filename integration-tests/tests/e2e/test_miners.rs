//! The test miners against small scripted mock pools (`miner_mocks`) over
//! real sockets: each mock judges shares by recomputing the PoW hash itself,
//! so an accepted share here was really mined.

use crate::miner_mocks;

use std::sync::atomic::Ordering;
use std::time::Duration;

use miner_mocks::{
    MockPool, SHARE_DIFFICULTY, certificate, serve, stratum_session, websocket_session,
    xatum_session,
};
use serde_json::{Value, json};
use tos_pool_integration_tests::miners::{
    CloseReason, Direction, Endpoint, Frame, MinerError, MinerOptions, Protocol, StratumMiner,
    SubmitOutcome, TestMiner, TlsClient, Transport, WebSocketMiner, XatumMiner,
};
use tos_pool_integration_tests::sniffer::Sniffer;
use tos_pool_integration_tests::tls::{self, TestCertificate};

const WAIT: Duration = Duration::from_secs(10);
const LOGIN: &str = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54.rig1";
#[tokio::test]
async fn stratum_over_tcp_mines_real_shares_and_surfaces_rejections() {
    let pool = MockPool::new();
    let addr = serve(pool.clone(), None, stratum_session).await;
    let sniffer = Sniffer::start(addr).await.expect("sniffer");
    let miner = StratumMiner::connect(sniffer.addr(), Transport::Tcp, MinerOptions::default())
        .await
        .expect("connect");

    let subscription = miner.subscribe().await.expect("subscribe");
    assert_eq!(
        subscription.subscriptions,
        vec![
            ("mining.notify".to_string(), "s1".to_string()),
            ("mining.set_difficulty".to_string(), "s1".to_string())
        ]
    );
    assert_eq!(subscription.extranonce1, vec![5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(subscription.extranonce2_size, 4);
    assert_eq!(subscription.start_nonce(), 5);

    miner.authorize(LOGIN, "x").await.expect("authorize");
    let job = miner.next_job(WAIT).await.expect("job");
    let expected = pool.jobs.lock().expect("lock")[0].clone();
    assert_eq!(job.job_id, expected.id);
    assert_eq!(job.header, expected.header);
    assert_eq!(job.target, pool.target);
    assert_eq!(job.height, 100);
    assert_eq!(job.difficulty, Some(SHARE_DIFFICULTY));
    assert!(job.clean);
    assert_eq!(miner.stratum_difficulty(), Some(SHARE_DIFFICULTY as f64));

    // A really mined share passes the mock's own hash check.
    assert_eq!(
        miner.mine_and_submit_one(&job).await.expect("submit"),
        SubmitOutcome::Accepted
    );
    assert_eq!(pool.accepted.load(Ordering::SeqCst), 1);
    let nonce = miner.mine(&job).await.expect("mine");
    assert!(
        nonce >= subscription.start_nonce(),
        "the search starts at extranonce1"
    );
    assert_eq!(
        miner
            .submit_short(&job.job_id, nonce)
            .await
            .expect("submit"),
        SubmitOutcome::Accepted
    );
    // Resubmitting is a duplicate; a nonce that misses the target is low difficulty.
    let duplicate = miner.submit(&job.job_id, nonce).await.expect("submit");
    assert_eq!(duplicate.rejection_code(), Some(22));
    let (_, low) = miner.submit_bad_share(&job).await.expect("bad share");
    assert_eq!(
        low,
        SubmitOutcome::Rejected {
            code: 23,
            message: "low difficulty share".to_string()
        }
    );
    let stale = miner.submit("no-such-job", nonce).await.expect("submit");
    assert_eq!(stale.rejection_code(), Some(21));
    assert_eq!(pool.accepted.load(Ordering::SeqCst), 2);

    assert_eq!(miner.ping().await.expect("ping"), json!("pong"));
    miner
        .extranonce_subscribe()
        .await
        .expect("extranonce.subscribe");
    miner
        .authorize_xelis("tst1address", "rig2", "x")
        .await
        .expect("3-parameter authorize");
    let refused = miner.authorize("nobody", "x").await;
    assert!(
        matches!(&refused, Err(MinerError::Rpc { error, .. }) if error.code == 24),
        "{refused:?}"
    );
    assert!(
        miner.protocol_errors().is_empty(),
        "{:?}",
        miner.protocol_errors()
    );

    // The sniffer saw both directions, byte for byte what the miner recorded.
    let sent = sniffer
        .wait_for_lines(Direction::ToServer, 1, WAIT)
        .await
        .expect("lines");
    assert_eq!(
        sent[0],
        r#"{"id":1,"method":"mining.subscribe","params":["tosminer/1.0.0"]}"#
    );
    assert_eq!(
        sent[1],
        format!(r#"{{"id":2,"method":"mining.authorize","params":["{LOGIN}","x"]}}"#)
    );
    assert!(sent[2].contains(r#""method":"mining.submit""#));
    assert!(sent[2].contains(&format!(r#"["{LOGIN}","{}","00000000","#, job.job_id)));
    assert_eq!(sent, miner.transcript().texts(Direction::ToServer));
    let received = sniffer.lines(Direction::ToClient);
    assert!(
        received
            .iter()
            .any(|line| line.contains(r#""method":"mining.notify""#))
    );
    assert_eq!(received, miner.transcript().texts(Direction::ToClient));
}

#[tokio::test]
async fn stratum_over_tls12_mines_against_a_tls12_and_13_server() {
    let (cert, server) = certificate();
    let pool = MockPool::new();
    let addr = serve(pool.clone(), Some(server), stratum_session).await;
    let client = tls::client_config_tls12_only(&cert).expect("client config");
    let miner = StratumMiner::connect(addr, Transport::tls(client), MinerOptions::default())
        .await
        .expect("connect over TLS 1.2");
    assert_eq!(miner.tls_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    miner.subscribe().await.expect("subscribe");
    miner.authorize(LOGIN, "x").await.expect("authorize");
    let job = miner.next_job(WAIT).await.expect("job");
    assert!(
        miner
            .mine_and_submit_one(&job)
            .await
            .expect("submit")
            .is_accepted()
    );

    let modern = tls::client_config_trusting(&cert).expect("client config");
    let miner = StratumMiner::connect(addr, Transport::tls(modern), MinerOptions::default())
        .await
        .expect("connect over TLS 1.3");
    assert_eq!(miner.tls_version(), Some(rustls::ProtocolVersion::TLSv1_3));

    let stranger = TestCertificate::self_signed(&["localhost"]).expect("certificate");
    let untrusting = tls::client_config_trusting(&stranger).expect("client config");
    let refused =
        StratumMiner::connect(addr, Transport::tls(untrusting), MinerOptions::default()).await;
    assert!(matches!(refused, Err(MinerError::Tls { .. })));
}

#[tokio::test]
async fn stratum_reconnect_request_and_close_are_observed() {
    let pool = MockPool::new();
    let addr = serve(pool, None, stratum_session).await;
    let miner = StratumMiner::connect(addr, Transport::Tcp, MinerOptions::default())
        .await
        .expect("connect");
    assert!(!miner.is_closed());
    miner
        .send_raw_text(r#"{"id":50,"method":"mining.bye","params":[]}"#)
        .await
        .expect("send");
    let push = miner
        .next_push_of("client.reconnect", WAIT)
        .await
        .expect("reconnect");
    assert_eq!(push["params"], json!([]));
    assert_eq!(
        miner.closed_within(WAIT).await.expect("closed"),
        CloseReason::Eof
    );
    assert!(miner.is_closed() && miner.reconnect_requested());
    assert!(matches!(
        miner.ping().await,
        Err(MinerError::Closed | MinerError::Send(_))
    ));
    assert!(matches!(
        miner.next_job(WAIT).await,
        Err(MinerError::Closed)
    ));
}

#[tokio::test]
async fn stratum_malformed_input_and_unanswered_requests() {
    let pool = MockPool::new();
    let addr = serve(pool, None, stratum_session).await;
    let miner = StratumMiner::connect(addr, Transport::Tcp, MinerOptions::default())
        .await
        .expect("connect");

    miner.send_raw_text("{not json").await.expect("send");
    let answer = miner.next_push(WAIT).await.expect("error answer");
    assert_eq!(answer["id"], Value::Null);
    assert_eq!(answer["error"][0], json!(20));

    let silent = miner
        .request_within("mining.silent", Some(json!([])), Duration::from_millis(200))
        .await;
    assert!(
        matches!(silent, Err(MinerError::Timeout { .. })),
        "{silent:?}"
    );
    let unknown = miner.call("mining.nonsense", Some(json!([]))).await;
    assert!(
        matches!(&unknown, Err(MinerError::Rpc { error, .. }) if error.code == 20),
        "{unknown:?}"
    );
    // The connection still works after all that.
    assert_eq!(miner.ping().await.expect("ping"), json!("pong"));
    assert!(!miner.is_closed());
}

#[tokio::test]
async fn websocket_getwork_push_submit_and_going_away() {
    let pool = MockPool::new();
    let addr = serve(pool.clone(), None, websocket_session).await;
    let miner = WebSocketMiner::connect(addr, Transport::Tcp, MinerOptions::default())
        .await
        .expect("connect");
    let early = miner.getwork().await;
    assert!(
        matches!(&early, Err(MinerError::Rpc { error, .. }) if error.code == 24),
        "{early:?}"
    );
    miner.authorize(LOGIN).await.expect("authorize");
    let job = miner.getwork().await.expect("getwork");
    let expected = pool.jobs.lock().expect("lock")[0].clone();
    assert_eq!(
        (job.job_id.as_str(), job.header, job.height),
        (expected.id.as_str(), expected.header, 200)
    );
    assert_eq!(
        (job.target, job.difficulty),
        (pool.target, Some(SHARE_DIFFICULTY))
    );

    assert!(
        miner
            .mine_and_submit_one(&job)
            .await
            .expect("submit")
            .is_accepted()
    );
    let (_, low) = miner.submit_bad_share(&job).await.expect("bad share");
    assert_eq!(
        low,
        SubmitOutcome::Rejected {
            code: 23,
            message: "low difficulty share".to_string()
        }
    );
    let sent = miner.transcript().texts(Direction::ToServer);
    assert!(
        sent.iter()
            .any(|text| text.contains(r#""method":"submit","params":[""#)
                && text.contains(r#"","0x"#))
    );

    miner
        .call("newjob", Some(json!([])))
        .await
        .expect("new job");
    let pushed = miner.next_job(WAIT).await.expect("pushed job");
    assert_eq!((pushed.height, pushed.clean), (201, true));
    assert!(
        miner
            .mine_and_submit_one(&pushed)
            .await
            .expect("submit")
            .is_accepted()
    );
    assert_eq!(pool.accepted.load(Ordering::SeqCst), 2);

    miner
        .send_raw_text(r#"{"id":90,"method":"bye","params":[]}"#)
        .await
        .expect("send");
    let reason = miner.closed_within(WAIT).await.expect("closed");
    assert_eq!(
        reason,
        CloseReason::WebSocket {
            code: 1001,
            reason: "going away".to_string()
        }
    );
    let records = miner.transcript().records();
    assert!(records.iter().any(|r| r.direction == Direction::ToClient
        && matches!(&r.frame, Frame::Close { code: 1001, .. })));
    assert!(
        miner.protocol_errors().is_empty(),
        "{:?}",
        miner.protocol_errors()
    );
}

#[tokio::test]
async fn websocket_over_tls_and_an_oversized_frame() {
    let (cert, server) = certificate();
    let pool = MockPool::new();
    let addr = serve(pool, Some(server), websocket_session).await;
    let client = tls::client_config_tls12_only(&cert).expect("client config");
    let miner = WebSocketMiner::connect_path(
        addr,
        "/mining",
        Transport::tls(client),
        MinerOptions::default(),
    )
    .await
    .expect("connect wss");
    assert_eq!(miner.tls_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    miner.authorize(LOGIN).await.expect("authorize");
    let job = miner.getwork().await.expect("getwork");
    assert!(
        miner
            .mine_and_submit_one(&job)
            .await
            .expect("submit")
            .is_accepted()
    );

    miner.send_oversized_text(8192).await.expect("send");
    match miner.closed_within(WAIT).await.expect("closed") {
        CloseReason::WebSocket { code, reason } => {
            assert_eq!(code, 1008);
            assert!(reason.starts_with("policy violation"), "{reason}");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn xatum_over_tls_handshake_job_shares_and_ping() {
    let (cert, server) = certificate();
    let pool = MockPool::new();
    let addr = serve(pool.clone(), Some(server), xatum_session).await;
    let client = TlsClient::new(tls::client_config_trusting(&cert).expect("client config"));
    let miner = XatumMiner::connect(addr, Transport::Tls(client), MinerOptions::default())
        .await
        .expect("connect");
    let early = miner.authorize("tst1address", "rig1").await;
    assert!(
        matches!(&early, Err(MinerError::Rpc { error, .. }) if error.code == 20),
        "{early:?}"
    );

    let handshake = miner.handshake().await.expect("handshake");
    assert_eq!(
        (handshake.version.as_str(), handshake.protocol.as_str()),
        ("1.0.0", "xatum/1.0")
    );
    assert_eq!(
        (handshake.session_id.as_slice(), handshake.difficulty),
        (&[0x12, 0x34][..], SHARE_DIFFICULTY)
    );
    miner
        .authorize("tst1address", "rig1")
        .await
        .expect("authorize");
    let job = miner.next_job(WAIT).await.expect("job");
    assert_eq!(
        (job.height, job.difficulty, job.target),
        (300, Some(SHARE_DIFFICULTY), pool.target)
    );

    let nonce = miner.mine(&job).await.expect("mine");
    assert!(
        miner
            .submit(&job.job_id, nonce)
            .await
            .expect("submit")
            .is_accepted()
    );
    let duplicate = miner.submit(&job.job_id, nonce).await.expect("submit");
    assert_eq!(
        duplicate,
        SubmitOutcome::Rejected {
            code: 22,
            message: "duplicate share".to_string()
        }
    );
    let (_, low) = miner.submit_bad_share(&job).await.expect("bad share");
    assert_eq!(low.rejection_code(), Some(23));
    miner.ping().await.expect("pong");

    let sent: Vec<Value> = miner
        .transcript()
        .texts(Direction::ToServer)
        .iter()
        .map(|text| serde_json::from_str(text).expect("the miner sends JSON"))
        .collect();
    assert_eq!(
        sent[0],
        json!({"id": "1", "method": "authorize",
            "params": {"address": "tst1address", "worker": "rig1"}})
    );
    assert_eq!(
        sent[1],
        json!({"id": "2", "method": "handshake",
            "params": {"version": "1.0.0", "protocol": "xatum/1.0"}})
    );
    assert_eq!(sent[3]["params"]["nonce"], json!(format!("0x{nonce:016x}")));
    let ping = sent.last().expect("ping");
    assert_eq!(
        (&ping["method"], ping.get("params")),
        (&json!("ping"), None)
    );
    assert!(ping["id"].is_string());
    assert!(
        miner.protocol_errors().is_empty(),
        "{:?}",
        miner.protocol_errors()
    );
}

#[tokio::test]
async fn xatum_refused_protocol_closes_the_connection() {
    let (cert, server) = certificate();
    let addr = serve(MockPool::new(), Some(server), xatum_session).await;
    let client = tls::client_config_trusting(&cert).expect("client config");
    let miner = XatumMiner::connect(addr, Transport::tls(client), MinerOptions::default())
        .await
        .expect("connect");
    let refused = miner.handshake_with("1.0.0", "stratum/2").await;
    assert!(
        matches!(refused, Err(MinerError::Rpc { .. })),
        "{refused:?}"
    );
    miner.closed_within(WAIT).await.expect("closed");
}

#[tokio::test]
async fn one_scenario_runs_over_every_protocol() {
    let (cert, server) = certificate();
    let pool = MockPool::new();
    let tls_client = TlsClient::new(tls::client_config_tls12_only(&cert).expect("client config"));
    let endpoints = [
        Endpoint::stratum_tcp(serve(pool.clone(), None, stratum_session).await),
        Endpoint::stratum_tls(
            serve(pool.clone(), Some(server.clone()), stratum_session).await,
            tls_client.clone(),
        ),
        Endpoint::ws(serve(pool.clone(), None, websocket_session).await),
        Endpoint::wss(
            serve(pool.clone(), Some(server.clone()), websocket_session).await,
            tls_client.clone(),
        ),
        Endpoint::xatum(
            serve(pool.clone(), Some(server), xatum_session).await,
            tls_client,
        ),
    ];
    for endpoint in &endpoints {
        let miner = TestMiner::connect(endpoint, MinerOptions::lean())
            .await
            .expect("connect");
        assert_eq!(miner.protocol(), endpoint.protocol);
        miner.login(LOGIN).await.expect("login");
        let job = miner.next_job(WAIT).await.expect("job");
        let outcome = miner.mine_and_submit_one(&job).await.expect("submit");
        assert!(
            outcome.is_accepted(),
            "{:?}: {outcome:?}",
            endpoint.protocol
        );
        let (_, low) = miner.submit_bad_share(&job).await.expect("bad share");
        assert_eq!(low.rejection_code(), Some(23), "{:?}", endpoint.protocol);
        assert!(
            miner.transcript().records().is_empty(),
            "lean options record nothing"
        );
    }
    assert_eq!(pool.accepted.load(Ordering::SeqCst), endpoints.len() as u64);
    assert_eq!(pool.sessions.load(Ordering::SeqCst), endpoints.len() as u64);
    assert!(endpoints.iter().any(|e| e.protocol == Protocol::Xatum));
}
