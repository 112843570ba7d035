//! Key by key: what becomes of each documented key of the Go pool's config,
//! and that the whole converted example loads and passes both roles' rules.

use serde_yaml::Value;

use super::migrate_go_config;
use crate::config::{Config, ConfigError, Role};

/// A mainnet address (TOS.md): the Go example's placeholder is not a valid
/// address, so the fixture carries this real one.
const MAINNET_ADDRESS: &str = "tos1qsl6sj2u0gp37tr6drrq964rd4d8gnaxnezgytmt0cfltnp2wsgqqak28je";

/// The Go pool's documented config, every section and key, with a valid
/// fee address (`MAINNET_ADDRESS`); the master's migrate-config tests read
/// the same file.
pub(crate) const GO_EXAMPLE: &str = include_str!("../../../tests/fixtures/go-pool-config.yaml");

fn migrated() -> super::Migration {
    migrate_go_config(GO_EXAMPLE).expect("the example converts")
}

#[track_caller]
fn assert_value(key: &str, expected: Value) {
    let migration = migrated();
    assert_eq!(migration.value(key), Some(&expected), "{key}");
    assert!(migration.note(key).is_some(), "{key} has a comment");
}

#[track_caller]
fn assert_dropped(old_key: &str, reason_part: &str) {
    let migration = migrated();
    let note = migration
        .note(old_key)
        .unwrap_or_else(|| panic!("{old_key} has a note"));
    assert!(note.contains(reason_part), "{old_key}: {note}");
}

#[test]
fn pool_keys_are_renamed() {
    assert_value("pool.fee_percent", Value::from(1.0));
    assert_value("pool.name", Value::from("TOS Mining Pool"));
    assert_value("pool.fee_address", Value::from(MAINNET_ADDRESS));
    assert_value("network", Value::from("mainnet"));
}

#[test]
fn a_testnet_address_means_testnet() {
    let text = "pool:\n  fee_address: tst1abc\n";
    let migration = migrate_go_config(text).unwrap();
    assert_eq!(migration.value("network"), Some(&Value::from("testnet")));
}

#[test]
fn node_keys_become_json_rpc_urls_and_durations() {
    assert_value("node.url", Value::from("http://127.0.0.1:8545/json_rpc"));
    assert_value("node.request_timeout", Value::from("10s"));
    assert_value("node.health_check_interval", Value::from("5s"));
    assert_value("node.max_failures", Value::from(3));
    assert_dropped("node.health_check_timeout", "upstream's own timeout");
    let migration = migrated();
    let Some(Value::Sequence(upstreams)) = migration.value("node.upstreams") else {
        panic!("upstreams are written");
    };
    assert_eq!(upstreams.len(), 2);
    assert_eq!(
        upstreams[1].get("url"),
        Some(&Value::from("http://backup1.example.com:8545/json_rpc"))
    );
    assert_eq!(upstreams[1].get("timeout"), Some(&Value::from("15s")));
    assert_eq!(upstreams[1].get("weight"), Some(&Value::from(5)));
}

#[test]
fn redis_host_port_and_db_become_one_url() {
    assert_value("redis.url", Value::from("redis://127.0.0.1:6379/2"));
    // The empty password is not written.
    assert_eq!(migrated().value("redis.password"), None);
    let with_password = "redis:\n  url: 10.0.0.5:6380\n  password: pw\n";
    let migration = migrate_go_config(with_password).unwrap();
    assert_eq!(
        migration.value("redis.url"),
        Some(&Value::from("redis://10.0.0.5:6380/0"))
    );
    assert_eq!(migration.value("redis.password"), Some(&Value::from("pw")));
}

#[test]
fn master_link_stays_on_loopback_until_tls_is_set() {
    assert_value("master.bind", Value::from("127.0.0.1:3221"));
    assert_value("master.allow_plaintext", Value::Bool(true));
    assert!(
        migrated()
            .note("master.bind")
            .unwrap()
            .contains("0.0.0.0:3221")
    );
    assert_dropped("master.enabled", "tos-pool");
    assert_value(
        "master.secret",
        Value::from("change_this_to_a_secure_random_string"),
    );
}

#[test]
fn slave_keys_follow_their_listeners() {
    assert_value("slave.master_url", Value::from("http://127.0.0.1:3221"));
    assert_value("slave.stratum_bind", Value::from("0.0.0.0:3333"));
    assert_value("slave.websocket_bind", Value::from("0.0.0.0:3335"));
    assert_dropped("slave.stratum_tls_bind", "no tls_cert");
    assert_value("slave.xatum_enabled", Value::Bool(false));
    assert!(
        migrated()
            .note("slave.xatum_enabled")
            .unwrap()
            .contains("Xatum runs over TLS")
    );
    assert_dropped("slave.getwork_bind", "HTTP GetWork");
    assert_dropped("slave.enabled", "tos-pool");
    let remote = "slave:\n  master_url: 10.0.0.1:3221\n";
    let migration = migrate_go_config(remote).unwrap();
    assert_eq!(
        migration.value("slave.master_url"),
        Some(&Value::from("https://10.0.0.1:3221"))
    );
}

