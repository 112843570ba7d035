//! `tos-pool-slave migrate-config` converts a Go pool config (the slave's
//! part of it) into one the slave's `--check` accepts, and the slave too
//! refuses a Go config loaded directly, naming the key.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A Go pool config as a slave-only host had it.
const GO_SLAVE: &str = r#"pool:
  fee: 1.5
  fee_address: "tos1qsl6sj2u0gp37tr6drrq964rd4d8gnaxnezgytmt0cfltnp2wsgqqak28je"
master:
  enabled: false
  secret: "a-shared-secret-of-the-cluster"
slave:
  enabled: true
  master_url: "127.0.0.1:3221"
  stratum_bind: "0.0.0.0:3333"
  websocket_enabled: true
  websocket_bind: "0.0.0.0:3335"
security:
  max_connections_per_ip: 50
  ban_threshold: 20
  ban_duration: 2h
  rate_limit_shares: 100
log:
  level: "debug"
  format: "json"
"#;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tos-pool-slave-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

fn slave(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tos-pool-slave"))
        .args(args)
        .env_remove("TOS_POOL_CONFIG")
        .output()
        .expect("run tos-pool-slave")
}

#[test]
fn a_go_slave_config_migrates_to_one_the_slave_accepts() {
    let dir = scratch();
    let old = dir.join("old.yaml");
    std::fs::write(&old, GO_SLAVE).expect("write the Go config");
    let old = old.to_str().expect("utf-8 path");

    let direct = slave(&["--check", "--config", old]);
    assert!(!direct.status.success());
    let stderr = String::from_utf8_lossy(&direct.stderr);
    assert!(
        stderr.contains("`pool.fee`") && stderr.contains("migrate-config"),
        "{stderr}"
    );

    let migrated = slave(&["migrate-config", old]);
    assert!(migrated.status.success(), "{migrated:?}");
    let yaml = String::from_utf8(migrated.stdout).expect("utf-8 output");
    assert!(yaml.contains("ban_invalid_percent: 20.0"), "{yaml}");
    assert!(yaml.contains("# dropped slave.enabled"), "{yaml}");
    let new = dir.join("new.yaml");
    std::fs::write(&new, &yaml).expect("write the new config");
    let checked = slave(&["--check", "--config", new.to_str().expect("utf-8 path")]);
    assert!(checked.status.success(), "{checked:?}\n{yaml}");
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        stdout.contains("valid slave config for mainnet (master http://127.0.0.1:3221"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
