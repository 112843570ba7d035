//! The `tos-pool-slave` binary loads and validates its config.

use std::path::Path;
use std::process::Command;

fn dev_config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/dev.yaml")
        .display()
        .to_string()
}

#[test]
fn check_accepts_the_dev_config() {
    let output = Command::new(env!("CARGO_BIN_EXE_tos-pool-slave"))
        .args(["--check", "--config", &dev_config()])
        .output()
        .expect("run tos-pool-slave");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid slave config for devnet"));
}

#[test]
fn check_refuses_a_bad_fee_address() {
    let output = Command::new(env!("CARGO_BIN_EXE_tos-pool-slave"))
        .args(["--check", "--config", &dev_config()])
        .env(
            "TOS_POOL_POOL_FEE_ADDRESS",
            "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq55",
        )
        .output()
        .expect("run tos-pool-slave");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pool.fee_address"), "{stderr}");
    assert!(stderr.contains("checksum"), "{stderr}");
}