#[test]
fn mining_seconds_become_durations() {
    assert_value("mining.vardiff_target_time", Value::from("4s"));
    assert_value("mining.vardiff_retarget", Value::from("90s"));
    assert_value("mining.job_refresh_interval", Value::from("500ms"));
    assert_value("mining.initial_difficulty", Value::from(1_000_000));
    assert_value("validation.hashrate_large_window", Value::from("3h"));
    assert_value("unlocker.interval", Value::from("1m"));
    assert_value("pplns.max_window", Value::from(4.0));
}

#[test]
fn withdrawal_fee_rate_turns_from_a_fraction_into_a_percent() {
    assert_value("payouts.withdrawal_fee_rate", Value::from(1.0));
    assert_value("payouts.withdrawal_fee", Value::from(0));
    assert_dropped("payouts.gas_limit", "no gas");
    assert_dropped("payouts.gas_price", "no gas");
    // Enabled without a wallet could not pay: written as off, saying why.
    assert_value("payouts.enabled", Value::Bool(false));
    let with_wallet = "payouts:\n  enabled: true\n  wallet_rpc: 127.0.0.1:8081\n";
    let migration = migrate_go_config(with_wallet).unwrap();
    assert_eq!(
        migration.value("payouts.wallet_rpc"),
        Some(&Value::from("http://127.0.0.1:8081/json_rpc"))
    );
    assert_eq!(migration.value("payouts.enabled"), Some(&Value::Bool(true)));
}

#[test]
fn admin_enabled_becomes_the_presence_of_a_password() {
    assert_value("api.admin_password", Value::from("your-admin-password"));
    assert_value("api.stats_cache", Value::from("10s"));
    let off = "api:\n  admin_enabled: false\n  admin_password: secret-password\n";
    let migration = migrate_go_config(off).unwrap();
    assert_eq!(migration.value("api.admin_password"), None);
    assert!(migration.note("api.admin_enabled").is_some());
}

#[test]
fn security_keys_with_another_meaning_are_converted() {
    assert_value("security.max_connections_per_ip", Value::from(100));
    assert_value("security.ipv6_prefix", Value::from(128));
    assert_value("security.ban_invalid_percent", Value::from(30.0));
    assert_value("security.max_shares_per_second", Value::from(100));
    assert_value("security.ban_duration", Value::from("1h"));
    assert_dropped("security.max_workers_per_address", "no such limit");
    assert_dropped("security.whitelist", "10.1.2.3, 192.168.0.0/24");
    assert_eq!(migrated().value("security.whitelist"), None);
}

#[test]
fn notify_names_are_mapped() {
    assert_value(
        "notify.discord_webhook",
        Value::from("https://discord.com/api/webhooks/1/abc"),
    );
    assert_value("notify.telegram_bot_token", Value::from("123:token"));
    assert_value("notify.telegram_chat_id", Value::from("-100200"));
    assert_dropped("notify.enabled", "webhook");
    assert_dropped("notify.pool_url", "no link");
}

#[test]
fn unknown_keys_are_dropped_with_a_note() {
    let text = "pool:\n  colour: blue\nweird: 1\n";
    let migration = migrate_go_config(text).unwrap();
    assert!(migration.note("pool.colour").unwrap().contains("check"));
    assert!(migration.note("weird").unwrap().contains("check"));
}

#[test]
fn the_converted_example_passes_both_roles_checks() {
    let yaml = migrated().to_yaml();
    let config =
        Config::from_yaml_str(&yaml, Vec::new()).unwrap_or_else(|error| panic!("{error}\n{yaml}"));
    config
        .validate_for(Role::Master)
        .unwrap_or_else(|error| panic!("{error}\n{yaml}"));
    config
        .validate_for(Role::Slave)
        .unwrap_or_else(|error| panic!("{error}\n{yaml}"));
    assert_eq!(config.pool.fee_percent, 1.0);
    assert_eq!(config.payouts.withdrawal_fee_rate, 1.0);
    assert!(yaml.contains("# dropped payouts.gas_limit"), "{yaml}");
}

#[test]
fn an_empty_config_needs_only_what_the_go_pool_required_too() {
    let yaml = migrate_go_config("").unwrap().to_yaml();
    let error = Config::from_yaml_str(&yaml, Vec::new()).expect_err("no fee address, no secret");
    assert_eq!(
        error.invalid_keys(),
        ["pool.fee_address", "master.secret"],
        "{error}\n{yaml}"
    );
}

#[test]
fn loading_a_go_config_names_the_key_and_points_to_migrate_config() {
    let error = Config::from_yaml_str(GO_EXAMPLE, Vec::new()).expect_err("a Go config");
    assert!(
        matches!(&error, ConfigError::GoPoolKey { key } if key == "pool.fee"),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains("`pool.fee`"), "{text}");
    assert!(text.contains("migrate-config"), "{text}");
}
