//! The emulator binaries as a real daemon and wallet are run: killed with
//! SIGKILL mid-life and started again on the same port and state, they come
//! back with the chain, the transactions and the balance they had.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

const DEVNET_ADDRESS: &str = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";
const DEADLINE: Duration = Duration::from_secs(30);

/// An emulator binary running as a child process.
struct Running {
    child: Child,
    addr: SocketAddr,
}

/// Starts `binary` with `args`, its log appended to `log`, and waits for its
/// "… listening on http://ADDR/json_rpc" line. Binding the same port again
/// right after a kill may briefly fail, so a start that exits early is
/// retried.
async fn spawn(binary: &str, args: &[String], log: &Path) -> Running {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file opens");
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = timeout(DEADLINE, lines.next_line())
            .await
            .expect("prints before the deadline")
            .expect("stdout readable");
        if let Some(line) = line {
            let addr = line
                .split_once("listening on http://")
                .and_then(|(_, rest)| rest.strip_suffix("/json_rpc"))
                .and_then(|addr| addr.parse().ok())
                .unwrap_or_else(|| panic!("no address in {line:?}"));
            return Running { child, addr };
        }
        let status = child.wait().await.expect("exit status");
        assert!(
            Instant::now() < deadline,
            "{binary} kept failing to start: {status}"
        );
        sleep(Duration::from_millis(100)).await;
    }
}

/// An HTTP client (reqwest is built without a default TLS provider).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

impl Running {
    /// SIGKILL: no shutdown code runs.
    async fn kill_9(mut self) {
        self.child.start_kill().expect("SIGKILL sent");
        let status = timeout(DEADLINE, self.child.wait())
            .await
            .expect("dies")
            .expect("exit status");
        assert!(!status.success(), "killed, not exited: {status}");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = client()
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn control(&self, name: &str, body: Value) -> Value {
        let (status, value) = self.post(&format!("/control/{name}"), body).await;
        assert_eq!(status, 200, "control {name}: {value}");
        value
    }

    async fn get(&self, path: &str) -> Value {
        let response = client().get(self.url(path)).send().await.expect("answers");
        assert!(response.status().is_success(), "{path}");
        let text = response.text().await.expect("a body");
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
    }

    async fn rpc(&self, method: &str, params: Value) -> Value {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (status, reply) = self.post("/json_rpc", request).await;
        assert_eq!(status, 200, "{method}: {reply}");
        assert!(reply.get("error").is_none(), "{method} failed: {reply}");
        reply["result"].clone()
    }
}

fn devnet_args(state: &Path, bind: &str, difficulty: &str) -> Vec<String> {
    [
        "--bind",
        bind,
        "--difficulty",
        difficulty,
        "--block-interval",
        "100ms",
        "--paused",
        "--state-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([state.display().to_string()])
    .collect()
}

#[tokio::test]
async fn devnet_keeps_its_chain_across_kill_9() {
    let state = tempfile::tempdir().expect("temp dir");
    let logs = tempfile::tempdir().expect("temp dir");
    let log = logs.path().join("devnet.log");
    let binary = env!("CARGO_BIN_EXE_tos-devnet");
    let devnet = spawn(binary, &devnet_args(state.path(), "127.0.0.1:0", "1"), &log).await;

    // Blocks from other miners, one from the pool, a side block, an orphan,
    // a difficulty change, and blocks the producer made on its own.
    devnet.control("advance", json!({"count": 5})).await;
    let template = devnet
        .rpc("get_block_template", json!({"address": DEVNET_ADDRESS}))
        .await;
    let accepted = devnet
        .rpc(
            "submit_block",
            json!({"block_template": template["template"]}),
        )
        .await;
    assert_eq!(accepted, json!(true));
    let submitted = devnet.control("submitted", json!({})).await;
    assert_eq!(submitted.as_array().map(Vec::len), Some(1), "{submitted}");
    devnet.control("advance", json!({"count": 2})).await;
    let blocks = devnet.control("blocks", json!({})).await;
    let hash_at = |i: usize| blocks[i]["hash"].as_str().expect("hash").to_string();
    devnet
        .control("make_side", json!({"hash": hash_at(2)}))
        .await;
    devnet.control("orphan", json!({"hash": hash_at(8)})).await;
    devnet
        .control("set_difficulty", json!({"difficulty": "77"}))
        .await;
    devnet.control("resume", json!({})).await;
    let deadline = Instant::now() + DEADLINE;
    while devnet.control("top", json!({})).await["height"].as_u64() < Some(10) {
        assert!(Instant::now() < deadline, "the producer added no blocks");
        sleep(Duration::from_millis(20)).await;
    }
    devnet.control("pause", json!({})).await;
    let before = devnet.control("blocks", json!({})).await;
    let top = devnet.control("top", json!({})).await;
    let balance = devnet
        .rpc(
            "get_balance",
            json!({"address": DEVNET_ADDRESS, "asset": "0".repeat(64)}),
        )
        .await;
    let addr = devnet.addr.to_string();
    devnet.kill_9().await;

    // A write cut short by the kill: half a record at the journal's end.
    let journal = state.path().join("chain.journal");
    let mut bytes = std::fs::read(&journal).expect("journal written");
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, b'{', b'"']);
    std::fs::write(&journal, &bytes).expect("journal writable");

