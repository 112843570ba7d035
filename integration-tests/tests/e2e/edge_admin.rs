//! The admin door and the secrets under attack: guessing the admin password
//! gets an address 429 with Retry-After (and no other address), a slave
//! config with a plaintext master URL off loopback does not load, and
//! "never broadcast" refunds a pending payment only on the wallet's evidence
//! or with an explicit force, every attempt in the audit log.

use crate::master_support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use master_support::{Cluster, eventually, miner_address, pool_address};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Value, json};
use tos_pool_common::clock::unix_ms;
use tos_pool_common::config::Role;
use tos_pool_integration_tests::wallet::{Wallet, WalletConfig, WalletHandle};
use tos_pool_master::ledger::{PaymentRecord, PaymentStatus, PaymentTransfer, StoredPayment};
use tos_pool_master::wallet::{WalletClient, WalletTransfer};

const PASSWORD: &str = "edge-admin-password";

fn client_from(ip: Option<IpAddr>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .local_address(ip)
        .build()
        .expect("an HTTP client")
}

/// The JSON body of `response`.
async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// `request` with `body` as its JSON body.
fn with_json(request: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
    request
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
}

fn api(cluster: &Cluster, path: &str) -> String {
    let addr = cluster.master.api_addr().expect("the API is on");
    format!("http://{addr}{path}")
}

