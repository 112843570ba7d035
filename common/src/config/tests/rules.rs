//! One test per validation rule: the minimal config plus one override breaks
//! exactly that rule, and a nearby good value passes.

use super::*;
use crate::config::Role;

fn assert_valid(pairs: &[(&str, &str)]) -> Config {
    match load(&minimal_yaml(), pairs) {
        Ok(config) => config,
        Err(error) => panic!("{pairs:?} should be valid: {error}"),
    }
}

#[test]
fn fee_address_must_parse_for_the_network() {
    let error = assert_invalid(
        &[("TOS_POOL_POOL_FEE_ADDRESS", MAINNET_ADDRESS)],
        &["pool.fee_address"],
    );
    assert!(
        error
            .to_string()
            .contains("network is devnet: a normal address starting with tst1"),
        "{error}"
    );
    let mut broken = DEVNET_ADDRESS.to_string();
    broken.pop();
    broken.push('q');
    assert_invalid(
        &[("TOS_POOL_POOL_FEE_ADDRESS", &broken)],
        &["pool.fee_address"],
    );
    let error = assert_invalid(&[("TOS_POOL_POOL_FEE_ADDRESS", "")], &["pool.fee_address"]);
    assert!(error.to_string().contains("missing"), "{error}");
}

#[test]
fn miner_key_must_be_64_hex() {
    assert_invalid(&[("TOS_POOL_POOL_MINER_KEY", "abc")], &["pool.miner_key"]);
    assert_invalid(
        &[("TOS_POOL_POOL_MINER_KEY", &"zz".repeat(32))],
        &["pool.miner_key"],
    );
    assert_valid(&[("TOS_POOL_POOL_MINER_KEY", DEVNET_KEY)]);
}

#[test]
fn fee_percent_is_a_percent() {
    assert_invalid(
        &[("TOS_POOL_POOL_FEE_PERCENT", "100.5")],
        &["pool.fee_percent"],
    );
    assert_invalid(
        &[("TOS_POOL_POOL_FEE_PERCENT", "-1")],
        &["pool.fee_percent"],
    );
    assert_invalid(
        &[("TOS_POOL_POOL_FEE_PERCENT", ".nan")],
        &["pool.fee_percent"],
    );
    assert_valid(&[("TOS_POOL_POOL_FEE_PERCENT", "100")]);
    assert_valid(&[("TOS_POOL_POOL_FEE_PERCENT", "0")]);
}

#[test]
fn difficulties_are_ordered_and_at_least_one() {
    assert_invalid(
        &[
            ("TOS_POOL_MINING_MIN_DIFFICULTY", "0"),
            ("TOS_POOL_MINING_INITIAL_DIFFICULTY", "0"),
        ],
        &["mining.min_difficulty"],
    );
    assert_invalid(
        &[("TOS_POOL_MINING_INITIAL_DIFFICULTY", "999")],
        &["mining.initial_difficulty"],
    );
    assert_invalid(
        &[("TOS_POOL_MINING_MAX_DIFFICULTY", "9999")],
        &["mining.initial_difficulty"],
    );
    assert_valid(&[
        ("TOS_POOL_MINING_MIN_DIFFICULTY", "1"),
        ("TOS_POOL_MINING_INITIAL_DIFFICULTY", "1"),
        ("TOS_POOL_MINING_MAX_DIFFICULTY", "1"),
    ]);
}

#[test]
fn vardiff_and_job_timing_are_sane() {
    assert_invalid(
        &[("TOS_POOL_MINING_VARDIFF_VARIANCE", "0")],
        &["mining.vardiff_variance"],
    );
    assert_invalid(
        &[("TOS_POOL_MINING_VARDIFF_VARIANCE", "100")],
        &["mining.vardiff_variance"],
    );
    assert_invalid(
        &[("TOS_POOL_MINING_VARDIFF_TARGET_TIME", "0s")],
        &["mining.vardiff_target_time"],
    );
    assert_invalid(
        &[("TOS_POOL_MINING_JOB_BACKLOG", "0")],
        &["mining.job_backlog"],
    );
    assert_valid(&[("TOS_POOL_MINING_VARDIFF_VARIANCE", "99.9")]);
}

