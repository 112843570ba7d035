//! Demo miners for the local cluster: test miners over Stratum that mine
//! real shares on the slaves until stopped, reconnecting when a slave drains.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tos_pool_common::address::Address;
use tos_pool_common::network::Network;

use crate::miners::{MinerOptions, StratumMiner, Transport};

/// Shares the demo miners got accepted and refused.
#[derive(Debug, Default)]
pub struct DemoTally {
    /// Accepted shares.
    pub accepted: AtomicU64,
    /// Refused shares.
    pub rejected: AtomicU64,
}

/// The login of demo miner `index`: a devnet address of its own and `demoN`.
pub fn demo_login(index: usize, network: Network) -> String {
    let byte = u8::try_from(index % 250).unwrap_or(0) + 1;
    format!("{}.demo{index}", Address::new([byte; 32], network))
}

/// Starts `count` demo miners spread over `doors`; they stop when `stop`
/// turns true.
pub fn start(
    count: usize,
    doors: Vec<SocketAddr>,
    network: Network,
    stop: watch::Receiver<bool>,
) -> Arc<DemoTally> {
    let tally = Arc::new(DemoTally::default());
    if doors.is_empty() {
        return tally;
    }
    for index in 0..count {
        let addr = doors[index % doors.len()];
        let login = demo_login(index, network);
        let tally = Arc::clone(&tally);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = mine(addr, &login, &tally) => {}
                    _ = stop.wait_for(|stop| *stop) => return,
                }
                // The connection ended (drain, restart): come back shortly.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.wait_for(|stop| *stop) => return,
                }
            }
        });
    }
    tally
}

/// One connection's life: subscribe, authorize, mine the latest job.
async fn mine(addr: SocketAddr, login: &str, tally: &DemoTally) {
    let options = MinerOptions::lean().with_timeout(Duration::from_secs(30));
    let Ok(miner) = StratumMiner::connect(addr, Transport::Tcp, options).await else {
        return;
    };
    if miner.subscribe().await.is_err() || miner.authorize(login, "x").await.is_err() {
        return;
    }
    while !miner.is_closed() {
        let job = match miner.latest_job() {
            Some(job) => job,
            None => match miner.next_job(Duration::from_secs(30)).await {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match miner.mine_and_submit_one(&job).await {
            Ok(outcome) if outcome.is_accepted() => {
                tally.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                tally.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => return,
        }
    }
}
