//! The pool's web page in a real browser: a cluster with miners, a block
//! found, matured and paid, and the history sampled; then Debian's chromium,
//! driven headless by `integration-tests/browser/check-pages.js`
//! (playwright-core, installed by `scripts/ensure-deps`), opens every page.
//! Each number the page shows must be what the API answered, the miner page
//! of an unknown address must say so, and no page may log a console error.
//! Screenshots, and the driver's report of what each page showed and
//! fetched, go to `target/web-screenshots/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tos_pool_common::clock::unix_ms;
use tos_pool_common::config::{EndpointProtocol, WebEndpoint};
use tos_pool_integration_tests::cluster::Cluster;
use tos_pool_integration_tests::ports::quiet_port;
use tos_pool_master::history::Sampler;

use crate::cluster_support::{DEADLINE, address, log_in, mine_shares, start, tcp_miner};

/// A count as the page writes it: thousands separated by commas.
fn count_text(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Where the browser driver lives.
fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Where screenshots are kept: `target/web-screenshots`.
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("web-screenshots")
}

fn chromium() -> String {
    std::env::var("TOS_POOL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

fn api_base(cluster: &Cluster) -> String {
    let addr = cluster
        .master()
        .and_then(|master| master.api_addr())
        .expect("the API is on");
    format!("http://{addr}")
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn get(base: &str, path: &str) -> Value {
    let response = http()
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("the API answers");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: not JSON ({error}): {text}"))
}

/// `value` as the page writes a hashrate (two decimals and a unit).
fn hashrate_text(value: f64) -> String {
    const UNITS: [&str; 7] = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
    let (mut value, mut unit) = (value, 0);
    while value.abs() >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// `atomic` as the page writes an amount: whole TOS with thousands
/// separators, then up to 8 decimals without trailing zeros.
fn tos_text(atomic: i64) -> String {
    let sign = if atomic < 0 { "-" } else { "" };
    let abs = atomic.unsigned_abs();
    let grouped = count_text(abs / 100_000_000);
    let fraction = format!("{:08}", abs % 100_000_000);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{sign}{grouped} TOS")
    } else {
        format!("{sign}{grouped}.{fraction} TOS")
    }
}

/// One page's report from the browser.
struct Shown<'a> {
    page: &'a Value,
}

impl Shown<'_> {
    fn name(&self) -> &str {
        self.page["name"].as_str().unwrap_or("?")
    }

    /// The elements named `key`: (raw value, text).
    fn all(&self, key: &str) -> Vec<(String, String)> {
        self.page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|item| item["k"] == key)
            .map(|item| {
                (
                    item["v"].as_str().unwrap_or("").to_owned(),
                    item["text"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// The one element named `key`.
    fn one(&self, key: &str) -> (String, String) {
        let all = self.all(key);
        assert_eq!(
            all.len(),
            1,
            "{}: {key} shown {} times",
            self.name(),
            all.len()
        );
        all.into_iter().next().unwrap_or_default()
    }

    /// The API answer the page fetched at `path` (with its query).
    fn fetched(&self, path: &str) -> &Value {
        let answer = &self.page["api"][path];
        assert_eq!(
            answer["status"],
            200,
            "{}: {path} was {answer}",
            self.name()
        );
        &answer["body"]
    }

    /// Asserts the element `key` shows the number `expected` as `text`.
    fn shows_number(&self, key: &str, expected: &Value, text: &str) {
        let (raw, shown) = self.one(key);
        let raw: f64 = raw.parse().unwrap_or(f64::NAN);
        let expected_f64 = expected
            .as_f64()
            .or_else(|| expected.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(f64::NAN);
        assert!(
            same_number(raw, expected_f64),
            "{}: {key} holds {raw}, the API said {expected}",
            self.name()
        );
        assert_eq!(shown, text, "{}: {key} reads {shown:?}", self.name());
    }

    fn shows_amount(&self, key: &str, expected: &Value) {
        let atomic = expected.as_i64().expect("an amount");
        self.shows_number(key, expected, &tos_text(atomic));
    }

    fn shows_hashrate(&self, key: &str, expected: &Value) {
        let value = expected.as_f64().expect("a hashrate");
        self.shows_number(key, expected, &hashrate_text(value));
    }

    /// The `data-v` of every element named `key`, in page order.
    fn values(&self, key: &str) -> Vec<String> {
        self.all(key).into_iter().map(|(raw, _)| raw).collect()
    }
}

#[test]
fn the_page_formats_numbers_for_people() {
    assert_eq!(hashrate_text(0.0), "0.00 H/s");
    assert_eq!(hashrate_text(199.947), "199.95 H/s");
    assert_eq!(hashrate_text(1_234_567.0), "1.23 MH/s");
    assert_eq!(hashrate_text(2.5e15), "2.50 PH/s");
    assert_eq!(tos_text(0), "0 TOS");
    assert_eq!(tos_text(87_738_037), "0.87738037 TOS");
    assert_eq!(tos_text(123_450_000_000), "1,234.5 TOS");
    assert_eq!(tos_text(-10), "-0.0000001 TOS");
    assert_eq!(count_text(1_234_567), "1,234,567");
    assert_eq!(count_text(999), "999");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_what_the_api_returns_in_a_real_browser() {
    let driver = browser_dir().join("node_modules/playwright-core");
    assert!(
        driver.is_dir(),
        "{} is missing: run scripts/ensure-deps (npm ci in integration-tests/browser)",
        driver.display()
    );
    // The Connect page lists the config's endpoints: give the slave's
    // Stratum doors known ports so the config can name them.
    let (tcp_port, tls_port) = (quiet_port(), quiet_port());
    let endpoints = vec![
        WebEndpoint {
            region: "Local".to_owned(),
            protocol: EndpointProtocol::Stratum,
            url: format!("stratum+tcp://127.0.0.1:{tcp_port}"),
        },
        WebEndpoint {
            region: "Local".to_owned(),
            protocol: EndpointProtocol::StratumTls,
            url: format!("stratum+ssl://127.0.0.1:{tls_port}"),
        },
    ];
    let mut cluster = start(1, |config| {
        config.slave.stratum_bind = ([127, 0, 0, 1], tcp_port).into();
        config.slave.stratum_tls_bind = Some(([127, 0, 0, 1], tls_port).into());
        config.web.endpoints = endpoints.clone();
        config.api.stats_cache = Duration::from_millis(100);
        config.payouts.enabled = true;
        config.payouts.interval = Duration::from_millis(300);
        config.payouts.threshold = 1;
        config.payouts.min_peers = 0;
        config.payouts.confirmations = 1;
        config.web.explorer_tx_url = "https://explorer.example/tx/{tx}".to_owned();
    })
    .await;
    let doors = cluster.slave(0).expect("slave").doors();
    assert_eq!(doors.stratum.port(), tcp_port);

    // Two miners; the first finds a block that matures and is paid.
    let (finder, other) = (address(41), address(42));
    let rig = tcp_miner(doors.stratum).await;
    log_in(&rig, &format!("{finder}.rig1")).await;
    let second = tcp_miner(doors.stratum).await;
    log_in(&second, &format!("{other}.gpu")).await;
    // The PPLNS window is a couple of shares at network difficulty 1: the
    // finder's shares come last, so the block pays it.
    assert!(mine_shares(&second, 4).await > 0, "shares are accepted");
    assert!(mine_shares(&rig, 4).await > 0, "shares are accepted");
    cluster.set_network_difficulty(1);
    let job = loop {
        let job = rig.next_job(DEADLINE).await.expect("a job");
        if job.target.0 == [0xff; 32] {
            break job;
        }
    };
    let outcome = rig.mine_and_submit_one(&job).await.expect("submit");
    assert!(outcome.is_accepted(), "{outcome:?}");
    let extra_nonce: [u8; 32] = job.header[48..80].try_into().expect("32 bytes");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cluster
        .devnet
        .submitted_blocks()
        .iter()
        .any(|block| block.extra_nonce == extra_nonce)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the block never reached the daemon"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Back to a difficulty no share meets, so the pool finds one block.
    cluster.set_network_difficulty(1_000_000_000);
    let master = cluster.master().expect("the master runs");
    let ledger = master.ledger().clone();
    let base = api_base(&cluster);
    // The block matures and every share of it is paid.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let settled = get(&base, "/api/payments")
            .await
            .get("items")
            .and_then(Value::as_array)
            .is_some_and(|items| {
                !items.is_empty() && items.iter().all(|p| p["status"] == "confirmed")
            });
        let finder_paid = ledger.balances(&finder).await.expect("balances");
        let paid = finder_paid.paid > 0 && finder_paid.pending == 0 && finder_paid.confirmed == 0;
        if settled && paid {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the block was not paid: finder {finder_paid:?}, blocks {}, payments {}",
            get(&base, "/api/blocks").await,
            get(&base, "/api/payments").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A second worker of the finder, and more shares, for the worker table.
    let rig2 = tcp_miner(doors.stratum).await;
    log_in(&rig2, &format!("{finder}.rig2")).await;
    assert!(mine_shares(&rig2, 2).await > 0);
    assert!(mine_shares(&rig, 2).await > 0);

    // The history: three samples a minute apart, taken directly.
    let sampler = Sampler::new(
        ledger.clone(),
        master.gateway().clone(),
        master.jobs().clone(),
        Duration::from_secs(60),
    );
    let now = unix_ms();
    let sampled: Vec<u64> = [2, 1, 0].iter().map(|m| now - m * 60_000).collect();
    for &at in &sampled {
        let report = sampler.sample(at).await.expect("a sample is written");
        assert_eq!(report.miners, 2, "both miners are online");
    }

    check_api(&base, &finder, &other, &sampled).await;

    // The browser.
    let unknown = address(99);
    let shots = screenshot_dir();
    let spec = json!({
        "base": base,
        "chromium": chromium(),
        "screenshots": shots,
        "pages": [
            {"name": "home", "path": "/", "page": "home"},
            {"name": "miner", "path": format!("/miners/{finder}"), "page": "miner"},
            {"name": "blocks", "path": "/blocks", "page": "blocks"},
            {"name": "payments", "path": "/payments", "page": "payments"},
            {"name": "connect", "path": "/connect", "page": "connect"},
            {"name": "unknown-miner", "path": format!("/miners/{unknown}"), "page": "miner",
             "allow_failed": [format!("/api/miners/{unknown}")]},
        ],
    });
    let report = browse(&spec, &shots.join("report.json")).await;
    let pages = report["pages"].as_array().expect("pages");
    let page = |name: &str| Shown {
        page: pages
            .iter()
            .find(|page| page["name"] == name)
            .unwrap_or_else(|| panic!("no {name} page in {report}")),
    };

    for shown in pages.iter().map(|page| Shown { page }) {
        assert_eq!(shown.page["http_status"], 200, "{}", shown.name());
        assert_eq!(shown.page["console_errors"], json!([]), "{}", shown.name());
        assert_eq!(shown.page["failed_requests"], json!([]), "{}", shown.name());
        assert_eq!(
            shown.page["status"],
            "",
            "{}: the page reported an API failure",
            shown.name()
        );
        let transferred = shown.page["transferred"].as_u64().unwrap_or(u64::MAX);
        println!(
            "{}: {} requests, {transferred} bytes transferred",
            shown.name(),
            shown.page["requests"]
        );
        assert!(
            transferred < 100_000,
            "{}: a page should load in under 100 kB, not {transferred} bytes",
            shown.name()
        );
        let shot = PathBuf::from(shown.page["screenshot"].as_str().expect("a screenshot"));
        assert!(
            shot.metadata().is_ok_and(|m| m.len() > 1_000),
            "{}",
            shot.display()
        );
    }

    check_home(&page("home"), &base).await;
    check_home(&page("home-phone"), &base).await;
    check_miner(&page("miner"), &base, &finder).await;
    check_blocks(&page("blocks"), &base).await;
    check_payments(&page("payments"), &base).await;
    let connect = page("connect");
    let listed: Vec<String> = endpoints.iter().map(|e| e.url.clone()).collect();
    assert_eq!(connect.values("endpoint"), listed);
    assert_eq!(
        connect.values("command"),
        listed,
        "a command per Stratum endpoint"
    );
    let commands = connect.all("command");
    assert!(
        commands[0]
            .1
            .starts_with(&format!("tosminer -C -P {} -u ", listed[0])),
        "{commands:?}"
    );
    let unknown_page = page("unknown-miner");
    let (status, text) = unknown_page.one("miner.unknown");
    assert_eq!(status, "404");
    assert!(
        text.contains("knows no share, balance or payment"),
        "{text}"
    );
    assert!(
        unknown_page.all("balances.confirmed").is_empty(),
        "nothing made up"
    );

    // With Redis gone the API fails, and the page says so instead of
    // showing numbers.
    cluster.redis.stop().expect("Redis stops");
    let spec = json!({
        "base": base,
        "chromium": chromium(),
        "screenshots": shots,
        "pages": [{"name": "api-down", "path": "/", "page": "error", "allow_failed": ["/api/"]}],
    });
    let report = browse(&spec, &shots.join("report-api-down.json")).await;
    let down = Shown {
        page: &report["pages"][0],
    };
    assert_eq!(
        down.page["console_errors"],
        json!([]),
        "only the API's own failures"
    );
    let (status, text) = down.one("error");
    assert_eq!(status, "503", "{text}");
    assert!(text.starts_with("Nothing to show: "), "{text}");
    let banner = down.page["status"].as_str().unwrap_or("");
    assert!(banner.starts_with("The pool API failed: "), "{banner}");
    assert!(down.all("pool.hashrate").is_empty(), "nothing made up");

    drop((rig, rig2, second));
    cluster.shutdown().await;
}

/// The data behind the page, straight from the API.
async fn check_api(base: &str, finder: &str, other: &str, sampled: &[u64]) {
    let stats = get(base, "/api/stats").await;
    let pool = &stats["pool"];
    let paid = get(base, &format!("/api/miners/{finder}")).await["balances"]["paid"].clone();

    let fee_paid = get(base, "/api/payments").await["items"]
        .as_array()
        .expect("payments")
        .iter()
        .filter(|payment| payment["status"] == "confirmed")
        .flat_map(|payment| payment["transfers"].as_array().cloned().unwrap_or_default())
        .map(|transfer| transfer["amount"].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert_eq!(
        pool["total_paid"].as_u64(),
        Some(fee_paid),
        "total_paid is every confirmed transfer"
    );
    assert!(paid.as_u64().unwrap_or(0) > 0, "the finder was paid");
    assert_eq!(pool["payouts_enabled"], true);
    assert_eq!(pool["payout_threshold"], 1);
    assert_eq!(pool["payout_interval_ms"], 300);

    let blocks = get(base, "/api/blocks").await;
    let block = blocks["items"]
        .as_array()
        .expect("blocks")
        .iter()
        .find(|block| block["state"] == "matured")
        .expect("the matured block")
        .clone();
    let round = block["round_shares"].as_u64().expect("round shares");
    let difficulty = block["network_difficulty"].as_u64().expect("difficulty");
    assert!(round > 0, "{block}");
    assert_eq!(
        block["effort"].as_f64(),
        Some(round as f64 / difficulty as f64)
    );
    assert!(
        block["confirmations"].as_u64().is_some_and(|c| c >= 5),
        "{block}"
    );

    let miner = get(base, &format!("/api/miners/{finder}")).await;
    assert_eq!(miner["blocks_found"], 1);
    assert_eq!(
        get(base, &format!("/api/miners/{other}")).await["blocks_found"],
        0
    );

    let luck = get(base, "/api/luck").await;
    let windows: Vec<&str> = luck["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .filter_map(|window| window["window"].as_str())
        .collect();
    assert_eq!(windows, ["24h", "7d", "30d", "all"]);
    for window in luck["windows"].as_array().expect("windows") {
        assert_eq!(window["blocks"], 1, "{window}");
        assert_eq!(window["round_shares"].as_u64(), Some(round), "{window}");
        assert_eq!(window["effort"], block["effort"], "{window}");
    }

    let chart = get(base, "/api/chart/hashrate?hours=1").await;
    assert_eq!(chart["hours"], 1);
    assert_eq!(chart["interval_ms"], 60_000);
    let points = chart["points"].as_array().expect("points");
    let times: Vec<u64> = points.iter().filter_map(|p| p[0].as_u64()).collect();
    assert!(
        times.windows(2).all(|pair| pair[0] < pair[1]),
        "oldest first: {chart}"
    );
    for at in sampled {
        assert!(times.contains(at), "the sample at {at} is charted: {chart}");
    }
    let newest = points.last().expect("a point");
    assert!(
        newest[1].as_f64().is_some_and(|h| h > 0.0),
        "pool hashrate: {chart}"
    );
    assert!(
        newest[2].as_f64().is_some_and(|h| h > 0.0),
        "network hashrate: {chart}"
    );
    let workers = get(base, "/api/chart/workers?hours=1").await;
    let last = workers["points"]
        .as_array()
        .and_then(|p| p.last())
        .cloned()
        .expect("a point");
    assert_eq!(last[2].as_f64(), Some(2.0), "two miners online: {workers}");
    let miner_chart = get(base, &format!("/api/miners/{finder}/chart?hours=1")).await;
    let miner_times: Vec<u64> = miner_chart["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p[0].as_u64())
        .collect();
    assert_eq!(&miner_times, sampled, "{miner_chart}");
    assert_eq!(
        miner_chart["interval_ms"], 300_000,
        "a miner is sampled every 5 minutes"
    );
    let response = http()
        .get(format!("{base}/api/chart/hashrate?hours=0"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let response = http()
        .get(format!("{base}/api/miners/{finder}/chart?hours=25"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
}

async fn check_home(home: &Shown<'_>, base: &str) {
    let stats = home.fetched("/api/stats");
    let pool = &stats["pool"];
    home.shows_hashrate("pool.hashrate", &pool["hashrate"]);
    home.shows_hashrate("network.hashrate", &stats["network"]["hashrate"]);
    home.shows_amount("pool.total_paid", &pool["total_paid"]);
    home.shows_amount("pool.payout_threshold", &pool["payout_threshold"]);
    let difficulty = &stats["network"]["difficulty"];
    let digits: u64 = difficulty
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("a difficulty");
    home.shows_number("network.difficulty", difficulty, &count_text(digits));
    let height = stats["network"]["height"].as_u64().expect("a height");
    home.shows_number("network.height", &json!(height), &count_text(height));
    let count = |value: &Value| count_text(value.as_u64().unwrap_or(u64::MAX));
    home.shows_number("pool.miners", &pool["miners"], &count(&pool["miners"]));
    home.shows_number("pool.workers", &pool["workers"], &count(&pool["workers"]));
    assert_eq!(
        home.one("pool.blocks_found").0,
        pool["blocks_found"].to_string()
    );
    // The last blocks are the API's, and stable: compare with a new answer.
    let fetched: Vec<String> = hashes(home.fetched("/api/blocks?limit=5"));
    assert_eq!(home.values("block"), fetched);
    assert_eq!(fetched, hashes(&get(base, "/api/blocks?limit=5").await));
    let luck = home.fetched("/api/luck");
    assert_eq!(home.values("luck"), ["24h", "7d", "30d", "all"]);
    let efforts: Vec<Option<f64>> = luck["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .map(|w| w["effort"].as_f64())
        .collect();
    assert_same_numbers(&home.values("luck.effort"), &efforts);
    let points = home.fetched("/api/chart/hashrate?hours=24")["points"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(home.one("chart.pool").0, points.to_string());
    assert!(points >= 2, "the chart has a line");
}

async fn check_miner(miner: &Shown<'_>, base: &str, address: &str) {
    let fetched = miner.fetched(&format!("/api/miners/{address}"));
    let fresh = get(base, &format!("/api/miners/{address}")).await;
    assert_eq!(miner.one("miner.address").0, address);
    miner.shows_hashrate("miner.hashrate", &fetched["hashrate"]);
    for balance in ["immature", "confirmed", "pending", "paid"] {
        // Balances only move with blocks and payouts: the page's are now's.
        assert_eq!(
            fetched["balances"][balance], fresh["balances"][balance],
            "{balance}"
        );
        miner.shows_amount(&format!("balances.{balance}"), &fresh["balances"][balance]);
    }
    assert!(fresh["balances"]["paid"].as_i64().unwrap_or(0) > 0);
    miner.shows_number("miner.blocks_found", &fresh["blocks_found"], "1");
    let names: BTreeSet<String> = miner.values("worker").into_iter().collect();
    let api_names: BTreeSet<String> = fresh["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names, api_names);
    assert_eq!(
        names,
        BTreeSet::from(["rig1".to_owned(), "rig2".to_owned()])
    );
    let shown_rates = miner.all("worker.hashrate");
    let fetched_rates: Vec<f64> = fetched["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["hashrate"].as_f64())
        .collect();
    assert_eq!(shown_rates.len(), fetched_rates.len());
    for ((raw, text), rate) in shown_rates.iter().zip(&fetched_rates) {
        assert!(
            raw.parse().is_ok_and(|raw: f64| same_number(raw, *rate)),
            "{raw} vs {rate}"
        );
        assert_eq!(text, &hashrate_text(*rate));
    }
    let payments = get(base, &format!("/api/miners/{address}/payments?limit=25")).await;
    let ids: Vec<String> = payments["items"]
        .as_array()
        .expect("payments")
        .iter()
        .filter_map(|p| p["payment_id"].as_str().map(str::to_owned))
        .collect();
    assert!(!ids.is_empty());
    assert_eq!(miner.values("payment"), ids);
    let amounts: Vec<String> = payments["items"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| p["amount"].to_string())
        .collect();
    assert_eq!(miner.values("payment.amount"), amounts);
    let chart = miner.fetched(&format!("/api/miners/{address}/chart?hours=24"));
    let points = chart["points"].as_array().map_or(0, Vec::len);
    assert_eq!(miner.one("chart.miner").0, points.to_string());
}

async fn check_blocks(blocks: &Shown<'_>, base: &str) {
    let fetched = blocks.fetched("/api/blocks?limit=50&page=1");
    assert_eq!(blocks.values("block"), hashes(fetched));
    assert_eq!(
        hashes(fetched),
        hashes(&get(base, "/api/blocks?limit=50").await)
    );
    let items = fetched["items"].as_array().expect("blocks");
    let rewards: Vec<String> = items.iter().map(|b| b["reward"].to_string()).collect();
    assert_eq!(blocks.values("block.reward"), rewards);
    let efforts: Vec<Option<f64>> = items.iter().map(|b| b["effort"].as_f64()).collect();
    assert_same_numbers(&blocks.values("block.effort"), &efforts);
    let confirmations: Vec<String> = items
        .iter()
        .filter_map(|b| b["confirmations"].as_u64().map(|c| c.to_string()))
        .collect();
    assert_eq!(blocks.values("block.confirmations"), confirmations);
    let stats = blocks.fetched("/api/stats");
    let matured = &stats["pool"]["blocks"]["matured"];
    blocks.shows_number(
        "blocks.matured",
        matured,
        &count_text(matured.as_u64().unwrap_or(0)),
    );
}

async fn check_payments(payments: &Shown<'_>, base: &str) {
    let fresh = get(base, "/api/payments?limit=50").await;
    let mut rows = Vec::new();
    let mut amounts = Vec::new();
    for payment in fresh["items"].as_array().expect("payments") {
        for transfer in payment["transfers"].as_array().expect("transfers") {
            rows.push(format!(
                "{}/{}",
                payment["id"].as_str().unwrap_or(""),
                transfer["address"].as_str().unwrap_or("")
            ));
            amounts.push(transfer["amount"].to_string());
        }
    }
    assert!(rows.len() >= 2, "a row per recipient: {fresh}");
    assert_eq!(payments.values("transfer"), rows);
    assert_eq!(payments.values("transfer.amount"), amounts);
    let texts: Vec<String> = payments
        .all("transfer.amount")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let expected: Vec<String> = amounts
        .iter()
        .map(|a| tos_text(a.parse().unwrap_or(0)))
        .collect();
    assert_eq!(texts, expected);
}

/// Runs the browser driver on `spec`, keeps its report at `keep` and
/// answers it.
async fn browse(spec: &Value, keep: &Path) -> Value {
    let spec_file = tempfile::NamedTempFile::new().expect("a spec file");
    std::fs::write(spec_file.path(), spec.to_string()).expect("write the spec");
    let script = browser_dir().join("check-pages.js");
    let spec_path = spec_file.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(spec_path)
            .current_dir(browser_dir())
            .output()
    })
    .await
    .expect("the driver task")
    .expect("node runs (scripts/ensure-deps installs it)");
    assert!(
        output.status.success(),
        "the browser driver failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Kept with the screenshots: what each page showed and fetched.
    std::fs::write(keep, &output.stdout).expect("write the report");
    serde_json::from_slice(&output.stdout).expect("the driver prints JSON")
}

/// Whether two floats are the same number: the API's JSON is read back by
/// the browser and by serde_json, whose float parsing may differ in the last
/// bit.
fn same_number(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// Asserts the page's raw values are the API's numbers (`None`: shown as
/// nothing).
fn assert_same_numbers(shown: &[String], expected: &[Option<f64>]) {
    assert_eq!(shown.len(), expected.len(), "{shown:?} vs {expected:?}");
    for (raw, number) in shown.iter().zip(expected) {
        match number {
            None => assert_eq!(raw, "", "{shown:?} vs {expected:?}"),
            Some(number) => assert!(
                raw.parse().is_ok_and(|raw: f64| same_number(raw, *number)),
                "{shown:?} vs {expected:?}"
            ),
        }
    }
}

fn hashes(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|block| block["hash"].as_str().map(str::to_owned))
        .collect()
}
