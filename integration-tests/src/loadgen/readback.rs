//! Reading the pool's own counts back and checking them against what the
//! load generator was told. The source sits behind [`PoolCounts`]; the one
//! the load generator uses is the master's REST API
//! ([`super::ApiCounts`]).

use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt;
use serde::Serialize;

use super::LoadError;

/// A boxed future, so [`PoolCounts`] can be used as a trait object.
pub type CountsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ShareTotals, LoadError>> + Send + 'a>>;

/// Shares by the ledger's three outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ShareTotals {
    /// Accepted (credited) shares.
    pub valid: u64,
    /// Refused shares that count as invalid: duplicates and low difficulty.
    pub invalid: u64,
    /// Refused shares for a job the pool no longer holds.
    pub stale: u64,
}

impl ShareTotals {
    /// Totals of `valid`, `invalid` and `stale` shares.
    pub const fn new(valid: u64, invalid: u64, stale: u64) -> ShareTotals {
        ShareTotals {
            valid,
            invalid,
            stale,
        }
    }

    /// `self − before`, field by field (never below zero).
    pub fn since(&self, before: &ShareTotals) -> ShareTotals {
        ShareTotals {
            valid: self.valid.saturating_sub(before.valid),
            invalid: self.invalid.saturating_sub(before.invalid),
            stale: self.stale.saturating_sub(before.stale),
        }
    }
}

/// Where the pool's counts are read from.
pub trait PoolCounts: Send + Sync {
    /// The whole pool's counts.
    fn pool(&self) -> CountsFuture<'_>;
    /// One miner's worker's counts (zero when the pool knows none).
    fn worker<'a>(&'a self, address: &'a str, worker: &'a str) -> CountsFuture<'a>;
    /// Where the counts come from, for the report.
    fn source(&self) -> String;
}

/// One miner whose counts in the pool differ from what it was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinerMismatch {
    /// `ADDRESS.WORKER`.
    pub login: String,
    /// What the answers said (valid = accepted, invalid = duplicate + low
    /// difficulty, stale = stale).
    pub expected: ShareTotals,
    /// What the pool counted during the run.
    pub counted: ShareTotals,
}

/// The pool's counts against the load generator's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Where the pool's counts were read (e.g. the master's API and its URL).
    pub source: String,
    /// What the answers said, over all miners.
    pub expected: ShareTotals,
    /// The pool's totals counted during the run (after − before).
    pub pool_delta: ShareTotals,
    /// Whether the pool's totals equal the expected ones (false when other
    /// miners mined meanwhile).
    pub pool_matches: bool,
    /// Miners whose counts were read.
    pub miners_checked: u64,
    /// Miners whose counts differ.
    pub miners_mismatched: u64,
    /// The first mismatches (at most 20).
    pub mismatches: Vec<MinerMismatch>,
}

impl Verification {
    /// Whether every count read back matched.
    pub fn all_match(&self) -> bool {
        self.pool_matches && self.miners_mismatched == 0
    }
}

/// Miners' counts read at once.
const READ_CONCURRENCY: usize = 32;

/// Reads every `(address, worker)`'s counts.
pub(crate) async fn read_workers(
    source: &dyn PoolCounts,
    logins: &[(String, String)],
) -> Result<Vec<ShareTotals>, LoadError> {
    let reads = futures_util::stream::iter(logins.iter())
        .map(|(address, worker)| source.worker(address, worker))
        .buffered(READ_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    reads.into_iter().collect()
}

/// Compares per-miner expectations with what the pool counted.
pub(crate) fn compare(
    logins: &[(String, String)],
    expected: &[ShareTotals],
    before: &[ShareTotals],
    after: &[ShareTotals],
    pool_delta: ShareTotals,
) -> Verification {
    let mut verification = Verification {
        pool_delta,
        ..Verification::default()
    };
    for (((login, expected), before), after) in logins.iter().zip(expected).zip(before).zip(after) {
        verification.expected.valid += expected.valid;
        verification.expected.invalid += expected.invalid;
        verification.expected.stale += expected.stale;
        verification.miners_checked += 1;
        let counted = after.since(before);
        if counted != *expected {
            verification.miners_mismatched += 1;
            if verification.mismatches.len() < 20 {
                verification.mismatches.push(MinerMismatch {
                    login: format!("{}.{}", login.0, login.1),
                    expected: *expected,
                    counted,
                });
            }
        }
    }
    verification.pool_matches = verification.expected == pool_delta;
    verification
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_deltas_per_miner_and_in_total() {
        let logins = vec![
            ("a".to_owned(), "w1".to_owned()),
            ("b".to_owned(), "w2".to_owned()),
        ];
        let expected = [ShareTotals::new(5, 1, 0), ShareTotals::new(3, 0, 2)];
        let before = [ShareTotals::new(10, 0, 0), ShareTotals::new(0, 0, 0)];
        let after = [ShareTotals::new(15, 1, 0), ShareTotals::new(3, 0, 1)];
        let verification = compare(
            &logins,
            &expected,
            &before,
            &after,
            ShareTotals::new(8, 1, 2),
        );
        assert_eq!(verification.expected, ShareTotals::new(8, 1, 2));
        assert!(verification.pool_matches);
        assert_eq!(verification.miners_checked, 2);
        assert_eq!(verification.miners_mismatched, 1);
        assert_eq!(verification.mismatches[0].login, "b.w2");
        assert_eq!(
            verification.mismatches[0].counted,
            ShareTotals::new(3, 0, 1)
        );
        assert!(!verification.all_match());
        let good = compare(
            &logins[..1],
            &expected[..1],
            &before[..1],
            &after[..1],
            ShareTotals::new(5, 1, 0),
        );
        assert!(good.all_match());
    }
}
