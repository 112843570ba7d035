//! The slave gateway end to end: jobs reach slaves as templates change, the
//! token is required, live slaves get distinct indices, TLS works.

use crate::master_support;

use master_support::{Cluster, SECRET, TestSlave, channel, eventually, hello, within};
use tonic::Code;
use tos_pool_integration_tests::devnet::DEVNET_MINER_KEY;
use tos_pool_integration_tests::tls::TestCertificate;
use tos_pool_proto::v1::{BanReport, SlaveMessage, master_message, slave_message};

#[tokio::test]
async fn new_templates_reach_a_connected_slave_as_jobs() {
    let cluster = Cluster::start(true, |_| {}).await;
    let (mut slave, welcome) = TestSlave::join(&cluster.gateway_url(), "eu-1", "boot-a", 0).await;
    assert_eq!(welcome.network, "devnet");
    assert_eq!(welcome.acked_seq, 0);
    let settings = welcome.settings.expect("Welcome carries settings");
    assert_eq!(settings.pool_address, master_support::pool_address());
    assert_eq!(settings.job_backlog, cluster.config.mining.job_backlog);

    let first = slave.next_job().await;
    assert_eq!(first.miner_work.len(), 112);
    assert_eq!(
        first.miner_work[80..112],
        DEVNET_MINER_KEY,
        "the pool's key is the miner"
    );
    assert!(
        first.miner_work[48..80].iter().all(|byte| *byte == 0),
        "extra_nonce is left to slaves"
    );
    assert_eq!(first.network_difficulty, "1000");
    assert_eq!(first.network_target.len(), 32);

    // The emulator makes a block every 500 ms: the next template is a new job.
    let next = within(async {
        loop {
            let job = slave.next_job().await;
            if job.height > first.height {
                return job;
            }
        }
    })
    .await;
    assert_ne!(next.job_id, first.job_id);
    assert_eq!(next.miner_work[80..112], DEVNET_MINER_KEY);
    assert!(next.clean, "a new height drops older jobs");
}

#[tokio::test]
async fn a_stream_without_the_right_token_is_unauthenticated() {
    let cluster = Cluster::start(true, |_| {}).await;
    let url = cluster.gateway_url();
    for token in [None, Some("wrong-secret-0123456789"), Some("")] {
        let refused = TestSlave::open(channel(&url, None).await, token, hello("x", "b", 0)).await;
        let status = refused.err().expect("the stream is refused");
        assert_eq!(status.code(), Code::Unauthenticated, "token {token:?}");
    }
    assert!(cluster.master.gateway().connected_slaves().is_empty());
    // The right token on the same gateway works.
    let (_slave, welcome) = TestSlave::join(&url, "eu-1", "boot", 0).await;
    assert_eq!(welcome.slave_index, 0);
}

#[tokio::test]
async fn live_slaves_hold_distinct_indices_and_leaving_frees_them() {
    let cluster = Cluster::start(true, |_| {}).await;
    let url = cluster.gateway_url();
    let (first, a) = TestSlave::join(&url, "eu-1", "boot-1", 0).await;
    let (_second, b) = TestSlave::join(&url, "us-1", "boot-2", 0).await;
    assert_ne!(a.slave_index, b.slave_index);
    // The same slave reconnecting while its old stream lives gets a third
    // index, and the old stream is closed.
    let (_again, c) = TestSlave::join(&url, "eu-1", "boot-3", 0).await;
    assert!(c.slave_index != a.slave_index && c.slave_index != b.slave_index);
    let mut first = first;
    let ended = within(async {
        loop {
            match first.next().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert_eq!(ended.err().map(|status| status.code()), Some(Code::Aborted));

    let gateway = cluster.master.gateway().clone();
    let slaves = eventually("the superseded stream to be released", || {
        let slaves = gateway.connected_slaves();
        async move { (slaves.len() == 2).then_some(slaves) }
    })
    .await;
    let mut indices: Vec<u32> = slaves.iter().map(|slave| slave.index).collect();
    indices.sort_unstable();
    let mut expected = vec![b.slave_index, c.slave_index];
    expected.sort_unstable();
    assert_eq!(indices, expected);
    assert!(
        slaves
            .iter()
            .any(|slave| slave.slave_id == "us-1" && slave.region == "test")
    );
}

#[tokio::test]
async fn the_gateway_serves_tls_with_the_configured_certificate() {
    let certificate = TestCertificate::self_signed(&["localhost"]).expect("certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert_path, key_path) = certificate.write_to(dir.path()).expect("PEM files written");
    let cluster = Cluster::start(true, |config| {
        config.master.tls_cert = Some(cert_path);
        config.master.tls_key = Some(key_path);
        config.master.allow_plaintext = false;
    })
    .await;
    let url = format!("https://localhost:{}", cluster.master.gateway_addr().port());
    let secure = channel(&url, Some(&certificate.cert_pem)).await;
    let (mut slave, welcome) = TestSlave::join_on(secure, "eu-tls", "boot", 0).await;
    assert_eq!(welcome.slave_index, 0);
    let job = slave.next_job().await;
    assert_eq!(job.miner_work[80..112], DEVNET_MINER_KEY);

    let refused = TestSlave::open(
        channel(&url, Some(&certificate.cert_pem)).await,
        Some("not-the-secret-at-all"),
        hello("eu-2", "boot", 0),
    )
    .await;
    assert_eq!(
        refused.err().map(|status| status.code()),
        Some(Code::Unauthenticated)
    );
    assert_ne!(SECRET, "not-the-secret-at-all");
}

#[tokio::test]
async fn a_reported_ban_reaches_every_slave_and_later_ones() {
    let cluster = Cluster::start(true, |_| {}).await;
    let url = cluster.gateway_url();
    let (reporter, _) = TestSlave::join(&url, "eu-1", "boot", 0).await;
    let (mut other, _) = TestSlave::join(&url, "us-1", "boot", 0).await;
    reporter
        .send(SlaveMessage {
            kind: Some(slave_message::Kind::Ban(BanReport {
                ip: "203.0.113.9".to_owned(),
                reason: "invalid share ratio".to_owned(),
                duration_ms: 600_000,
                address: None,
            })),
        })
        .await;
    let ban = other
        .until(|kind| match kind {
            master_message::Kind::Ban(ban) => Some(ban),
            _ => None,
        })
        .await;
    assert_eq!(ban.ip, "203.0.113.9");
    assert!(ban.until_ms > tos_pool_common::clock::unix_ms());

    let (mut late, _) = TestSlave::join(&url, "ap-1", "boot", 0).await;
    let remembered = late
        .until(|kind| match kind {
            master_message::Kind::Ban(ban) => Some(ban),
            _ => None,
        })
        .await;
    assert_eq!(remembered, ban);
}

#[tokio::test]
async fn shutdown_ends_every_stream_with_unavailable() {
    let cluster = Cluster::start(true, |_| {}).await;
    let (mut slave, _) = TestSlave::join(&cluster.gateway_url(), "eu-1", "boot", 0).await;
    let Cluster { master, .. } = cluster;
    let stopping = tokio::spawn(master.shutdown());
    let ended = within(async {
        loop {
            match slave.next().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert_eq!(
        ended.err().map(|status| status.code()),
        Some(Code::Unavailable)
    );
    within(stopping).await.expect("shutdown completes");
}