#[test]
fn validation_windows_and_trust_sampling() {
    assert_invalid(
        &[("TOS_POOL_VALIDATION_HASHRATE_LARGE_WINDOW", "5m")],
        &["validation.hashrate_large_window"],
    );
    assert_invalid(
        &[("TOS_POOL_VALIDATION_TRUST_CHECK_PERCENT", "101")],
        &["validation.trust_check_percent"],
    );
    assert_valid(&[
        ("TOS_POOL_VALIDATION_TRUST_THRESHOLD", "50"),
        ("TOS_POOL_VALIDATION_TRUST_CHECK_PERCENT", "10"),
    ]);
}

#[test]
fn immature_depth_is_below_mature_depth() {
    assert_invalid(
        &[("TOS_POOL_UNLOCKER_IMMATURE_DEPTH", "100")],
        &["unlocker.immature_depth"],
    );
    assert_valid(&[("TOS_POOL_UNLOCKER_IMMATURE_DEPTH", "99")]);
}

#[test]
fn pplns_window_is_positive_and_inside_the_dynamic_range() {
    assert_invalid(&[("TOS_POOL_PPLNS_WINDOW", "0")], &["pplns.window"]);
    assert_invalid(
        &[
            ("TOS_POOL_PPLNS_DYNAMIC_WINDOW", "true"),
            ("TOS_POOL_PPLNS_MAX_WINDOW", "1.5"),
        ],
        &["pplns.window"],
    );
    assert_valid(&[("TOS_POOL_PPLNS_DYNAMIC_WINDOW", "true")]);
}

#[test]
fn payouts_limits_and_wallet() {
    assert_invalid(
        &[("TOS_POOL_PAYOUTS_MAX_ADDRESSES_PER_TX", "0")],
        &["payouts.max_addresses_per_tx"],
    );
    assert_invalid(
        &[("TOS_POOL_PAYOUTS_MAX_ADDRESSES_PER_TX", "501")],
        &["payouts.max_addresses_per_tx"],
    );
    assert_valid(&[("TOS_POOL_PAYOUTS_MAX_ADDRESSES_PER_TX", "500")]);
    assert_invalid(
        &[("TOS_POOL_PAYOUTS_ENABLED", "true")],
        &["payouts.wallet_rpc"],
    );
    assert_invalid(
        &[
            ("TOS_POOL_PAYOUTS_ENABLED", "true"),
            ("TOS_POOL_PAYOUTS_WALLET_RPC", "127.0.0.1:18081"),
        ],
        &["payouts.wallet_rpc"],
    );
    assert_valid(&[
        ("TOS_POOL_PAYOUTS_ENABLED", "true"),
        (
            "TOS_POOL_PAYOUTS_WALLET_RPC",
            "http://127.0.0.1:18081/json_rpc",
        ),
    ]);
    assert_invalid(
        &[("TOS_POOL_PAYOUTS_WALLET_USER", "pool")],
        &["payouts.wallet_password"],
    );
    assert_invalid(
        &[("TOS_POOL_PAYOUTS_WITHDRAWAL_FEE_RATE", "150")],
        &["payouts.withdrawal_fee_rate"],
    );
    assert_invalid(
        &[("TOS_POOL_PAYOUTS_WITHDRAWAL_FEE", "100000000")],
        &["payouts.threshold"],
    );
}

#[test]
fn profiling_stays_on_loopback_unless_allowed() {
    let error = assert_invalid(
        &[("TOS_POOL_PROFILING_BIND", "0.0.0.0:6060")],
        &["profiling.bind"],
    );
    assert_eq!(
        error.to_string(),
        "profiling.bind: 0.0.0.0:6060 is not loopback; set profiling.allow_remote: true to expose it"
    );
    assert_valid(&[
        ("TOS_POOL_PROFILING_BIND", "0.0.0.0:6060"),
        ("TOS_POOL_PROFILING_ALLOW_REMOTE", "true"),
    ]);
}

#[test]
fn master_plaintext_only_on_loopback_and_secret_long_enough() {
    assert_invalid(
        &[
            ("TOS_POOL_MASTER_ALLOW_PLAINTEXT", "true"),
            ("TOS_POOL_MASTER_BIND", "0.0.0.0:50051"),
        ],
        &["master.allow_plaintext"],
    );
    assert_valid(&[("TOS_POOL_MASTER_ALLOW_PLAINTEXT", "true")]);
    assert_valid(&[
        ("TOS_POOL_MASTER_ALLOW_PLAINTEXT", "true"),
        ("TOS_POOL_MASTER_BIND", "[::1]:50051"),
    ]);
    let error = assert_invalid(&[("TOS_POOL_MASTER_SECRET", "short")], &["master.secret"]);
    assert!(error.to_string().contains("at least 16"), "{error}");
    assert_invalid(&[("TOS_POOL_MASTER_SECRET", "")], &["master.secret"]);
    assert_invalid(
        &[("TOS_POOL_MASTER_TLS_CERT", "/etc/tls/cert.pem")],
        &["master.tls_key"],
    );
}

