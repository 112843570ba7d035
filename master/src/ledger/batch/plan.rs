//! A share batch turned into the arguments of the one script that writes it:
//! checked, cut to the shares after the high-water mark, and summed per
//! pool, miner, worker, hashrate bucket and PPLNS second, so Redis does one
//! command per distinct thing, not per share.

use std::collections::{BTreeMap, HashMap};

use tos_pool_proto::v1::{Share, ShareBatch, ShareOutcome};

use crate::ledger::{Keys, LedgerError, LedgerSettings};

/// Share difficulties above this are credited as this (2^44 ≈ 1.8 × 10^13,
/// far above `mining.max_difficulty`'s default), so sums in Redis's signed
/// 64-bit counters cannot overflow within a batch.
pub const MAX_SHARE_DIFFICULTY: u64 = 1 << 44;

/// Largest seq the script compares exactly (Lua numbers are doubles).
const MAX_SEQ: u64 = 1 << 53;

/// Checks that a batch numbers its shares as the proto says: at least one
/// share, `first_seq ≥ 1`, consecutive seqs from `first_seq` to `last_seq`.
pub fn check(slave_id: &str, batch: &ShareBatch) -> Result<(), LedgerError> {
    let malformed = |reason: String| LedgerError::MalformedBatch {
        slave_id: slave_id.to_owned(),
        reason,
    };
    if batch.shares.is_empty() {
        return Err(malformed("it holds no shares".into()));
    }
    if batch.first_seq == 0 || batch.last_seq > MAX_SEQ {
        return Err(malformed(format!(
            "seqs {}..={} are outside 1..=2^53",
            batch.first_seq, batch.last_seq
        )));
    }
    let count = batch.shares.len() as u64;
    if batch.last_seq.checked_sub(batch.first_seq) != Some(count - 1) {
        return Err(malformed(format!(
            "first_seq {} and last_seq {} do not span its {count} shares",
            batch.first_seq, batch.last_seq
        )));
    }
    for (expected, share) in (batch.first_seq..).zip(&batch.shares) {
        if share.seq != expected {
            return Err(malformed(format!(
                "share seq {} where {expected} was expected",
                share.seq
            )));
        }
    }
    Ok(())
}

/// How a share's outcome is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Credited: counts for hashrate and PPLNS.
    Valid,
    /// For a job older than the backlog.
    Stale,
    /// Everything else (duplicate, low difficulty, bad PoW, unset).
    Invalid,
}

/// How the ledger counts a share outcome.
pub fn counted(outcome: ShareOutcome) -> Counted {
    match outcome {
        ShareOutcome::Valid => Counted::Valid,
        ShareOutcome::Stale => Counted::Stale,
        ShareOutcome::Duplicate
        | ShareOutcome::LowDifficulty
        | ShareOutcome::Invalid
        | ShareOutcome::Unspecified => Counted::Invalid,
    }
}

/// The time a share is booked at: its own, but never after `now_ms` (a slave
/// clock running ahead must not put shares at the head of the log), and
/// `now_ms` when the slave sent none.
pub fn booked_at(share: &Share, now_ms: u64) -> u64 {
    match share.timestamp_ms {
        0 => now_ms,
        at => at.min(now_ms),
    }
}

/// Counts of one pool, miner or worker within a batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Valid shares.
    pub valid: u64,
    /// Invalid shares.
    pub invalid: u64,
    /// Stale shares.
    pub stale: u64,
    /// Latest booked share time, ms.
    pub last_ms: u64,
    /// (hashrate bucket, summed valid difficulty), one entry per bucket; a
    /// batch nearly always spans one or two buckets, so a list beats a map.
    pub rates: Vec<(u64, u64)>,
}

impl Tally {
    fn add(&mut self, counted: Counted, at_ms: u64, rate_bucket: Option<u64>, difficulty: u64) {
        self.last_ms = self.last_ms.max(at_ms);
        match counted {
            Counted::Valid => {
                self.valid += 1;
                if let Some(bucket) = rate_bucket {
                    match self.rates.iter_mut().find(|(known, _)| *known == bucket) {
                        Some((_, sum)) => *sum = sum.saturating_add(difficulty),
                        None => self.rates.push((bucket, difficulty)),
                    }
                }
            }
            Counted::Stale => self.stale += 1,
            Counted::Invalid => self.invalid += 1,
        }
    }
}

/// What a batch adds to the ledger, summed. The maps borrow the batch's
/// addresses and worker names: summing copies no string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary<'a> {
    /// The whole pool.
    pub pool: Tally,
    /// Per miner address with a valid share in the batch: its latest booked
    /// share time, ms. Refused shares never put a miner in the index.
    pub miners: HashMap<&'a str, u64>,
    /// Per (address, worker).
    pub workers: HashMap<(&'a str, &'a str), Tally>,
    /// PPLNS second → address → summed valid difficulty.
    pub share_log: BTreeMap<u64, HashMap<&'a str, u64>>,
}