async fn slaves_with(
    client: &reqwest::Client,
    cluster: &Cluster,
    password: Option<&str>,
) -> reqwest::Response {
    let mut request = client.get(api(cluster, "/api/admin/slaves"));
    if let Some(password) = password {
        request = request.header(AUTHORIZATION, format!("Bearer {password}"));
    }
    request.send().await.expect("the API answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_admin_password_gets_429_with_retry_after() {
    let cluster = Cluster::start(true, |config| {
        config.api.enabled = true;
        config.api.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        config.api.admin_password = Some(PASSWORD.to_owned());
        config.api.admin_max_failures = 3;
        config.api.admin_lockout = Duration::from_secs(2);
    })
    .await;
    let attacker = client_from(Some([127, 0, 0, 1].into()));

    // Asking without credentials is no guess: never throttled.
    for _ in 0..5 {
        let asked = slaves_with(&attacker, &cluster, None).await;
        assert_eq!(asked.status(), StatusCode::UNAUTHORIZED);
    }
    // Three wrong guesses are refused with 401; the address is then locked
    // out, even with the right password.
    for guess in ["guess-number-one", "guess-number-two", "guess-number-three"] {
        let refused = slaves_with(&attacker, &cluster, Some(guess)).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = slaves_with(&attacker, &cluster, Some(PASSWORD)).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = locked
        .headers()
        .get(RETRY_AFTER)
        .expect("a Retry-After header")
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    let body = json_of(locked).await;
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|error| error.contains("api.admin_max_failures")),
        "{body}"
    );

    // Another address is not affected.
    let operator = client_from(Some([127, 0, 0, 2].into()));
    let allowed = slaves_with(&operator, &cluster, Some(PASSWORD)).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    // Its ban is an admin action: audited with its address.
    let banned = with_json(
        operator.post(api(&cluster, "/api/admin/bans")),
        &json!({"ip": "203.0.113.50", "reason": "brute force"}),
    )
    .header(AUTHORIZATION, format!("Bearer {PASSWORD}"))
    .send()
    .await
    .expect("the API answers");
    assert_eq!(banned.status(), StatusCode::OK);
    let audit = json_of(
        operator
            .get(api(&cluster, "/api/admin/audit?limit=1"))
            .header(AUTHORIZATION, format!("Bearer {PASSWORD}"))
            .send()
            .await
            .expect("the API answers"),
    )
    .await;
    let entry = &audit[0];
    assert_eq!(entry["action"], "ban", "{audit}");
    assert_eq!(entry["target"], "203.0.113.50");
    assert_eq!(entry["outcome"], "ok");
    assert!(
        entry["address"]
            .as_str()
            .is_some_and(|address| address.starts_with("127.0.0.2:")),
        "{entry}"
    );

    // The lockout ends by itself; retrying meanwhile does not extend it.
    eventually("the lockout to end", || {
        let attacker = attacker.clone();
        let cluster = &cluster;
        async move {
            let status = slaves_with(&attacker, cluster, Some(PASSWORD))
                .await
                .status();
            assert!(
                status == StatusCode::OK || status == StatusCode::TOO_MANY_REQUESTS,
                "{status}"
            );
            (status == StatusCode::OK).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn a_slave_config_with_a_plaintext_master_url_off_loopback_does_not_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, url: &str| {
        let path = dir.path().join(name);
        let yaml = format!(
            "network: devnet\npool:\n  fee_address: {}\nmaster:\n  secret: 0123456789abcdef-secret\n  \
             allow_plaintext: true\nslave:\n  master_url: {url}\n  xatum_enabled: false\n",
            pool_address()
        );
        std::fs::write(&path, yaml).expect("write the config");
        path
    };
    let remote = write("remote.yaml", "http://203.0.113.10:50051");
    let error = tos_pool_common::launch::load_config(&remote, Role::Slave)
        .expect_err("plaintext to another host is refused");
    let text = format!("{error:#}");
    assert!(text.contains("slave.master_url"), "{text}");
    assert!(text.contains("https://"), "{text}");

    let local = write("local.yaml", "http://127.0.0.1:50051");
    tos_pool_common::launch::load_config(&local, Role::Slave)
        .expect("plaintext to loopback still loads");
}

/// Credits `amount` confirmed to `address`, as a matured block does.
async fn credit(cluster: &Cluster, address: &str, amount: i64) {
    let client = redis::Client::open(cluster.redis.url()).expect("the URL is valid");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let key = cluster.master.ledger().keys().balance_confirmed();
    let _: i64 = redis::cmd("HINCRBY")
        .arg(key)
        .arg(address)
        .arg(amount)
        .query_async(&mut connection)
        .await
        .expect("HINCRBY");
}

/// Writes a `pending` payment of `amount` to `address` recorded an hour ago
/// with wallet nonce `nonce`, as a payer that lost the wallet's reply
/// leaves it.
async fn pending_payment(cluster: &Cluster, id: &str, address: &str, amount: u64, nonce: u64) {
    credit(cluster, address, i64::try_from(amount).expect("small")).await;
    let an_hour_ago = unix_ms() - 3_600_000;
    let payment = StoredPayment {
        record: PaymentRecord {
            id: id.to_owned(),
            status: PaymentStatus::Pending,
            tx_hash: None,
            created_ms: an_hour_ago,
            updated_ms: an_hour_ago,
            transfers: vec![PaymentTransfer {
                address: address.to_owned(),
                amount,
                fee: 0,
            }],
            amount,
            fee: 0,
            error: None,
        },
        nonce,
    };
    cluster
        .master
        .ledger()
        .begin_payment(&payment)
        .await
        .expect("the payment is written ahead");
}

async fn resolve(cluster: &Cluster, id: &str, body: Value) -> (StatusCode, Value) {
    let response = with_json(
        client_from(None).post(api(cluster, &format!("/api/admin/payments/{id}/resolve"))),
        &body,
    )
    .header(AUTHORIZATION, format!("Bearer {PASSWORD}"))
    .send()
    .await
    .expect("the API answers");
    let status = response.status();
    (status, json_of(response).await)
}

async fn start_wallet(cluster_network: tos_pool_common::network::Network) -> WalletHandle {
    let mut config = WalletConfig::new(cluster_network, pool_address());
    config.balance = 1_000_000_000;
    Wallet::start(config)
        .await
        .expect("the wallet emulator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_sent_needs_the_wallets_evidence_or_force_and_every_attempt_is_audited() {
    let wallet = start_wallet(tos_pool_common::network::Network::Devnet).await;
    let wallet_url = wallet.url();
    let cluster = Cluster::start(true, |config| {
        config.api.enabled = true;
        config.api.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        config.api.admin_password = Some(PASSWORD.to_owned());
        config.payouts.enabled = true;
        config.payouts.wallet_rpc = Some(wallet_url);
        // Runs only plan (no settling, no paying), so none races the
        // operator; resolutions do not depend on it.
        config.payouts.dry_run = true;
        config.payouts.interval = Duration::from_secs(3_600);
    })
    .await;
    let wallet_client =
        WalletClient::new(&wallet.url(), Duration::from_secs(5), None).expect("a wallet client");
    let nonce = wallet_client.get_nonce().await.expect("the wallet's nonce");
    let (first, second) = (miner_address(21), miner_address(22));
    pending_payment(&cluster, "lost-1", &first, 5_000, nonce).await;
    pending_payment(&cluster, "lost-2", &second, 7_000, nonce).await;

    // The wallet's nonce has not moved and no transaction carries the
    // transfers: "never broadcast" is shown, the amounts go back.
    let (status, record) = resolve(&cluster, "lost-1", json!({"resolution": "not_sent"})).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["status"], "failed");
    assert!(
        record["error"]
            .as_str()
            .is_some_and(|reason| reason.contains("nonce is still")),
        "{record}"
    );
    let balances = cluster
        .master
        .ledger()
        .balances(&first)
        .await
        .expect("balances");
    assert_eq!((balances.confirmed, balances.pending), (5_000, 0));

    // The wallet sends something else: its nonce moves without a matching
    // transaction, so the operator's word alone is refused...
    wallet_client
        .build_transaction(&[WalletTransfer::tos(&miner_address(23), 1_000)])
        .await
        .expect("an unrelated transaction");
    let (status, refused) = resolve(&cluster, "lost-2", json!({"resolution": "not_sent"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|error| error.contains("\"force\": true")),
        "{refused}"
    );
    let still = cluster
        .master
        .ledger()
        .payment("lost-2")
        .await
        .expect("Redis")
        .expect("the payment");
    assert_eq!(still.status, PaymentStatus::Pending);

    // ...and accepted with the explicit flag.
    let (status, forced) = resolve(
        &cluster,
        "lost-2",
        json!({"resolution": "not_sent", "force": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(forced["status"], "failed");
    assert!(
        forced["error"]
            .as_str()
            .is_some_and(|reason| reason.contains("force")),
        "{forced}"
    );

    // Every attempt is in the audit log, newest first, with the caller.
    let audit = json_of(
        client_from(None)
            .get(api(&cluster, "/api/admin/audit"))
            .header(AUTHORIZATION, format!("Bearer {PASSWORD}"))
            .send()
            .await
            .expect("the API answers"),
    )
    .await;
    let entries = audit.as_array().expect("a list");
    let summary: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap_or_default(),
                entry["target"].as_str().unwrap_or_default(),
                entry["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("resolve_payment", "lost-2", "ok"),
            ("resolve_payment", "lost-2", "refused"),
            ("resolve_payment", "lost-1", "ok"),
        ]
    );
    assert!(
        entries[0]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("not_sent with force")),
        "{audit}"
    );
    for entry in entries {
        assert!(
            entry["address"]
                .as_str()
                .is_some_and(|address| address.starts_with("127.0.0.1:")),
            "{entry}"
        );
    }
}
