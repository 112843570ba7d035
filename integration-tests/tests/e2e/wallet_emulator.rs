//! The wallet emulator over real HTTP: payouts, refusals, injected faults,
//! auth, the daemon link and the binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tos_pool_common::address::Address;
use tos_pool_common::network::Network;
use tos_pool_integration_tests::wallet::{
    BasicAuth, Fault, INVALID_PARAMS, METHOD_NOT_FOUND, PARSE_ERROR, RpcClient, RpcClientError,
    TOS_ASSET, WALLET_ERROR, Wallet, WalletConfig, WalletHandle,
};

fn devnet_address(key: u8) -> String {
    Address::new([key; 32], Network::Devnet).to_string()
}

async fn start_wallet(balance: u64, confirmations: u64) -> WalletHandle {
    let mut config = WalletConfig::new(Network::Devnet, devnet_address(1));
    config.balance = balance;
    config.confirmations = confirmations;
    Wallet::start(config)
        .await
        .expect("the wallet emulator starts")
}

fn client(wallet: &WalletHandle) -> RpcClient {
    RpcClient::new(&wallet.url()).expect("the emulator URL is valid")
}

fn payout(transfers: &[(u8, u64)]) -> Value {
    let transfers: Vec<Value> = transfers
        .iter()
        .map(|&(key, amount)| {
            json!({"asset": TOS_ASSET, "amount": amount, "destination": devnet_address(key), "extra_data": null})
        })
        .collect();
    json!({"transfers": transfers, "fee": {"multiplier": 1.0}, "broadcast": true, "tx_as_hex": false})
}

