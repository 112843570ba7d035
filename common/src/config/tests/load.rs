//! Parsing, defaults, unknown keys and environment overrides.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::config::{LogFormat, NewRelicRegion, Role};
use crate::network::Network;

#[test]
fn minimal_config_takes_every_default() {
    let config = load(&minimal_yaml(), &[]).expect("minimal config is valid");
    assert_eq!(config.network, Network::Devnet);
    assert_eq!(config.pool.fee_percent, 1.0);
    assert_eq!(config.node.url, "http://127.0.0.1:8080/json_rpc");
    assert_eq!(config.redis.key_prefix, "tospool");
    assert_eq!(
        config.master.bind,
        "127.0.0.1:50051".parse::<SocketAddr>().expect("addr")
    );
    assert_eq!(config.slave.share_flush_interval, Duration::from_millis(20));
    assert_eq!(
        config.mining.job_refresh_interval,
        Duration::from_millis(500)
    );
    assert_eq!(
        config.validation.hashrate_large_window,
        Duration::from_secs(3 * 3600)
    );
    assert_eq!(config.log.format, LogFormat::Console);
    assert_eq!(config.newrelic.region, NewRelicRegion::Us);
    assert_eq!(config.newrelic.otlp_endpoint(), "https://otlp.nr-data.net");
    let upstreams = config.node.effective_upstreams();
    assert_eq!(upstreams.len(), 1);
    assert_eq!(upstreams[0].url, config.node.url);
}

#[test]
fn defaults_round_trip_through_yaml() {
    let config = load(&minimal_yaml(), &[]).expect("valid");
    let text = serde_yaml::to_string(&config).expect("serializes");
    assert!(text.contains("share_flush_interval: 20ms"), "{text}");
    let again = load(&text, &[]).expect("its own output loads");
    assert_eq!(again, config);
}

#[test]
fn empty_document_reports_every_missing_value_at_once() {
    let error = load("", &[]).expect_err("nothing is set");
    assert_eq!(
        error.invalid_keys(),
        ["pool.fee_address", "master.secret"],
        "{error}"
    );
    assert!(
        error.to_string().contains("config has 2 invalid values"),
        "{error}"
    );
}

#[test]
fn empty_sections_and_anchors_are_accepted() {
    let yaml = format!(
        "{}redis:\napi:\n  bind: &b 127.0.0.1:8001\nprofiling:\n  bind: *b\n",
        minimal_yaml()
    );
    let config = load(&yaml, &[]).expect("valid");
    assert_eq!(config.redis.url, "redis://127.0.0.1:6379/0");
    assert_eq!(config.api.bind.port(), 8001);
    assert_eq!(config.profiling.bind, config.api.bind);
}

