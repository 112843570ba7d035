//! A whole run: read the pool's counts, open the sessions at the allowed
//! pace, let them mine, stop, read the counts again and sum it all up.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::fanout::Fanout;
use super::histogram::Histogram;
use super::readback::{PoolCounts, ShareTotals, Verification, compare, read_workers};
use super::report::{LiveLine, Rejections, Summary};
use super::session::{Shared, run_session, stopped};
use super::tally::{MinerReport, Tally, read};
use super::watch::{can_watch, run_watcher};
use super::{LoadError, LoadSettings, ShareRate};

/// Longest wait for the pool's ledger to catch up with the answers.
const READ_BACK_DEADLINE: Duration = Duration::from_secs(60);
/// Open errors listed in the summary.
const OPEN_ERRORS_LISTED: usize = 5;

/// Runs `settings` until its duration passes, its share budget is
/// answered, or `stop` turns true; reads the pool's counts through
/// `counts` when given. Returns the summary and every miner's report.
pub async fn run(
    settings: LoadSettings,
    counts: Option<&dyn PoolCounts>,
    mut stop: watch::Receiver<bool>,
) -> Result<(Summary, Vec<MinerReport>), LoadError> {
    if settings.endpoints.is_empty() {
        return Err(LoadError::Settings("give at least one endpoint".to_owned()));
    }
    if settings.sessions == 0 {
        return Err(LoadError::Settings("give at least one session".to_owned()));
    }
    if settings.watch
        && (settings.rate != ShareRate::Idle || !settings.endpoints.iter().all(can_watch))
    {
        return Err(LoadError::Settings(
            "watch-only sessions are idle and plain-TCP Stratum: no --rate, stratum+tcp:// endpoints"
                .to_owned(),
        ));
    }
    let logins: Vec<(String, String)> = (0..settings.sessions)
        .map(|i| super::miner_login(settings.login_offset + i as u64, settings.network))
        .collect();
    let before = match counts {
        Some(source) => Some((source.pool().await?, read_workers(source, &logins).await?)),
        None => None,
    };

    let shared = Arc::new(Shared {
        connect_slots: Semaphore::new(settings.connect_concurrency.max(1)),
        budget: AtomicU64::new(settings.max_shares.unwrap_or(u64::MAX)),
        tally: Tally::default(),
        latency: Histogram::new(),
        fanout: Fanout::default(),
        settings,
    });
    let (halt, halted) = watch::channel(false);
    let started = Instant::now();
    let opener = tokio::spawn(open_all(Arc::clone(&shared), halted.clone()));
    let live = shared
        .settings
        .live
        .then(|| tokio::spawn(live_lines(Arc::clone(&shared), started, halted.clone())));

    let (ramp_done, accepted_at_ramp) = wait_for_end(&shared, started, &mut stop).await;
    let stopped_at = Instant::now();
    let _ = halt.send(true);
    let sessions = opener.await.unwrap_or_default();
    let mut reports = Vec::with_capacity(sessions.len());
    for session in sessions {
        if let Ok(report) = session.await {
            reports.push(report);
        }
    }
    if let Some(live) = live {
        live.abort();
    }
    let verification = match (counts, before) {
        (Some(source), Some((pool_before, workers_before))) => {
            Some(verify(source, &logins, &reports, pool_before, &workers_before).await?)
        }
        _ => None,
    };
    Ok((
        summarize(
            &shared,
            &reports,
            (started, ramp_done, stopped_at),
            accepted_at_ramp,
            verification,
        ),
        reports,
    ))
}

/// Spawns every session at the allowed pace; returns their handles.
async fn open_all(
    shared: Arc<Shared>,
    mut halted: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<MinerReport>> {
    let settings = &shared.settings;
    let gap =
        (settings.connect_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / settings.connect_rate));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(settings.sessions);
    for index in 0..settings.sessions {
        if let Some(gap) = gap {
            let at = start + gap.mul_f64(index as f64);
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = stopped(&mut halted) => break,
            }
        } else if *halted.borrow() {
            break;
        }
        let session = if settings.watch {
            tokio::spawn(run_watcher(index, Arc::clone(&shared), halted.clone()))
        } else {
            tokio::spawn(run_session(index, Arc::clone(&shared), halted.clone()))
        };
        handles.push(session);
    }
    handles
}

