//! What the session core tells its connection to do. Each codec encodes these
//! into its wire form.

use std::fmt;

use tos_pool_common::difficulty::Target;
use tos_pool_common::header::MinerWork;

use super::verdict::Verdict;

/// One thing to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The reply to the request being handled (at most one per request, and
    /// always first).
    Answer(Answer),
    /// The share difficulty of the work that follows (sent before a Notify
    /// whose difficulty differs from the last one sent).
    SetDifficulty(u64),
    /// New work for the miner.
    Notify(Work),
    /// Send the transport's keepalive (a WebSocket ping); doors without one
    /// write nothing.
    Keepalive,
    /// Close the connection (after writing what came before).
    Close(CloseReason),
}

/// The reply to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The session is open (Stratum subscribe, Xatum handshake).
    Subscribed(Subscribed),
    /// Plain success (`true`): authorized, share accepted, extranonce subscribe.
    Accepted,
    /// The answer to a ping.
    Pong,
    /// The current work (WebSocket getwork).
    Work(Work),
    /// The request was refused, with the reason.
    Rejected(Reject),
}

/// What a miner learns when it opens a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribed {
    /// The session's id, unique within this slave's boot.
    pub session_id: u64,
    /// The Stratum `extranonce1` (tosminer's start nonce, little-endian).
    pub extranonce1: [u8; 8],
    /// The share difficulty the session starts at.
    pub difficulty: u64,
}

/// Work for one session: the job's MinerWork with the session's extra_nonce,
/// and the session's share target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// Cluster-wide job id.
    pub job_id: String,
    /// The 112-byte MinerWork to hash, extra_nonce in place.
    pub header: MinerWork,
    /// The share target, `(2^256 − 1) / difficulty`.
    pub target: Target,
    /// The share difficulty the job was sent at.
    pub difficulty: u64,
    /// Height of the block being mined.
    pub height: u64,
    /// Whether the miner should drop its previous jobs.
    pub clean: bool,
}

/// A job entered as sent to one session, for a writer that encodes the
/// notify from a line made once per job and difficulty: everything of the
/// session's [`Work`] that is not the job's or the session's extra_nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPush {
    /// The share difficulty the job is sent at.
    pub difficulty: u64,
    /// `difficulty` differs from the last one announced: send
    /// `mining.set_difficulty` first.
    pub announce_difficulty: bool,
    /// Whether the miner should drop its previous jobs (a new height, or the
    /// session's first job).
    pub clean: bool,
}

/// A refused request: the Stratum error code and a message for the miner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Why, as a code.
    pub code: RejectCode,
    /// Why, in words the miner sees.
    pub message: String,
}

impl Reject {
    /// A refusal with the code's standard message.
    pub fn new(code: RejectCode) -> Reject {
        Reject {
            code,
            message: code.message().to_string(),
        }
    }

    /// A refusal with its own message.
    pub fn with_message(code: RejectCode, message: impl Into<String>) -> Reject {
        Reject {
            code,
            message: message.into(),
        }
    }
}

impl Verdict {
    /// The miner's answer to a share so judged: `true`, or the refusal.
    pub fn answer(self) -> Answer {
        match self.reject_code() {
            None => Answer::Accepted,
            Some(code) => Answer::Rejected(Reject::with_message(code, self.message())),
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.code())
    }
}

/// The share and request error codes every door shares (PROTOCOLS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectCode {
    /// 20: anything else (bad request, no work yet, …).
    Other,
    /// 21: the job is unknown or older than the backlog.
    Stale,
    /// 22: the same (job, extra_nonce, nonce) was already submitted.
    Duplicate,
    /// 23: the hash does not meet the share target.
    LowDifficulty,
    /// 24: not logged in, or the login was refused.
    Unauthorized,
    /// 25: the session was not opened first (subscribe or handshake).
    NotSubscribed,
}

impl RejectCode {
    /// The number on the wire.
    pub fn code(self) -> u16 {
        match self {
            RejectCode::Other => 20,
            RejectCode::Stale => 21,
            RejectCode::Duplicate => 22,
            RejectCode::LowDifficulty => 23,
            RejectCode::Unauthorized => 24,
            RejectCode::NotSubscribed => 25,
        }
    }

    /// The standard message.
    pub fn message(self) -> &'static str {
        match self {
            RejectCode::Other => "other error",
            RejectCode::Stale => "stale share",
            RejectCode::Duplicate => "duplicate share",
            RejectCode::LowDifficulty => "low difficulty share",
            RejectCode::Unauthorized => "unauthorized worker",
            RejectCode::NotSubscribed => "not subscribed",
        }
    }
}

/// Why the core closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The slave is draining: the miner should reconnect (to another slave).
    Draining,
    /// No request in time (`security.first_message_timeout` before the
    /// first, `security.idle_timeout` after each); nothing is sent.
    Idle,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Draining => f.write_str("the slave is draining: reconnect"),
            CloseReason::Idle => f.write_str("no request in time"),
        }
    }
}
