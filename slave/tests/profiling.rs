//! The real `tos-pool-slave` binary with profiling enabled: it serves every
//! `/debug/pprof/` endpoint while its master link retries (profiling must work
//! most when something is wrong), its CPU profile and its jemalloc heap
//! profile decode as pprof protobuf with samples, and SIGTERM stops it.

#[path = "../../integration-tests/tests/shared/pprof_probe.rs"]
mod pprof_probe;

use std::process::Command;

use pprof_probe::{check_every_profile, spawn_profiled, stop_with_sigterm};

#[test]
fn the_slave_serves_real_profiles_until_sigterm() {
    // Nothing listens on port 1: the slave keeps retrying its master link.
    let mut command = Command::new(env!("CARGO_BIN_EXE_tos-pool-slave"));
    command
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config/dev.yaml"),
        ])
        .env("TOS_POOL_SLAVE_MASTER_URL", "http://127.0.0.1:1")
        .env("TOS_POOL_SLAVE_STRATUM_BIND", "127.0.0.1:0")
        .env("TOS_POOL_SLAVE_STRATUM_TLS_BIND", "")
        .env("TOS_POOL_SLAVE_WEBSOCKET_ENABLED", "false")
        .env("TOS_POOL_SLAVE_XATUM_ENABLED", "false")
        .env("TOS_POOL_SLAVE_HTTP_BIND", "127.0.0.1:0");
    let (mut slave, addr) = spawn_profiled(command);

    check_every_profile(addr, "tos-pool-slave");
    stop_with_sigterm(&mut slave);
}
