//! What can go wrong in the ledger.

use crate::ledger::PaymentStatus;
use crate::lifecycle::BlockState;

/// An error of the Redis ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The Redis URL or password in the config cannot be used.
    #[error(
        "redis.url {url:?} is not usable: {source}; write it as redis://[user:password@]host:port/db"
    )]
    BadUrl {
        /// The URL with any password hidden.
        url: String,
        /// What the client said.
        #[source]
        source: redis::RedisError,
    },
    /// No connection to Redis within `redis.connect_timeout`.
    #[error(
        "could not connect to Redis at {url} within {timeout:?}: check that Redis runs there, or raise redis.connect_timeout"
    )]
    ConnectTimeout {
        /// The URL with any password hidden.
        url: String,
        /// The timeout that passed.
        timeout: std::time::Duration,
    },
    /// Connecting to Redis failed.
    #[error(
        "could not connect to Redis at {url}: {source}; check redis.url, redis.password and that Redis runs"
    )]
    Connect {
        /// The URL with any password hidden.
        url: String,
        /// What the client said.
        #[source]
        source: redis::RedisError,
    },
    /// No sentinel in `redis.sentinels` could name the master.
    #[error(
        "no Redis Sentinel names a master called {name:?} ({reason}); check redis.sentinels and redis.sentinel_master"
    )]
    NoSentinelMaster {
        /// The master name asked for.
        name: String,
        /// Why the last sentinel asked gave no answer.
        reason: String,
    },
    /// The server a sentinel named is not (or no longer) a master.
    #[error("the Redis server at {url} is not a master (a failover is under way); retrying")]
    NotMaster {
        /// The server's address.
        url: String,
    },
    /// Fewer replicas than `redis.min_replicas` confirmed a write in time.
    #[error(
        "only {acked} of the {wanted} replicas redis.min_replicas asks for confirmed the write; it stays unacknowledged and will be retried"
    )]
    ReplicasBehind {
        /// Replicas that confirmed.
        acked: u64,
        /// Replicas wanted.
        wanted: u32,
    },
    /// A Redis command failed (connection lost, timeout, server error).
    /// Nothing is half-written: every write is one script; retry it.
    #[error("Redis {action} failed: {source}; retry when Redis is reachable again")]
    Redis {
        /// What was being done.
        action: &'static str,
        /// What the client said.
        #[source]
        source: redis::RedisError,
    },
    /// A share batch skips seqs the ledger never stored; nothing was written.
    #[error(
        "share batch of slave {slave_id:?} (boot {boot_id:?}) starts at seq {first_seq}, but the ledger holds seqs up to {acked_seq}: the slave must resend from seq {}",
        acked_seq + 1
    )]
    Gap {
        /// The slave.
        slave_id: String,
        /// The slave's boot.
        boot_id: String,
        /// First seq of the refused batch.
        first_seq: u64,
        /// Highest seq the ledger holds for the boot.
        acked_seq: u64,
    },
    /// A share batch contradicts itself; nothing was written.
    #[error(
        "share batch of slave {slave_id:?} is malformed ({reason}): the slave must number its shares consecutively from 1"
    )]
    MalformedBatch {
        /// The slave.
        slave_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another writer kept moving the same boot's high-water mark.
    #[error(
        "share batch of slave {slave_id:?} (boot {boot_id:?}) raced with another stream of the same boot: close the older stream and resend"
    )]
    Contended {
        /// The slave.
        slave_id: String,
        /// The slave's boot.
        boot_id: String,
    },
    /// Redis answered something this code never writes.
    #[error(
        "Redis answered {action} with {detail}: the keys under the prefix were written by something else; check redis.key_prefix"
    )]
    UnexpectedReply {
        /// What was being done.
        action: &'static str,
        /// What came back.
        detail: String,
    },
    /// A stored block record cannot be read.
    #[error(
        "the stored record of block {hash} is corrupt ({source}): repair it from the logs before the unlocker runs"
    )]
    CorruptBlock {
        /// The block hash.
        hash: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// No block record under this hash.
    #[error("no block {hash} in the ledger: insert it as a candidate first")]
    UnknownBlock {
        /// The block hash.
        hash: String,
    },
    /// Only fresh blocks can be inserted.
    #[error(
        "block {hash} is {state:?}: only submitting, candidate or refused records are inserted (and a submitting one settled as candidate or refused); later states come from apply_transition"
    )]
    NotInsertable {
        /// The block hash.
        hash: String,
        /// Its state.
        state: BlockState,
    },
    /// A transition that keeps the state could be applied twice.
    #[error(
        "a transition of block {hash} from {state:?} to {state:?} would not be idempotent: the unlocker must change the state"
    )]
    SameState {
        /// The block hash.
        hash: String,
        /// The state on both sides.
        state: BlockState,
    },
    /// A balance change does not fit Redis's signed 64-bit integers.
    #[error(
        "a ledger op of {amount} for {address} exceeds 2^63 - 1 atomic units: the transition is corrupt"
    )]
    AmountOutOfRange {
        /// The address.
        address: String,
        /// The amount.
        amount: u64,
    },
    /// A stored payment record or history entry cannot be read or written.
    #[error(
        "the payment record {id} is corrupt ({source}): repair it from the logs before payouts run again"
    )]
    CorruptPayment {
        /// The payment id (or whose history).
        id: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A payment id is already taken; nothing was written.
    #[error("a payment {id} already exists: write ahead with a fresh id")]
    PaymentExists {
        /// The payment id.
        id: String,
    },
    /// A payment's sums disagree with its transfers; nothing was written.
    #[error(
        "payment {id} carries amount or fee sums that differ from its transfers: the plan is corrupt"
    )]
    InconsistentPayment {
        /// The payment id.
        id: String,
    },
    /// A confirmed balance no longer covers the planned debit (credited or
    /// debited since it was read); nothing was written.
    #[error(
        "the confirmed balance of {address} no longer covers its planned payout: plan again from fresh balances"
    )]
    BalanceChanged {
        /// The address.
        address: String,
    },
    /// A payment status change that its current status does not allow.
    #[error("payment {id} is {from:?} and cannot become {to:?}")]
    PaymentTransition {
        /// The payment id.
        id: String,
        /// Its status.
        from: PaymentStatus,
        /// The status asked for.
        to: PaymentStatus,
    },
}

impl LedgerError {
    /// A failed Redis call.
    pub(crate) fn redis(action: &'static str) -> impl FnOnce(redis::RedisError) -> Self {
        move |source| LedgerError::Redis { action, source }
    }

    /// A reply of the wrong shape.
    pub(crate) fn unexpected(action: &'static str, detail: impl std::fmt::Debug) -> Self {
        LedgerError::UnexpectedReply {
            action,
            detail: format!("{detail:?}"),
        }
    }
}

/// The URL with the password (anything between `://` and `@`) hidden, for
/// errors and logs.
pub fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end + 3 => {
            format!("{}***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redacted_url("redis://user:secret@10.0.0.1:6379/0"),
            "redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(redacted_url("rediss://:pw@h/1"), "rediss://***@h/1");
        assert_eq!(
            redacted_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(redacted_url("not a url"), "not a url");
    }

    #[test]
    fn gap_error_says_where_to_resume() {
        let error = LedgerError::Gap {
            slave_id: "eu-1".into(),
            boot_id: "b".into(),
            first_seq: 50,
            acked_seq: 40,
        };
        assert!(error.to_string().contains("resend from seq 41"));
    }
}
