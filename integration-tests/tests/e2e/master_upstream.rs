//! The master's daemon client, upstream pool and job manager against the
//! devnet emulator over real HTTP and WebSocket on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;
use tos_pool_common::address::Address;
use tos_pool_common::config::{Config, UpstreamConfig};
use tos_pool_common::difficulty::{Difficulty, Target, meets_target, target_from_difficulty};
use tos_pool_common::header::{BlockHeader, MinerWork};
use tos_pool_common::network::Network;
use tos_pool_integration_tests::devnet::{
    DEVNET_MINER_KEY, Devnet, DevnetConfig, DevnetHandle, FaultMode, OTHER_MINERS_KEY,
};
use tos_pool_master::jobs::{Job, JobManager};
use tos_pool_master::lifecycle::BlockType;
use tos_pool_master::rpc::{DaemonClient, RpcError, TemplateSubscription};
use tos_pool_master::upstream::UpstreamPool;

/// Longest wait for anything in these tests (a bound, never a speed claim).
const DEADLINE: Duration = Duration::from_secs(15);

fn difficulty(n: u64) -> Difficulty {
    Difficulty::from_u64(n).expect("test difficulties are non-zero")
}

fn pool_address() -> String {
    Address::new(DEVNET_MINER_KEY, Network::Devnet).to_string()
}

async fn start_devnet() -> DevnetHandle {
    Devnet::start(DevnetConfig {
        difficulty: difficulty(200),
        produce_blocks: false,
        ..DevnetConfig::default()
    })
    .await
    .expect("devnet starts on a free port")
}

/// A master config on devnet with the devnet key as the pool's.
fn config(upstreams: Vec<UpstreamConfig>) -> Config {
    let mut config = Config {
        network: Network::Devnet,
        ..Config::default()
    };
    config.pool.fee_address = pool_address();
    config.node.upstreams = upstreams;
    config.node.health_check_interval = Duration::from_millis(100);
    config.node.max_failures = 2;
    config.node.recovery_threshold = 2;
    config.node.request_timeout = Duration::from_secs(2);
    config.mining.job_refresh_interval = Duration::from_millis(100);
    config.mining.job_refresh = Duration::from_secs(600);
    config
}

fn upstream(name: &str, devnet: &DevnetHandle, weight: u32) -> UpstreamConfig {
    UpstreamConfig {
        name: name.to_string(),
        url: devnet.url(),
        weight,
        timeout: Duration::from_secs(2),
    }
}

fn start_master(config: &Config) -> (Arc<UpstreamPool>, JobManager) {
    let pool = UpstreamPool::start(&config.node).expect("valid upstreams");
    let jobs = JobManager::start(config, pool.clone()).expect("valid pool address");
    (pool, jobs)
}

/// The next job that satisfies `wanted`, or a panic at the deadline.
async fn job_where(
    jobs: &mut broadcast::Receiver<Arc<Job>>,
    what: &str,
    wanted: impl Fn(&Job) -> bool,
) -> Arc<Job> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, jobs.recv()).await {
            Ok(Ok(job)) if wanted(&job) => return job,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("job stream closed"),
            Err(_) => panic!("no job where {what} within {DEADLINE:?}"),
        }
    }
}

/// Waits until `condition` holds, or panics at the deadline.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Finds a nonce that makes `work` meet `target`.
fn solve(work: &mut MinerWork, target: &Target) {
    let nonce = (0..u64::MAX)
        .find(|&nonce| {
            work.set_nonce(nonce);
            meets_target(&work.pow_hash(), target)
        })
        .expect("a low test difficulty is solved within a few thousand nonces");
    work.set_nonce(nonce);
}

/// A URL where nothing listens.
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("bound");
    drop(listener);
    format!("http://{addr}/json_rpc")
}

