//! A slave in its own process, killed with SIGKILL while the master has not
//! acked its shares: with `slave.journal_path`, every share it answered
//! "accepted" reaches the ledger exactly once after it restarts, under the
//! same boot.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tos_pool_common::config::Config;
use tos_pool_integration_tests::cluster::Cluster;
use tos_pool_integration_tests::miners::{StratumMiner, Transport};
use tos_pool_integration_tests::ports::quiet_port;

use crate::cluster_support::{
    DEADLINE, address, ledger_valid, log_in, mine_shares, options, start, wait_until,
};

/// A slave process; killed when dropped.
struct SlaveProcess {
    child: Child,
}

impl SlaveProcess {
    fn spawn(config: &Path, log: &Path) -> SlaveProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the slave's log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tos-test-slave"))
            .arg(config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("the slave process starts");
        SlaveProcess { child }
    }

    /// SIGKILL: no drain, no flush, no destructor runs.
    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for SlaveProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address whose port stays free until the slave binds it.
fn quiet_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], quiet_port()))
}

/// The config of the slave process: Stratum over TCP on `stratum`, the
/// journal at `journal`.
fn slave_yaml(cluster: &Cluster, stratum: SocketAddr, journal: &Path) -> String {
    let mut config: Config = cluster.slave_config(0);
    config.slave.stratum_bind = stratum;
    config.slave.stratum_tls_bind = None;
    config.slave.websocket_enabled = false;
    config.slave.websocket_tls_bind = None;
    config.slave.xatum_enabled = false;
    config.slave.tls_cert = None;
    config.slave.tls_key = None;
    config.slave.journal_path = Some(journal.to_path_buf());
    serde_yaml::to_string(&config).expect("the config serializes")
}

async fn connect(stratum: SocketAddr, log: &Path) -> StratumMiner {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match StratumMiner::connect(stratum, Transport::Tcp, options()).await {
            Ok(miner) => return miner,
            Err(error) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the slave process never listened ({error}); its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn hwm_keys(cluster: &Cluster, slave_id: &str) -> Vec<String> {
    let mut db = redis::Client::open(cluster.redis.url())
        .expect("the URL is valid")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    redis::cmd("KEYS")
        .arg(format!("*ledger:hwm:{slave_id}:*"))
        .query_async(&mut db)
        .await
        .expect("KEYS")
}

struct Files {
    _dir: tempfile::TempDir,
    config: PathBuf,
    journal: PathBuf,
    log: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().expect("a directory");
    Files {
        config: dir.path().join("slave.yaml"),
        journal: dir.path().join("shares.journal"),
        log: dir.path().join("slave.log"),
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_killed_with_sigkill_loses_no_share_it_accepted() {
    let mut cluster = start(0, |_| {}).await;
    let files = files();
    let stratum = quiet_address();
    std::fs::write(&files.config, slave_yaml(&cluster, stratum, &files.journal))
        .expect("config written");
    let slave_id = cluster
        .slave_config(0)
        .slave
        .id
        .expect("the test config names the slave");

    let slave = SlaveProcess::spawn(&files.config, &files.log);
    let miner = connect(stratum, &files.log).await;
    let address = address(31);
    log_in(&miner, &format!("{address}.rig")).await;
    let stored = mine_shares(&miner, 3).await;
    wait_until("the first shares reach the ledger", || async {
        ledger_valid(&cluster, &address, "rig").await >= stored
    })
    .await;

    // The master is gone: what the slave accepts now is held, not acked.
    cluster.stop_master().await;
    let held = mine_shares(&miner, 5).await;
    assert_eq!(held, 5, "the slave answers while the master is away");
    slave.kill_9();
    drop(miner);

    let _slave = SlaveProcess::spawn(&files.config, &files.log);
    cluster.restart_master().await.expect("the master restarts");
    wait_until("the held shares reach the ledger", || async {
        ledger_valid(&cluster, &address, "rig").await >= stored + held
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ledger_valid(&cluster, &address, "rig").await,
        stored + held,
        "every accepted share exactly once; log:\n{}",
        std::fs::read_to_string(&files.log).unwrap_or_default()
    );
    assert_eq!(
        hwm_keys(&cluster, &slave_id).await.len(),
        1,
        "the restarted slave resumed the same boot"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_journal_tail_is_dropped_and_the_slave_starts() {
    let cluster = start(0, |_| {}).await;
    let files = files();
    let stratum = quiet_address();
    std::fs::write(&files.config, slave_yaml(&cluster, stratum, &files.journal))
        .expect("config written");
    let slave = SlaveProcess::spawn(&files.config, &files.log);
    let miner = connect(stratum, &files.log).await;
    let address = address(32);
    log_in(&miner, &format!("{address}.rig")).await;
    let stored = mine_shares(&miner, 2).await;
    wait_until("the shares reach the ledger", || async {
        ledger_valid(&cluster, &address, "rig").await >= stored
    })
    .await;
    slave.kill_9();
    drop(miner);

    // Half a record at the end, as a write cut short by a crash leaves it.
    let mut journal = std::fs::read(&files.journal).expect("the journal exists");
    journal.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&files.journal, journal).expect("journal written");

    let _slave = SlaveProcess::spawn(&files.config, &files.log);
    let miner = connect(stratum, &files.log).await;
    log_in(&miner, &format!("{address}.rig")).await;
    let later = mine_shares(&miner, 2).await;
    wait_until("later shares reach the ledger", || async {
        ledger_valid(&cluster, &address, "rig").await >= stored + later
    })
    .await;
    assert_eq!(
        ledger_valid(&cluster, &address, "rig").await,
        stored + later
    );
    let log = std::fs::read_to_string(&files.log).unwrap_or_default();
    assert!(
        log.contains("torn"),
        "the torn tail is reported; log:\n{log}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_journal_stops_the_slave_with_a_clear_error() {
    let cluster = start(0, |_| {}).await;
    let files = files();
    let stratum = quiet_address();
    std::fs::write(&files.config, slave_yaml(&cluster, stratum, &files.journal))
        .expect("config written");
    let mut journal = tos_pool_slave::journal::MAGIC.to_vec();
    tos_pool_slave::journal::encode(
        &tos_pool_slave::journal::Record::boot("test-slave-1", "b"),
        &mut journal,
    );
    // A damaged record with a whole one after it.
    let damaged = journal.len();
    tos_pool_slave::journal::encode(&tos_pool_slave::journal::Record::Acked(1), &mut journal);
    journal[damaged + 9] ^= 0xff;
    tos_pool_slave::journal::encode(&tos_pool_slave::journal::Record::Acked(2), &mut journal);
    std::fs::write(&files.journal, journal).expect("journal written");

    let mut slave = SlaveProcess::spawn(&files.config, &files.log);
    let status = tokio::task::spawn_blocking(move || {
        let status = slave.child.wait();
        (slave, status)
    });
    let (_slave, status) = tokio::time::timeout(DEADLINE, status)
        .await
        .expect("the slave exits")
        .expect("joined");
    let status = status.expect("wait");
    assert!(!status.success(), "a damaged journal stops the slave");
    let log = std::fs::read_to_string(&files.log).unwrap_or_default();
    assert!(
        log.contains("damaged") && log.contains("shares.journal"),
        "the error names the file and the damage; log:\n{log}"
    );
    cluster.shutdown().await;
}
