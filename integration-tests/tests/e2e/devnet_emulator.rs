//! The TOS daemon emulator over real HTTP and WebSocket on 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tos_pool_common::address::Address;
use tos_pool_common::difficulty::{Difficulty, meets_target};
use tos_pool_common::header::{BlockHeader, MinerWork};
use tos_pool_common::network::Network;
use tos_pool_common::pow;
use tos_pool_integration_tests::devnet::{
    BLOCK_REWARD, BlockType, DEVNET_MINER_KEY, Devnet, DevnetConfig, DevnetHandle, FaultMode,
    INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, PARSE_ERROR,
};

const DEVNET_ADDRESS: &str = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";
const DEADLINE: Duration = Duration::from_secs(10);

fn difficulty(n: u64) -> Difficulty {
    Difficulty::from_u64(n).expect("test difficulties are non-zero")
}

async fn start(d: u64) -> DevnetHandle {
    Devnet::start(DevnetConfig {
        difficulty: difficulty(d),
        produce_blocks: false,
        ..DevnetConfig::default()
    })
    .await
    .expect("devnet starts on a free port")
}

/// One HTTP/1.1 POST on a fresh connection: (status, body).
async fn post(addr: SocketAddr, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

async fn call(devnet: &DevnetHandle, method: &str, params: Value) -> Value {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, body) = post(devnet.addr(), "/json_rpc", &request.to_string())
        .await
        .expect("daemon answers");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("reply is JSON")
}

async fn result(devnet: &DevnetHandle, method: &str, params: Value) -> Value {
    let reply = call(devnet, method, params).await;
    assert!(reply.get("error").is_none(), "{method} failed: {reply}");
    reply["result"].clone()
}