#[tokio::test]
async fn daemon_client_reads_every_method() {
    let devnet = start_devnet().await;
    devnet.advance(3);
    let client = DaemonClient::new(&devnet.url(), Duration::from_secs(2)).expect("valid URL");

    let info = client.get_info().await.expect("get_info");
    assert_eq!(info.height, devnet.top().height);
    assert_eq!(info.difficulty, difficulty(200));
    assert_eq!(info.network, "Dev");
    assert_eq!(client.get_height().await.expect("get_height"), info.height);

    let template = client
        .get_block_template(&pool_address())
        .await
        .expect("get_block_template");
    assert_eq!(template.height, info.height + 1);
    assert_eq!(template.algorithm, "tos/v3");
    let header = BlockHeader::from_hex(&template.template).expect("a real header");
    assert_eq!(header.miner, DEVNET_MINER_KEY);

    let top = client.get_top_block().await.expect("get_top_block");
    assert_eq!(top.hash, hex::encode(devnet.top().hash));
    assert_eq!(top.block_type, BlockType::Normal);
    let same = client
        .get_block_by_hash(&top.hash)
        .await
        .expect("get_block_by_hash");
    assert_eq!(same, top);
    let at_height = client
        .get_blocks_at_height(top.height)
        .await
        .expect("get_blocks_at_height");
    assert!(at_height.iter().any(|block| block.hash == top.hash));

    let unknown = client
        .get_block_by_hash(&"00".repeat(32))
        .await
        .expect_err("an unknown hash is an error");
    assert_eq!(unknown.rpc_code(), Some(-32602), "{unknown}");
    assert!(!unknown.is_transport());

    let miners = Address::new(OTHER_MINERS_KEY, Network::Devnet).to_string();
    let balance = client.get_balance(&miners).await.expect("get_balance");
    assert_eq!(balance.balance, devnet.balance(&OTHER_MINERS_KEY));
    assert!(balance.balance > 0, "other miners made the blocks");
    devnet.set_peer_count(7);
    assert_eq!(client.p2p_status().await.expect("p2p_status").peer_count, 7);

    devnet.fail(FaultMode::Http500, Duration::from_secs(30));
    let error = client.get_info().await.expect_err("the daemon answers 500");
    assert!(
        matches!(error, RpcError::HttpStatus { status: 500, .. }),
        "{error}"
    );

    devnet.fail(FaultMode::Hang, Duration::from_secs(30));
    let hanging = DaemonClient::new(&devnet.url(), Duration::from_millis(300)).expect("valid URL");
    let error = hanging.get_info().await.expect_err("the daemon hangs");
    assert!(matches!(error, RpcError::Timeout { .. }), "{error}");
}

#[tokio::test]
async fn subscription_yields_a_template_for_every_new_block() {
    let devnet = start_devnet().await;
    let mut subscription = TemplateSubscription::connect(&devnet.url(), Duration::from_secs(2))
        .await
        .expect("subscribe");
    let before = devnet.top().height;
    devnet.advance(1);
    let template = tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .expect("a push within the deadline")
        .expect("a template push");
    assert_eq!(template.height, before + 2);
}

#[tokio::test]
async fn templates_become_jobs_the_daemon_accepts() {
    let devnet = start_devnet().await;
    let config = config(vec![upstream("primary", &devnet, 1)]);
    let (pool, jobs) = start_master(&config);
    let mut stream = jobs.subscribe();
    let job = match jobs.current() {
        Some(job) => job,
        None => job_where(&mut stream, "any job", |_| true).await,
    };

    assert_eq!(job.height, devnet.top().height + 1);
    assert_eq!(job.miner_work.miner(), DEVNET_MINER_KEY);
    assert_eq!(job.miner_work.extra_nonce(), [0; 32]);
    assert_eq!(job.difficulty, difficulty(200));
    assert_eq!(job.target, target_from_difficulty(&difficulty(200)));
    assert!(job.clean, "the first job starts clean");
    assert_eq!(job.upstream, "primary");
    let header = BlockHeader::from_hex(&job.template_hex).expect("the template is kept");
    assert_eq!(job.miner_work.work_hash(), header.work_hash());
    assert_eq!(
        jobs.get(&job.id).map(|j| j.id.clone()),
        Some(job.id.clone())
    );
    assert_eq!(job.to_proto().network_difficulty, "200");

    // Solve the job as a slave would and submit it through the pool.
    let mut work = job.miner_work;
    work.set_extra_nonce(&[7; 32]);
    solve(&mut work, &job.target);
    let outcome = pool
        .submit_block(&job.template_hex, &work.to_hex())
        .await
        .expect("the daemon accepts the block");
    assert!(outcome.accepted);
    assert_eq!(outcome.upstream, "primary");
    let submitted = devnet.submitted_blocks();
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].hash, work.block_hash());
}

#[tokio::test]
async fn a_new_block_yields_a_new_job_by_push() {
    let devnet = start_devnet().await;
    let mut config = config(vec![upstream("primary", &devnet, 1)]);
    // Polling once a minute: within the deadline only the push can bring a job.
    config.mining.job_refresh_interval = Duration::from_secs(60);
    config.node.use_websocket = true;
    let (_pool, jobs) = start_master(&config);
    let mut stream = jobs.subscribe();
    let first = match jobs.current() {
        Some(job) => job,
        None => job_where(&mut stream, "any job", |_| true).await,
    };
    // The subscription may not be up yet when the first block comes: add
    // blocks until a push brings a job for a newer height.
    let deadline = Instant::now() + DEADLINE;
    let job = loop {
        devnet.advance(1);
        let wait = tokio::time::timeout(Duration::from_millis(500), stream.recv()).await;
        if let Ok(Ok(job)) = wait
            && job.height > first.height
        {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "no pushed job within {DEADLINE:?}"
        );
    };
    assert!(job.clean, "a new height makes a clean job");
    assert_ne!(job.id, first.id);
}

