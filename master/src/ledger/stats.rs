//! Reading share counts and hashrates of the pool, a miner and its workers.

use std::collections::HashMap;

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

/// Reads a stats hash (`valid`, `invalid`, `stale`, `last_share_ms`,
/// `h:<bucket>`) into counts and hashrates at `now_ms`.
///
/// A window of `w` seconds reads the `ceil(w / bucket width)` newest buckets,
/// the current one included, and divides their summed difficulty by the time
/// they span up to `now_ms`; fields it does not know are ignored.
pub fn activity(
    fields: &HashMap<String, String>,
    settings: &LedgerSettings,
    now_ms: u64,
) -> Activity {
    let count = |name: &str| {
        fields
            .get(name)
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let buckets: Vec<(u64, u128)> = fields
        .iter()
        .filter_map(|(name, value)| {
            let bucket = name.strip_prefix("h:")?.parse().ok()?;
            Some((bucket, value.parse().ok()?))
        })
        .collect();
    Activity {
        shares: ShareCounts {
            valid: count("valid"),
            invalid: count("invalid"),
            stale: count("stale"),
        },
        last_share_ms: fields
            .get("last_share_ms")
            .and_then(|value| value.parse().ok()),
        hashrate: hashrate(&buckets, settings, settings.window_secs(), now_ms),
        hashrate_large: hashrate(&buckets, settings, settings.large_window_secs(), now_ms),
    }
}

/// Hashes per second over a window of `window_secs` ending at `now_ms`.
pub fn hashrate(
    buckets: &[(u64, u128)],
    settings: &LedgerSettings,
    window_secs: u64,
    now_ms: u64,
) -> f64 {
    let width_ms = settings.rate_bucket_secs() * 1000;
    let current = settings.rate_bucket(now_ms);
    let count = settings.buckets_in(window_secs);
    let oldest = current.saturating_sub(count - 1);
    let sum: u128 = buckets
        .iter()
        .filter(|(bucket, _)| (oldest..=current).contains(bucket))
        .map(|(_, difficulty)| difficulty)
        .sum();
    let span_ms = now_ms.saturating_sub(oldest * width_ms).max(1000);
    sum as f64 * 1000.0 / span_ms as f64
}

impl Ledger {
    /// The pool's counts, hashrates and miner counts at `now_ms`.
    pub async fn pool_stats(&self, now_ms: u64) -> Result<PoolStats, LedgerError> {
        let online_from = now_ms.saturating_sub(self.settings.window_secs() * 1000);
        let mut connection = self.connection.clone();
        let (fields, online, total): (HashMap<String, String>, u64, u64) = redis::pipe()
            .hgetall(self.keys.pool_stats())
            .zcount(self.keys.miners(), online_from, "+inf")
            .zcard(self.keys.miners())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading pool stats"))?;
        Ok(PoolStats {
            activity: activity(&fields, &self.settings, now_ms),
            miners_online: online,
            miners_total: total,
        })
    }

    /// A miner's counts, hashrates and worker counts at `now_ms`; `None` when
    /// the ledger knows no share of it.
    pub async fn miner_stats(
        &self,
        address: &str,
        now_ms: u64,
    ) -> Result<Option<MinerStats>, LedgerError> {
        let online_from = now_ms.saturating_sub(self.settings.window_secs() * 1000);
        let workers = self.keys.workers(address);
        let mut connection = self.connection.clone();
        let (fields, online, total): (HashMap<String, String>, u64, u64) = redis::pipe()
            .hgetall(self.keys.miner_stats(address))
            .zcount(&workers, online_from, "+inf")
            .zcard(&workers)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading miner stats"))?;
        if fields.is_empty() {
            return Ok(None);
        }
        Ok(Some(MinerStats {
            address: address.to_owned(),
            activity: activity(&fields, &self.settings, now_ms),
            workers_online: online,
            workers_total: total,
        }))
    }

    /// The stats of each of a miner's known workers at `now_ms`, by name.
    pub async fn worker_stats(
        &self,
        address: &str,
        now_ms: u64,
    ) -> Result<Vec<WorkerStats>, LedgerError> {
        let mut connection = self.connection.clone();
        let mut names: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.workers(address))
            .arg(0)
            .arg(-1)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing a miner's workers"))?;
        names.sort();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.hgetall(self.keys.worker_stats(address, name));
        }
        let hashes: Vec<HashMap<String, String>> = pipe
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading worker stats"))?;
        Ok(names
            .into_iter()
            .zip(hashes)
            .filter(|(_, fields)| !fields.is_empty())
            .map(|(worker, fields)| WorkerStats {
                worker,
                activity: activity(&fields, &self.settings, now_ms),
            })
            .collect())
    }
}

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
        let buckets = [(90, 1_000_000), (91, 540), (100, 540)];
        assert_eq!(hashrate(&buckets, &s, 60, now), 1080.0 / 54.0);
        // 3 s into bucket 100: 57 s.
        assert_eq!(hashrate(&buckets, &s, 60, now + 3_000), 1080.0 / 57.0);
        // The long window includes bucket 90.
        let long = hashrate(&buckets, &s, 600, now);
        assert_eq!(long, 1_001_080.0 / 594.0);
        assert_eq!(hashrate(&[], &s, 60, now), 0.0);
    }

    #[test]
    fn activity_reads_counts_and_ignores_strangers() {
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
        let a = activity(&fields, &s, 600_000);
        assert_eq!(
            a.shares,
            ShareCounts {
                valid: 10,
                invalid: 2,
                stale: 1
            }
        );
        assert_eq!(a.last_share_ms, Some(599_000));
        assert_eq!(a.hashrate, 110.0);
        assert_eq!(activity(&HashMap::new(), &s, 1).last_share_ms, None);
    }
}
