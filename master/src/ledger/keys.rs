//! The names of every Redis key the master writes, under the configured
//! prefix. docs/REDIS.md describes each one; this is the only place that
//! spells them.

use crate::lifecycle::BlockState;

/// Builds key names under `redis.key_prefix`.
///
/// Parts that come from outside (slave and boot ids, addresses, worker
/// names) are escaped with [`segment`], so no value can reach into another
/// key's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (`tospool` gives `tospool:…`; an empty prefix
    /// gives bare names).
    pub fn new(prefix: &str) -> Self {
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}:")
        };
        Keys { prefix }
    }

    /// The prefix with its trailing separator (empty when there is none).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// String: highest share seq stored for `(slave_id, boot_id)`.
    pub fn high_water(&self, slave_id: &str, boot_id: &str) -> String {
        format!(
            "{}ledger:hwm:{}:{}",
            self.prefix,
            segment(slave_id),
            segment(boot_id)
        )
    }

    /// Hash: pool-wide share counts and hashrate buckets.
    pub fn pool_stats(&self) -> String {
        format!("{}stats:pool", self.prefix)
    }

    /// Hash: one worker's share counts and hashrate buckets.
    pub fn worker_stats(&self, address: &str, worker: &str) -> String {
        format!(
            "{}stats:worker:{}:{}",
            self.prefix,
            segment(address),
            segment(worker)
        )
    }

    /// Sorted set: every miner seen, scored by its last share time (ms). A
    /// miner's counts and hashrates are the sums of its workers'.
    pub fn miners(&self) -> String {
        format!("{}miners", self.prefix)
    }

    /// Sorted set: one miner's workers, scored by their last share time (ms).
    pub fn workers(&self, address: &str) -> String {
        format!("{}workers:{}", self.prefix, segment(address))
    }

    /// Sorted set: the PPLNS share log's buckets, member and score both the
    /// bucket's second.
    pub fn share_log_index(&self) -> String {
        format!("{}pplns:index", self.prefix)
    }

    /// Hash: the summed weight of each PPLNS bucket (second → weight).
    pub fn share_log_totals(&self) -> String {
        format!("{}pplns:totals", self.prefix)
    }

    /// The part before the second of a PPLNS bucket's key (the trim script
    /// builds bucket keys from it).
    pub fn share_log_bucket_prefix(&self) -> String {
        format!("{}pplns:bucket:", self.prefix)
    }

    /// Hash: one PPLNS bucket, address → summed valid share difficulty of
    /// that second.
    pub fn share_log_bucket(&self, second: u64) -> String {
        format!("{}{second}", self.share_log_bucket_prefix())
    }

    /// Hash: block hash → block record (JSON).
    pub fn blocks(&self) -> String {
        format!("{}blocks", self.prefix)
    }

    /// Sorted set: the hashes of blocks in `state`, scored by height.
    pub fn blocks_in_state(&self, state: BlockState) -> String {
        format!("{}blocks:state:{}", self.prefix, state_name(state))
    }

    /// Sorted set: every block hash, scored by height.
    pub fn blocks_by_height(&self) -> String {
        format!("{}blocks:height", self.prefix)
    }

    /// String: the next chain height the unlocker reads for pool blocks
    /// without a record.
    pub fn blocks_scanned(&self) -> String {
        format!("{}blocks:scanned", self.prefix)
    }

    /// Hash: block hash → JSON of a block the daemon says the pool mined
    /// but that has no record (found by the unlocker's scan).
    pub fn blocks_unrecorded(&self) -> String {
        format!("{}blocks:unrecorded", self.prefix)
    }

    /// Hash: address → immature balance (atomic units).
    pub fn balance_immature(&self) -> String {
        format!("{}balance:immature", self.prefix)
    }

    /// Hash: address → confirmed (payable) balance (atomic units).
    pub fn balance_confirmed(&self) -> String {
        format!("{}balance:confirmed", self.prefix)
    }

    /// Hash: address → amount in payouts sent but not yet confirmed
    /// (written by payouts).
    pub fn balance_pending(&self) -> String {
        format!("{}balance:pending", self.prefix)
    }

    /// Hash: address → total amount ever paid (written by payouts).
    pub fn balance_paid(&self) -> String {
        format!("{}balance:paid", self.prefix)
    }

    /// Hash: payment id → payment record (JSON).
    pub fn payments(&self) -> String {
        format!("{}payments", self.prefix)
    }

    /// Sorted set: every payment id, scored by its creation time (ms).
    pub fn payments_index(&self) -> String {
        format!("{}payments:index", self.prefix)
    }

    /// Set: the ids of payments not yet final (`pending` or `sent`).
    pub fn payments_unsettled(&self) -> String {
        format!("{}payments:unsettled", self.prefix)
    }

    /// List: one miner's confirmed payments (JSON), newest first.
    pub fn miner_payments(&self, address: &str) -> String {
        format!("{}payments:miner:{}", self.prefix, segment(address))
    }

    /// String: total withdrawal fees kept by the pool from confirmed
    /// payments (atomic units).
    pub fn payment_fees(&self) -> String {
        format!("{}payments:fees", self.prefix)
    }

    /// String: the payout lock (a random token, with a TTL): one payer in
    /// the cluster.
    pub fn payout_lock(&self) -> String {
        format!("{}payouts:lock", self.prefix)
    }

    /// Hash: address → quarantine entry (JSON): recipients payouts leave
    /// out until an admin releases them.
    pub fn payouts_quarantine(&self) -> String {
        format!("{}payouts:quarantine", self.prefix)
    }

    /// Hash: address → the wallet error of a payment that may have failed
    /// because of it; such addresses are paid alone until cleared.
    pub fn payouts_suspects(&self) -> String {
        format!("{}payouts:suspects", self.prefix)
    }

    /// Hash: address → when the wallet said it is valid (ms): the cached
    /// answers of `validate_address`.
    pub fn payouts_valid_addresses(&self) -> String {
        format!("{}payouts:valid", self.prefix)
    }

    /// Set: one of the operator's runtime access lists (`blacklist` of
    /// miner addresses, `whitelist` of IPs and CIDRs).
    pub fn access_list(&self, name: &str) -> String {
        format!("{}access:{name}", self.prefix)
    }

    /// List: the admin audit log, newest first, one JSON entry per admin
    /// action; trimmed to a fixed length.
    pub fn audit_log(&self) -> String {
        format!("{}audit", self.prefix)
    }

    /// Hash: block hash → the round shares of that block (the share
    /// difficulty counted since the block before).
    pub fn round_shares(&self) -> String {
        format!("{}rounds", self.prefix)
    }

    /// Hash: `b:<hour>`, `s:<hour>`, `d:<hour>` → blocks, round shares and
    /// network difficulty of the rounds closed in that hour (30 days kept).
    pub fn luck_hourly(&self) -> String {
        format!("{}luck:hours", self.prefix)
    }

    /// Hash: `blocks`, `round_shares`, `difficulty` of every round closed.
    pub fn luck_total(&self) -> String {
        format!("{}luck:total", self.prefix)
    }

    /// Hash: address → blocks it found.
    pub fn blocks_found_by(&self) -> String {
        format!("{}finders", self.prefix)
    }

    /// List: the pool's history samples
    /// (`time:hashrate:workers:miners:network_hashrate`),
    /// newest first.
    pub fn pool_history(&self) -> String {
        format!("{}history:pool", self.prefix)
    }

    /// List: one miner's history samples (`time:hashrate`), newest first.
    pub fn miner_history(&self, address: &str) -> String {
        format!("{}history:miner:{}", self.prefix, segment(address))
    }
}