async fn control(devnet: &DevnetHandle, name: &str, body: Value) -> (u16, Value) {
    let (status, body) = post(
        devnet.addr(),
        &format!("/control/{name}"),
        &body.to_string(),
    )
    .await
    .expect("control answers");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn template(devnet: &DevnetHandle, address: &str) -> BlockHeader {
    let t = result(devnet, "get_block_template", json!({"address": address})).await;
    assert_eq!(t["algorithm"], "tos/v3");
    BlockHeader::from_hex(t["template"].as_str().expect("template is hex")).expect("valid header")
}

/// Loops nonces until the MinerWork's PoW meets `d`.
fn mine(header: &BlockHeader, d: u64) -> MinerWork {
    let target = difficulty(d).target();
    let mut work = header.miner_work();
    for nonce in 0u64.. {
        work.set_nonce(nonce);
        if meets_target(&pow::hash(work.as_bytes()), &target) {
            return work;
        }
    }
    unreachable!("some nonce meets any difficulty")
}

fn error_of(reply: &Value) -> (i64, String) {
    assert_eq!(reply["jsonrpc"], "2.0");
    assert_eq!(reply["id"], 1);
    assert!(reply.get("result").is_none(), "{reply}");
    let code = reply["error"]["code"].as_i64().expect("error code");
    let message = reply["error"]["message"].as_str().expect("error message");
    (code, message.to_string())
}

async fn submit(devnet: &DevnetHandle, header: &BlockHeader, work: Option<&MinerWork>) -> Value {
    let mut params = json!({"block_template": header.to_hex()});
    if let Some(work) = work {
        params["miner_work"] = json!(work.to_hex());
    }
    call(devnet, "submit_block", params).await
}

#[tokio::test]
async fn get_info_has_every_field() {
    let devnet = start(1_000).await;
    let info = result(&devnet, "get_info", Value::Null).await;
    for field in [
        "height",
        "topoheight",
        "stableheight",
        "stable_topoheight",
        "pruned_topoheight",
        "top_block_hash",
        "circulating_supply",
        "burned_supply",
        "emitted_supply",
        "maximum_supply",
        "difficulty",
        "block_time_target",
        "average_block_time",
        "block_reward",
        "dev_reward",
        "miner_reward",
        "mempool_size",
        "version",
        "network",
        "block_version",
    ] {
        assert!(info.get(field).is_some(), "get_info lacks {field}: {info}");
    }
    assert_eq!(info["network"], "Dev");
    assert_eq!(info["difficulty"], "1000");
    assert_eq!(info["block_time_target"], 1000);
    assert_eq!(info["block_reward"], BLOCK_REWARD);
    assert_eq!(info["height"], 0);
    assert_eq!(info["top_block_hash"], hex::encode(devnet.top().hash));
    devnet.shutdown().await;
}

#[tokio::test]
async fn mined_blocks_are_accepted_and_become_the_top() {
    let devnet = start(1).await;
    // Difficulty 1: every hash meets it; the template is submitted as is.
    let header = template(&devnet, DEVNET_ADDRESS).await;
    assert_eq!(header.height, 1);
    assert_eq!(header.tips, vec![devnet.top().hash]);
    assert_eq!(header.miner, DEVNET_MINER_KEY);
    assert_eq!(submit(&devnet, &header, None).await["result"], true);
    let top = result(&devnet, "get_top_block", Value::Null).await;
    assert_eq!(top["hash"], hex::encode(header.block_hash()));
    assert_eq!(top["block_type"], "Normal");
    assert_eq!(top["miner"], DEVNET_ADDRESS);

    // Difficulty 16: loop nonces until TOS Hash V3 meets it.
    devnet.set_difficulty(difficulty(16));
    let header = template(&devnet, DEVNET_ADDRESS).await;
    let work = mine(&header, 16);
    assert_eq!(submit(&devnet, &header, Some(&work)).await["result"], true);
    let top = devnet.top();
    assert_eq!(top.hash, work.block_hash());
    assert_eq!(top.height, 2);
    assert_eq!(top.difficulty, difficulty(16));
    let submitted: Vec<_> = devnet.submitted_blocks().iter().map(|b| b.hash).collect();
    assert_eq!(
        submitted,
        vec![header_hash_of(&devnet, 1), work.block_hash()]
    );

    let balance = result(
        &devnet,
        "get_balance",
        json!({"address": DEVNET_ADDRESS, "asset": "0".repeat(64)}),
    )
    .await;
    assert_eq!(balance["balance"], 2 * top.miner_reward);
    assert_eq!(balance["topoheight"], 2);
    devnet.shutdown().await;
}

fn header_hash_of(devnet: &DevnetHandle, height: u64) -> [u8; 32] {
    devnet
        .blocks()
        .into_iter()
        .find(|b| b.height == height)
        .map(|b| b.hash)
        .expect("block at height")
}

#[tokio::test]
async fn bad_blocks_are_refused_with_their_reason() {
    let devnet = start(1_000_000_000_000).await;
    let header = template(&devnet, DEVNET_ADDRESS).await;
    let (code, message) = error_of(&submit(&devnet, &header, None).await);
    assert_eq!(code, INTERNAL_ERROR);
    assert!(message.contains("invalid PoW"), "{message}");

    devnet.set_difficulty(difficulty(1));
    let foreign = Address::new([0x42; 32], Network::Devnet).to_string();
    let header = template(&devnet, &foreign).await;
    let (_, message) = error_of(&submit(&devnet, &header, None).await);
    assert!(message.contains("miner key does not match"), "{message}");

    let stale = template(&devnet, DEVNET_ADDRESS).await;
    devnet.advance(1);
    let (_, message) = error_of(&submit(&devnet, &stale, None).await);
    assert!(message.contains("stale tips"), "{message}");

    let header = template(&devnet, DEVNET_ADDRESS).await;
    assert_eq!(submit(&devnet, &header, None).await["result"], true);
    let (_, message) = error_of(&submit(&devnet, &header, None).await);
    assert!(message.contains("already in chain"), "{message}");

    let mut future = template(&devnet, DEVNET_ADDRESS).await;
    future.timestamp += 60_000;
    let (_, message) = error_of(&submit(&devnet, &future, None).await);
    assert!(
        message.contains("timestamp too far in the future"),
        "{message}"
    );

    let (code, _) = error_of(&call(&devnet, "submit_block", json!({"block_template": "zz"})).await);
    assert_eq!(code, INVALID_PARAMS);
    assert_eq!(devnet.submitted_blocks().len(), 1);
    devnet.shutdown().await;
}

#[tokio::test]
async fn orphaned_and_side_blocks_show_in_the_rpc() {
    let devnet = start(1).await;
    devnet.advance(3);
    let blocks = devnet.blocks();
    let (first, second) = (blocks[1].hash, blocks[2].hash);
    let by_hash = |hash: [u8; 32]| json!({"hash": hex::encode(hash), "include_txs": false});

    let (status, _) = control(&devnet, "orphan", json!({"hash": hex::encode(first)})).await;
    assert_eq!(status, 200);
    let block = result(&devnet, "get_block_by_hash", by_hash(first)).await;
    assert_eq!(block["block_type"], "Orphaned");
    assert_eq!(block["topoheight"], Value::Null);
    assert_eq!(block["reward"], 0);
    assert_eq!(block["miner_reward"], 0);

    devnet.make_side(&second).expect("block exists");
    let block = result(&devnet, "get_block_by_hash", by_hash(second)).await;
    assert_eq!(block["block_type"], "Side");
    assert_eq!(block["reward"], BLOCK_REWARD * 30 / 100);
    assert_eq!(block["topoheight"], 2);
    assert_eq!(
        devnet.block(&second).map(|b| b.block_type),
        Some(BlockType::Side)
    );

    let (code, _) = error_of(&call(&devnet, "get_block_by_hash", by_hash([7; 32])).await);
    assert_eq!(code, INVALID_PARAMS);
    let (status, body) = control(&devnet, "orphan", json!({"hash": hex::encode([7; 32])})).await;
    assert_eq!(status, 400, "{body}");
    devnet.shutdown().await;
}

#[tokio::test]
async fn block_queries_follow_the_chain() {
    let devnet = start(1_000).await;
    devnet.advance(30);
    assert_eq!(result(&devnet, "get_height", Value::Null).await, 30);
    assert_eq!(result(&devnet, "get_topoheight", Value::Null).await, 30);
    assert_eq!(result(&devnet, "get_stable_height", Value::Null).await, 6);
    let block = result(
        &devnet,
        "get_block_at_topoheight",
        json!({"topoheight": 5, "include_txs": false}),
    )
    .await;
    assert_eq!(block["height"], 5);
    assert_eq!(block["block_type"], "Sync");
    assert_eq!(block["extra_nonce"].as_str().map(str::len), Some(64));
    for field in [
        "hash",
        "topoheight",
        "block_type",
        "difficulty",
        "supply",
        "reward",
        "miner_reward",
        "dev_reward",
        "cumulative_difficulty",
        "total_fees",
        "total_size_in_bytes",
        "version",
        "tips",
        "timestamp",
        "height",
        "nonce",
        "extra_nonce",
        "miner",
        "txs_hashes",
    ] {
        assert!(block.get(field).is_some(), "block lacks {field}: {block}");
    }
    let at_height = result(
        &devnet,
        "get_blocks_at_height",
        json!({"height": 29, "include_txs": false}),
    )
    .await;
    assert_eq!(at_height.as_array().map(Vec::len), Some(1));
    assert_eq!(at_height[0]["block_type"], "Normal");

    let d = result(&devnet, "get_difficulty", Value::Null).await;
    assert_eq!(d["difficulty"], "1000");
    devnet.set_peer_count(3);
    let p2p = result(&devnet, "p2p_status", Value::Null).await;
    assert_eq!(p2p["peer_count"], 3);
    assert_eq!(p2p["our_topoheight"], 30);

    let valid = result(
        &devnet,
        "validate_address",
        json!({"address": DEVNET_ADDRESS}),
    )
    .await;
    assert_eq!(valid, json!({"is_valid": true, "is_integrated": false}));
    let mainnet = Address::new(DEVNET_MINER_KEY, Network::Mainnet).to_string();
    let valid = result(&devnet, "validate_address", json!({"address": mainnet})).await;
    assert_eq!(valid["is_valid"], false);
    let (code, _) =
        error_of(&call(&devnet, "get_block_template", json!({"address": mainnet})).await);
    assert_eq!(code, INVALID_PARAMS);
    devnet.shutdown().await;
}

#[tokio::test]
async fn envelope_errors_and_notifications() {
    let devnet = start(1_000).await;
    let addr = devnet.addr();
    let (status, body) = post(
        addr,
        "/json_rpc",
        r#"{"jsonrpc":"2.0","method":"get_height"}"#,
    )
    .await
    .expect("answers");
    assert_eq!((status, body.as_str()), (204, ""));
    let (_, body) = post(addr, "/json_rpc", "{oops").await.expect("answers");
    let reply: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(reply["error"]["code"], PARSE_ERROR);
    let (code, _) = error_of(&call(&devnet, "mine_for_me", Value::Null).await);
    assert_eq!(code, METHOD_NOT_FOUND);
    let (code, _) = error_of(&call(&devnet, "get_height", json!({"x": 1})).await);
    assert_eq!(code, INVALID_PARAMS);

    // Bad control bodies are refused with a reason, never a crash.
    let (status, body) = control(&devnet, "set_difficulty", json!({"difficulty": "0"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = control(&devnet, "advance", json!({"count": u64::MAX})).await;
    assert_eq!(status, 400);
    let (status, body) = control(&devnet, "self_destruct", json!({})).await;
    assert_eq!(status, 404);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("set_difficulty"))
    );
    let (status, _) = post(addr, "/control/fail", "{\"mode\":")
        .await
        .expect("answers");
    assert_eq!(status, 400);
    assert_eq!(result(&devnet, "get_height", Value::Null).await, 0);
    devnet.shutdown().await;
}

#[tokio::test]
async fn websocket_pushes_new_templates_and_answers_requests() {
    let devnet = start(1_000).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(devnet.ws_url())
        .await
        .expect("websocket upgrade");
    let mut send = async |value: Value| {
        ws.send(Message::text(value.to_string()))
            .await
            .expect("send");
    };
    send(json!({"jsonrpc":"2.0","id":7,"method":"subscribe","params":{"notify":"new_block_template"}})).await;
    send(json!({"jsonrpc":"2.0","id":8,"method":"subscribe","params":{"notify":"block_orphaned"}}))
        .await;
    send(json!({"jsonrpc":"2.0","id":9,"method":"get_height"})).await;
    let mut next = async || -> Value {
        loop {
            let message = timeout(DEADLINE, ws.next())
                .await
                .expect("a frame before the deadline")
                .expect("socket open")
                .expect("frame");
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).expect("JSON frame");
            }
        }
    };
    assert_eq!(next().await, json!({"jsonrpc":"2.0","id":7,"result":true}));
    assert_eq!(next().await, json!({"jsonrpc":"2.0","id":8,"result":true}));
    assert_eq!(next().await, json!({"jsonrpc":"2.0","id":9,"result":0}));

    devnet.advance(1);
    let push = next().await;
    assert_eq!(push["id"], 7);
    let event = &push["result"];
    assert_eq!(event["event"], "new_block_template");
    assert_eq!(event["height"], 2);
    assert_eq!(event["topoheight"], 1);
    assert_eq!(event["difficulty"], "1000");
    assert_eq!(event["algorithm"], "tos/v3");
    let header = BlockHeader::from_hex(event["template"].as_str().expect("hex")).expect("header");
    assert_eq!(header.tips, vec![devnet.top().hash]);
    assert_eq!(header.miner, DEVNET_MINER_KEY);

    let top = devnet.top().hash;
    devnet.orphan(&top).expect("top exists");
    let push = next().await;
    assert_eq!(push["id"], 8);
    assert_eq!(push["result"]["event"], "block_orphaned");
    assert_eq!(push["result"]["block_hash"], hex::encode(top));
    let push = next().await;
    assert_eq!(push["result"]["event"], "new_block_template");
    assert_eq!(push["result"]["height"], 1);
    devnet.shutdown().await;
}

