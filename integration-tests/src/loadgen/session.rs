//! One simulated miner: connect (from its source address), log in, then
//! keep the newest job, record when each pushed job arrived, and send
//! shares of the planned kinds at its pace until told to stop.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit, watch};
use tokio::time::Instant;
use tos_pool_common::address::Address;
use tos_pool_common::network::Network;

use super::fanout::Fanout;
use super::histogram::Histogram;
use super::mix::ShareKind;
use super::tally::{MinerReport, Tally, bump};
use super::{LoadSettings, ShareRate};
use crate::miners::{
    Endpoint, Job, MinerError, MinerOptions, SubmitOutcome, TestMiner, find_bad_share, find_share,
};

/// Hashes one nonce search may try (share difficulty is low in load runs).
const MAX_TRIES: u64 = 100_000;
/// Pause before a closed session connects again (`LoadSettings::reconnect`).
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// The address and worker of simulated miner number `n`: a devnet-style
/// address whose key starts with `n`, and worker `lgN`.
pub fn miner_login(n: u64, network: Network) -> (String, String) {
    let mut key = [0x6c; 32];
    key[..8].copy_from_slice(&n.to_be_bytes());
    (Address::new(key, network).to_string(), format!("lg{n}"))
}

/// Waits until `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, before any other await.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}

/// What every session shares.
pub(crate) struct Shared {
    pub(crate) settings: LoadSettings,
    pub(crate) tally: Tally,
    pub(crate) latency: Histogram,
    pub(crate) fanout: Fanout,
    pub(crate) connect_slots: Semaphore,
    /// Shares left to claim (`u64::MAX`: no limit).
    pub(crate) budget: AtomicU64,
}

impl Shared {
    /// Claims one share of the budget; false when it is spent.
    fn claim(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                if left == u64::MAX {
                    Some(left)
                } else {
                    left.checked_sub(1)
                }
            })
            .is_ok()
    }

    fn budget_left(&self) -> bool {
        self.budget.load(Ordering::Relaxed) > 0
    }
}

/// A session's view of its jobs.
#[derive(Default)]
struct Jobs {
    latest: Option<Job>,
    first: Option<Job>,
    newer_than_first: u32,
    seen_login_job: bool,
    last_accepted: Option<(Job, u64)>,
}

impl Jobs {
    fn on_job(&mut self, job: Job, fanout: &Fanout) {
        let repeat = self.latest.as_ref().is_some_and(|l| l.job_id == job.job_id);
        if repeat {
            // The pool's periodic re-send of the same job: not a new push.
            self.latest = Some(job);
            return;
        }
        if self.seen_login_job {
            fanout.record(&job.job_id, job.received_at);
        }
        self.seen_login_job = true;
        if self.first.is_none() {
            self.first = Some(job.clone());
        } else {
            self.newer_than_first = self.newer_than_first.saturating_add(1);
        }
        self.latest = Some(job);
    }
}

/// The report of simulated miner `index`, before its first connection.
pub(crate) fn new_report(index: usize, shared: &Shared) -> MinerReport {
    let settings = &shared.settings;
    let (address, worker) = miner_login(settings.login_offset + index as u64, settings.network);
    MinerReport {
        address,
        worker,
        ..MinerReport::default()
    }
}

/// What a session does after a connection attempt or a connection ends.
pub(crate) enum Next {
    /// Connect again.
    Reconnect,
    /// The session is over.
    Stop,
}

/// Counts an attempt that could not open: with
/// [`LoadSettings::reconnect`], waits and says to try again; otherwise the
/// session has failed.
pub(crate) async fn open_failed(
    error: String,
    report: &mut MinerReport,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) -> Next {
    if !shared.settings.reconnect {
        bump(&shared.tally.failed);
        report.open_error = Some(error);
        return Next::Stop;
    }
    report.reconnects += 1;
    tracing::debug!(%error, "session could not open; trying again");
    pause_before_reconnect(stop).await
}

/// Counts a connection that opened, as open until [`closed`].
pub(crate) fn opened(report: &mut MinerReport, shared: &Shared) {
    if !report.opened {
        report.opened = true;
        bump(&shared.tally.opened);
    }
    shared.tally.open.fetch_add(1, Ordering::Relaxed);
}

/// Counts a connection that ended, `by_pool` or because the run stopped;
/// says whether to connect again.
pub(crate) async fn closed(
    by_pool: bool,
    report: &mut MinerReport,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) -> Next {
    shared.tally.open.fetch_sub(1, Ordering::Relaxed);
    if !by_pool {
        return Next::Stop;
    }
    bump(&shared.tally.closed_by_pool);
    if !shared.settings.reconnect {
        return Next::Stop;
    }
    report.reconnects += 1;
    pause_before_reconnect(stop).await
}

