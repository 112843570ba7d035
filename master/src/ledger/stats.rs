//! Reading share counts and hashrates of the pool, a miner and its workers.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{Ledger, LedgerError, LedgerSettings};

/// Shares counted by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ShareCounts {
    /// Valid shares (credited).
    pub valid: u64,
    /// Invalid shares: duplicate, low difficulty, bad PoW, unset outcome.
    pub invalid: u64,
    /// Stale shares: for a job older than the backlog.
    pub stale: u64,
}

/// What the ledger holds about one pool, miner or worker.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Activity {
    /// Shares by outcome, since the stats began (they expire after a long
    /// idle period).
    pub shares: ShareCounts,
    /// Time of the latest share, ms since the Unix epoch; `None` when none.
    pub last_share_ms: Option<u64>,
    /// Hashes per second over `validation.hashrate_window`.
    pub hashrate: f64,
    /// Hashes per second over `validation.hashrate_large_window`.
    pub hashrate_large: f64,
}

/// A miner's stats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerStats {
    /// The miner's address.
    pub address: String,
    /// Counts, last share and hashrates over all its workers.
    #[serde(flatten)]
    pub activity: Activity,
    /// Workers that sent a share within `validation.hashrate_window`.
    pub workers_online: u64,
    /// Workers known (not idle past the stats expiry).
    pub workers_total: u64,
}

/// A worker's stats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerStats {
    /// The worker name.
    pub worker: String,
    /// Counts, last share and hashrates of this worker.
    #[serde(flatten)]
    pub activity: Activity,
}

/// The pool's stats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolStats {
    /// Counts, last share and hashrates of the whole pool.
    #[serde(flatten)]
    pub activity: Activity,
    /// Miners that sent a share within `validation.hashrate_window`.
    pub miners_online: u64,
    /// Miners known (not idle past the stats expiry).
    pub miners_total: u64,
}

/// The contents of a pool or worker stats hash: share counts and
/// hashrate buckets (`valid`, `invalid`, `stale`, `h:<bucket>`). Sums of
/// several (a miner's workers) add up with [`add`](Self::add).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsHash {
    /// Share counts.
    pub shares: ShareCounts,
    /// Hashrate bucket → summed valid difficulty.
    pub buckets: BTreeMap<u64, u128>,
}

impl StatsHash {
    /// Reads a hash's fields; fields it does not know are ignored.
    pub fn parse(fields: &HashMap<String, String>) -> Self {
        let count = |name: &str| {
            fields
                .get(name)
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let buckets = fields
            .iter()
            .filter_map(|(name, value)| {
                let bucket = name.strip_prefix("h:")?.parse().ok()?;
                Some((bucket, value.parse().ok()?))
            })
            .collect();
        StatsHash {
            shares: ShareCounts {
                valid: count("valid"),
                invalid: count("invalid"),
                stale: count("stale"),
            },
            buckets,
        }
    }

    /// Adds another hash's counts and buckets.
    pub fn add(&mut self, other: &StatsHash) {
        self.shares.valid += other.shares.valid;
        self.shares.invalid += other.shares.invalid;
        self.shares.stale += other.shares.stale;
        for (bucket, difficulty) in &other.buckets {
            *self.buckets.entry(*bucket).or_default() += difficulty;
        }
    }

    /// Counts and hashrates at `now_ms`, with the last share time kept
    /// elsewhere.
    pub fn activity(
        &self,
        last_share_ms: Option<u64>,
        settings: &LedgerSettings,
        now_ms: u64,
    ) -> Activity {
        Activity {
            shares: self.shares,
            last_share_ms,
            hashrate: hashrate(&self.buckets, settings, settings.window_secs(), now_ms),
            hashrate_large: hashrate(
                &self.buckets,
                settings,
                settings.large_window_secs(),
                now_ms,
            ),
        }
    }
}

/// Hashes per second over a window of `window_secs` ending at `now_ms`.
///
/// The window reads the `ceil(window_secs / bucket width)` newest buckets,
/// the current one included, and divides their summed difficulty by the
/// time they span up to `now_ms` (at least one second).
pub fn hashrate(
    buckets: &BTreeMap<u64, u128>,
    settings: &LedgerSettings,
    window_secs: u64,
    now_ms: u64,
) -> f64 {
    let width_ms = settings.rate_bucket_secs() * 1000;
    let current = settings.rate_bucket(now_ms);
    let oldest = current.saturating_sub(settings.buckets_in(window_secs) - 1);
    let sum: u128 = buckets.range(oldest..=current).map(|(_, d)| d).sum();
    let span_ms = now_ms.saturating_sub(oldest * width_ms).max(1000);
    sum as f64 * 1000.0 / span_ms as f64
}

impl Ledger {
    /// The pool's counts, hashrates and miner counts at `now_ms`.
    pub async fn pool_stats(&self, now_ms: u64) -> Result<PoolStats, LedgerError> {
        let online_from = now_ms.saturating_sub(self.settings.window_secs() * 1000);
        let mut connection = self.connection();
        let (fields, online, total): (HashMap<String, String>, u64, u64) = redis::pipe()
            .hgetall(self.keys.pool_stats())
            .zcount(self.keys.miners(), online_from, "+inf")
            .zcard(self.keys.miners())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading pool stats"))?;
        let last_share_ms = fields
            .get("last_share_ms")
            .and_then(|value| value.parse().ok());
        Ok(PoolStats {
            activity: StatsHash::parse(&fields).activity(last_share_ms, &self.settings, now_ms),
            miners_online: online,
            miners_total: total,
        })
    }

