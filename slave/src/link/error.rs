//! What can go wrong on the master link.

use std::time::Duration;

/// An error of the master link, for callers of [`super::LinkHandle`] and in
/// [`super::LinkStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The unacked-share buffer is full because the master has not acked for
    /// a while; the share was not taken. Answer the miner with an error.
    #[error(
        "share refused: {unacked} shares are waiting for the master's ack \
         (slave.max_unacked_shares); the master is down or slow"
    )]
    Backlogged {
        /// Shares waiting for an ack.
        unacked: usize,
    },
    /// Too many block candidates are waiting for the master.
    #[error("block candidate refused: {pending} candidates are already waiting for the master")]
    BlocksBacklogged {
        /// Candidates waiting.
        pending: usize,
    },
    /// The link was shut down (flush_and_close or every handle dropped).
    #[error("the master link is closed")]
    Closed,
    /// The link configuration cannot work.
    #[error("{key}: {reason}")]
    Config {
        /// The config key at fault.
        key: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The master refused the token.
    #[error(
        "the master refused this slave's token ({0}); set master.secret \
         (TOS_POOL_MASTER_SECRET) to the master's value"
    )]
    Unauthenticated(String),
    /// The master could not be reached or the stream broke.
    #[error("master unreachable or stream broken: {0}")]
    Transport(String),
    /// The master sent something the protocol does not allow.
    #[error("master broke the link protocol: {0}")]
    Protocol(String),
    /// No BlockResult came in time.
    #[error("no result for block request {request_id} within {waited:?}")]
    BlockTimeout {
        /// The candidate's request id.
        request_id: u64,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The share journal cannot be opened (damaged, in use, unreadable).
    #[error("{0}")]
    Journal(String),
    /// The drain deadline passed with shares still unacked.
    #[error("drain deadline passed with {unacked} shares not acked by the master")]
    DrainIncomplete {
        /// Shares that were not acked.
        unacked: usize,
    },
}
