//! The `tos-pool-master` binary loads and validates its config.

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
    let output = Command::new(env!("CARGO_BIN_EXE_tos-pool-master"))
        .args(["--check", "--config", &dev_config()])
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run tos-pool-master");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid master config for devnet"));
}

#[test]
fn check_names_the_key_of_a_bad_override() {
    let output = Command::new(env!("CARGO_BIN_EXE_tos-pool-master"))
        .args(["--check", "--config", &dev_config()])
        .env("TOS_POOL_PROFILING_BIND", "0.0.0.0:6060")
        .output()
        .expect("run tos-pool-master");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("profiling.bind"), "{stderr}");
    assert!(stderr.contains("profiling.allow_remote"), "{stderr}");
}

#[test]
fn help_explains_the_role() {
    let output = Command::new(env!("CARGO_BIN_EXE_tos-pool-master"))
        .arg("--help")
        .output()
        .expect("run tos-pool-master");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("share ledger"), "{stdout}");
    assert!(stdout.contains("--config"), "{stdout}");
}