/// Sums `shares` (already cut to the new ones).
pub fn summarize<'a>(shares: &'a [Share], settings: &LedgerSettings, now_ms: u64) -> Summary<'a> {
    let oldest_rate = settings.oldest_rate_bucket(now_ms);
    let mut summary = Summary {
        miners: HashMap::with_capacity(shares.len()),
        workers: HashMap::with_capacity(shares.len()),
        ..Summary::default()
    };
    for share in shares {
        let counted = counted(share.outcome());
        let at_ms = booked_at(share, now_ms);
        let bucket = settings.rate_bucket(at_ms);
        let rate_bucket = (bucket >= oldest_rate).then_some(bucket);
        let difficulty = share.difficulty.min(MAX_SHARE_DIFFICULTY);
        let address = share.address.as_str();
        summary.pool.add(counted, at_ms, rate_bucket, difficulty);
        if counted == Counted::Valid {
            let last = summary.miners.entry(address).or_default();
            *last = (*last).max(at_ms);
        }
        summary
            .workers
            .entry((address, share.worker.as_str()))
            .or_default()
            .add(counted, at_ms, rate_bucket, difficulty);
        if counted == Counted::Valid && difficulty > 0 {
            let weight = summary
                .share_log
                .entry(at_ms / 1000)
                .or_insert_with(|| HashMap::with_capacity(shares.len()))
                .entry(address)
                .or_default();
            *weight = weight.saturating_add(difficulty);
        }
    }
    summary
}

/// One `ARGV` entry: text borrowed from the batch, or a number written
/// straight into the command (no string is built for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg<'a> {
    /// A miner address or worker name.
    Text(&'a str),
    /// A count, time, seq or difficulty.
    Number(u64),
}

/// The keys and arguments of one `record_batch.lua` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCall<'a> {
    /// `KEYS`.
    pub keys: Vec<String>,
    /// `ARGV`.
    pub args: Vec<Arg<'a>>,
}

impl ScriptCall<'_> {
    /// The `EVALSHA` command of this call, for the script whose SHA1 is
    /// `hash`: every key and argument copied once, into the command's buffer.
    pub fn command(&self, hash: &str) -> redis::Cmd {
        let bytes = self.keys.iter().map(String::len).sum::<usize>()
            + self
                .args
                .iter()
                .map(|arg| match arg {
                    Arg::Text(text) => text.len(),
                    Arg::Number(_) => 20,
                })
                .sum::<usize>();
        let mut command = redis::Cmd::with_capacity(3 + self.keys.len() + self.args.len(), bytes);
        command.arg("EVALSHA").arg(hash).arg(self.keys.len());
        for key in &self.keys {
            command.arg(key.as_str());
        }
        for arg in &self.args {
            match arg {
                Arg::Text(text) => command.arg(*text),
                Arg::Number(number) => command.arg(*number),
            };
        }
        command
    }
}

