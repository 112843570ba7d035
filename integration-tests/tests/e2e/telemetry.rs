//! New Relic end to end: a cluster with `newrelic.enabled` exports to a
//! local OTLP receiver while a miner logs in, mines shares and a block, and
//! leaves; the block matures and its reward is paid out. Every custom event
//! type, the `Custom/...` gauges, the share counters, the histograms and the
//! `block.submit` and `payout.run` spans must arrive, each request with the
//! license key in `api-key`.

use crate::cluster_support;

use std::collections::BTreeSet;
use std::time::Duration;

use cluster_support::{DEADLINE, address, log_in, mine_shares, start, tcp_miner, wait_until};
use tos_pool_integration_tests::otlp_receiver::{OtlpReceiver, Received};

const LICENSE_KEY: &str = "e2e-license-key-0123456789";

/// Custom event types that must arrive.
const EVENT_TYPES: [&str; 5] = [
    "ShareSubmission",
    "MinerConnected",
    "MinerDisconnected",
    "BlockFound",
    "Payment",
];

/// Metrics that must arrive, gauges and sums alike.
const METRICS: [&str; 10] = [
    "Custom/Pool/Hashrate",
    "Custom/Pool/Miners",
    "Custom/Pool/Workers",
    "Custom/Network/Height",
    "Custom/Network/Difficulty",
    "Custom/Network/Hashrate",
    "Custom/Pool/Shares",
    "Custom/Pool/ShareValidation/Count",
    "Custom/Pool/JobFanout/Count",
    "Custom/Telemetry/EventsDropped",
];

/// Spans that must arrive.
const SPANS: [&str; 2] = ["block.submit", "payout.run"];