fn rpc_code(result: Result<Value, RpcClientError>) -> (i64, String) {
    match result {
        Err(RpcClientError::Rpc { code, message }) => (code, message),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn payout_is_debited_found_and_confirmed_after_n_blocks() {
    let wallet = start_wallet(10_000_000, 2).await;
    let rpc = client(&wallet);
    let result = rpc
        .call(
            "build_transaction",
            Some(payout(&[(2, 1_000_000), (3, 2_000_000)])),
        )
        .await
        .expect("the payout is accepted");
    let hash = result["hash"].as_str().expect("a hash").to_string();
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    let fee = result["fee"].as_u64().expect("a fee");
    assert_eq!(fee, 1_002);
    assert_eq!(result["nonce"], json!(0));
    assert_eq!(
        result["data"]["transfers"].as_array().map(Vec::len),
        Some(2)
    );

    let expected = 10_000_000 - 3_000_000 - fee;
    assert_eq!(
        rpc.call("get_balance", None).await.expect("balance"),
        json!(expected)
    );
    assert_eq!(wallet.balance(), expected);
    assert_eq!(rpc.call("get_nonce", None).await.expect("nonce"), json!(1));

    let get = || rpc.call("get_transaction", Some(json!({"hash": hash})));
    let pending = get().await.expect("the transaction is known");
    assert_eq!(pending["in_mempool"], json!(true));
    assert_eq!(pending["topoheight"], Value::Null);

    assert_eq!(advance(&rpc, 1).await["topoheight"], json!(1));
    assert_eq!(get().await.expect("known")["in_mempool"], json!(true));
    advance(&rpc, 1).await;
    let confirmed = get().await.expect("known");
    assert_eq!(confirmed["in_mempool"], json!(false));
    assert_eq!(confirmed["topoheight"], json!(2));
    assert_eq!(
        confirmed["entry"]["outgoing"]["transfers"][1]["amount"],
        json!(2_000_000)
    );

    let listed = rpc.call("list_transactions", None).await.expect("list");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (code, _) = rpc_code(get_unknown(&rpc).await);
    assert_eq!(code, WALLET_ERROR);
}

async fn advance(rpc: &RpcClient, blocks: u64) -> Value {
    rpc.post_json("/control/advance", &json!({"blocks": blocks}))
        .await
        .expect("the control API answers")
        .json()
}

async fn get_unknown(rpc: &RpcClient) -> Result<Value, RpcClientError> {
    rpc.call("get_transaction", Some(json!({"hash": "ab".repeat(32)})))
        .await
}

#[tokio::test]
async fn other_methods_answer_like_the_wallet() {
    let wallet = start_wallet(5, 1).await;
    let rpc = client(&wallet);
    assert_eq!(
        rpc.call("is_online", None).await.expect("is_online"),
        json!(true)
    );
    assert_eq!(
        rpc.call("get_address", None).await.expect("get_address"),
        json!(devnet_address(1))
    );
    let transfers = payout(&[(2, 1), (3, 1), (4, 1)])["transfers"].clone();
    assert_eq!(
        rpc.call("estimate_fees", Some(json!({"transfers": transfers})))
            .await
            .expect("estimate"),
        json!(1_003)
    );
    assert_eq!(
        rpc_code(rpc.call("send_everything", None).await).0,
        METHOD_NOT_FOUND
    );
    let raw = rpc
        .post_raw("/json_rpc", b"{oops".to_vec())
        .await
        .expect("a reply");
    assert_eq!(raw.json()["error"]["code"], json!(PARSE_ERROR));
}

#[tokio::test]
async fn refusals_leave_nothing_recorded() {
    let wallet = start_wallet(1_000_000, 1).await;
    let rpc = client(&wallet);

    let too_many: Vec<(u8, u64)> = (0..501).map(|i| ((i % 200) as u8 + 2, 1)).collect();
    let (code, message) = rpc_code(rpc.call("build_transaction", Some(payout(&too_many))).await);
    assert_eq!(code, INVALID_PARAMS, "{message}");
    let at_limit: Vec<(u8, u64)> = (0..500).map(|i| ((i % 200) as u8 + 2, 1)).collect();
    assert_eq!(
        rpc.call(
            "estimate_fees",
            Some(json!({"transfers": payout(&at_limit)["transfers"]}))
        )
        .await
        .expect("500 transfers are allowed"),
        json!(1_500)
    );

    let mut bad = payout(&[(2, 1)]);
    bad["transfers"][0]["destination"] = json!(Address::new([2; 32], Network::Mainnet).to_string());
    let (code, message) = rpc_code(rpc.call("build_transaction", Some(bad)).await);
    assert_eq!(code, INVALID_PARAMS);
    assert!(message.contains("destination"), "{message}");

    let (code, message) = rpc_code(rpc.call("build_transaction", Some(payout(&[(2, 0)]))).await);
    assert_eq!(code, INVALID_PARAMS, "{message}");

    let (code, message) = rpc_code(
        rpc.call("build_transaction", Some(payout(&[(2, 999_000)])))
            .await,
    );
    assert_eq!(code, WALLET_ERROR);
    assert!(message.starts_with("Insufficient funds"), "{message}");

    assert!(wallet.transactions().is_empty());
    assert_eq!((wallet.balance(), wallet.nonce()), (1_000_000, 0));
}

#[tokio::test]
async fn fail_before_broadcast_records_nothing() {
    let wallet = start_wallet(1_000_000, 1).await;
    let rpc = client(&wallet);
    let control = rpc
        .post_json(
            "/control/fault",
            &json!({"fault": "fail_before_broadcast", "times": 1}),
        )
        .await
        .expect("control answers");
    assert_eq!(control.status, 200);
    let (code, _) = rpc_code(
        rpc.call("build_transaction", Some(payout(&[(2, 10)])))
            .await,
    );
    assert_eq!(code, WALLET_ERROR);
    assert!(wallet.transactions().is_empty());
    assert_eq!(wallet.balance(), 1_000_000);

    rpc.call("build_transaction", Some(payout(&[(2, 10)])))
        .await
        .expect("the fault hit only one call");
    assert_eq!(wallet.transactions().len(), 1);

    wallet.set_fault(Fault::InsufficientFunds, 1);
    let (_, message) = rpc_code(
        rpc.call("build_transaction", Some(payout(&[(2, 10)])))
            .await,
    );
    assert!(message.starts_with("Insufficient funds"), "{message}");
    assert_eq!(wallet.transactions().len(), 1);
}

#[tokio::test]
async fn lost_reply_times_out_yet_the_payment_was_made() {
    let wallet = start_wallet(1_000_000, 1).await;
    wallet.set_fault(Fault::BroadcastThenLoseReply, 1);
    let impatient = client(&wallet).with_timeout(Duration::from_millis(300));
    let outcome = impatient
        .call("build_transaction", Some(payout(&[(2, 50_000)])))
        .await;
    assert!(
        matches!(outcome, Err(RpcClientError::Timeout { .. })),
        "{outcome:?}"
    );

    let recorded = wallet.transactions();
    assert_eq!(recorded.len(), 1, "the transaction was broadcast once");
    assert_eq!(wallet.balance(), 1_000_000 - 50_000 - recorded[0].fee);

    let rpc = client(&wallet);
    let found = rpc
        .call("get_transaction", Some(json!({"hash": recorded[0].hash})))
        .await
        .expect("the lost transaction is known to the wallet");
    assert_eq!(
        found["entry"]["outgoing"]["transfers"][0]["amount"],
        json!(50_000)
    );
    let listed = rpc
        .get("/control/transactions")
        .await
        .expect("control answers");
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1));
    wallet.shutdown().await;
}