/// The lowercase name of a block state, as in keys and in the record JSON.
pub fn state_name(state: BlockState) -> &'static str {
    match state {
        BlockState::Submitting => "submitting",
        BlockState::Candidate => "candidate",
        BlockState::Immature => "immature",
        BlockState::Matured => "matured",
        BlockState::Orphaned => "orphaned",
        BlockState::Refused => "refused",
    }
}

/// Escapes one part of a key name: ASCII letters, digits, `.`, `_` and `-`
/// stay as they are (bech32 addresses and valid worker names are unchanged);
/// every other byte becomes `%XX`. Distinct inputs give distinct outputs, and
/// no output contains the `:` separator.
pub fn segment(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_parts_are_kept_and_others_escaped() {
        let address = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";
        assert_eq!(segment(address), address);
        assert_eq!(segment("rig_1-a.b"), "rig_1-a.b");
        assert_eq!(segment("a:b"), "a%3Ab");
        assert_eq!(segment("50%"), "50%25");
        assert_eq!(segment("é"), "%C3%A9");
        assert_eq!(segment(""), "");
    }

    #[test]
    fn ids_with_separators_cannot_collide() {
        let keys = Keys::new("p");
        assert_ne!(keys.high_water("a:b", "c"), keys.high_water("a", "b:c"));
        assert_ne!(keys.worker_stats("a:b", "c"), keys.worker_stats("a", "b:c"));
        assert_ne!(segment("a%3Ab"), segment("a:b"));
    }

    #[test]
    fn keys_carry_the_prefix() {
        let keys = Keys::new("tospool");
        assert_eq!(
            keys.high_water("eu-1", "b00t"),
            "tospool:ledger:hwm:eu-1:b00t"
        );
        assert_eq!(
            keys.worker_stats("tst1x", "rig"),
            "tospool:stats:worker:tst1x:rig"
        );
        assert_eq!(keys.share_log_bucket(1_700), "tospool:pplns:bucket:1700");
        assert_eq!(
            keys.blocks_in_state(BlockState::Immature),
            "tospool:blocks:state:immature"
        );
        assert_eq!(Keys::new("").miners(), "miners");
    }

    #[test]
    fn state_names_match_the_record_json() {
        for state in [
            BlockState::Submitting,
            BlockState::Candidate,
            BlockState::Immature,
            BlockState::Matured,
            BlockState::Orphaned,
            BlockState::Refused,
        ] {
            let json = serde_json::to_string(&state).expect("a state serializes");
            assert_eq!(json, format!("\"{}\"", state_name(state)));
        }
    }
}