/// What is still missing from `seen`, for the wait and its failure message.
fn missing(seen: &Received, miner: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for kind in EVENT_TYPES {
        if !seen.events.contains_key(kind) {
            missing.push(format!("event {kind}"));
        }
    }
    for name in METRICS {
        if !seen.has_metric(name) {
            missing.push(format!("metric {name}"));
        }
    }
    for name in SPANS {
        if seen.spans_named(name).next().is_none() {
            missing.push(format!("span {name}"));
        }
    }
    for outcome in ["accepted", "block"] {
        if seen.sum_where("Custom/Pool/Shares", "outcome", outcome) < 1.0 {
            missing.push(format!("a share counted as {outcome}"));
        }
    }
    let found_by_miner = seen
        .events
        .get("BlockFound")
        .into_iter()
        .flatten()
        .any(|block| block.get("finder").map(String::as_str) == Some(miner));
    if !found_by_miner {
        missing.push("BlockFound with the miner as finder".to_string());
    }
    let paid_to_miner = seen
        .events
        .get("Payment")
        .into_iter()
        .flatten()
        .any(|payment| payment.get("address").map(String::as_str) == Some(miner));
    if !paid_to_miner {
        missing.push("Payment to the miner".to_string());
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_metrics_and_the_block_span_reach_new_relic_with_the_license_key() {
    let receiver = OtlpReceiver::start()
        .await
        .expect("the OTLP receiver starts");
    let cluster = start(1, |config| {
        config.newrelic.enabled = true;
        config.newrelic.app_name = "tos-pool-e2e".to_string();
        config.newrelic.license_key = Some(LICENSE_KEY.to_string());
        config.newrelic.endpoint = Some(receiver.endpoint());
        config.newrelic.export_interval = Duration::from_millis(200);
        config.newrelic.share_event_sample_rate = 1.0;
        config.newrelic.max_share_events_per_second = 1_000;
        // Pay the block's reward as soon as it matures.
        config.payouts.enabled = true;
        config.payouts.interval = Duration::from_millis(300);
        config.payouts.threshold = 1;
        config.payouts.min_peers = 0;
        config.payouts.confirmations = 1;
    })
    .await;
    let miner_address = address(31);
    let doors = cluster.slave(0).expect("slave").doors();
    let miner = tcp_miner(doors.stratum).await;
    log_in(&miner, &format!("{miner_address}.rig7")).await;
    assert!(mine_shares(&miner, 3).await > 0, "shares are accepted");

    // At network difficulty 1 every share is a block.
    cluster.set_network_difficulty(1);
    let job = loop {
        let job = miner.next_job(DEADLINE).await.expect("a job");
        if job.target.0 == [0xff; 32] {
            break job;
        }
    };
    let outcome = miner.mine_and_submit_one(&job).await.expect("submit");
    assert!(outcome.is_accepted(), "{outcome:?}");
    drop(miner);

    wait_until(
        "every event, metric and span reached the receiver",
        || async { missing(&receiver.received(), &miner_address).is_empty() },
    )
    .await;
    let seen = receiver.received();
    assert!(
        missing(&seen, &miner_address).is_empty(),
        "{:?}",
        missing(&seen, &miner_address)
    );
    assert!(
        seen.errors.is_empty(),
        "unreadable exports: {:?}",
        seen.errors
    );
    assert_eq!(
        seen.api_keys,
        BTreeSet::from([LICENSE_KEY.to_string()]),
        "every request carries the license key"
    );
    assert_eq!(seen.encodings, BTreeSet::from(["gzip".to_string()]));

    // The events carry the miner and where it connected.
    let share = seen.events["ShareSubmission"]
        .iter()
        .find(|share| share.get("valid").map(String::as_str) == Some("true"))
        .expect("a valid share event");
    assert_eq!(share["address"], miner_address);
    assert_eq!(share["worker"], "rig7");
    for kind in ["MinerConnected", "MinerDisconnected"] {
        let session = &seen.events[kind][0];
        assert_eq!(session["address"], miner_address, "{kind}");
        assert_eq!(session["worker"], "rig7", "{kind}");
        assert_eq!(session["protocol"], "stratum", "{kind}");
        assert!(!session["slave"].is_empty(), "{kind}");
        assert!(session.contains_key("region"), "{kind}");
    }
    let block = seen.events["BlockFound"]
        .iter()
        .find(|block| block["finder"] == miner_address)
        .expect("the miner's block");
    assert_eq!(block["hash"].len(), 64, "{block:?}");
    let span = seen
        .spans_named("block.submit")
        .find(|span| span.get("hash") == Some(&block["hash"]))
        .expect("the block's submission span");
    assert_eq!(span.get("accepted").map(String::as_str), Some("true"));
    assert_eq!(span.get("address"), Some(&miner_address));

    // The matured reward was paid to the miner through the wallet.
    let payment = seen.events["Payment"]
        .iter()
        .find(|payment| payment["address"] == miner_address)
        .expect("the miner's payment");
    let amount: u64 = payment["amount"].parse().expect("an amount");
    assert!(amount > 0, "{payment:?}");
    assert_eq!(payment["txHash"].len(), 64, "{payment:?}");

    // The master's network gauges follow the chain.
    let height = seen.gauge("Custom/Network/Height", "master");
    assert!(height.is_some_and(|height| height >= 1.0), "{height:?}");
    let difficulty = seen.gauge("Custom/Network/Difficulty", "master");
    let hashrate = seen.gauge("Custom/Network/Hashrate", "master");
    assert!(difficulty.is_some_and(|d| d >= 1.0), "{difficulty:?}");
    assert!(hashrate.is_some_and(|h| h >= 1.0), "{hashrate:?}");

    // Both roles exported under the app name, each as its own instance.
    let roles: BTreeSet<&str> = seen
        .resources
        .iter()
        .filter(|attrs| attrs.get("service.name").map(String::as_str) == Some("tos-pool-e2e"))
        .filter_map(|attrs| attrs.get("tos.role").map(String::as_str))
        .collect();
    assert_eq!(roles, BTreeSet::from(["master", "slave"]));
    cluster.shutdown().await;
}