#[test]
fn durations_accept_units_and_bare_seconds() {
    let yaml = format!(
        "{}node:\n  request_timeout: 250ms\n  health_check_interval: 7\nunlocker:\n  interval: 1d\n",
        minimal_yaml()
    );
    let config = load(&yaml, &[]).expect("valid");
    assert_eq!(config.node.request_timeout, Duration::from_millis(250));
    assert_eq!(config.node.health_check_interval, Duration::from_secs(7));
    assert_eq!(config.unlocker.interval, Duration::from_secs(86_400));
    let bad = format!("{}node:\n  request_timeout: 5 sec\n", minimal_yaml());
    let error = load(&bad, &[]).expect_err("unknown unit");
    assert!(
        matches!(&error, ConfigError::Type { key, .. } if key == "node.request_timeout"),
        "{error}"
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let typo = format!(
        "{}pool:\n  fe_address: x\n",
        minimal_yaml().replace("pool:\n", "pool_old:\n")
    );
    let error = load(&typo, &[]).expect_err("unknown section");
    assert!(
        matches!(&error, ConfigError::UnknownKey { key, .. } if key == "pool_old"),
        "{error}"
    );

    let in_section = format!("{}mining:\n  initial_dificulty: 5\n", minimal_yaml());
    let error = load(&in_section, &[]).expect_err("typo in a key");
    assert!(
        matches!(&error, ConfigError::UnknownKey { key, expected } if key == "mining.initial_dificulty"
            && expected.contains("initial_difficulty")),
        "{error}"
    );

    let in_list = format!(
        "{}node:\n  upstreams:\n    - {{name: a, url: 'http://x/json_rpc', wieght: 2}}\n",
        minimal_yaml()
    );
    let error = load(&in_list, &[]).expect_err("typo inside an upstream");
    assert!(
        matches!(&error, ConfigError::Type { key, message } if key.starts_with("node.upstreams")
            && message.contains("wieght")),
        "{error}"
    );
}

#[test]
fn wrong_types_name_their_key() {
    let yaml = format!("{}mining:\n  initial_difficulty: lots\n", minimal_yaml());
    let error = load(&yaml, &[]).expect_err("not a number");
    assert!(
        matches!(&error, ConfigError::Type { key, .. } if key == "mining.initial_difficulty"),
        "{error}"
    );
    let error = load("network: moonnet\n", &[]).expect_err("unknown network");
    assert!(
        matches!(&error, ConfigError::Type { key, .. } if key == "network"),
        "{error}"
    );
    let error =
        load(&format!("{}log: verbose\n", minimal_yaml()), &[]).expect_err("section as scalar");
    assert!(
        matches!(&error, ConfigError::Type { key, .. } if key == "log"),
        "{error}"
    );
    let error = load("- a\n- b\n", &[]).expect_err("not a mapping");
    assert!(matches!(error, ConfigError::Type { .. }), "{error}");
}

#[test]
fn yaml_syntax_errors_carry_the_line() {
    let error = load("network: devnet\npool:\n  name: [unclosed\n", &[]).expect_err("bad yaml");
    let ConfigError::Yaml { line, .. } = &error else {
        panic!("expected a YAML error, got {error}");
    };
    assert!(line.is_some_and(|line| line >= 3), "{error}");
    assert!(error.to_string().contains("line"), "{error}");
}

#[test]
fn environment_overrides_win_over_the_file() {
    let config = load(
        &minimal_yaml(),
        &[
            ("TOS_POOL_MINING_INITIAL_DIFFICULTY", "2000"),
            ("TOS_POOL_REDIS_PASSWORD", "hunter2hunter2"),
            ("TOS_POOL_SLAVE_SHARE_FLUSH_INTERVAL", "5ms"),
            ("TOS_POOL_SLAVE_STRATUM_TLS_BIND", "127.0.0.1:4444"),
            (
                "TOS_POOL_SLAVE_TRUSTED_PROXIES",
                "[10.0.0.0/8, 192.168.1.1]",
            ),
            ("TOS_POOL_LOG_FORMAT", "json"),
            ("TOS_POOL_API_ENABLED", "false"),
            ("TOS_POOL_CONFIG", "ignored.yaml"),
            ("PATH", "/bin"),
        ],
    )
    .expect("valid");
    assert_eq!(config.mining.initial_difficulty, 2000);
    assert_eq!(config.redis.password.as_deref(), Some("hunter2hunter2"));
    assert_eq!(config.slave.share_flush_interval, Duration::from_millis(5));
    assert_eq!(
        config.slave.stratum_tls_bind,
        Some("127.0.0.1:4444".parse().expect("addr"))
    );
    assert_eq!(config.slave.trusted_proxies, ["10.0.0.0/8", "192.168.1.1"]);
    assert_eq!(config.log.format, LogFormat::Json);
    assert!(!config.api.enabled);
}

#[test]
fn network_override_changes_what_addresses_must_look_like() {
    let error =
        load(&minimal_yaml(), &[("TOS_POOL_NETWORK", "mainnet")]).expect_err("devnet address");
    assert_eq!(error.invalid_keys(), ["pool.fee_address"], "{error}");
    let yaml = minimal_yaml().replace(DEVNET_ADDRESS, MAINNET_ADDRESS);
    let config = load(&yaml, &[("TOS_POOL_NETWORK", "mainnet")]).expect("mainnet address");
    assert_eq!(config.network, Network::Mainnet);
}

#[test]
fn misspelt_or_mistyped_variables_are_errors_naming_the_variable() {
    for (name, value) in [
        ("TOS_POOL_REDIS_PASWORD", "x"),
        ("TOS_POOL_MINNING_JOB_BACKLOG", "4"),
        ("TOS_POOL_MINING_INITIAL_DIFFICULTY", "lots"),
        ("TOS_POOL_NETWORK", "moonnet"),
        ("TOS_POOL_NODE_REQUEST_TIMEOUT", "5 parsecs"),
    ] {
        let error = load(&minimal_yaml(), &[(name, value)]).expect_err("must not pass silently");
        assert!(
            matches!(&error, ConfigError::Env { variable, .. } if variable == name),
            "{name}: {error}"
        );
        assert!(error.to_string().contains(name), "{error}");
    }
}

#[test]
fn secrets_can_come_from_the_environment_only() {
    let yaml = format!("network: devnet\npool:\n  fee_address: {DEVNET_ADDRESS}\n");
    let config = load(&yaml, &[("TOS_POOL_MASTER_SECRET", "an-env-secret-0123")]).expect("valid");
    assert_eq!(config.master.secret, "an-env-secret-0123");
}

#[test]
fn fee_address_and_miner_key_resolve() {
    let config = load(&minimal_yaml(), &[]).expect("valid");
    let key = config.miner_public_key().expect("from the fee address");
    assert_eq!(hex::encode(key), DEVNET_KEY);
    assert_eq!(config.fee_address().expect("parses").public_key(), key);
    let other = "11".repeat(32);
    let config = load(&minimal_yaml(), &[("TOS_POOL_POOL_MINER_KEY", &other)]).expect("valid");
    assert_eq!(
        hex::encode(config.miner_public_key().expect("explicit key")),
        other
    );
}

#[test]
fn load_reports_a_missing_file_with_its_path() {
    let error =
        Config::load(std::path::Path::new("/nonexistent/tos-pool.yaml")).expect_err("no file");
    assert!(matches!(error, ConfigError::Io { .. }), "{error}");
    assert!(
        error.to_string().contains("/nonexistent/tos-pool.yaml"),
        "{error}"
    );
    let error = Config::load_for(std::path::Path::new("/nonexistent/x.yaml"), Role::Slave)
        .expect_err("no file");
    assert!(matches!(error, ConfigError::Io { .. }), "{error}");
}
