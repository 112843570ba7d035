//! `tos-pool-master migrate-config` turns the Go pool's example config into
//! one that `--check` accepts, and loading the Go config directly names the
//! first key only the Go pool has and points to `migrate-config`.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The Go pool's documented config, every key, with a valid mainnet fee
/// address: the fixture the key-by-key tests of tos-pool-common convert.
const GO_EXAMPLE: &str = include_str!("../../common/tests/fixtures/go-pool-config.yaml");

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
