//! Found blocks are never lost: a block found while Redis is stopped
//! (SIGSTOP) or down (killed) is submitted at once, spooled to disk and
//! credited once Redis is back; a
//! master restarted with a spooled record replays it, and a record replayed
//! twice is credited once; a block the pool mined without a record is
//! reported by the unlocker and added by the operator, and a block mined by
//! someone else is refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::master_support;

use master_support::{
    Cluster, TestSlave, block_candidate, eventually, master_config, mine_block, miner_address,
    pool_address,
};
use reqwest::StatusCode;
use serde_json::Value;
use tos_pool_common::clock::unix_ms;
use tos_pool_common::difficulty::Difficulty;
use tos_pool_common::metrics::Gauge;
use tos_pool_common::telemetry::Telemetry;
use tos_pool_integration_tests::devnet::{
    BlockInfo, DEVNET_MINER_KEY, Devnet, DevnetConfig, DevnetHandle, Hash,
};
use tos_pool_integration_tests::redis_server::RedisServer;
use tos_pool_master::app::MasterHandle;
use tos_pool_master::ledger::Ledger;
use tos_pool_master::lifecycle::{BlockRecord, BlockState};
use tos_pool_proto::v1::{BlockResult, Job, SlaveMessage, master_message, slave_message};

const PASSWORD: &str = "block-admin-password";

/// A slave joined to a cluster, with its share seq.
struct Rig {
    slave: TestSlave,
    slave_index: u32,
    seq: u64,
}

impl Rig {
    async fn join(gateway_url: &str, boot_id: &str) -> Rig {
        let (slave, welcome) = TestSlave::join(gateway_url, "eu-1", boot_id, 0).await;
        Rig {
            slave,
            slave_index: welcome.slave_index,
            seq: 0,
        }
    }

    /// The job at the emulator's tip at difficulty 1.
    async fn tip_job(&mut self, devnet: &DevnetHandle) -> Job {
        self.slave.tip_job(devnet).await
    }

    /// Sends valid shares and waits for their ack.
    async fn shares(&mut self, job: &Job, credits: &[(&str, u64)]) {
        self.slave.send_shares(&mut self.seq, job, credits).await;
    }

    /// Mines `job` and sends the candidate (no finding share); the answer.
    async fn find_block(&mut self, job: &Job, finder: &str) -> BlockResult {
        let (work, pow_hash) = mine_block(job, self.slave_index, 1);
        let candidate = block_candidate(77, job, (&work, pow_hash), finder, 0);
        self.slave
            .send(SlaveMessage {
                kind: Some(slave_message::Kind::Block(candidate)),
            })
            .await;
        self.slave
            .until(|kind| match kind {
                master_message::Kind::BlockResult(result) if result.request_id == 77 => {
                    Some(result)
                }
                _ => None,
            })
            .await
    }
}

