//! The example configs in `config/` load through the real loader, pass the
//! rules of the roles that read them, and between them explain every key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tos_pool_common::config::{Config, LogFormat, Role};
use tos_pool_common::network::Network;

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../config")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The production examples keep the secret out of the file, as operators should.
fn secret_env() -> Vec<(String, String)> {
    vec![(
        "TOS_POOL_MASTER_SECRET".to_string(),
        "a-production-like-secret-0123".to_string(),
    )]
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

#[test]
fn master_example_is_a_valid_master_config() {
    let config = Config::from_yaml_str(&example("master.yaml"), secret_env()).expect("loads");
    config
        .validate_for(Role::Master)
        .expect("valid for the master");
    assert_eq!(config.network, Network::Mainnet);
    assert_eq!(config.node.upstreams.len(), 2);
    assert_eq!(config.node.effective_upstreams()[0].weight, 3);
    assert_eq!(
        config.payouts.wallet_rpc.as_deref(),
        Some("http://127.0.0.1:8081/json_rpc")
    );
    assert_eq!(config.log.format, LogFormat::Json);
    assert!(!config.master.allow_plaintext);
}

#[test]
fn master_example_without_its_secret_says_so() {
    let error = Config::from_yaml_str(&example("master.yaml"), Vec::new()).expect_err("no secret");
    assert_eq!(error.invalid_keys(), ["master.secret"], "{error}");
}

#[test]
fn slave_example_is_a_valid_slave_config() {
    let config = Config::from_yaml_str(&example("slave.yaml"), secret_env()).expect("loads");
    config.validate_for(Role::Slave).expect("valid for a slave");
    assert_eq!(config.slave.stratum_tls_bind, Some(addr("0.0.0.0:3334")));
    assert!(config.slave.proxy_protocol);
    assert_eq!(config.slave.share_flush_interval, Duration::from_millis(20));
    assert_eq!(config.security.max_request_size, 4096);
}

#[test]
fn dev_example_is_the_local_cluster_for_both_roles() {
    let config = Config::from_yaml_str(&example("dev.yaml"), Vec::new()).expect("loads");
    config
        .validate_for(Role::Master)
        .expect("valid for the master");
    config
        .validate_for(Role::Slave)
        .expect("valid for the slave");
    assert_eq!(config.network, Network::Devnet);
    assert_eq!(config.master.bind, addr("127.0.0.1:50051"));
    assert_eq!(config.api.bind, addr("127.0.0.1:8000"));
    assert_eq!(config.slave.stratum_bind, addr("127.0.0.1:3333"));
    assert_eq!(config.slave.stratum_tls_bind, Some(addr("127.0.0.1:3334")));
    assert_eq!(config.slave.websocket_bind, addr("127.0.0.1:3335"));
    assert_eq!(config.slave.xatum_bind, addr("127.0.0.1:3336"));
    assert_eq!(config.slave.http_bind, addr("127.0.0.1:9100"));
    assert_eq!(config.redis.url, "redis://127.0.0.1:6390/0");
    assert_eq!(config.node.url, "http://127.0.0.1:18080/json_rpc");
    assert_eq!(
        config.payouts.wallet_rpc.as_deref(),
        Some("http://127.0.0.1:18081/json_rpc")
    );
    assert!(config.master.allow_plaintext);
    assert!(config.mining.initial_difficulty < Network::Devnet.minimum_difficulty());
    assert_eq!(
        hex::encode(config.miner_public_key().expect("fee address key")),
        "8c9240b456a9e6dc65c377a1048d745f94a08cdb7f44cbcd7b46f34048871134"
    );
}

#[test]
fn dev_example_takes_overrides() {
    let env = vec![(
        "TOS_POOL_REDIS_URL".to_string(),
        "redis://127.0.0.1:7000/1".to_string(),
    )];
    let config = Config::from_yaml_str(&example("dev.yaml"), env).expect("loads");
    assert_eq!(config.redis.url, "redis://127.0.0.1:7000/1");
}

#[test]
fn every_key_is_explained_in_an_example() {
    let documented = format!("{}\n{}", example("master.yaml"), example("slave.yaml"));
    let defaults = serde_yaml::to_value(Config::default()).expect("defaults serialize");
    let serde_yaml::Value::Mapping(sections) = defaults else {
        panic!("the config serializes as a mapping");
    };
    let mut missing = Vec::new();
    for (section, keys) in sections {
        let section = section
            .as_str()
            .expect("section names are text")
            .to_string();
        if !documented.contains(&format!("\n{section}:")) {
            missing.push(section.clone());
        }
        let serde_yaml::Value::Mapping(keys) = keys else {
            continue;
        };
        for key in keys.keys() {
            let key = key.as_str().expect("key names are text");
            let written = [format!("  {key}:"), format!("# {key}:")];
            if !written
                .iter()
                .any(|form| documented.contains(form.as_str()))
            {
                missing.push(format!("{section}.{key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys not in config/master.yaml or config/slave.yaml: {missing:?}"
    );
}