    /// A miner's counts and hashrates (the sums of its known workers') and
    /// worker counts at `now_ms`; `None` when the ledger knows no share of it.
    pub async fn miner_stats(
        &self,
        address: &str,
        now_ms: u64,
    ) -> Result<Option<MinerStats>, LedgerError> {
        let mut connection = self.connection();
        let last_share_ms: Option<u64> = redis::cmd("ZSCORE")
            .arg(self.keys.miners())
            .arg(address)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading a miner's last share"))?;
        let Some(last_share_ms) = last_share_ms else {
            return Ok(None);
        };
        let workers = self.workers(address).await?;
        let online_from = now_ms.saturating_sub(self.settings.window_secs() * 1000);
        let mut sum = StatsHash::default();
        for (_, _, hash) in &workers {
            sum.add(hash);
        }
        Ok(Some(MinerStats {
            address: address.to_owned(),
            activity: sum.activity(Some(last_share_ms), &self.settings, now_ms),
            workers_online: workers
                .iter()
                .filter(|(_, last, _)| *last >= online_from)
                .count() as u64,
            workers_total: workers.len() as u64,
        }))
    }

    /// The stats of each of a miner's known workers at `now_ms`, by name.
    pub async fn worker_stats(
        &self,
        address: &str,
        now_ms: u64,
    ) -> Result<Vec<WorkerStats>, LedgerError> {
        Ok(self
            .workers(address)
            .await?
            .into_iter()
            .map(|(worker, last_share_ms, hash)| WorkerStats {
                worker,
                activity: hash.activity(Some(last_share_ms), &self.settings, now_ms),
            })
            .collect())
    }

    /// A miner's workers with their last share time and stats hash, by name,
    /// leaving out any whose hash has expired.
    async fn workers(&self, address: &str) -> Result<Vec<(String, u64, StatsHash)>, LedgerError> {
        let mut connection = self.connection();
        let mut listed: Vec<(String, u64)> = redis::cmd("ZRANGE")
            .arg(self.keys.workers(address))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing a miner's workers"))?;
        listed.sort();
        let mut workers = Vec::with_capacity(listed.len());
        for chunk in listed.chunks(WORKERS_PER_PIPELINE) {
            let mut pipe = redis::pipe();
            for (name, _) in chunk {
                pipe.hgetall(self.keys.worker_stats(address, name));
            }
            let hashes: Vec<HashMap<String, String>> = pipe
                .query_async(&mut connection)
                .await
                .map_err(LedgerError::redis("reading worker stats"))?;
            workers.extend(
                chunk
                    .iter()
                    .zip(hashes)
                    .filter(|(_, fields)| !fields.is_empty())
                    .map(|((name, last), fields)| (name.clone(), *last, StatsHash::parse(&fields))),
            );
        }
        Ok(workers)
    }
}

/// Worker hashes read per pipeline.
const WORKERS_PER_PIPELINE: usize = 500;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings() -> LedgerSettings {
        // 60 s window, 600 s long window: 6 s buckets.
        LedgerSettings {
            hashrate_window: Duration::from_secs(60),
            hashrate_large_window: Duration::from_secs(600),
            ..LedgerSettings::default()
        }
    }

    #[test]
    fn hashrate_divides_by_the_time_spanned() {
        let s = settings();
        // now = 600 s exactly: bucket 100 just began; the 60 s window reads
        // buckets 91..=100, spanning 54 s.
        let now = 600_000;
        let buckets = BTreeMap::from([(90, 1_000_000), (91, 540), (100, 540)]);
        assert_eq!(hashrate(&buckets, &s, 60, now), 1080.0 / 54.0);
        // 3 s into bucket 100: 57 s.
        assert_eq!(hashrate(&buckets, &s, 60, now + 3_000), 1080.0 / 57.0);
        // The long window includes bucket 90.
        let long = hashrate(&buckets, &s, 600, now);
        assert_eq!(long, 1_001_080.0 / 594.0);
        assert_eq!(hashrate(&BTreeMap::new(), &s, 60, now), 0.0);
    }

    #[test]
    fn stats_hashes_parse_and_add_up() {
        let s = settings();
        let fields: HashMap<String, String> = [
            ("valid", "10"),
            ("invalid", "2"),
            ("stale", "1"),
            ("last_share_ms", "599000"),
            ("h:99", "5940"),
            ("h:x", "7"),
            ("other", "z"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut sum = StatsHash::parse(&fields);
        assert_eq!(
            sum.shares,
            ShareCounts {
                valid: 10,
                invalid: 2,
                stale: 1
            }
        );
        assert_eq!(sum.buckets, BTreeMap::from([(99, 5_940)]));
        let a = sum.activity(Some(599_000), &s, 600_000);
        assert_eq!(a.hashrate, 110.0);
        assert_eq!(a.last_share_ms, Some(599_000));
        sum.add(&StatsHash::parse(&fields));
        assert_eq!(sum.shares.valid, 20);
        assert_eq!(sum.activity(None, &s, 600_000).hashrate, 220.0);
    }
}
