//! End to end through the whole cluster (devnet, Redis, master, two slaves,
//! real sockets): shares over Stratum TCP and TLS land in the ledger exactly
//! once, sessions get distinct headers, a share at network difficulty
//! becomes a block, miners ride out a master outage, and a drained slave
//! loses no share.

use crate::cluster_support;

use std::collections::HashSet;

use cluster_support::{
    DEADLINE, address, ledger_valid, log_in, mine_shares, start, tcp_miner, tls_miner, wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_over_tcp_and_tls_reach_the_ledger_once_and_blocks_are_found() {
    let cluster = start(2, |_| {}).await;
    let mut miners = Vec::new();
    for (index, slave) in cluster.slaves().enumerate() {
        let doors = slave.doors();
        let tls = doors.stratum_tls.expect("TLS door open");
        let byte = u8::try_from(index).expect("two slaves") * 2 + 1;
        miners.push((tcp_miner(doors.stratum).await, address(byte), "tcp"));
        miners.push((tls_miner(&cluster, tls).await, address(byte + 1), "tls"));
    }
    for (miner, address, worker) in &miners {
        log_in(miner, &format!("{address}.{worker}")).await;
    }
    let mut accepted = Vec::new();
    for (miner, _, _) in &miners {
        accepted.push(mine_shares(miner, 3).await);
    }
    assert!(accepted.iter().all(|&count| count > 0), "{accepted:?}");
    for (tls_miner, _, worker) in miners.iter().filter(|(_, _, worker)| *worker == "tls") {
        assert_eq!(
            tls_miner.tls_version(),
            Some(rustls::ProtocolVersion::TLSv1_2),
            "{worker}"
        );
    }

    // Every session hashes its own header: the same job reaches each one
    // with its own extra_nonce.
    let mut headers = HashSet::new();
    let mut extra_nonces = HashSet::new();
    for (miner, _, _) in &miners {
        let job = miner.next_job(DEADLINE).await.expect("a job");
        assert!(
            headers.insert(job.header),
            "two sessions got the same header"
        );
        assert!(
            extra_nonces.insert(job.header[48..80].to_vec()),
            "two sessions got the same extra_nonce"
        );
    }

    // Every accepted share is in the ledger, exactly once.
    for ((_, address, worker), expected) in miners.iter().zip(&accepted) {
        wait_until("the ledger holds every accepted share", || async {
            ledger_valid(&cluster, address, worker).await >= *expected
        })
        .await;
        assert_eq!(ledger_valid(&cluster, address, worker).await, *expected);
    }

    // At network difficulty 1 every share is a block.
    cluster.set_network_difficulty(1);
    let (miner, _, _) = &miners[0];
    let job = loop {
        let job = miner.next_job(DEADLINE).await.expect("a job");
        if job.target.0 == [0xff; 32] {
            break job;
        }
    };
    let outcome = miner.mine_and_submit_one(&job).await.expect("submit");
    assert!(outcome.is_accepted(), "{outcome:?}");
    let extra_nonce: [u8; 32] = job.header[48..80].try_into().expect("32 bytes");
    wait_until("the emulator accepted the pool's block", || async {
        cluster
            .devnet
            .submitted_blocks()
            .iter()
            .any(|block| block.extra_nonce == extra_nonce)
    })
    .await;
    // The slave stamped when it read the share, so the master timed the
    // block's path from that read to its submit_block request.
    let metrics = cluster.master().expect("the master runs").metrics();
    wait_until("the master timed the block's path", || async {
        metrics.block_path_snapshot().count >= 1
    })
    .await;
    assert!(metrics.block_path_snapshot().sum_seconds > 0.0);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_keep_mining_through_a_master_outage_and_no_share_is_lost() {
    let mut cluster = start(1, |_| {}).await;
    let doors = cluster.slave(0).expect("slave").doors();
    let miner = tcp_miner(doors.stratum).await;
    let address = address(7);
    log_in(&miner, &format!("{address}.rig")).await;
    let mut accepted = mine_shares(&miner, 2).await;

    cluster.stop_master().await;
    wait_until("the slave sees the master gone", || async {
        !cluster.slave(0).expect("slave").link().is_connected()
    })
    .await;
    let during = mine_shares(&miner, 3).await;
    assert_eq!(
        during, 3,
        "shares on the last job are answered while the master is away"
    );
    accepted += during;

    cluster.restart_master().await.expect("the master restarts");
    wait_until("the slave is welcomed again", || async {
        cluster.slave(0).expect("slave").link().is_connected()
    })
    .await;
    accepted += mine_shares(&miner, 1).await;
    wait_until("the ledger holds every accepted share", || async {
        ledger_valid(&cluster, &address, "rig").await >= accepted
    })
    .await;
    assert_eq!(ledger_valid(&cluster, &address, "rig").await, accepted);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_slave_sends_reconnect_and_loses_no_share() {
    let mut cluster = start(1, |_| {}).await;
    let doors = cluster.slave(0).expect("slave").doors();
    let miner = tcp_miner(doors.stratum).await;
    let address = address(9);
    log_in(&miner, &format!("{address}.rig")).await;
    let accepted = mine_shares(&miner, 4).await;

    let report = cluster.drain_slave(0).await.expect("the slave was running");
    assert_eq!(report.unacked_shares, 0, "{report:?}");
    assert_eq!(report.sessions_left, 0, "{report:?}");
    miner
        .closed_within(DEADLINE)
        .await
        .expect("the slave closes the connection");
    assert!(miner.reconnect_requested(), "client.reconnect was sent");
    wait_until("the ledger holds every accepted share", || async {
        ledger_valid(&cluster, &address, "rig").await >= accepted
    })
    .await;
    assert_eq!(ledger_valid(&cluster, &address, "rig").await, accepted);
    cluster.shutdown().await;
}
