//! The operator's runtime lists across a real slave: a blacklisted address
//! cannot log in (and a connected one is cut off), a whitelisted IP is
//! never banned (its bans are lifted, a ban on it is refused); then the
//! admin stats and backup JSON, every change in the audit log.

use crate::cluster_support;

use std::net::SocketAddr;

use cluster_support::{DEADLINE, address, start, wait_until};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tos_pool_integration_tests::cluster::Cluster;
use tos_pool_integration_tests::miners::StratumMiner;
use tos_pool_master::ledger::Keys;

const PASSWORD: &str = "admin-lists-password";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn url(cluster: &Cluster, path: &str) -> String {
    let addr = cluster
        .master()
        .and_then(|master| master.api_addr())
        .expect("the API is on");
    format!("http://{addr}{path}")
}

/// An admin request: `method` on `path` with `body` (if any); status and
/// JSON answer.
async fn admin(
    cluster: &Cluster,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client()
        .request(method, url(cluster, path))
        .header(AUTHORIZATION, format!("Bearer {PASSWORD}"));
    if let Some(body) = body {
        request = request
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
    (status, json)
}

/// Whether a fresh connection from 127.0.0.1 can log in as `login`; the
/// refusal's text otherwise.
async fn try_login(door: SocketAddr, login: &str) -> Result<StratumMiner, String> {
    let miner = StratumMiner::connect(
        door,
        tos_pool_integration_tests::miners::Transport::Tcp,
        cluster_support::options(),
    )
    .await
    .map_err(|error| error.to_string())?;
    miner.subscribe().await.map_err(|error| error.to_string())?;
    miner
        .authorize(login, "x")
        .await
        .map_err(|error| error.to_string())?;
    Ok(miner)
}

/// Sends lines no protocol reads from 127.0.0.1.
async fn send_garbage(door: SocketAddr, lines: usize) {
    let Ok(mut stream) = TcpStream::connect(door).await else {
        return;
    };
    for _ in 0..lines {
        if stream.write_all(b"this is not json\n").await.is_err() {
            return;
        }
    }
    let _ = stream.flush().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_lists_reach_a_real_slave_and_stats_and_backup_answer() {
    let cluster = start(1, |config| {
        config.api.enabled = true;
        config.api.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        config.api.admin_password = Some(PASSWORD.to_owned());
        config.security.ban_malformed_requests = 2;
    })
    .await;
    let door = cluster.slaves().next().expect("a slave").doors().stratum;
    let blocked = address(5);
    let login = format!("{blocked}.rig");

    // Before: the address mines.
    let connected = try_login(door, &login).await.expect("logs in before");
    let job = connected.next_job(DEADLINE).await.expect("a job");

    // Blacklisted: refused at login on the slave, with a clear error.
    let (status, added) = admin(
        &cluster,
        reqwest::Method::POST,
        "/api/admin/blacklist",
        Some(json!({ "address": blocked })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["changed"], json!(true));
    wait_until("the slave refuses the blacklisted address", || async {
        matches!(try_login(door, &login).await, Err(text) if text.contains("blocked"))
    })
    .await;
    // The miner already connected is cut off at its next share.
    let outcome = connected.mine_and_submit_one(&job).await;
    assert!(
        outcome
            .as_ref()
            .map_or(true, |outcome| !outcome.is_accepted()),
        "{outcome:?}"
    );
    // Another address still mines.
    try_login(door, &format!("{}.rig", address(6)))
        .await
        .expect("another address logs in");
    let (_, listed) = admin(&cluster, reqwest::Method::GET, "/api/admin/blacklist", None).await;
    assert_eq!(listed["entries"], json!([blocked]));
    let (status, bad) = admin(
        &cluster,
        reqwest::Method::POST,
        "/api/admin/blacklist",
        Some(json!({ "address": "tos1nope" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    // Removed: it logs in again.
    let (status, _) = admin(
        &cluster,
        reqwest::Method::DELETE,
        "/api/admin/blacklist",
        Some(json!({ "address": blocked })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    wait_until("the address logs in again", || async {
        try_login(door, &login).await.is_ok()
    })
    .await;

    // Without the whitelist, malformed requests ban 127.0.0.1.
    send_garbage(door, 5).await;
    wait_until("127.0.0.1 is banned", || async {
        try_login(door, &login).await.is_err()
    })
    .await;
    // Whitelisting it lifts the ban on every slave ...
    let (status, added) = admin(
        &cluster,
        reqwest::Method::POST,
        "/api/admin/whitelist",
        Some(json!({ "ip": "127.0.0.0/8" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    wait_until("the whitelisted IP may connect again", || async {
        try_login(door, &login).await.is_ok()
    })
    .await;
    // ... and it is never banned again, by a slave or by the operator.
    for _ in 0..3 {
        send_garbage(door, 5).await;
    }
    try_login(door, &login)
        .await
        .expect("a whitelisted IP is not banned");
    let (_, bans) = admin(&cluster, reqwest::Method::GET, "/api/admin/bans", None).await;
    assert_eq!(bans, json!([]), "no ban is shared for a whitelisted IP");
    let (status, refused) = admin(
        &cluster,
        reqwest::Method::POST,
        "/api/admin/bans",
        Some(json!({ "ip": "127.0.0.1" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused.to_string().contains("whitelist"), "{refused}");

    // Stats: list sizes, the slave, Redis health, payouts.
    let (status, stats) = admin(&cluster, reqwest::Method::GET, "/api/admin/stats", None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["lists"]["blacklist"], json!(0));
    assert_eq!(stats["lists"]["whitelist"], json!(1));
    assert_eq!(stats["slaves"], json!(1));
    assert_eq!(stats["redis"]["ok"], json!(true), "{stats}");
    assert_eq!(stats["payouts"]["unsettled"], json!(0));
    assert_eq!(stats["payouts"]["locked"], json!(false));

    // Backup: every balance, block and payment, with the lists.
    let keys = Keys::new(&cluster.config.redis.key_prefix);
    let mut redis = redis::Client::open(cluster.config.redis.url.as_str())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let _: () = redis::cmd("HSET")
        .arg(keys.balance_confirmed())
        .arg(address(6))
        .arg(123_456_789u64)
        .query_async(&mut redis)
        .await
        .expect("write a balance");
    let (status, backup) = admin(&cluster, reqwest::Method::GET, "/api/admin/backup", None).await;
    assert_eq!(status, StatusCode::OK, "{backup}");
    assert_eq!(
        backup["balances"][address(6)]["confirmed"],
        json!(123_456_789u64)
    );
    assert!(backup["blocks"].is_array(), "{backup}");
    assert!(backup["payments"].is_array(), "{backup}");
    assert_eq!(backup["whitelist"], json!(["127.0.0.0/8"]));
    assert_eq!(backup["network"], json!(cluster.config.network.to_string()));

    // Every change and the backup are in the audit log.
    let (_, audit) = admin(&cluster, reqwest::Method::GET, "/api/admin/audit", None).await;
    let actions: Vec<String> = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry["action"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for action in [
        "blacklist_add",
        "blacklist_remove",
        "whitelist_add",
        "backup",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action} in {audit}");
    }
}
