//! `tos-pool` spawned as a process runs a working pool from one config: a
//! Stratum miner gets a job, its share is accepted and the master's API
//! reports it from the ledger; SIGTERM stops the process cleanly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tos_pool_common::address::Address;
use tos_pool_common::network::Network;
use tos_pool_integration_tests::devnet::{Devnet, DevnetConfig};
use tos_pool_integration_tests::miners::{MinerOptions, StratumMiner, Transport};
use tos_pool_integration_tests::process::stop_with_sigterm;
use tos_pool_integration_tests::redis_server::RedisServer;

const DEADLINE: Duration = Duration::from_secs(60);
/// The devnet address of the key the emulator signs with (TOS.md).
const FEE_ADDRESS: &str = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Kills the child if the test fails before stopping it.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One GET on a fresh connection; the body, or `None` while nothing listens.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(DEADLINE)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_runs_master_and_slave_and_records_a_share() {
    let redis = RedisServer::start().expect("start Redis");
    let devnet = Devnet::start(DevnetConfig::default())
        .await
        .expect("start the devnet emulator");
    let (master, stratum, api) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("pool.yaml");
    std::fs::write(
        &config,
        format!(
            "network: devnet
pool:
  fee_address: {FEE_ADDRESS}
node:
  url: {node}
redis:
  url: {redis}
master:
  bind: 127.0.0.1:{master}
  secret: one-process-pool-test-secret
  allow_plaintext: true
slave:
  master_url: http://127.0.0.1:{master}
  stratum_bind: 127.0.0.1:{stratum}
  http_bind: 127.0.0.1:{http}
  xatum_enabled: false
mining:
  initial_difficulty: 1
  min_difficulty: 1
payouts:
  enabled: false
api:
  bind: 127.0.0.1:{api}
log:
  level: warn
",
            node = devnet.url(),
            redis = redis.url(),
            http = free_port(),
        ),
    )
    .expect("write the config");

    let child = Command::new(env!("CARGO_BIN_EXE_tos-pool"))
        .arg("--config")
        .arg(&config)
        .env_remove("TOS_POOL_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tos-pool");
    let mut running = Running(Some(child));

    let stratum_addr = SocketAddr::from(([127, 0, 0, 1], stratum));
    let options = MinerOptions::default().with_timeout(Duration::from_secs(20));
    let started = Instant::now();
    let miner = loop {
        match StratumMiner::connect(stratum_addr, Transport::Tcp, options.clone()).await {
            Ok(miner) => break miner,
            Err(_) if started.elapsed() < DEADLINE => {
                if let Some(child) = &mut running.0
                    && let Ok(Some(status)) = child.try_wait()
                {
                    panic!("tos-pool exited before serving: {status:?}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the slave's Stratum door never opened: {error}"),
        }
    };
    let address = Address::new([7; 32], Network::Devnet).to_string();
    miner.subscribe().await.expect("subscribe");
    miner
        .authorize(&format!("{address}.rig"), "x")
        .await
        .expect("authorize");
    let job = miner
        .next_job(DEADLINE)
        .await
        .expect("a job from the master");
    let outcome = miner
        .mine_and_submit_one(&job)
        .await
        .expect("submit a share");
    assert!(outcome.is_accepted(), "{outcome:?}");

    // The share went slave -> master over the gateway into the ledger.
    let api_addr = SocketAddr::from(([127, 0, 0, 1], api));
    let path = format!("/api/miners/{address}");
    let started = Instant::now();
    loop {
        let body = get(api_addr, &path).unwrap_or_default();
        if body.contains("\"valid\":1") {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the API never showed the share: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut child = running.0.take().expect("still running");
    // Waited for off the runtime: the devnet the pool talks to runs on it.
    let status = tokio::task::spawn_blocking(move || stop_with_sigterm(&mut child, DEADLINE))
        .await
        .expect("the wait task ends")
        .expect("signal and wait")
        .expect("tos-pool stops after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn the_example_config_passes_both_roles_checks() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/pool.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_tos-pool"))
        .arg("--check")
        .arg("--config")
        .arg(&config)
        .env_remove("TOS_POOL_CONFIG")
        // The example leaves the secret to the environment, as it says.
        .env(
            "TOS_POOL_MASTER_SECRET",
            "example-secret-from-the-environment",
        )
        .output()
        .expect("run tos-pool --check");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("valid one-process pool config for mainnet"),
        "{stdout}"
    );
    // Without the secret the check names the key.
    let output = Command::new(env!("CARGO_BIN_EXE_tos-pool"))
        .arg("--check")
        .arg("--config")
        .arg(&config)
        .env_remove("TOS_POOL_CONFIG")
        .env_remove("TOS_POOL_MASTER_SECRET")
        .output()
        .expect("run tos-pool --check");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("master.secret"),
        "{output:?}"
    );
}
