//! The REST API and notifications end to end, against a cluster that has
//! mined shares and blocks: every endpoint answers with its documented
//! shape and the ledger's numbers, lists page, bad addresses get a 400,
//! admin routes need the password and their bans reach the slave, CORS
//! follows the config, and each block found is told once to a local
//! stand-in for Discord and Telegram, retried when the receiver fails.

use crate::cluster_support;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use reqwest::header::{AUTHORIZATION, ORIGIN};
use serde_json::Value;
use tos_pool_common::address::Address;
use tos_pool_common::network::Network;
use tos_pool_integration_tests::cluster::Cluster;

use cluster_support::{address, log_in, mine_shares, start, tcp_miner, wait_until};

const PASSWORD: &str = "test-admin-password";
const ORIGIN_OK: &str = "https://pool.example";

/// What the stand-in for Discord and Telegram received.
#[derive(Debug, Default)]
struct Received {
    /// Every Discord request, the failed ones included.
    discord_attempts: usize,
    /// Discord messages answered with success.
    discord: Vec<Value>,
    /// Telegram messages answered with success.
    telegram: Vec<Value>,
    /// Discord requests still to fail with 500.
    discord_failures_left: usize,
}

type Shared = Arc<Mutex<Received>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Received> {
    shared.lock().expect("the receiver lock is not poisoned")
}