/// Waits for the end of the run; returns when the last session opened (or
/// failed), if that happened, and the shares accepted by then.
async fn wait_for_end(
    shared: &Shared,
    started: Instant,
    stop: &mut watch::Receiver<bool>,
) -> (Option<Instant>, u64) {
    let settings = &shared.settings;
    let tally = &shared.tally;
    let deadline = settings.duration.map(|d| started + d);
    let mut ramp_done = None;
    let mut accepted_at_ramp = 0;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = poll.tick() => {}
            _ = stopped(stop) => return (ramp_done, accepted_at_ramp),
        }
        let now = Instant::now();
        let settled = read(&tally.opened) + read(&tally.failed);
        if ramp_done.is_none() && settled >= settings.sessions as u64 {
            ramp_done = Some(now);
            accepted_at_ramp = read(&tally.accepted);
        }
        if deadline.is_some_and(|d| now >= d) {
            return (ramp_done, accepted_at_ramp);
        }
        if let Some(max) = settings.max_shares
            && settings.rate != ShareRate::Idle
        {
            let answered = read(&tally.accepted)
                + read(&tally.stale)
                + read(&tally.duplicate)
                + read(&tally.low_difficulty)
                + read(&tally.other)
                + read(&tally.errors);
            let open = read(&tally.open);
            // Done when every share is answered, or no session is left to send.
            if answered >= max || (ramp_done.is_some() && open == 0) {
                return (ramp_done, accepted_at_ramp);
            }
        }
        if deadline.is_none() && ramp_done.is_some() && read(&tally.open) == 0 {
            return (ramp_done, accepted_at_ramp);
        }
    }
}

async fn live_lines(shared: Arc<Shared>, started: Instant, mut halted: watch::Receiver<bool>) {
    let mut line = LiveLine::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped(&mut halted) => return,
        }
        let now = Instant::now();
        eprintln!("{}", line.line(&shared.tally, now - started, now - last));
        last = now;
    }
}

async fn verify(
    source: &dyn PoolCounts,
    logins: &[(String, String)],
    reports: &[MinerReport],
    pool_before: ShareTotals,
    workers_before: &[ShareTotals],
) -> Result<Verification, LoadError> {
    let expected: Vec<ShareTotals> = reports.iter().map(MinerReport::expected).collect();
    let want = expected
        .iter()
        .fold(ShareTotals::default(), |sum, e| ShareTotals {
            valid: sum.valid + e.valid,
            invalid: sum.invalid + e.invalid,
            stale: sum.stale + e.stale,
        });
    // Shares reach the ledger in batches: wait until the pool holds at
    // least what was answered, or give up and report what it holds.
    let deadline = Instant::now() + READ_BACK_DEADLINE;
    let mut pool_after = source.pool().await?;
    loop {
        let delta = pool_after.since(&pool_before);
        let caught_up =
            delta.valid >= want.valid && delta.invalid >= want.invalid && delta.stale >= want.stale;
        if caught_up || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        pool_after = source.pool().await?;
    }
    // Pair each report with its own login: a session that ended without a
    // report (its task failed) must not shift the miners after it.
    let position: HashMap<(&str, &str), usize> = logins
        .iter()
        .enumerate()
        .map(|(i, (address, worker))| ((address.as_str(), worker.as_str()), i))
        .collect();
    let mut reported = Vec::with_capacity(reports.len());
    let mut reported_expected = Vec::with_capacity(reports.len());
    let mut reported_before = Vec::with_capacity(reports.len());
    for (report, expected) in reports.iter().zip(&expected) {
        let key = (report.address.as_str(), report.worker.as_str());
        if let Some(&i) = position.get(&key)
            && let Some(before) = workers_before.get(i)
        {
            reported.push(logins[i].clone());
            reported_expected.push(*expected);
            reported_before.push(*before);
        }
    }
    let workers_after = read_workers(source, &reported).await?;
    let mut verification = compare(
        &reported,
        &reported_expected,
        &reported_before,
        &workers_after,
        pool_after.since(&pool_before),
    );
    verification.source = source.source();
    Ok(verification)
}