/// Waits [`RECONNECT_PAUSE`] unless the run stops first.
async fn pause_before_reconnect(stop: &mut watch::Receiver<bool>) -> Next {
    tokio::select! {
        _ = tokio::time::sleep(RECONNECT_PAUSE) => Next::Reconnect,
        _ = stopped(stop) => Next::Stop,
    }
}

/// Runs simulated miner `index` until `stop` turns true.
pub(crate) async fn run_session(
    index: usize,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> MinerReport {
    let settings = &shared.settings;
    let mut report = new_report(index, &shared);
    let interval = match settings.rate {
        ShareRate::Idle => None,
        ShareRate::Max => Some(Duration::ZERO),
        ShareRate::PerSecond(rate) => Some(Duration::from_secs_f64(
            (settings.sessions.max(1) as f64 / rate).min(86_400.0),
        )),
    };
    // Spread the sessions' first shares over one interval.
    let phase = interval.map_or(Duration::ZERO, |i| {
        i.mul_f64((index % 1000) as f64 / 1000.0)
    });
    let mut next_submit = Instant::now() + phase;
    let mut nonce = (index as u64) << 32;
    for attempt in index.. {
        let miner = tokio::select! {
            opened = open(attempt, &shared, &report) => opened,
            _ = stopped(&mut stop) => break,
        };
        let miner = match miner {
            Ok(miner) => miner,
            Err(error) => match open_failed(error, &mut report, &shared, &mut stop).await {
                Next::Reconnect => continue,
                Next::Stop => break,
            },
        };
        opened(&mut report, &shared);
        let mut jobs = Jobs::default();
        let by_pool = loop {
            let may_submit = interval.is_some() && jobs.latest.is_some() && shared.budget_left();
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => break false,
                job = miner.next_job(Duration::from_secs(3600)) => match job {
                    Ok(job) => jobs.on_job(job, &shared.fanout),
                    Err(MinerError::Closed) => break true,
                    Err(_) => {}
                },
                _ = tokio::time::sleep_until(next_submit), if may_submit => {
                    if !shared.claim() {
                        continue;
                    }
                    let kind = settings.mix.next_kind(&report.sent);
                    let closed = submit(&miner, kind, &mut jobs, &mut nonce, &shared, &mut report).await;
                    let step = interval.unwrap_or(Duration::ZERO);
                    next_submit = (next_submit + step).max(Instant::now() - step);
                    if closed {
                        break true;
                    }
                }
            }
        };
        if let Next::Stop = closed(by_pool, &mut report, &shared, &mut stop).await {
            break;
        }
    }
    report
}

/// Attempt `index`'s endpoint and source address (each in turn).
pub(crate) fn route(index: usize, settings: &LoadSettings) -> (&Endpoint, Option<IpAddr>) {
    let endpoint = &settings.endpoints[index % settings.endpoints.len()];
    let source =
        (!settings.sources.is_empty()).then(|| settings.sources[index % settings.sources.len()]);
    (endpoint, source)
}

/// One of the connect slots (`connect_concurrency`), held while a session
/// connects and logs in.
pub(crate) async fn connect_slot(shared: &Shared) -> Result<SemaphorePermit<'_>, String> {
    shared
        .connect_slots
        .acquire()
        .await
        .map_err(|_| "the run ended before this session could open".to_owned())
}

async fn open(index: usize, shared: &Shared, report: &MinerReport) -> Result<TestMiner, String> {
    let settings = &shared.settings;
    let _slot = connect_slot(shared).await?;
    let (endpoint, source) = route(index, settings);
    let mut options = MinerOptions::lean().with_timeout(settings.timeout);
    if let Some(source) = source {
        options = options.with_source(source);
    }
    let miner = TestMiner::connect(endpoint, options)
        .await
        .map_err(|e| e.to_string())?;
    let login = format!("{}.{}", report.address, report.worker);
    miner.login(&login).await.map_err(|e| e.to_string())?;
    Ok(miner)
}