    // Same port, same state; --difficulty only seeds a new chain.
    let devnet = spawn(binary, &devnet_args(state.path(), &addr, "1000"), &log).await;
    assert_eq!(devnet.addr.to_string(), addr);
    let logged = std::fs::read_to_string(&log).expect("log readable");
    assert!(logged.contains("torn record"), "{logged}");
    assert_eq!(devnet.control("blocks", json!({})).await, before);
    assert_eq!(devnet.control("top", json!({})).await, top);
    assert_eq!(devnet.control("submitted", json!({})).await, submitted);
    assert_eq!(
        devnet.rpc("get_difficulty", Value::Null).await["difficulty"],
        "77"
    );
    let balance_after = devnet
        .rpc(
            "get_balance",
            json!({"address": DEVNET_ADDRESS, "asset": "0".repeat(64)}),
        )
        .await;
    assert_eq!(balance_after, balance);
    let info = devnet.rpc("get_info", Value::Null).await;
    assert_eq!(info["height"], top["height"]);
    assert_eq!(info["topoheight"], top["topoheight"]);

    // Production goes on from the replayed top, and is journaled in turn.
    let advanced = devnet.control("advance", json!({"count": 1})).await;
    let height = top["height"].as_u64().expect("height");
    assert_eq!(advanced["top"]["height"], height + 1);
    let block = devnet
        .rpc(
            "get_block_at_topoheight",
            json!({"topoheight": advanced["top"]["topoheight"]}),
        )
        .await;
    assert_eq!(block["tips"], json!([top["hash"]]));
    let after_advance = devnet.control("blocks", json!({})).await;
    devnet.kill_9().await;
    let devnet = spawn(binary, &devnet_args(state.path(), &addr, "1000"), &log).await;
    assert_eq!(devnet.control("blocks", json!({})).await, after_advance);
    devnet.kill_9().await;
}

fn wallet_address(key: u8) -> String {
    tos_pool_common::address::Address::new([key; 32], tos_pool_common::network::Network::Devnet)
        .to_string()
}

fn wallet_args(state: &Path, bind: &str, balance: &str) -> Vec<String> {
    let address = wallet_address(1);
    [
        "--bind",
        bind,
        "--address",
        &address,
        "--balance",
        balance,
        "--confirmations",
        "2",
        "--state",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([state.display().to_string()])
    .collect()
}

fn payout(key: u8, amount: u64) -> Value {
    json!({
        "transfers": [{"asset": "0".repeat(64), "amount": amount, "destination": wallet_address(key)}],
        "broadcast": true,
    })
}

#[tokio::test]
async fn wallet_keeps_its_books_across_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("wallet.json");
    let log = dir.path().join("wallet.log");
    let binary = env!("CARGO_BIN_EXE_tos-wallet-emulator");
    let wallet = spawn(
        binary,
        &wallet_args(&state, "127.0.0.1:0", "10000000"),
        &log,
    )
    .await;

    let first = wallet.rpc("build_transaction", payout(2, 1_000_000)).await;
    wallet.control("advance", json!({"blocks": 3})).await;
    wallet
        .control(
            "refuse",
            json!({"address": wallet_address(4), "refusal": "named"}),
        )
        .await;
    wallet
        .control(
            "fault",
            json!({"fault": "broadcast_then_lose_reply", "times": 2}),
        )
        .await;
    // Broadcast, then the reply is held back: the process is killed while
    // the request is still open, so only the state file can keep it.
    let held = {
        let url = wallet.url("/json_rpc");
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": "build_transaction", "params": payout(3, 2_000_000)});
        tokio::spawn(async move {
            client()
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(request.to_string())
                .send()
                .await
        })
    };
    let deadline = Instant::now() + DEADLINE;
    while wallet
        .get("/control/transactions")
        .await
        .as_array()
        .map(Vec::len)
        != Some(2)
    {
        assert!(
            Instant::now() < deadline,
            "the held payout was not broadcast"
        );
        sleep(Duration::from_millis(20)).await;
    }
    let transactions = wallet.get("/control/transactions").await;
    let status = wallet.get("/control/state").await;
    assert_eq!(status["nonce"], 2);
    assert_eq!(status["balance"], 10_000_000 - 3_000_000 - 2 * 1_001);
    assert_eq!(status["fault"]["times"], 1, "{status}");
    let addr = wallet.addr.to_string();
    wallet.kill_9().await;
    assert!(
        held.await.expect("task ends").is_err(),
        "the held reply never came"
    );

    // Same port, same file; --balance only seeds a new wallet.
    let wallet = spawn(binary, &wallet_args(&state, &addr, "5"), &log).await;
    assert_eq!(wallet.get("/control/transactions").await, transactions);
    assert_eq!(wallet.get("/control/state").await, status);
    assert_eq!(
        wallet.rpc("get_balance", Value::Null).await,
        status["balance"]
    );
    assert_eq!(wallet.rpc("get_nonce", Value::Null).await, 2);
    let tx = wallet
        .rpc("get_transaction", json!({"hash": first["hash"]}))
        .await;
    assert_eq!(tx["hash"], first["hash"]);
    assert_eq!(
        tx["in_mempool"], false,
        "confirmed by the kept topoheight: {tx}"
    );
    // The refusal survived too.
    let request =
        json!({"jsonrpc": "2.0", "id": 1, "method": "build_transaction", "params": payout(4, 10)});
    let (_, reply) = wallet.post("/json_rpc", request).await;
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("refused")),
        "{reply}"
    );

    // Changes after the restart are kept in turn.
    wallet.control("fault", json!({"fault": "none"})).await;
    wallet.rpc("build_transaction", payout(5, 7)).await;
    let transactions = wallet.get("/control/transactions").await;
    assert_eq!(transactions.as_array().map(Vec::len), Some(3));
    wallet.kill_9().await;
    let wallet = spawn(binary, &wallet_args(&state, &addr, "5"), &log).await;
    assert_eq!(wallet.get("/control/transactions").await, transactions);
    assert_eq!(wallet.get("/control/state").await["nonce"], 3);
    wallet.kill_9().await;
}
