//! The slave's job push path: plain-TCP Stratum sessions get their jobs from
//! the slave's writer tasks, straight to their sockets; TLS sessions from
//! their own task. Every session, idle or busy sending shares while jobs
//! change, gets the jobs in order, each with its own extra_nonce, and ends
//! on the slave's current job.

use crate::cluster_support;

use std::collections::HashSet;
use std::time::Duration;

use cluster_support::{
    DEADLINE, address, log_in, start_with_blocks, tcp_miner, tls_miner, wait_until,
};
use tos_pool_integration_tests::miners::{Job, StratumMiner};

/// The jobs pushed to `miner` until it has seen `count` new job ids after
/// its login job (a re-sent job id is kept, so repeats show).
async fn jobs_after_login(miner: &StratumMiner, count: usize) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut distinct = HashSet::new();
    while distinct.len() <= count {
        let job = miner.next_job(DEADLINE).await.expect("a job");
        distinct.insert(job.job_id.clone());
        jobs.push(job);
    }
    jobs
}

/// Heights never go back, and a job id once left is never sent again.
fn assert_in_order(jobs: &[Job], who: &str) {
    let mut left = HashSet::new();
    for pair in jobs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        assert!(
            after.height >= before.height,
            "{who}: height {} after {}",
            after.height,
            before.height
        );
        if after.job_id != before.job_id {
            left.insert(before.job_id.clone());
            assert!(
                !left.contains(&after.job_id),
                "{who}: job {} sent again after newer ones",
                after.job_id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_busy_sessions_get_every_job_in_order_from_the_writers() {
    let cluster = start_with_blocks(1, Duration::from_millis(300), |_| {}).await;
    let slave = cluster.slaves().next().expect("one slave");
    let doors = slave.doors();
    let mut idle = Vec::new();
    for index in 0..24u8 {
        let miner = tcp_miner(doors.stratum).await;
        log_in(&miner, &format!("{}.idle{index}", address(index + 1))).await;
        idle.push(miner);
    }
    let tls = tls_miner(&cluster, doors.stratum_tls.expect("TLS door open")).await;
    log_in(&tls, &format!("{}.tls", address(40))).await;
    let busy = tcp_miner(doors.stratum).await;
    log_in(&busy, &format!("{}.busy", address(41))).await;

    // The busy session sends shares while jobs change: its task holds the
    // session while it handles each one, and the writers leave it the jobs
    // that came meanwhile.
    let busy_jobs = async {
        let mut jobs: Vec<Job> = Vec::new();
        let mut accepted = 0;
        while jobs
            .iter()
            .map(|job| &job.job_id)
            .collect::<HashSet<_>>()
            .len()
            <= 6
        {
            while let Ok(job) = busy.next_job(Duration::from_millis(1)).await {
                jobs.push(job);
            }
            let job = match jobs.last() {
                Some(job) => job.clone(),
                None => {
                    jobs.push(busy.next_job(DEADLINE).await.expect("a job"));
                    continue;
                }
            };
            if busy
                .mine_and_submit_one(&job)
                .await
                .expect("submit")
                .is_accepted()
            {
                accepted += 1;
            }
        }
        (jobs, accepted)
    };
    let idle_jobs = async {
        let mut all = Vec::new();
        for miner in &idle {
            all.push(jobs_after_login(miner, 6).await);
        }
        all
    };
    let ((busy_jobs, accepted), idle_jobs, tls_jobs) =
        tokio::join!(busy_jobs, idle_jobs, jobs_after_login(&tls, 6));
    assert!(accepted > 0, "the busy session's shares were accepted");
    assert_in_order(&busy_jobs, "busy");
    assert_in_order(&tls_jobs, "tls");
    let mut extra_nonces = HashSet::new();
    for (index, jobs) in idle_jobs.iter().enumerate() {
        assert_in_order(jobs, &format!("idle{index}"));
        let last = jobs.last().expect("jobs");
        assert!(
            extra_nonces.insert(last.header[48..80].to_vec()),
            "two sessions got the same extra_nonce"
        );
    }

    // Every session ends on the slave's current job.
    let mut sessions: Vec<(&StratumMiner, Option<String>)> = idle
        .iter()
        .zip(&idle_jobs)
        .map(|(miner, jobs)| (miner, jobs.last().map(|job| job.job_id.clone())))
        .collect();
    sessions.push((&tls, tls_jobs.last().map(|job| job.job_id.clone())));
    sessions.push((&busy, busy_jobs.last().map(|job| job.job_id.clone())));
    let sessions = std::sync::Mutex::new(sessions);
    wait_until("every session has the slave's current job", || async {
        let current = slave.link().jobs().borrow().clone();
        let Some(current) = current else {
            return false;
        };
        let mut sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.iter_mut().all(|(miner, last)| {
            if let Some(job) = miner.latest_job() {
                *last = Some(job.job_id);
            }
            last.as_deref() == Some(current.job_id.as_str())
        })
    })
    .await;
}