fn summarize(
    shared: &Shared,
    reports: &[MinerReport],
    (started, ramp_done, stopped_at): (Instant, Option<Instant>, Instant),
    accepted_at_ramp: u64,
    verification: Option<Verification>,
) -> Summary {
    let mut summary = Summary {
        sessions_requested: shared.settings.sessions as u64,
        sessions_closed_by_pool: read(&shared.tally.closed_by_pool),
        invalid_impossible: read(&shared.tally.invalid_impossible),
        latency_us: shared.latency.percentiles(),
        fanout: shared.fanout.summary(shared.settings.fanout_min_share),
        fanout_jobs: shared.fanout.spreads(),
        verification,
        ..Summary::default()
    };
    let mut errors: HashMap<&str, u64> = HashMap::new();
    for report in reports {
        if report.opened {
            summary.sessions_opened += 1;
        } else if let Some(error) = &report.open_error {
            summary.sessions_failed += 1;
            *errors.entry(error.as_str()).or_default() += 1;
        }
        let s = &mut summary.sent;
        s.valid += report.sent.valid;
        s.invalid += report.sent.invalid;
        s.duplicate += report.sent.duplicate;
        s.stale += report.sent.stale;
        summary.accepted += report.accepted;
        summary.unanswered += report.unanswered;
        let r: &mut Rejections = &mut summary.rejected;
        r.stale += report.stale;
        r.duplicate += report.duplicate;
        r.low_difficulty += report.low_difficulty;
        r.other += report.other;
    }
    let mut errors: Vec<(String, u64)> =
        errors.into_iter().map(|(e, n)| (e.to_owned(), n)).collect();
    errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    errors.truncate(OPEN_ERRORS_LISTED);
    summary.open_errors = errors;
    let ramp_end = ramp_done.unwrap_or(stopped_at);
    summary.ramp_seconds = (ramp_end - started).as_secs_f64();
    summary.connect_rate = summary.sessions_opened as f64 / summary.ramp_seconds.max(1e-3);
    summary.elapsed_seconds = (stopped_at - started).as_secs_f64();
    summary.share_seconds = (stopped_at.saturating_duration_since(ramp_end)).as_secs_f64();
    // Steady state: the shares accepted once every session was open.
    let (accepted, seconds) = if summary.share_seconds >= 1.0 {
        (
            summary.accepted.saturating_sub(accepted_at_ramp),
            summary.share_seconds,
        )
    } else {
        (summary.accepted, summary.elapsed_seconds)
    };
    summary.accepted_per_second = accepted as f64 / seconds.max(1e-3);
    summary
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::loadgen::readback::CountsFuture;

    /// Counts held in memory, as a pool that counted exactly `workers`.
    struct Counted {
        pool: ShareTotals,
        workers: HashMap<(String, String), ShareTotals>,
    }

    impl PoolCounts for Counted {
        fn pool(&self) -> CountsFuture<'_> {
            let pool = self.pool;
            Box::pin(async move { Ok(pool) })
        }

        fn worker<'a>(&'a self, address: &'a str, worker: &'a str) -> CountsFuture<'a> {
            let key = (address.to_owned(), worker.to_owned());
            let counted = self.workers.get(&key).copied().unwrap_or_default();
            Box::pin(async move { Ok(counted) })
        }

        fn source(&self) -> String {
            "memory".to_owned()
        }
    }

    fn report(address: &str, accepted: u64) -> MinerReport {
        MinerReport {
            address: address.to_owned(),
            worker: "rig".to_owned(),
            opened: true,
            accepted,
            ..MinerReport::default()
        }
    }

    #[tokio::test]
    async fn each_report_is_checked_against_its_own_miner() {
        let logins: Vec<(String, String)> = ["a", "b", "c"]
            .iter()
            .map(|address| ((*address).to_owned(), "rig".to_owned()))
            .collect();
        // Miner b's session left no report; a and c did.
        let reports = [report("a", 4), report("c", 9)];
        let counted = Counted {
            pool: ShareTotals::new(13, 0, 0),
            workers: [("a", 4), ("b", 0), ("c", 9)]
                .iter()
                .map(|(address, n)| {
                    (
                        ((*address).to_owned(), "rig".to_owned()),
                        ShareTotals::new(*n, 0, 0),
                    )
                })
                .collect(),
        };
        let before = vec![ShareTotals::default(); 3];
        let verification = verify(&counted, &logins, &reports, ShareTotals::default(), &before)
            .await
            .expect("in-memory counts");
        assert_eq!(verification.miners_checked, 2);
        assert_eq!(verification.miners_mismatched, 0, "{verification:?}");
        assert!(verification.all_match());
    }
}
