//! `tos-pool-master migrate-config` turns the Go pool's example config into
//! one that `--check` accepts, and loading the Go config directly names the
//! first key only the Go pool has and points to `migrate-config`.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The Go pool's config.example.yaml, key for key, with a valid mainnet
/// fee address (its placeholder is not one).
const GO_EXAMPLE: &str = r#"# TOS Pool Configuration
pool:
  name: "TOS Mining Pool"
  fee: 1.0
  fee_address: "tos1qsl6sj2u0gp37tr6drrq964rd4d8gnaxnezgytmt0cfltnp2wsgqqak28je"
node:
  url: "http://127.0.0.1:8545"
  timeout: 10s
redis:
  url: "127.0.0.1:6379"
  password: ""
  db: 0
master:
  enabled: true
  bind: "0.0.0.0:3221"
  secret: "change_this_to_a_secure_random_string"
slave:
  enabled: true
  master_url: "127.0.0.1:3221"
  stratum_bind: "0.0.0.0:3333"
  stratum_tls_bind: "0.0.0.0:3334"
  tls_cert: ""
  tls_key: ""
mining:
  initial_difficulty: 1000000
  min_difficulty: 1000
  max_difficulty: 1000000000000
  vardiff_target_time: 4
  vardiff_retarget: 90
  vardiff_variance: 30
  job_refresh_interval: 500ms
validation:
  trust_threshold: 50
  trust_check_percent: 75
  hashrate_window: 10m
  hashrate_large_window: 3h
unlocker:
  enabled: true
  interval: 60s
  immature_depth: 10
  mature_depth: 100
pplns:
  window: 2.0
payouts:
  enabled: true
  interval: 1h
  threshold: 100000000
  max_addresses_per_tx: 100
  gas_limit: 21000
  gas_price: "auto"
api:
  enabled: true
  bind: "0.0.0.0:8088"
  stats_cache: 10s
  cors_origins:
    - "*"
security:
  max_connections_per_ip: 100
  max_workers_per_address: 256
  ban_threshold: 30
  ban_duration: 1h
  rate_limit_shares: 100
log:
  level: "info"
  format: "console"
  file: ""
"#;

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tos-pool-migrate-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

fn master(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tos-pool-master"))
        .args(args)
        .env_remove("TOS_POOL_CONFIG")
        .output()
        .expect("run tos-pool-master")
}

#[test]
fn the_go_example_migrates_to_a_config_that_passes_check() {
    let dir = scratch("ok");
    let old = dir.join("old.yaml");
    std::fs::write(&old, GO_EXAMPLE).expect("write the Go config");
    let migrated = master(&["migrate-config", old.to_str().expect("utf-8 path")]);
    assert!(migrated.status.success(), "{migrated:?}");
    let yaml = String::from_utf8(migrated.stdout).expect("utf-8 output");
    assert!(yaml.contains("fee_percent: 1.0"), "{yaml}");
    assert!(yaml.contains("# dropped payouts.gas_price"), "{yaml}");
    let new = dir.join("new.yaml");
    std::fs::write(&new, &yaml).expect("write the new config");
    let checked = master(&["--check", "--config", new.to_str().expect("utf-8 path")]);
    assert!(checked.status.success(), "{checked:?}\n{yaml}");
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        stdout.contains("valid master config for mainnet"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_go_config_loaded_directly_names_the_key_and_the_command() {
    let dir = scratch("direct");
    let old = dir.join("old.yaml");
    std::fs::write(&old, GO_EXAMPLE).expect("write the Go config");
    let checked = master(&["--check", "--config", old.to_str().expect("utf-8 path")]);
    assert!(!checked.status.success());
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert!(stderr.contains("`pool.fee`"), "{stderr}");
    assert!(stderr.contains("migrate-config"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