/// Sends one share of `kind` (or the nearest possible) and counts the
/// answer; true when the connection is gone.
async fn submit(
    miner: &TestMiner,
    kind: ShareKind,
    jobs: &mut Jobs,
    nonce: &mut u64,
    shared: &Shared,
    report: &mut MinerReport,
) -> bool {
    let Some(latest) = jobs.latest.clone() else {
        return false;
    };
    let (kind, job, share_nonce) = match plan(kind, &latest, jobs, nonce, shared).await {
        Ok(planned) => planned,
        Err(error) => {
            tracing::warn!(%error, "load generator could not find a nonce");
            return false;
        }
    };
    report.sent.add(kind);
    bump(&shared.tally.sent);
    let started = std::time::Instant::now();
    let answer = miner.submit(&job, share_nonce).await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let tally = &shared.tally;
    match answer {
        Ok(SubmitOutcome::Accepted) => {
            shared.latency.record(micros);
            report.accepted += 1;
            bump(&tally.accepted);
            if kind == ShareKind::Valid {
                jobs.last_accepted = Some((job, share_nonce));
            }
        }
        Ok(SubmitOutcome::Rejected { code, .. }) => {
            shared.latency.record(micros);
            let (mine, all) = match code {
                21 => (&mut report.stale, &tally.stale),
                22 => (&mut report.duplicate, &tally.duplicate),
                23 => (&mut report.low_difficulty, &tally.low_difficulty),
                _ => (&mut report.other, &tally.other),
            };
            *mine += 1;
            bump(all);
        }
        Err(error) => {
            report.unanswered += 1;
            bump(&tally.errors);
            return matches!(error, MinerError::Closed) || miner.is_closed();
        }
    }
    false
}

/// The share to send for `kind`: its real kind (an impossible one falls
/// back to valid), its job and its nonce.
async fn plan(
    kind: ShareKind,
    latest: &Job,
    jobs: &Jobs,
    nonce: &mut u64,
    shared: &Shared,
) -> Result<(ShareKind, Job, u64), MinerError> {
    match kind {
        ShareKind::Duplicate => {
            if let Some((job, accepted)) = &jobs.last_accepted
                && job.job_id == latest.job_id
            {
                return Ok((ShareKind::Duplicate, job.clone(), *accepted));
            }
        }
        ShareKind::Stale => {
            // Only a job the pool issued and retired is stale: a made-up id
            // is refused as one the pool never issued and counts invalid.
            // Until the first job is old enough, the share goes out valid.
            if let Some(first) = &jobs.first
                && jobs.newer_than_first >= shared.settings.stale_after_jobs
            {
                let job = first.clone();
                let found = valid_nonce(&job, nonce).await?;
                return Ok((ShareKind::Stale, job, found));
            }
        }
        ShareKind::Invalid => {
            if accepts_every_hash(latest) {
                bump(&shared.tally.invalid_impossible);
            } else {
                let (header, target, start) = (latest.header, latest.target, *nonce);
                let found = tokio::task::spawn_blocking(move || {
                    find_bad_share(&header, &target, start, MAX_TRIES)
                })
                .await
                .map_err(|e| MinerError::Search(e.to_string()))?
                .ok_or(MinerError::NoBadShareFound { tries: MAX_TRIES })?;
                *nonce = found.0.wrapping_add(1);
                return Ok((ShareKind::Invalid, latest.clone(), found.0));
            }
        }
        ShareKind::Valid => {}
    }
    Ok((
        ShareKind::Valid,
        latest.clone(),
        valid_nonce(latest, nonce).await?,
    ))
}

/// Whether the job's share target is difficulty 1 (every hash meets it).
fn accepts_every_hash(job: &Job) -> bool {
    job.target.0 == [0xff; 32]
}

/// The next nonce meeting the job's target: no hashing at difficulty 1,
/// a search on the blocking pool otherwise.
async fn valid_nonce(job: &Job, nonce: &mut u64) -> Result<u64, MinerError> {
    if accepts_every_hash(job) {
        let found = *nonce;
        *nonce = nonce.wrapping_add(1);
        return Ok(found);
    }
    let (header, target, start) = (job.header, job.target, *nonce);
    let (found, _) =
        tokio::task::spawn_blocking(move || find_share(&header, &target, start, MAX_TRIES))
            .await
            .map_err(|e| MinerError::Search(e.to_string()))?
            .ok_or(MinerError::NoShareFound { tries: MAX_TRIES })?;
    *nonce = found.wrapping_add(1);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_miner_has_its_own_valid_login() {
        let (a0, w0) = miner_login(0, Network::Devnet);
        let (a1, w1) = miner_login(1, Network::Devnet);
        assert_ne!(a0, a1);
        assert_eq!((w0.as_str(), w1.as_str()), ("lg0", "lg1"));
        assert!(Address::parse(&a1, Network::Devnet).is_ok());
        assert!(a1.starts_with("tst1"));
        let login = format!("{a1}.{w1}");
        assert!(tos_pool_common::address::MinerLogin::parse(&login, Network::Devnet).is_ok());
    }
}
