//! The load generator against an in-process cluster: a short run with a
//! few sessions over Stratum TCP and TLS and a share of invalid, duplicate
//! and stale shares; what the answers said must be what the pool counted,
//! read back through the master's REST API, in total and miner by miner.

use crate::cluster_support;

use tokio::sync::watch;
use tos_pool_common::network::Network;
use tos_pool_integration_tests::loadgen::{
    ApiCounts, LoadSettings, PoolCounts, ShareMix, ShareRate, ShareTotals, insecure_tls,
    miner_login, parse_sources, run,
};
use tos_pool_integration_tests::miners::Endpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_matches_the_pools_api_share_for_share() {
    // Share difficulty 2: a valid share costs two hashes on average and an
    // invalid (low difficulty) one exists. A short stats cache keeps the
    // run short; the read-back waits for a fresh /api/stats whatever its
    // length.
    // A job every 250 ms and a backlog of two: stale shares (for a job the
    // pool issued and retired) come within the short run, and most shares
    // are still on the latest job, so duplicates can be sent too.
    let blocks = std::time::Duration::from_millis(250);
    let cluster = cluster_support::start_with_blocks(1, blocks, |config| {
        config.mining.initial_difficulty = 2;
        config.mining.min_difficulty = 1;
        config.mining.job_backlog = 2;
        config.mining.job_refresh_interval = std::time::Duration::from_millis(100);
        config.api.stats_cache = std::time::Duration::from_millis(300);
    })
    .await;
    let doors = cluster.slave(0).expect("slave").doors();
    let tls = insecure_tls().expect("TLS client");
    let endpoints = vec![
        Endpoint::stratum_tcp(doors.stratum),
        Endpoint::stratum_tls(doors.stratum_tls.expect("TLS door open"), tls),
    ];
    let mut settings = LoadSettings::new(endpoints, 20, Network::Devnet);
    settings.sources = parse_sources("127.0.0.1-127.0.0.4").expect("sources");
    settings.rate = ShareRate::PerSecond(200.0);
    settings.max_shares = Some(300);
    settings.mix = ShareMix::new(0.1, 0.1, 0.1).expect("mix");
    settings.stale_after_jobs = 3;
    let master = cluster.master().expect("master");
    let api_addr = master.api_addr().expect("the cluster serves the API");
    let api = ApiCounts::new(&format!("http://{api_addr}")).expect("the API URL");
    let (_stop, stop) = watch::channel(false);

    let (summary, reports) = run(settings, Some(&api), stop).await.expect("the run");

    assert_eq!(summary.sessions_opened, 20, "{}", summary.to_text());
    assert_eq!(summary.sessions_failed, 0, "{}", summary.to_text());
    assert_eq!(summary.sent.total(), 300, "{}", summary.to_text());
    assert_eq!(summary.unanswered, 0, "{}", summary.to_text());
    let rejected = summary.rejected;
    assert_eq!(
        summary.accepted
            + rejected.stale
            + rejected.duplicate
            + rejected.low_difficulty
            + rejected.other,
        300
    );
    assert!(summary.accepted > 0, "{}", summary.to_text());
    assert!(rejected.low_difficulty > 0, "{}", summary.to_text());
    assert!(rejected.duplicate > 0, "{}", summary.to_text());
    assert!(rejected.stale > 0, "{}", summary.to_text());
    assert_eq!(rejected.other, 0, "{}", summary.to_text());
    assert_eq!(summary.latency_us.count, 300);
    assert_eq!(reports.len(), 20);
    assert_eq!(
        reports.iter().map(|r| r.accepted).sum::<u64>(),
        summary.accepted
    );

    let verification = summary.verification.clone().expect("read back");
    assert_eq!(verification.expected.valid, summary.accepted);
    assert_eq!(
        verification.expected.invalid,
        rejected.duplicate + rejected.low_difficulty
    );
    assert_eq!(verification.expected.stale, rejected.stale);
    assert_eq!(
        verification.pool_delta,
        verification.expected,
        "{}",
        summary.to_text()
    );
    assert_eq!(verification.miners_checked, 20);
    assert_eq!(verification.miners_mismatched, 0, "{}", summary.to_text());
    assert!(verification.mismatches.is_empty());
    assert!(verification.all_match(), "{}", summary.to_text());
    assert!(
        verification.source.contains(&api_addr.to_string()),
        "{}",
        verification.source
    );

    // Miner by miner, the API says what each miner was answered and what
    // the ledger holds (the cluster was fresh: every count is this run's).
    let ledger = master.ledger();
    for report in &reports {
        let read = api
            .worker(&report.address, &report.worker)
            .await
            .expect("a miner's counts");
        assert_eq!(
            read,
            report.expected(),
            "{}.{}",
            report.address,
            report.worker
        );
        let held = ledger
            .worker_stats(&report.address, tos_pool_common::clock::unix_ms())
            .await
            .expect("the ledger")
            .into_iter()
            .find(|stats| stats.worker == report.worker)
            .map(|stats| stats.activity.shares)
            .unwrap_or_default();
        assert_eq!(
            (held.valid, held.invalid, held.stale),
            (read.valid, read.invalid, read.stale),
            "{}.{}",
            report.address,
            report.worker
        );
    }
    // A miner the pool never saw (404) reads as zero; the pool's totals
    // are the sum over the run's miners.
    let (stranger, worker) = miner_login(1_000_000, Network::Devnet);
    assert_eq!(
        api.worker(&stranger, &worker).await.expect("a 404 is zero"),
        ShareTotals::default()
    );
    assert_eq!(
        api.pool().await.expect("the pool's counts"),
        verification.expected
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_only_sessions_time_every_pushed_job() {
    // Watch-only sessions log in over plain-TCP Stratum and time the jobs
    // the slave's writers push, a job every 250 ms.
    let cluster =
        cluster_support::start_with_blocks(1, std::time::Duration::from_millis(250), |_| {}).await;
    let doors = cluster.slave(0).expect("slave").doors();
    let mut settings = LoadSettings::new(
        vec![Endpoint::stratum_tcp(doors.stratum)],
        30,
        Network::Devnet,
    );
    settings.sources = parse_sources("127.0.0.1-127.0.0.2").expect("sources");
    settings.watch = true;
    settings.duration = Some(std::time::Duration::from_secs(3));
    let (_stop, stop) = watch::channel(false);

    let (summary, reports) = run(settings, None, stop).await.expect("the run");

    assert_eq!(summary.sessions_opened, 30, "{}", summary.to_text());
    assert_eq!(summary.sessions_failed, 0, "{}", summary.to_text());
    assert_eq!(summary.sessions_closed_by_pool, 0, "{}", summary.to_text());
    assert_eq!(reports.len(), 30);
    let fanout = &summary.fanout;
    assert_eq!(fanout.max_receivers, 30, "{}", summary.to_text());
    assert!(fanout.jobs_to_all >= 4, "{}", summary.to_text());
    // A job a newer one overtakes mid-push is skipped on purpose; at 30
    // sessions that is rare, never the rule.
    assert!(fanout.short_jobs_between <= 1, "{}", summary.to_text());

    // Sessions that send shares are the full miner's: refused up front.
    let mut busy = LoadSettings::new(
        vec![Endpoint::stratum_tcp(doors.stratum)],
        1,
        Network::Devnet,
    );
    busy.watch = true;
    busy.rate = ShareRate::PerSecond(1.0);
    let (_stop, stop) = watch::channel(false);
    assert!(run(busy, None, stop).await.is_err());
    cluster.shutdown().await;
}
