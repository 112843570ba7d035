//! The real `tos-pool-master` binary with profiling enabled: it stays up,
//! serves every `/debug/pprof/` endpoint, its CPU profile and its jemalloc
//! heap profile decode as pprof protobuf with samples, and SIGTERM stops it.

#[path = "../../integration-tests/tests/shared/pprof_probe.rs"]
mod pprof_probe;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pprof_probe::{Process, check_every_profile, spawn_profiled, stop_with_sigterm};

/// A private `redis-server` on a free loopback port: the master's store of
/// record must be reachable for the master to start.
fn start_redis() -> (Process, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server on PATH (scripts/ensure-deps installs it)");
    let redis = Process(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (redis, port)
}

#[test]
fn the_master_serves_real_profiles_until_sigterm() {
    let (_redis, redis_port) = start_redis();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tos-pool-master"));
    command
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../config/dev.yaml"),
        ])
        .env(
            "TOS_POOL_REDIS_URL",
            format!("redis://127.0.0.1:{redis_port}/0"),
        )
        .env("TOS_POOL_MASTER_BIND", "127.0.0.1:0");
    let (mut master, addr) = spawn_profiled(command);

    check_every_profile(addr, "tos-pool-master");
    stop_with_sigterm(&mut master);
}