#[test]
fn newrelic_needs_a_license_key_and_an_app_name() {
    assert_invalid(
        &[("TOS_POOL_NEWRELIC_ENABLED", "true")],
        &["newrelic.license_key"],
    );
    assert_invalid(
        &[
            ("TOS_POOL_NEWRELIC_ENABLED", "true"),
            ("TOS_POOL_NEWRELIC_LICENSE_KEY", "key"),
            ("TOS_POOL_NEWRELIC_APP_NAME", " "),
        ],
        &["newrelic.app_name"],
    );
    let config = assert_valid(&[
        ("TOS_POOL_NEWRELIC_ENABLED", "true"),
        ("TOS_POOL_NEWRELIC_LICENSE_KEY", "key"),
        ("TOS_POOL_NEWRELIC_REGION", "eu"),
    ]);
    assert_eq!(
        config.newrelic.otlp_endpoint(),
        "https://otlp.eu01.nr-data.net"
    );
    assert_invalid(
        &[("TOS_POOL_NEWRELIC_SHARE_EVENT_SAMPLE_RATE", "1.5")],
        &["newrelic.share_event_sample_rate"],
    );
}

#[test]
fn api_admin_password_and_pages() {
    assert_invalid(
        &[("TOS_POOL_API_ADMIN_PASSWORD", "elevenchars")],
        &["api.admin_password"],
    );
    assert_valid(&[("TOS_POOL_API_ADMIN_PASSWORD", "twelve-chars")]);
    assert_invalid(&[("TOS_POOL_API_PAGE_SIZE", "501")], &["api.page_size"]);
}

#[test]
fn notify_telegram_token_needs_a_chat() {
    assert_invalid(
        &[("TOS_POOL_NOTIFY_TELEGRAM_BOT_TOKEN", "123:abc")],
        &["notify.telegram_chat_id"],
    );
    assert_valid(&[
        ("TOS_POOL_NOTIFY_TELEGRAM_BOT_TOKEN", "123:abc"),
        ("TOS_POOL_NOTIFY_TELEGRAM_CHAT_ID", "-100"),
    ]);
    assert_invalid(
        &[("TOS_POOL_NOTIFY_DISCORD_WEBHOOK", "http://discord")],
        &["notify.discord_webhook"],
    );
}

#[test]
fn node_and_redis_urls_and_upstreams() {
    assert_invalid(&[("TOS_POOL_NODE_URL", "127.0.0.1:8080")], &["node.url"]);
    assert_invalid(
        &[("TOS_POOL_NODE_REQUEST_TIMEOUT", "0")],
        &["node.request_timeout"],
    );
    assert_invalid(
        &[("TOS_POOL_NODE_MAX_FAILURES", "0")],
        &["node.max_failures"],
    );
    assert_invalid(
        &[("TOS_POOL_REDIS_URL", "http://127.0.0.1:6379")],
        &["redis.url"],
    );
    let yaml = format!(
        "{}node:\n  upstreams:\n    - {{name: a, url: 'http://a/json_rpc', weight: 0}}\n    - {{name: a, url: 'b'}}\n",
        minimal_yaml()
    );
    let error = load(&yaml, &[]).expect_err("bad upstreams");
    assert_eq!(
        error.invalid_keys(),
        [
            "node.upstreams[0].weight",
            "node.upstreams[1].name",
            "node.upstreams[1].url"
        ],
        "{error}"
    );
    let yaml = format!(
        "{}node:\n  upstreams:\n    - {{name: a, url: 'http://a/json_rpc', weight: 3, timeout: 2s}}\n",
        minimal_yaml()
    );
    let config = load(&yaml, &[]).expect("valid");
    assert_eq!(config.node.effective_upstreams()[0].weight, 3);
}

