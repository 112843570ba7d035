//! A slave with tens of thousands of miners: the burst of MinerEvents it
//! sends when they connect and log in must not hold up the share acks or
//! the jobs behind it on the same stream.

use crate::master_support;

use master_support::{Cluster, TestSlave, batch, eventually, miner_address, share, within};
use tos_pool_common::address::Address;
use tos_pool_common::network::Network;
use tos_pool_proto::v1::{MinerEvent, MinerEventKind, MinerProtocol, SlaveMessage, slave_message};

/// Miner sessions the test slave reports: as many as one real slave holds.
const SESSIONS: u64 = 20_000;

/// A distinct devnet address for each session.
fn session_address(session_id: u64) -> String {
    let mut key = [7u8; 32];
    key[..8].copy_from_slice(&session_id.to_be_bytes());
    Address::new(key, Network::Devnet).to_string()
}

fn miner_event(kind: MinerEventKind, session_id: u64) -> SlaveMessage {
    let (address, worker) = match kind {
        MinerEventKind::Authorized => (session_address(session_id), "rig".to_owned()),
        _ => (String::new(), String::new()),
    };
    SlaveMessage {
        kind: Some(slave_message::Kind::Miner(MinerEvent {
            kind: kind as i32,
            session_id,
            address,
            worker,
            protocol: MinerProtocol::Stratum as i32,
            remote_ip: "127.0.0.1".to_owned(),
            at_ms: tos_pool_common::clock::unix_ms(),
            user_agent: "tosminer/1.0.0".to_owned(),
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_miner_events_does_not_hold_up_share_acks() {
    let cluster = Cluster::start(true, |_| {}).await;
    let (mut slave, _welcome) = TestSlave::join(&cluster.gateway_url(), "big-1", "boot-a", 0).await;
    let job = slave.next_job().await;

    // One deadline for the whole burst and the ack behind it: the master
    // must work through every event and still ack the batch.
    let acked = within(async {
        for session_id in 1..=SESSIONS {
            slave
                .send(miner_event(MinerEventKind::Connected, session_id))
                .await;
        }
        for session_id in 1..=SESSIONS {
            slave
                .send(miner_event(MinerEventKind::Authorized, session_id))
                .await;
        }
        slave
            .send(batch(vec![share(1, &job, &miner_address(1), 10)]))
            .await;
        slave.acked(1).await
    })
    .await;
    assert_eq!(acked, 1);

    let reported = eventually("the slave's miners counted", || async {
        let slaves = cluster.master.gateway().connected_slaves();
        let info = slaves.into_iter().find(|info| info.slave_id == "big-1")?;
        (info.sessions == SESSIONS).then_some(info)
    })
    .await;
    assert_eq!(
        reported.miners, SESSIONS,
        "every session has its own address"
    );
    assert_eq!(reported.workers, SESSIONS);

    // Half of them leave: the counters follow, and acks keep coming.
    let acked = within(async {
        for session_id in 1..=SESSIONS / 2 {
            slave
                .send(miner_event(MinerEventKind::Disconnected, session_id))
                .await;
        }
        slave
            .send(batch(vec![share(2, &job, &miner_address(1), 10)]))
            .await;
        slave.acked(2).await
    })
    .await;
    assert_eq!(acked, 2);
    let reported = eventually("the departures counted", || async {
        let slaves = cluster.master.gateway().connected_slaves();
        let info = slaves.into_iter().find(|info| info.slave_id == "big-1")?;
        (info.sessions == SESSIONS / 2).then_some(info)
    })
    .await;
    assert_eq!(reported.miners, SESSIONS / 2);
    assert_eq!(reported.workers, SESSIONS / 2);
}

#[tokio::test]
async fn a_frame_over_the_limit_ends_the_stream_with_a_reason() {
    let cluster = Cluster::start(false, |_| {}).await;
    let (mut slave, _welcome) = TestSlave::join(&cluster.gateway_url(), "big-2", "boot-a", 0).await;
    let mut oversized = miner_event(MinerEventKind::Connected, 1);
    if let Some(slave_message::Kind::Miner(event)) = oversized.kind.as_mut() {
        event.user_agent = "x".repeat(tos_pool_proto::MAX_MESSAGE_BYTES + 1);
    }
    slave.send(oversized).await;
    let status = within(async {
        loop {
            match slave.next().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await;
    assert!(
        status.message().contains("could not read a frame"),
        "the slave is told why: {status:?}"
    );
    // The gateway keeps serving: the slave reconnects and is welcomed.
    let (_again, welcome) = TestSlave::join(&cluster.gateway_url(), "big-2", "boot-a", 0).await;
    assert_eq!(welcome.acked_seq, 0);
}