async fn discord(State(shared): State<Shared>, body: axum::Json<Value>) -> StatusCode {
    let mut received = lock(&shared);
    received.discord_attempts += 1;
    if received.discord_failures_left > 0 {
        received.discord_failures_left -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    received.discord.push(body.0);
    StatusCode::NO_CONTENT
}

async fn telegram(State(shared): State<Shared>, body: axum::Json<Value>) -> StatusCode {
    lock(&shared).telegram.push(body.0);
    StatusCode::OK
}

/// Starts the stand-in on 127.0.0.1:0; Discord fails its first request.
async fn receiver() -> (SocketAddr, Shared) {
    let shared = Arc::new(Mutex::new(Received {
        discord_failures_left: 1,
        ..Received::default()
    }));
    let app = Router::new()
        .route("/discord", post(discord))
        .route("/bot123:token/sendMessage", post(telegram))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("receiver address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, shared)
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn api(cluster: &Cluster, path: &str) -> String {
    let addr = cluster
        .master()
        .and_then(|master| master.api_addr())
        .expect("the API is on");
    format!("http://{addr}{path}")
}

async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = client.get(url).send().await.expect("the API answers");
    let status = response.status();
    (status, json(response).await)
}

/// The JSON body of `response`.
async fn json(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_with_its_shape_after_shares_and_blocks() {
    let (receiver_addr, received) = receiver().await;
    let cluster = start(1, |config| {
        config.api.admin_password = Some(PASSWORD.to_owned());
        config.api.cors_origins = vec![ORIGIN_OK.to_owned()];
        config.api.stats_cache = std::time::Duration::from_millis(200);
        config.notify.discord_webhook = Some(format!("http://{receiver_addr}/discord"));
        config.notify.telegram_bot_token = Some("123:token".to_owned());
        config.notify.telegram_chat_id = Some("-100".to_owned());
        config.notify.telegram_api_url = format!("http://{receiver_addr}");
        config.notify.timeout = std::time::Duration::from_secs(5);
    })
    .await;
    let http = client();
    let miner = tcp_miner(cluster.slave(0).expect("slave").doors().stratum).await;
    let miner_address = address(21);
    log_in(&miner, &format!("{miner_address}.rig")).await;
    let mut accepted = mine_shares(&miner, 4).await;
    assert!(accepted > 0);

    // Two blocks: at network difficulty 1 every share is one.
    cluster.set_network_difficulty(1);
    let mut block_shares = 0;
    while block_shares < 2 {
        let job = miner
            .next_job(cluster_support::DEADLINE)
            .await
            .expect("a job");
        if job.target.0 != [0xff; 32] {
            continue;
        }
        let outcome = miner.mine_and_submit_one(&job).await.expect("submit");
        assert!(outcome.is_accepted(), "{outcome:?}");
        block_shares += 1;
        accepted += 1;
    }
    let ledger = cluster.master().expect("master").ledger().clone();
    wait_until("the ledger holds both blocks", || async {
        ledger.block_counts().await.map(|c| c.found()).unwrap_or(0) >= 2
    })
    .await;

    // /api/stats: the ledger's exact counts.
    let stats_url = api(&cluster, "/api/stats");
    wait_until("the stats show every share and both blocks", || async {
        let (_, stats) = get(&http, &stats_url).await;
        stats["pool"]["shares"]["valid"] == accepted && stats["pool"]["blocks_found"] == 2
    })
    .await;
    let (status, stats) = get(&http, &stats_url).await;
    assert_eq!(status, StatusCode::OK);
    let pool = &stats["pool"];
    assert_eq!(pool["shares"]["valid"], accepted, "{stats:#}");
    assert_eq!(pool["shares"]["invalid"], 0);
    assert_eq!(pool["shares"]["stale"], 0);
    assert_eq!(pool["miners"], 1);
    assert_eq!(pool["workers"], 1);
    assert_eq!(pool["slaves"], 1);
    assert_eq!(pool["fee_percent"], 1.0);
    assert!(pool["hashrate"].as_f64().expect("a number") > 0.0);
    assert_eq!(pool["last_block"]["finder"], miner_address.as_str());
    assert!(stats["network"]["height"].as_u64().expect("a height") > 0);
    assert!(stats["network"]["difficulty"].is_string());
    assert!(stats["network"]["hashrate"].is_number());
    assert!(stats["updated_ms"].is_u64());

    // /api/blocks, paged one by one.
    let (status, page1) = get(&http, &api(&cluster, "/api/blocks?page=1&limit=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page1["total"], 2, "{page1:#}");
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(1));
    let (_, page2) = get(&http, &api(&cluster, "/api/blocks?offset=1&limit=1")).await;
    assert_eq!(
        (page2["page"].as_u64(), page2["offset"].as_u64()),
        (Some(2), Some(1))
    );
    let (first, second) = (&page1["items"][0], &page2["items"][0]);
    assert_ne!(first["hash"], second["hash"]);
    assert!(
        first["height"].as_u64() >= second["height"].as_u64(),
        "highest first"
    );
    for block in [first, second] {
        assert_eq!(block["finder"], miner_address.as_str());
        assert!(
            block["state"].is_string() && block["reward"].is_u64(),
            "{block:#}"
        );
        assert_eq!(block["hash"].as_str().map(str::len), Some(64));
    }
    let (_, capped) = get(&http, &api(&cluster, "/api/blocks?limit=100000")).await;
    assert_eq!(capped["limit"], 500, "capped at api.max_page_size");
    let (status, bad) = get(&http, &api(&cluster, "/api/blocks?page=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad["error"].is_string());

    // /api/miners/{address}: its exact share count, workers, balances.
    let (status, miner_view) = get(
        &http,
        &api(&cluster, &format!("/api/miners/{miner_address}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{miner_view:#}");
    assert_eq!(miner_view["address"], miner_address.as_str());
    assert_eq!(miner_view["shares"]["valid"], accepted);
    assert_eq!(miner_view["shares"]["invalid"], 0);
    assert_eq!(miner_view["workers_total"], 1);
    assert_eq!(miner_view["workers"][0]["name"], "rig");
    assert_eq!(miner_view["workers"][0]["shares"]["valid"], accepted);
    assert!(miner_view["workers"][0]["last_seen_ms"].is_u64());
    for balance in ["immature", "confirmed", "pending", "paid"] {
        assert!(miner_view["balances"][balance].is_i64(), "{balance}");
    }
    assert_eq!(miner_view["payments"], Value::Array(Vec::new()));

    // Payments (payouts are off in test clusters): empty, paged lists.
    let (status, payments) = get(&http, &api(&cluster, "/api/payments")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (payments["total"].as_u64(), payments["page"].as_u64()),
        (Some(0), Some(1))
    );
    let (status, payments) = get(
        &http,
        &api(
            &cluster,
            &format!("/api/miners/{miner_address}/payments?limit=5"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (payments["total"].as_u64(), payments["limit"].as_u64()),
        (Some(0), Some(5))
    );

    // Bad and unknown addresses, unknown routes.
    let mainnet = Address::new([21; 32], Network::Mainnet).to_string();
    for bad in ["tst1notanaddress", mainnet.as_str(), "%20"] {
        let (status, body) = get(&http, &api(&cluster, &format!("/api/miners/{bad}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let (status, body) = get(
        &http,
        &api(&cluster, &format!("/api/miners/{}", address(99))),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = get(&http, &api(&cluster, "/api/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());

    // /health and /metrics.
    let (status, health) = get(&http, &api(&cluster, "/health")).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "ok");
    let metrics = http
        .get(api(&cluster, "/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(
        metrics
            .text()
            .await
            .expect("text")
            .contains("tos_pool_hashrate")
    );

    // CORS: the listed origin only.
    let allowed = http
        .get(&stats_url)
        .header(ORIGIN, ORIGIN_OK)
        .send()
        .await
        .expect("get");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(ORIGIN_OK.as_bytes())
    );
    let other = http
        .get(&stats_url)
        .header(ORIGIN, "https://elsewhere.example")
        .send()
        .await
        .expect("get");
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let preflight = http
        .request(reqwest::Method::OPTIONS, &stats_url)
        .header(ORIGIN, ORIGIN_OK)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert!(
        preflight
            .headers()
            .contains_key("access-control-allow-methods")
    );

    admin_checks(&cluster, &http).await;

    // Each block found was told once to each target; Discord's first
    // failure was retried.
    wait_until("both targets got both blocks", || async {
        let r = lock(&received);
        r.discord.len() >= 2 && r.telegram.len() >= 2
    })
    .await;
    {
        let r = lock(&received);
        assert_eq!((r.discord.len(), r.telegram.len()), (2, 2));
        assert_eq!(r.discord_attempts, 3, "one failed try, retried");
        for message in &r.discord {
            let text = message["content"].as_str().expect("content");
            assert!(text.starts_with("Block found on devnet"), "{text}");
            assert!(text.contains(&miner_address));
        }
        assert_eq!(r.telegram[0]["chat_id"], "-100");
    }
    let notifier = cluster.master().expect("master").notifier().clone();
    wait_until("the notifier counts its four deliveries", || async {
        notifier.counts().delivered == 4
    })
    .await;
    let counts = notifier.counts();
    assert_eq!((counts.delivered, counts.failed, counts.dropped), (4, 0, 0));
    cluster.shutdown().await;
}

/// Admin routes: refused without or with a wrong password; with it, the
/// upstreams, the slave with its miner, pending payments, and a ban that
/// reaches the slave and is lifted again.
async fn admin_checks(cluster: &Cluster, http: &reqwest::Client) {
    let slaves_url = api(cluster, "/api/admin/slaves");
    let response = http.get(&slaves_url).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = http
        .get(&slaves_url)
        .bearer_auth("test-admin-passwore")
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = json(response).await;
    assert_eq!(body["error"], "wrong admin password");

    let authed = |request: reqwest::RequestBuilder| request.basic_auth("admin", Some(PASSWORD));
    let slaves: Value = json(authed(http.get(&slaves_url)).send().await.expect("get")).await;
    assert_eq!(slaves[0]["slave_id"], "test-slave-1", "{slaves:#}");
    wait_until("the slave reports its miner", || async {
        let slaves: Value = json(authed(http.get(&slaves_url)).send().await.expect("get")).await;
        slaves[0]["miners"] == 1
    })
    .await;
    let upstreams: Value = json(
        http.get(api(cluster, "/api/admin/upstreams"))
            .header(AUTHORIZATION, format!("Bearer {PASSWORD}"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(upstreams[0]["active"], true, "{upstreams:#}");
    assert_eq!(upstreams[0]["healthy"], true);
    let pending: Value = json(
        authed(http.get(api(cluster, "/api/admin/payments/pending")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(pending, Value::Array(Vec::new()));
    // Resolving needs a sane body, and a master that runs payouts.
    let resolve = |body: Value| {
        authed(http.post(api(cluster, "/api/admin/payments/p-1/resolve")))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
    };
    let response = resolve(serde_json::json!({"resolution": "maybe"}))
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = resolve(serde_json::json!({"resolution": "sent", "tx_hash": "abc"}))
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = resolve(serde_json::json!({"resolution": "not_sent"}))
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let refused: Value = json(response).await;
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|error| error.contains("payouts.enabled")),
        "{refused:#}"
    );

    let ip: IpAddr = "203.0.113.7".parse().expect("an IP");
    let bans = cluster.slave(0).expect("slave").link().bans();
    let response = authed(http.post(api(cluster, "/api/admin/bans")))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(
            serde_json::json!({"ip": ip.to_string(), "reason": "test", "duration_secs": 600})
                .to_string(),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::OK);
    let ban: Value = json(response).await;
    assert_eq!(
        (ban["ip"].as_str(), ban["reason"].as_str()),
        (Some("203.0.113.7"), Some("test"))
    );
    wait_until("the ban reaches the slave", || async {
        bans.check(ip, tos_pool_common::clock::unix_ms()).is_some()
    })
    .await;
    let listed: Value = json(
        authed(http.get(api(cluster, "/api/admin/bans")))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(listed[0]["ip"], "203.0.113.7");
    let response = authed(http.post(api(cluster, "/api/admin/bans")))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::json!({"ip": "not-an-ip"}).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = authed(http.delete(api(cluster, "/api/admin/bans/203.0.113.7")))
        .send()
        .await
        .expect("delete");
    let lifted: Value = json(response).await;
    assert_eq!(lifted["was_banned"], true);
    wait_until("the ban is lifted on the slave", || async {
        bans.check(ip, tos_pool_common::clock::unix_ms()).is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_password_or_origins_admin_and_cors_are_off_and_stats_are_cached() {
    let cluster = start(1, |config| {
        config.api.stats_cache = std::time::Duration::from_secs(600);
    })
    .await;
    let http = client();
    let (status, body) = get(&http, &api(&cluster, "/api/admin/slaves")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("api.admin_password")),
        "{body}"
    );
    let stats_url = api(&cluster, "/api/stats");
    let response = http
        .get(&stats_url)
        .header(ORIGIN, ORIGIN_OK)
        .send()
        .await
        .expect("get");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let first: Value = json(response).await;
    for _ in 0..5 {
        let (_, again) = get(&http, &stats_url).await;
        assert_eq!(
            again["updated_ms"], first["updated_ms"],
            "served from the cache"
        );
    }
    cluster.shutdown().await;
}