#[test]
fn slave_proxies_batches_and_tls_pairs() {
    assert_invalid(
        &[("TOS_POOL_SLAVE_TRUSTED_PROXIES", "[10.0.0.0/33]")],
        &["slave.trusted_proxies[0]"],
    );
    assert_invalid(
        &[("TOS_POOL_SLAVE_PROXY_PROTOCOL", "true")],
        &["slave.trusted_proxies"],
    );
    assert_valid(&[
        ("TOS_POOL_SLAVE_PROXY_PROTOCOL", "true"),
        (
            "TOS_POOL_SLAVE_TRUSTED_PROXIES",
            "['10.0.0.0/8', '::1', 'fd00::/64']",
        ),
    ]);
    assert_invalid(
        &[("TOS_POOL_SLAVE_SHARE_BATCH_SIZE", "0")],
        &["slave.share_batch_size"],
    );
    assert_invalid(
        &[
            ("TOS_POOL_SLAVE_SHARE_BATCH_SIZE", "10001"),
            ("TOS_POOL_SLAVE_MAX_UNACKED_SHARES", "1000000"),
        ],
        &["slave.share_batch_size"],
    );
    assert_invalid(
        &[("TOS_POOL_SLAVE_MAX_UNACKED_SHARES", "10")],
        &["slave.max_unacked_shares"],
    );
    assert_invalid(
        &[("TOS_POOL_SLAVE_JOURNAL_FSYNC_INTERVAL", "2s")],
        &["slave.journal_fsync_interval"],
    );
    assert_invalid(&[("TOS_POOL_SLAVE_TLS_KEY", "/k.pem")], &["slave.tls_cert"]);
}

#[test]
fn security_lists_hold_addresses_of_the_network() {
    assert_invalid(
        &[(
            "TOS_POOL_SECURITY_BLACKLIST",
            &format!("[{DEVNET_ADDRESS}, {MAINNET_ADDRESS}]"),
        )],
        &["security.blacklist[1]"],
    );
    assert_valid(&[(
        "TOS_POOL_SECURITY_WHITELIST",
        &format!("[{DEVNET_ADDRESS}]"),
    )]);
    assert_invalid(
        &[("TOS_POOL_SECURITY_BAN_INVALID_PERCENT", "101")],
        &["security.ban_invalid_percent"],
    );
    assert_invalid(
        &[("TOS_POOL_SECURITY_MAX_REQUEST_SIZE", "100")],
        &["security.max_request_size"],
    );
}

#[test]
fn log_level_must_be_a_filter() {
    assert_invalid(&[("TOS_POOL_LOG_LEVEL", "tos_pool=loud")], &["log.level"]);
    assert_valid(&[("TOS_POOL_LOG_LEVEL", "warn,tos_pool_master=debug")]);
}

#[test]
fn role_rules_apply_only_to_their_role() {
    let config = assert_valid(&[]);
    let error = config
        .validate_for(Role::Master)
        .expect_err("master without TLS");
    assert_eq!(error.invalid_keys(), ["master.tls_cert"], "{error}");
    let error = config
        .validate_for(Role::Slave)
        .expect_err("xatum without TLS");
    assert_eq!(error.invalid_keys(), ["slave.tls_cert"], "{error}");

    let config = assert_valid(&[
        ("TOS_POOL_MASTER_ALLOW_PLAINTEXT", "true"),
        ("TOS_POOL_SLAVE_XATUM_ENABLED", "false"),
        ("TOS_POOL_SLAVE_MASTER_URL", "http://127.0.0.1:50051"),
    ]);
    config
        .validate_for(Role::Master)
        .expect("plaintext master on loopback");
    config
        .validate_for(Role::Slave)
        .expect("no TLS listener, plaintext allowed");

    let config = assert_valid(&[
        ("TOS_POOL_SLAVE_XATUM_ENABLED", "false"),
        ("TOS_POOL_SLAVE_MASTER_URL", "http://10.0.0.1:50051"),
    ]);
    let error = config
        .validate_for(Role::Slave)
        .expect_err("plaintext not allowed");
    assert_eq!(error.invalid_keys(), ["slave.master_url"], "{error}");
}