/// Builds the `record_batch.lua` call that writes `summary`'s shares,
/// numbered `first_seq..=last_seq`, for the boot whose high-water key is
/// `high_water`.
///
/// Layout (the script reads it in this order; keys sit at fixed places, so
/// no argument names a key):
/// - `KEYS[1]` high-water mark, `KEYS[2]` share-log index, `KEYS[3]`
///   share-log totals, `KEYS[4]` the set of miners, `KEYS[5]` pool stats;
///   then per worker its stats hash and its miner's worker index (repeated
///   for each worker of a miner); then per share-log second its bucket;
/// - `ARGV`: first seq, last seq, high-water TTL (s), idle TTL (s), idle
///   cutoff (ms), oldest hashrate bucket kept, worker count, miner count,
///   second count; then the pool's tally; then per worker: worker name and
///   its tally; then per miner: address, last share ms; then per share-log
///   second: second, total, entry count, and (address, weight) pairs. A
///   tally is valid, invalid, stale, last share ms, rate count, and
///   (bucket, difficulty) pairs.
pub fn script_call<'a>(
    keys: &Keys,
    settings: &LedgerSettings,
    high_water: String,
    first_seq: u64,
    last_seq: u64,
    summary: &Summary<'a>,
    now_ms: u64,
) -> ScriptCall<'a> {
    let workers = summary.workers.len();
    let mut key_list = Vec::with_capacity(5 + 2 * workers + summary.share_log.len());
    key_list.extend([
        high_water,
        keys.share_log_index(),
        keys.share_log_totals(),
        keys.miners(),
        keys.pool_stats(),
    ]);
    let idle_ms = u64::try_from(settings.idle_ttl.as_millis()).unwrap_or(u64::MAX);
    let entries: usize = summary.share_log.values().map(HashMap::len).sum();
    let mut args = Vec::with_capacity(16 + 8 * workers + 2 * summary.miners.len() + 2 * entries);
    args.extend([
        Arg::Number(first_seq),
        Arg::Number(last_seq),
        Arg::Number(settings.high_water_ttl.as_secs().max(1)),
        Arg::Number(settings.idle_ttl.as_secs().max(1)),
        Arg::Number(now_ms.saturating_sub(idle_ms)),
        Arg::Number(settings.oldest_rate_bucket(now_ms)),
        Arg::Number(workers as u64),
        Arg::Number(summary.miners.len() as u64),
        Arg::Number(summary.share_log.len() as u64),
    ]);
    let tally = |args: &mut Vec<Arg<'a>>, tally: &Tally| {
        args.extend([
            Arg::Number(tally.valid),
            Arg::Number(tally.invalid),
            Arg::Number(tally.stale),
            Arg::Number(tally.last_ms),
            Arg::Number(tally.rates.len() as u64),
        ]);
        for (bucket, difficulty) in &tally.rates {
            args.extend([Arg::Number(*bucket), Arg::Number(*difficulty)]);
        }
    };
    tally(&mut args, &summary.pool);
    for ((address, worker), worker_tally) in &summary.workers {
        key_list.push(keys.worker_stats(address, worker));
        key_list.push(keys.workers(address));
        args.push(Arg::Text(worker));
        tally(&mut args, worker_tally);
    }
    for (address, last_ms) in &summary.miners {
        args.extend([Arg::Text(address), Arg::Number(*last_ms)]);
    }
    for (second, weights) in &summary.share_log {
        key_list.push(keys.share_log_bucket(*second));
        let total = weights
            .values()
            .fold(0u64, |sum, weight| sum.saturating_add(*weight));
        args.extend([
            Arg::Number(*second),
            Arg::Number(total),
            Arg::Number(weights.len() as u64),
        ]);
        for (address, weight) in weights {
            args.extend([Arg::Text(address), Arg::Number(*weight)]);
        }
    }
    ScriptCall {
        keys: key_list,
        args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn share(seq: u64, address: &str, worker: &str, outcome: ShareOutcome) -> Share {
        Share {
            seq,
            job_id: "j".into(),
            height: 1,
            address: address.into(),
            worker: worker.into(),
            difficulty: 100,
            actual_difficulty: 150,
            outcome: outcome.into(),
            timestamp_ms: 1_000_000 + seq,
            session_id: 7,
        }
    }

    fn batch(first: u64, last: u64, seqs: impl IntoIterator<Item = u64>) -> ShareBatch {
        ShareBatch {
            first_seq: first,
            last_seq: last,
            shares: seqs
                .into_iter()
                .map(|seq| share(seq, "a", "w", ShareOutcome::Valid))
                .collect(),
        }
    }

    #[test]
    fn consecutive_batches_pass_and_others_are_refused() {
        assert!(check("s", &batch(1, 3, 1..=3)).is_ok());
        assert!(check("s", &batch(7, 7, [7])).is_ok());
        for bad in [
            batch(1, 0, []),
            batch(0, 2, 0..=2),
            batch(1, 3, [1, 2]),
            batch(1, 3, [1, 3, 2]),
            batch(2, 4, [1, 2, 3]),
            batch(1, 2, [1, 2, 3]),
            batch(MAX_SEQ + 1, MAX_SEQ + 1, [MAX_SEQ + 1]),
        ] {
            assert!(
                matches!(check("s", &bad), Err(LedgerError::MalformedBatch { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn outcomes_map_to_three_counts() {
        assert_eq!(counted(ShareOutcome::Valid), Counted::Valid);
        assert_eq!(counted(ShareOutcome::Stale), Counted::Stale);
        for outcome in [
            ShareOutcome::Duplicate,
            ShareOutcome::LowDifficulty,
            ShareOutcome::Invalid,
            ShareOutcome::Unspecified,
        ] {
            assert_eq!(counted(outcome), Counted::Invalid);
        }
        // An outcome number the proto does not know reads as unspecified.
        let mut odd = share(1, "a", "w", ShareOutcome::Valid);
        odd.outcome = 99;
        assert_eq!(counted(odd.outcome()), Counted::Invalid);
    }

    #[test]
    fn future_and_missing_times_are_booked_now() {
        let mut s = share(1, "a", "w", ShareOutcome::Valid);
        s.timestamp_ms = 5_000;
        assert_eq!(booked_at(&s, 9_000), 5_000);
        assert_eq!(booked_at(&s, 4_000), 4_000);
        s.timestamp_ms = 0;
        assert_eq!(booked_at(&s, 4_000), 4_000);
    }

    #[test]
    fn summary_sums_per_miner_worker_and_second() {
        let settings = LedgerSettings::default();
        let mut shares = vec![
            share(1, "alice", "rig1", ShareOutcome::Valid),
            share(2, "alice", "rig2", ShareOutcome::Valid),
            share(3, "alice", "rig1", ShareOutcome::Stale),
            share(4, "bob", "default", ShareOutcome::LowDifficulty),
            share(5, "bob", "default", ShareOutcome::Valid),
            share(6, "carol", "junk", ShareOutcome::Duplicate),
        ];
        shares[4].timestamp_ms = 1_002_500;
        shares[4].difficulty = u64::MAX;
        let summary = summarize(&shares, &settings, 2_000_000);
        assert_eq!(
            (summary.pool.valid, summary.pool.stale, summary.pool.invalid),
            (3, 1, 2)
        );
        assert_eq!(summary.pool.last_ms, 1_002_500);
        // A miner's time is its latest valid share; refused shares alone put
        // no miner in the index.
        assert_eq!(summary.miners["alice"], 1_000_002);
        assert!(!summary.miners.contains_key("carol"));
        assert_eq!(summary.miners["bob"], 1_002_500);
        let rig1 = &summary.workers[&("alice", "rig1")];
        assert_eq!((rig1.valid, rig1.stale), (1, 1));
        assert_eq!(summary.workers[&("bob", "default")].invalid, 1);
        // Valid shares only, capped difficulty, per second of booking.
        assert_eq!(summary.share_log[&1_000]["alice"], 200);
        assert_eq!(summary.share_log[&1_002]["bob"], MAX_SHARE_DIFFICULTY);
        assert_eq!(summary.share_log.len(), 2);
    }

    #[test]
    fn shares_older_than_the_long_window_skip_hashrate_only() {
        let settings = LedgerSettings::default();
        let now = 100_000_000;
        let mut old = share(1, "a", "w", ShareOutcome::Valid);
        old.timestamp_ms = now - 4 * 3600 * 1000;
        let summary = summarize(std::slice::from_ref(&old), &settings, now);
        assert_eq!(summary.pool.valid, 1);
        assert!(summary.pool.rates.is_empty());
        assert_eq!(summary.share_log.len(), 1);
    }

    fn text(args: &[Arg<'_>]) -> Vec<String> {
        args.iter()
            .map(|arg| match arg {
                Arg::Text(text) => (*text).to_owned(),
                Arg::Number(number) => number.to_string(),
            })
            .collect()
    }

    #[test]
    fn script_call_puts_keys_at_fixed_places() {
        let settings = LedgerSettings::default();
        let shares = [
            share(1, "alice", "rig1", ShareOutcome::Valid),
            share(2, "alice", "rig2", ShareOutcome::Invalid),
        ];
        let summary = summarize(&shares, &settings, 2_000_000);
        let keys = Keys::new("p");
        let call = script_call(&keys, &settings, "p:hwm".into(), 1, 2, &summary, 2_000_000);
        // hwm, index, totals, miners set, pool, per worker its hash and its
        // miner's index, one share-log bucket.
        assert_eq!(call.keys.len(), 10);
        assert_eq!(call.keys[0], "p:hwm");
        assert_eq!(call.keys[4], keys.pool_stats());
        for worker in 0..2 {
            let stats = &call.keys[5 + 2 * worker];
            assert!(stats.starts_with(&keys.worker_stats("alice", "rig")));
            assert_eq!(call.keys[6 + 2 * worker], keys.workers("alice"));
        }
        assert_eq!(call.keys[9], keys.share_log_bucket(1_000));
        let args = text(&call.args);
        assert_eq!(&args[..2], ["1", "2"]);
        assert_eq!(args[6], "2"); // 2 workers
        assert_eq!(args[7], "1"); // one miner
        assert_eq!(args[8], "1"); // one share-log second
        // The pool's tally: 1 valid, 1 invalid, 0 stale, its last time, one
        // hashrate bucket holding the valid share's 100.
        assert_eq!(&args[9..13], ["1", "1", "0", "1000002"]);
        assert_eq!(args[13], "1");
        assert_eq!(args[15], "100");
        // The share-log second is the last record: alice's 100.
        assert_eq!(args[args.len() - 2..], ["alice", "100"]);
    }

    #[test]
    fn the_command_is_evalsha_with_keys_then_args() {
        let call = ScriptCall {
            keys: vec!["k1".into(), "k2".into()],
            args: vec![Arg::Text("alice"), Arg::Number(42)],
        };
        let packed = call.command("abc").get_packed_command();
        let expected = b"*7\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n2\r\n$2\r\nk1\r\n$2\r\nk2\r\n$5\r\nalice\r\n$2\r\n42\r\n";
        assert_eq!(packed, expected);
    }
}