#[tokio::test]
async fn basic_auth_refuses_missing_or_wrong_credentials() {
    let mut config = WalletConfig::new(Network::Devnet, devnet_address(1));
    config.auth = Some(BasicAuth {
        username: "pool".into(),
        password: "secret".into(),
    });
    let wallet = Wallet::start(config).await.expect("starts");
    for rpc in [
        client(&wallet),
        client(&wallet).with_basic_auth("pool", "wrong"),
        client(&wallet).with_basic_auth("other", "secret"),
    ] {
        match rpc.call("get_balance", None).await {
            Err(RpcClientError::Status { status: 401, .. }) => {}
            other => panic!("expected HTTP 401, got {other:?}"),
        }
    }
    let rpc = client(&wallet).with_basic_auth("pool", "secret");
    assert_eq!(
        rpc.call("get_balance", None).await.expect("authorised"),
        json!(0)
    );
}

#[tokio::test]
async fn refuses_an_address_of_another_network() {
    let config = WalletConfig::new(
        Network::Devnet,
        Address::new([1; 32], Network::Mainnet).to_string(),
    );
    assert!(Wallet::start(config).await.is_err());
}

/// A daemon that answers only `get_topoheight`, from a counter the test moves.
async fn start_daemon(topoheight: Arc<AtomicU64>) -> String {
    use axum::{Json, Router, routing::post};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("bound");
    let app = Router::new().route(
        "/json_rpc",
        post(move |Json(request): Json<Value>| async move {
            Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": topoheight.load(Ordering::SeqCst)}))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/json_rpc")
}

#[tokio::test]
async fn confirmations_follow_the_daemon_when_one_is_given() {
    let topoheight = Arc::new(AtomicU64::new(100));
    let mut config = WalletConfig::new(Network::Devnet, devnet_address(1));
    config.balance = 1_000_000;
    config.confirmations = 3;
    config.daemon_url = Some(start_daemon(Arc::clone(&topoheight)).await);
    let wallet = Wallet::start(config).await.expect("starts");
    let rpc = client(&wallet);
    let hash = rpc
        .call("build_transaction", Some(payout(&[(2, 10)])))
        .await
        .expect("payout")["hash"]
        .clone();
    assert_eq!(wallet.transactions()[0].built_at_topoheight, 100);
    wallet.advance_chain(50);
    let get = || rpc.call("get_transaction", Some(json!({"hash": hash})));
    assert_eq!(
        get().await.expect("known")["in_mempool"],
        json!(true),
        "internal counter ignored"
    );
    topoheight.store(103, Ordering::SeqCst);
    let confirmed = get().await.expect("known");
    assert_eq!(
        (
            confirmed["in_mempool"].clone(),
            confirmed["topoheight"].clone()
        ),
        (json!(false), json!(103))
    );
}

#[tokio::test]
async fn offline_daemon_means_no_broadcast() {
    let mut config = WalletConfig::new(Network::Devnet, devnet_address(1));
    config.balance = 1_000_000;
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    config.daemon_url = Some(format!("http://127.0.0.1:{port}/json_rpc"));
    let wallet = Wallet::start(config).await.expect("starts");
    let rpc = client(&wallet);
    assert_eq!(
        rpc.call("is_online", None).await.expect("answers"),
        json!(false)
    );
    let (code, message) = rpc_code(
        rpc.call("build_transaction", Some(payout(&[(2, 10)])))
            .await,
    );
    assert_eq!(code, WALLET_ERROR, "{message}");
    assert!(wallet.transactions().is_empty());
}

#[tokio::test]
async fn binary_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tos-wallet-emulator"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--network",
            "devnet",
            "--balance",
            "777",
        ])
        .args(["--address", &devnet_address(9)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().expect("stdout is piped");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(10), line)
        .await
        .expect("the binary prints its URL in time")
        .expect("the reader task ends")
        .expect("stdout is readable");
    let url = line
        .trim()
        .strip_prefix("tos-wallet-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let rpc = RpcClient::new(url).expect("the printed URL is valid");
    assert_eq!(
        rpc.call("get_balance", None).await.expect("balance"),
        json!(777)
    );
    assert_eq!(
        rpc.call("get_address", None).await.expect("address"),
        json!(devnet_address(9))
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("the wait task ends")
        .expect("the child is reaped");
    assert!(status.success(), "clean exit on SIGTERM, got {status}");
}