#[test]
fn a_plaintext_master_url_is_refused_off_loopback_even_when_plaintext_is_allowed() {
    for url in [
        "http://10.0.0.1:50051",
        "http://master.pool.internal:50051",
        "http://[2001:db8::1]:50051",
        "http://127.0.0.1@203.0.113.5:50051",
    ] {
        let config = assert_valid(&[
            ("TOS_POOL_MASTER_ALLOW_PLAINTEXT", "true"),
            ("TOS_POOL_SLAVE_XATUM_ENABLED", "false"),
            ("TOS_POOL_SLAVE_MASTER_URL", url),
        ]);
        let error = config
            .validate_for(Role::Slave)
            .expect_err("plaintext to another host");
        assert_eq!(error.invalid_keys(), ["slave.master_url"], "{url}: {error}");
        assert!(error.to_string().contains("https://"), "{error}");
    }
    for url in ["http://localhost:50051", "http://[::1]:50051"] {
        assert_valid(&[
            ("TOS_POOL_MASTER_ALLOW_PLAINTEXT", "true"),
            ("TOS_POOL_SLAVE_XATUM_ENABLED", "false"),
            ("TOS_POOL_SLAVE_MASTER_URL", url),
        ])
        .validate_for(Role::Slave)
        .expect("plaintext to loopback");
    }
}

#[test]
fn wss_needs_a_certificate_only_while_websocket_is_enabled() {
    let wss = [
        ("TOS_POOL_MASTER_ALLOW_PLAINTEXT", "true"),
        ("TOS_POOL_SLAVE_XATUM_ENABLED", "false"),
        ("TOS_POOL_SLAVE_MASTER_URL", "http://127.0.0.1:50051"),
        ("TOS_POOL_SLAVE_WEBSOCKET_TLS_BIND", "127.0.0.1:3337"),
    ];
    let config = assert_valid(&wss);
    assert!(config.slave.wss_bind().is_some());
    let error = config
        .validate_for(Role::Slave)
        .expect_err("wss without TLS");
    assert_eq!(error.invalid_keys(), ["slave.tls_cert"], "{error}");

    let mut off = wss.to_vec();
    off.push(("TOS_POOL_SLAVE_WEBSOCKET_ENABLED", "false"));
    let config = assert_valid(&off);
    assert_eq!(config.slave.wss_bind(), None);
    config
        .validate_for(Role::Slave)
        .expect("the WebSocket door is off, wss with it");
}

#[test]
fn http_limits_and_gateway_timeouts_are_sane() {
    assert_invalid(
        &[("TOS_POOL_HTTP_HEADER_TIMEOUT", "0s")],
        &["http.header_timeout"],
    );
    assert_invalid(
        &[("TOS_POOL_HTTP_REQUEST_TIMEOUT", "0s")],
        &["http.request_timeout"],
    );
    assert_invalid(
        &[("TOS_POOL_HTTP_MAX_CONNECTIONS", "0")],
        &["http.max_connections"],
    );
    assert_invalid(
        &[("TOS_POOL_MASTER_HANDSHAKE_TIMEOUT", "0s")],
        &["master.handshake_timeout"],
    );
    assert_invalid(
        &[("TOS_POOL_MASTER_MAX_CONNECTIONS", "0")],
        &["master.max_connections"],
    );
    assert_invalid(
        &[
            ("TOS_POOL_MASTER_KEEPALIVE_INTERVAL", "30s"),
            ("TOS_POOL_MASTER_IDLE_TIMEOUT", "30s"),
        ],
        &["master.idle_timeout"],
    );
    let config = assert_valid(&[
        ("TOS_POOL_HTTP_HEADER_TIMEOUT", "2s"),
        ("TOS_POOL_MASTER_IDLE_TIMEOUT", "21s"),
    ]);
    assert_eq!(
        config.http.header_timeout,
        std::time::Duration::from_secs(2)
    );
    assert!(
        Config::default().http.header_timeout <= std::time::Duration::from_secs(30),
        "a half-sent request is closed within 30 s by default"
    );
}

#[test]
fn admin_login_throttle_is_sane() {
    assert_invalid(
        &[("TOS_POOL_API_ADMIN_MAX_FAILURES", "0")],
        &["api.admin_max_failures"],
    );
    assert_invalid(
        &[("TOS_POOL_API_ADMIN_LOCKOUT", "0s")],
        &["api.admin_lockout"],
    );
    let config = assert_valid(&[("TOS_POOL_API_ADMIN_LOCKOUT", "15m")]);
    assert_eq!(
        config.api.admin_lockout,
        std::time::Duration::from_secs(900)
    );
    assert_eq!(config.api.admin_max_failures, 5);
}