/// Stops (`-STOP`) or continues (`-CONT`) the cluster's Redis process.
fn signal_redis(cluster: &Cluster, signal: &str) {
    let pid = cluster.redis.pid().expect("redis runs");
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// The spooled block files in `dir`.
fn spooled(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the spool directory exists")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "block"))
        .collect();
    files.sort();
    files
}

/// Waits until the spool directory `dir` holds no record; `what` names the
/// wait in its failure.
async fn spool_empties(dir: &Path, what: &str) {
    eventually(what, || {
        let empty = spooled(dir).is_empty();
        async move { empty.then_some(()) }
    })
    .await;
}

/// A cluster whose master spools found blocks to a fresh directory (kept
/// while the returned `TempDir` lives), with a PPLNS window of 10 000.
async fn cluster_with_spool() -> (tempfile::TempDir, PathBuf, Cluster) {
    let spool = tempfile::tempdir().expect("a spool directory");
    let spool_dir = spool.path().to_owned();
    let cluster = Cluster::start(false, |config| {
        config.pplns.window = 10_000.0;
        config.master.block_spool_dir = Some(spool_dir.clone());
    })
    .await;
    (spool, spool_dir, cluster)
}

async fn state_of(ledger: &Ledger, hash: &str, state: BlockState) -> BlockRecord {
    eventually(&format!("block {hash} to be {state:?}"), || async move {
        // A read may fail while the connection to a restarted Redis is
        // opened again: asked again on the next poll.
        ledger
            .block(hash)
            .await
            .ok()
            .flatten()
            .filter(|record| record.state == state)
    })
    .await
}

/// (immature, confirmed) summed over `addresses`.
async fn balances(ledger: &Ledger, addresses: &[String]) -> (i64, i64) {
    let mut sums = (0, 0);
    for address in addresses {
        let balances = ledger.balances(address).await.expect("balances");
        sums.0 += balances.immature;
        sums.1 += balances.confirmed;
    }
    sums
}

/// The JSON body of `response`.
async fn json(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// The emulator's block with the hex hash `hash` (it must know it).
fn devnet_block(devnet: &DevnetHandle, hash: &str) -> BlockInfo {
    let hash: Hash = hex::decode(hash)
        .expect("hex hash")
        .try_into()
        .expect("32 bytes");
    devnet.block(&hash).expect("the emulator knows the block")
}

/// Whether the ledger holds a record of the block `hash`.
async fn recorded(ledger: &Ledger, hash: &str) -> bool {
    ledger.block(hash).await.expect("reads").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_found_while_redis_is_stopped_is_submitted_spooled_and_credited_later() {
    let (_spool, spool_dir, cluster) = cluster_with_spool().await;
    let alice = miner_address(0xa1);
    let bob = miner_address(0xb0);
    let everyone = [alice.clone(), bob.clone(), pool_address()];
    let mut rig = Rig::join(&cluster.gateway_url(), "boot-spool").await;
    cluster.set_difficulty(1);
    let job = rig.tip_job(&cluster.devnet).await;
    rig.shares(&job, &[(&alice, 3_000), (&bob, 1_000)]).await;

    // Redis stops answering: the block still reaches the daemon and the
    // slave hears it was accepted, while its record waits on disk.
    signal_redis(&cluster, "-STOP");
    let result = rig.find_block(&job, &alice).await;
    let on_disk = spooled(&spool_dir);
    let blocks_at_daemon = cluster.devnet.submitted_blocks();
    signal_redis(&cluster, "-CONT");
    assert!(result.accepted, "{result:?}");
    let hash = result.block_hash.clone();
    assert!(
        blocks_at_daemon
            .iter()
            .any(|block| hex::encode(block.hash) == hash),
        "submitted while Redis was stopped"
    );
    assert_eq!(on_disk.len(), 1, "the record is spooled: {on_disk:?}");
    assert!(on_disk[0].to_string_lossy().contains(&hash));

    // Redis is back: the replay records it with its window, and the spool
    // empties.
    let ledger = cluster.master.ledger().clone();
    let record = state_of(&ledger, &hash, BlockState::Candidate).await;
    assert_eq!(record.finder, alice);
    assert_eq!(record.snapshot.total_weight(), 4_000);
    let reward = devnet_block(&cluster.devnet, &hash).miner_reward;
    assert_eq!(record.expected_reward, reward);
    spool_empties(&spool_dir, "the spool to empty").await;

    // Credited like any block: immature at depth 2, matured at depth 5.
    cluster.devnet.advance(2);
    state_of(&ledger, &hash, BlockState::Immature).await;
    assert_eq!(balances(&ledger, &everyone).await, (reward as i64, 0));
    cluster.devnet.advance(3);
    state_of(&ledger, &hash, BlockState::Matured).await;
    assert_eq!(balances(&ledger, &everyone).await, (0, reward as i64));
    assert_eq!(
        cluster.master.metrics().gauge(Gauge::BlockSpoolPending),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_found_while_redis_is_down_is_credited_once_redis_is_back() {
    // Redis with every write on disk, so a kill loses nothing acknowledged.
    let devnet = Devnet::start(DevnetConfig {
        produce_blocks: false,
        block_interval: std::time::Duration::from_millis(500),
        ..DevnetConfig::default()
    })
    .await
    .expect("the devnet emulator starts");
    let mut redis = RedisServer::builder()
        .aof(true)
        .start()
        .expect("redis-server starts");
    let spool = tempfile::tempdir().expect("a spool directory");
    let spool_dir = spool.path().to_owned();
    let mut config = master_config(&devnet, &redis);
    config.pplns.window = 10_000.0;
    config.master.block_spool_dir = Some(spool_dir.clone());
    let master = MasterHandle::start(&config, Telemetry::disabled())
        .await
        .expect("the master starts");
    let alice = miner_address(0xa1);
    let everyone = [alice.clone(), pool_address()];
    let gateway_url = format!("http://{}", master.gateway_addr());
    let mut rig = Rig::join(&gateway_url, "boot-down").await;
    devnet.set_difficulty(Difficulty::from_u64(1).expect("not zero"));
    let job = rig.tip_job(&devnet).await;
    rig.shares(&job, &[(&alice, 1_500)]).await;

    // Redis is gone (connection refused): submitted and spooled.
    redis.kill().expect("redis is killed");
    let result = rig.find_block(&job, &alice).await;
    assert!(result.accepted, "{result:?}");
    let hash = result.block_hash.clone();
    assert_eq!(spooled(&spool_dir).len(), 1);

    redis.restart().expect("redis starts again");
    let ledger = master.ledger().clone();
    let record = state_of(&ledger, &hash, BlockState::Candidate).await;
    assert_eq!(record.snapshot.total_weight(), 1_500);
    spool_empties(&spool_dir, "the spool to empty").await;
    let reward = devnet_block(&devnet, &hash).miner_reward;
    devnet.advance(5);
    state_of(&ledger, &hash, BlockState::Matured).await;
    assert_eq!(balances(&ledger, &everyone).await, (0, reward as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_master_replays_its_spool_and_a_second_replay_credits_nothing() {
    let (_spool, spool_dir, cluster) = cluster_with_spool().await;
    let alice = miner_address(0xa1);
    let everyone = [alice.clone(), pool_address()];
    let mut rig = Rig::join(&cluster.gateway_url(), "boot-restart").await;
    cluster.set_difficulty(1);
    let job = rig.tip_job(&cluster.devnet).await;
    rig.shares(&job, &[(&alice, 2_000)]).await;

    // Found while Redis is stopped, then the master dies before Redis
    // returns: only the spool knows the block.
    signal_redis(&cluster, "-STOP");
    let result = rig.find_block(&job, &alice).await;
    assert!(result.accepted, "{result:?}");
    let hash = result.block_hash.clone();
    let files = spooled(&spool_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let spooled_bytes = std::fs::read(&files[0]).expect("the spool file reads");
    let Cluster {
        devnet,
        mut redis,
        config,
        master,
    } = cluster;
    drop(rig);
    drop(master);
    let status = Command::new("kill")
        .arg("-CONT")
        .arg(redis.pid().expect("redis runs").to_string())
        .status()
        .expect("kill runs");
    assert!(status.success());
    assert!(redis.is_running());

    // A new master replays the spool at start.
    let master = MasterHandle::start(&config, Telemetry::disabled())
        .await
        .expect("the master starts again");
    let ledger = master.ledger().clone();
    let record = state_of(&ledger, &hash, BlockState::Candidate).await;
    assert_eq!(record.snapshot.total_weight(), 2_000);
    spool_empties(&spool_dir, "the spool to empty").await;

    // The same record replayed again (a crash between the Redis write and
    // the file's removal) is the same one block.
    std::fs::write(&files[0], &spooled_bytes).expect("the spool file is put back");
    spool_empties(&spool_dir, "the second replay to drop the file").await;
    assert_eq!(
        ledger.recent_blocks(0, 10).await.expect("blocks").len(),
        1,
        "one block"
    );
    let reward = devnet_block(&devnet, &hash).miner_reward;
    devnet.advance(5);
    state_of(&ledger, &hash, BlockState::Matured).await;
    assert_eq!(balances(&ledger, &everyone).await, (0, reward as i64));

    // And once more after it matured: nothing changes.
    std::fs::write(&files[0], &spooled_bytes).expect("the spool file is put back");
    spool_empties(&spool_dir, "the third replay to drop the file").await;
    assert_eq!(balances(&ledger, &everyone).await, (0, reward as i64));
    let stored = ledger.block(&hash).await.expect("reads").expect("stored");
    assert_eq!(stored.state, BlockState::Matured);

    // A torn file (a write cut short) is reported and moved aside.
    let torn = spool_dir.join(format!("{}.block", "ef".repeat(32)));
    std::fs::write(&torn, &spooled_bytes[..spooled_bytes.len() / 2]).expect("written");
    eventually("the torn file to be reported", || {
        let torn_gauge = master.metrics().gauge(Gauge::BlockSpoolTorn);
        async move { (torn_gauge >= 1.0).then_some(()) }
    })
    .await;
    assert!(!torn.exists());
    assert!(
        spool_dir
            .join(format!("{}.block.torn", "ef".repeat(32)))
            .exists()
    );
    master.shutdown().await;
    redis.stop().expect("redis stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_block_without_a_record_is_reported_and_added_by_the_operator() {
    let cluster = Cluster::start(false, |config| {
        config.pplns.window = 10_000.0;
        config.api.enabled = true;
        config.api.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.api.admin_password = Some(PASSWORD.to_owned());
    })
    .await;
    let alice = miner_address(0xa1);
    let everyone = [alice.clone(), pool_address()];
    let mut rig = Rig::join(&cluster.gateway_url(), "boot-unrecorded").await;
    cluster.set_difficulty(1);
    let job = rig.tip_job(&cluster.devnet).await;
    rig.shares(&job, &[(&alice, 5_000)]).await;

    // A block with the pool's key reaches the chain behind the master's
    // back (as when the master died between submit_block and its record).
    // Its timestamp is a second on, after every share above.
    let (mut work, _) = mine_block(&job, rig.slave_index, 1);
    work.set_timestamp(unix_ms() + 1_000);
    let template = cluster
        .master
        .jobs()
        .get(&job.job_id)
        .expect("the job is in the backlog")
        .template_hex
        .clone();
    let submitted = cluster
        .master
        .upstreams()
        .submit_block(&template, &work.to_hex())
        .await
        .expect("the daemon answers");
    assert!(submitted.accepted);
    let hash = hex::encode(work.block_hash());
    cluster.devnet.advance(2);

    // The unlocker reports it: the admin list and the gauge.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let api = |path: &str| {
        format!(
            "http://{}{path}",
            cluster.master.api_addr().expect("the API is on")
        )
    };
    let unrecorded = eventually("the unlocker to report the block", || {
        let request = http
            .get(api("/api/admin/blocks/unrecorded"))
            .basic_auth("admin", Some(PASSWORD))
            .send();
        async move {
            let body = json(request.await.ok()?).await;
            body.as_array().filter(|blocks| !blocks.is_empty()).cloned()
        }
    })
    .await;
    assert_eq!(unrecorded.len(), 1, "{unrecorded:?}");
    assert_eq!(unrecorded[0]["hash"], hash.as_str());
    // The gauge is set once the unlocker's scan is over, a few Redis round
    // trips after the list shows the block.
    eventually("the gauge to count the block", || {
        let gauge = cluster.master.metrics().gauge(Gauge::BlocksUnrecorded);
        async move { (gauge == 1.0).then_some(()) }
    })
    .await;
    assert!(!recorded(cluster.master.ledger(), &hash).await);

    let add = |body: Value| {
        http.post(api("/api/admin/blocks"))
            .basic_auth("admin", Some(PASSWORD))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
    };
    // A block mined by the rest of the network is refused.
    let foreign = cluster
        .devnet
        .blocks()
        .into_iter()
        .rev()
        .find(|block| block.miner != DEVNET_MINER_KEY && block.height > 0)
        .expect("the emulator produced blocks");
    let response = add(serde_json::json!({"hash": hex::encode(foreign.hash)}))
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = json(response).await;
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not by the pool")),
        "{body}"
    );
    // A wrong height and an unknown hash are refused too.
    let response = add(serde_json::json!({"hash": hash, "height": 1_000_000}))
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = add(serde_json::json!({"hash": "00".repeat(32)}))
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(!recorded(cluster.master.ledger(), &hash).await);

    // The pool's block is added, its window cut at its timestamp.
    let height = devnet_block(&cluster.devnet, &hash).height;
    let response = add(serde_json::json!({"hash": hash, "height": height}))
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::OK);
    let added = json(response).await;
    assert_eq!(added["state"], "candidate", "{added}");
    assert_eq!(added["window_weight"], "5000", "{added}");
    let response = add(serde_json::json!({"hash": hash})).await.expect("post");
    assert_eq!(response.status(), StatusCode::CONFLICT, "added once");

    // Audited, no longer unrecorded, and credited like any block.
    let audit = json(
        http.get(api("/api/admin/audit"))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .expect("get"),
    )
    .await;
    let actions: Vec<(String, String)> = audit
        .as_array()
        .expect("a list of entries")
        .iter()
        .filter(|entry| entry["action"] == "add_block")
        .map(|entry| {
            (
                entry["target"].as_str().unwrap_or_default().to_owned(),
                entry["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        actions.contains(&(hash.clone(), "ok".to_owned())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(hex::encode(foreign.hash), "refused".to_owned())),
        "{actions:?}"
    );
    eventually("the report to clear", || {
        let gauge = cluster.master.metrics().gauge(Gauge::BlocksUnrecorded);
        async move { (gauge == 0.0).then_some(()) }
    })
    .await;
    let reward = devnet_block(&cluster.devnet, &hash).miner_reward;
    cluster.devnet.advance(3);
    let ledger = cluster.master.ledger().clone();
    state_of(&ledger, &hash, BlockState::Matured).await;
    assert_eq!(balances(&ledger, &everyone).await, (0, reward as i64));
}