#[tokio::test]
async fn a_new_block_yields_a_new_job_by_polling() {
    let devnet = start_devnet().await;
    let mut config = config(vec![upstream("primary", &devnet, 1)]);
    config.node.use_websocket = false;
    let (_pool, jobs) = start_master(&config);
    let mut stream = jobs.subscribe();
    let first = match jobs.current() {
        Some(job) => job,
        None => job_where(&mut stream, "any job", |_| true).await,
    };
    devnet.advance(1);
    let job = job_where(&mut stream, "the next height", |job| {
        job.height == first.height + 1
    })
    .await;
    assert!(job.clean);
}

#[tokio::test]
async fn an_unchanged_template_is_refreshed_after_job_refresh() {
    let devnet = start_devnet().await;
    let mut config = config(vec![upstream("primary", &devnet, 1)]);
    config.mining.job_refresh = Duration::from_millis(300);
    config.node.use_websocket = false;
    let (_pool, jobs) = start_master(&config);
    let mut stream = jobs.subscribe();
    let first = job_where(&mut stream, "any job", |_| true).await;
    let refreshed = job_where(&mut stream, "a refresh", |job| job.id != first.id).await;
    assert_eq!(refreshed.height, first.height, "no block came in between");
    assert!(!refreshed.clean, "same height: miners keep their work");
}

#[tokio::test]
async fn the_backlog_keeps_only_the_last_jobs() {
    let devnet = start_devnet().await;
    let mut config = config(vec![upstream("primary", &devnet, 1)]);
    config.mining.job_backlog = 3;
    config.node.use_websocket = false;
    let (_pool, jobs) = start_master(&config);
    let mut stream = jobs.subscribe();
    let mut ids = vec![job_where(&mut stream, "any job", |_| true).await];
    for _ in 0..4 {
        let height = ids.last().map_or(0, |job| job.height);
        devnet.advance(1);
        ids.push(job_where(&mut stream, "the next height", |job| job.height > height).await);
    }
    let kept: Vec<bool> = ids.iter().map(|job| jobs.get(&job.id).is_some()).collect();
    assert_eq!(kept, [false, false, true, true, true]);
    assert_eq!(
        jobs.current().map(|j| j.id.clone()),
        ids.last().map(|j| j.id.clone())
    );
}

async fn fail_over_and_back(mode: FaultMode) {
    let primary = start_devnet().await;
    let backup = start_devnet().await;
    let config = config(vec![
        upstream("backup", &backup, 1),
        upstream("primary", &primary, 2),
    ]);
    let (pool, jobs) = start_master(&config);
    let mut stream = jobs.subscribe();
    if jobs.current().is_none_or(|job| job.upstream != "primary") {
        job_where(&mut stream, "a job from primary", |j| {
            j.upstream == "primary"
        })
        .await;
    }
    assert_eq!(
        pool.active().map(|u| u.name().to_string()),
        Some("primary".into())
    );

    primary.fail(mode, Duration::from_secs(3));
    job_where(&mut stream, "a job from backup", |j| j.upstream == "backup").await;
    until("primary out of rotation", || {
        let states = pool.states();
        !states[1].healthy && states[0].active && states[1].last_error.is_some()
    })
    .await;

    job_where(&mut stream, "a job from primary again", |j| {
        j.upstream == "primary"
    })
    .await;
    until("primary active again", || {
        let states = pool.states();
        states[1].healthy && states[1].active && !states[0].active
    })
    .await;
}

#[tokio::test]
async fn jobs_fail_over_on_http_500_and_come_back() {
    fail_over_and_back(FaultMode::Http500).await;
}

#[tokio::test]
async fn jobs_fail_over_on_refused_connections_and_come_back() {
    fail_over_and_back(FaultMode::Refuse).await;
}

#[tokio::test]
async fn requests_move_on_when_the_active_daemon_is_unreachable() {
    let backup = start_devnet().await;
    let mut config = config(vec![
        UpstreamConfig {
            name: "primary".into(),
            url: closed_url(),
            weight: 2,
            timeout: Duration::from_secs(2),
        },
        upstream("backup", &backup, 1),
    ]);
    // The primary stays in rotation: the retry, not the health check, moves on.
    config.node.max_failures = 1_000_000;
    let pool = UpstreamPool::start(&config.node).expect("valid upstreams");
    assert_eq!(
        pool.active().map(|u| u.name().to_string()),
        Some("primary".into())
    );

    let (template, from) = pool
        .get_block_template(&pool_address())
        .await
        .expect("the backup serves the template");
    assert_eq!(from.name(), "backup");
    let mut work = BlockHeader::from_hex(&template.template)
        .expect("a real header")
        .miner_work();
    solve(&mut work, &target_from_difficulty(&template.difficulty));
    let outcome = pool
        .submit_block(&template.template, &work.to_hex())
        .await
        .expect("the backup accepts the block");
    assert_eq!(
        (outcome.accepted, outcome.upstream.as_str()),
        (true, "backup")
    );
    assert_eq!(backup.submitted_blocks().len(), 1);
    assert_eq!(
        pool.active().map(|u| u.name().to_string()),
        Some("primary".into())
    );
}
