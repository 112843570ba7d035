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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writers_send_the_job_again_while_the_master_is_away() {
    // With the master gone no job comes; after `mining.job_refresh` the
    // writers send every seat the current job again, which no session's
    // task is woken for.
    let mut cluster = cluster_support::start(1, |config| {
        config.mining.job_refresh = Duration::from_millis(400);
    })
    .await;
    let doors = cluster.slave(0).expect("slave").doors();
    let miner = tcp_miner(doors.stratum).await;
    log_in(&miner, &format!("{}.rig", address(3))).await;
    miner.next_job(DEADLINE).await.expect("the login job");
    cluster.stop_master().await;
    wait_until("the slave sees the master gone", || async {
        !cluster.slave(0).expect("slave").link().is_connected()
    })
    .await;
    // Jobs already on their way may come first; then the same one again.
    let mut last = miner.next_job(DEADLINE).await.expect("a job");
    let mut repeats = 0;
    while repeats < 2 {
        let job = miner.next_job(DEADLINE).await.expect("a refresh");
        if job.job_id == last.job_id {
            repeats += 1;
            assert!(
                job.received_at.duration_since(last.received_at) >= Duration::from_millis(300),
                "a refresh comes a refresh period after the last send"
            );
        }
        last = job;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_sessions_retarget_goes_out_with_the_next_pushed_job() {
    // Vardiff retargets every second for a share every 100 ms; an idle
    // session (no shares) is retargeted down by the writer when it pushes
    // the next job, and that job carries the new difficulty.
    let cluster = start_with_blocks(1, Duration::from_millis(300), |config| {
        config.mining.initial_difficulty = 1_000;
        config.mining.min_difficulty = 10;
        config.mining.vardiff_retarget = Duration::from_secs(1);
        config.mining.vardiff_target_time = Duration::from_millis(100);
        config.mining.vardiff_enabled = true;
    })
    .await;
    let doors = cluster.slave(0).expect("slave").doors();
    let miner = tcp_miner(doors.stratum).await;
    log_in(&miner, &format!("{}.rig", address(4))).await;
    let first = miner.next_job(DEADLINE).await.expect("the login job");
    assert_eq!(first.difficulty, Some(1_000));
    let lowered = tokio::time::timeout(DEADLINE, async {
        loop {
            let job = miner.next_job(DEADLINE).await.expect("a job");
            if job.difficulty.is_some_and(|difficulty| difficulty < 1_000) {
                return job;
            }
        }
    })
    .await
    .expect("a job at a lower difficulty within the deadline");
    assert!(
        lowered.received_at.duration_since(first.received_at) >= Duration::from_millis(900),
        "not before the retarget period"
    );
    cluster.shutdown().await;
}