#[tokio::test]
async fn producer_adds_blocks_until_paused() {
    let devnet = Devnet::start(DevnetConfig {
        block_interval: Duration::from_millis(20),
        ..DevnetConfig::default()
    })
    .await
    .expect("starts");
    let deadline = Instant::now() + DEADLINE;
    while devnet.top().height < 3 {
        assert!(Instant::now() < deadline, "no blocks produced");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    devnet.pause();
    let (status, _) = control(&devnet, "resume", json!({})).await;
    assert_eq!(status, 200);
    devnet.shutdown().await;
}

/// Polls `get_height` until it answers 200, within the deadline.
async fn wait_until_healthy(devnet: &DevnetHandle) {
    let deadline = Instant::now() + DEADLINE;
    let request = json!({"jsonrpc":"2.0","id":1,"method":"get_height"}).to_string();
    loop {
        let attempt = timeout(
            Duration::from_secs(1),
            post(devnet.addr(), "/json_rpc", &request),
        )
        .await;
        if let Ok(Ok((200, _))) = attempt {
            return;
        }
        assert!(Instant::now() < deadline, "daemon did not recover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn faults_fail_for_their_duration_then_recover() {
    let devnet = start(1_000).await;
    let request = json!({"jsonrpc":"2.0","id":1,"method":"get_height"}).to_string();

    let (status, _) = control(&devnet, "fail", json!({"mode":"http500","duration_ms":300})).await;
    assert_eq!(status, 200);
    let (status, _) = post(devnet.addr(), "/json_rpc", &request)
        .await
        .expect("answers");
    assert_eq!(status, 500);
    let (status, _) = control(&devnet, "top", json!({})).await;
    assert_eq!(status, 200, "controls keep working during http500");
    wait_until_healthy(&devnet).await;

    devnet.fail(FaultMode::Hang, Duration::from_millis(300));
    let hung = timeout(
        Duration::from_millis(200),
        post(devnet.addr(), "/json_rpc", &request),
    )
    .await;
    assert!(hung.is_err(), "a hung daemon must not answer: {hung:?}");
    let (status, _) = control(&devnet, "top", json!({})).await;
    assert_eq!(status, 200, "controls keep working during hang");
    wait_until_healthy(&devnet).await;

    // Over HTTP the answer still goes out before the port closes.
    let (status, _) = control(&devnet, "fail", json!({"mode":"refuse","duration_ms":300})).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + DEADLINE;
    while TcpStream::connect(devnet.addr()).await.is_ok() {
        assert!(Instant::now() < deadline, "connections still accepted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_until_healthy(&devnet).await;
    devnet.shutdown().await;
}

#[tokio::test]
async fn binary_serves_until_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tos-devnet"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--difficulty",
            "5",
            "--block-interval",
            "50ms",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = timeout(DEADLINE, lines.next_line())
        .await
        .expect("prints before the deadline")
        .expect("readable")
        .expect("a line");
    let url = line
        .strip_prefix("tos-devnet listening on http://")
        .and_then(|rest| rest.strip_suffix("/json_rpc"))
        .expect("prints its URL");
    let addr: SocketAddr = url.parse().expect("address");
    let request = json!({"jsonrpc":"2.0","id":1,"method":"get_difficulty"}).to_string();
    let (status, body) = post(addr, "/json_rpc", &request).await.expect("answers");
    assert_eq!(status, 200);
    assert!(body.contains("\"difficulty\":\"5\""), "{body}");
    let pid = child.id().expect("running").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(killed.success());
    let status = timeout(DEADLINE, child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "{status}");
}
