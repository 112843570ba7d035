//! The ban fan-out under load: a slave that connects while a thousand bans
//! are in force gets its Welcome first, then every ban, and its shares are
//! acked; a burst of ten thousand ban reports reaches a real slave without
//! disconnecting it, and its miners keep mining.

use crate::{cluster_support, master_support};

use std::collections::HashSet;

use master_support::{Cluster, TestSlave, batch, hello, share};
use tos_pool_common::clock::unix_ms;
use tos_pool_integration_tests::cluster::config::TEST_SECRET;
use tos_pool_proto::v1::{BanReport, SlaveMessage, master_message, slave_message};

/// A distinct private IP for each `index` below 65,536.
fn ip(index: u32) -> String {
    format!(
        "10.{}.{}.{}",
        200 + (index >> 16),
        (index >> 8) & 0xff,
        index & 0xff
    )
}

/// Reads frames until `count` distinct banned IPs arrived; returns them
/// and the first job seen on the way (or the stream's next one).
async fn bans_and_job(
    slave: &mut TestSlave,
    count: usize,
) -> (HashSet<String>, tos_pool_proto::v1::Job) {
    let mut banned = HashSet::new();
    let mut job = None;
    while banned.len() < count || job.is_none() {
        match slave.next().await {
            Ok(Some(master_message::Kind::Ban(ban))) => {
                assert!(ban.until_ms > unix_ms(), "only bans in force are sent");
                banned.insert(ban.ip);
            }
            Ok(Some(master_message::Kind::Job(found))) => job = Some(found),
            Ok(Some(master_message::Kind::Welcome(_))) => panic!("a second Welcome"),
            Ok(Some(_)) => {}
            other => panic!("the stream ended after {} bans: {other:?}", banned.len()),
        }
    }
    (banned, job.expect("the loop waits for a job"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_slave_gets_its_welcome_then_every_one_of_a_thousand_bans() {
    const BANS: u32 = 1_000;
    let cluster = Cluster::start(true, |_| {}).await;
    let gateway = cluster.master.gateway().clone();
    let now = unix_ms();
    for index in 0..BANS {
        gateway
            .ban(&ip(index), "test ban", 600_000, now)
            .expect("the ban is recorded");
    }
    let expected: HashSet<String> = (0..BANS).map(ip).collect();
    let url = cluster.gateway_url();

    // First connection: Welcome first (join checks it), then all the bans,
    // and a share batch is stored and acked.
    let (mut slave, welcome) = TestSlave::join(&url, "eu-1", "boot-1", 0).await;
    assert_eq!(welcome.acked_seq, 0);
    let (banned, job) = bans_and_job(&mut slave, expected.len()).await;
    assert_eq!(banned, expected);
    let address = master_support::miner_address(7);
    slave.send(batch(vec![share(1, &job, &address, 10)])).await;
    assert_eq!(slave.acked(1).await, 1);
    drop(slave);

    // The same slave reconnects: the same again, resuming after its ack.
    let (mut again, welcome) = TestSlave::join(&url, "eu-1", "boot-1", 1).await;
    assert_eq!(
        welcome.acked_seq, 1,
        "the Welcome comes first, with the ack point"
    );
    let (banned, job) = bans_and_job(&mut again, expected.len()).await;
    assert_eq!(banned, expected);
    again.send(batch(vec![share(2, &job, &address, 10)])).await;
    assert_eq!(again.acked(2).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_ten_thousand_bans_disconnects_no_slave() {
    const BANS: u32 = 10_000;
    let cluster = cluster_support::start(1, |_| {}).await;
    let master = cluster.master().expect("the master runs");
    let slave = cluster.slave(0).expect("the slave runs");
    let address = cluster_support::address(3);
    let miner = cluster_support::tcp_miner(slave.doors().stratum).await;
    cluster_support::log_in(&miner, &format!("{address}.rig")).await;
    assert!(cluster_support::mine_shares(&miner, 1).await >= 1);
    let reconnects_before = slave.link().counters().reconnects;

    // Another slave reports ten thousand bans as fast as its stream takes
    // them, and does not read its own stream meanwhile.
    let url = format!("http://{}", master.gateway_addr());
    let reporter = TestSlave::open(
        master_support::channel(&url, None).await,
        Some(TEST_SECRET),
        hello("reporter", "boot", 0),
    )
    .await
    .expect("the reporter's stream opens");
    for index in 0..BANS {
        reporter
            .send(SlaveMessage {
                kind: Some(slave_message::Kind::Ban(BanReport {
                    ip: ip(index),
                    reason: "invalid share ratio".to_owned(),
                    duration_ms: 600_000,
                    address: None,
                })),
            })
            .await;
    }

    let bans = slave.link().bans();
    cluster_support::wait_until("the slave holds every ban", || {
        let held = bans.len();
        async move { held >= BANS as usize }
    })
    .await;
    assert_eq!(master.gateway().bans(unix_ms()).len(), BANS as usize);
    assert_eq!(
        slave.link().counters().reconnects,
        reconnects_before,
        "the burst did not cut the slave's link"
    );
    assert!(slave.link().is_connected());
    let slaves = master.gateway().connected_slaves();
    assert_eq!(slaves.len(), 2, "both streams are still open: {slaves:?}");
    // Shares still flow end to end.
    cluster_support::wait_until("the first share is in the ledger", || async {
        cluster_support::ledger_valid(&cluster, &address, "rig").await >= 1
    })
    .await;
    let before = cluster_support::ledger_valid(&cluster, &address, "rig").await;
    assert!(cluster_support::mine_shares(&miner, 2).await >= 1);
    cluster_support::wait_until("the new shares are in the ledger", || async {
        cluster_support::ledger_valid(&cluster, &address, "rig").await > before
    })
    .await;
}
