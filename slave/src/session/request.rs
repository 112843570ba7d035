//! What a miner asks, whatever door it came through. Each codec decodes its
//! wire form into these.

use tos_pool_common::header::MinerWork;

/// A typed miner request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Stratum `mining.subscribe`, Xatum `handshake`: opens the session.
    Subscribe {
        /// The miner software's self-description, e.g. `tosminer/1.0.0`.
        agent: Option<String>,
    },
    /// Log in with a payout address and a worker name.
    Authorize {
        /// Who is mining.
        login: Login,
        /// The password field. Not checked, but `d=NUMBER` in it (alone or
        /// as one comma-separated part) fixes the session's difficulty.
        password: Option<String>,
    },
    /// A found nonce for a job.
    Submit(Submit),
    /// A found nonce for the job whose header the miner sends back
    /// (WebSocket `[nonce, header]`, ethproxy `eth_submitWork`).
    SubmitHeader(HeaderSubmit),
    /// The miner asks for a share difficulty of its own (Stratum
    /// `mining.suggest_difficulty` or a client-sent `mining.set_difficulty`):
    /// held within the bounds, vardiff off for the session, from the next job.
    SetDifficulty {
        /// The difficulty asked for (≥ 1).
        difficulty: u64,
    },
    /// WebSocket `getwork`: the current work as an answer.
    GetWork,
    /// Keep-alive.
    Ping,
    /// Stratum `mining.extranonce.subscribe`; answered `true`, nothing changes.
    ExtranonceSubscribe,
    /// ethproxy `eth_submitHashrate`: the miner's own hashrate figure.
    /// Answered `true` so ethproxy miners are not refused for sending it;
    /// the pool measures hashrate from shares, never from this claim.
    HashrateReport,
}

/// How a miner named itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// `ADDRESS` or `ADDRESS.WORKER` in one string.
    Combined(String),
    /// Address and worker as separate fields (Xatum, 3-parameter authorize).
    Parts {
        /// The payout address (may itself be `ADDRESS.WORKER` when `worker` is empty).
        address: String,
        /// The worker name, if given.
        worker: Option<String>,
    },
}

/// A share: a nonce found for a job. Anything else the miner sends with it
/// (Stratum's worker name and extranonce2) carries no information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// Cluster-wide id of the job the nonce was found for.
    pub job_id: String,
    /// The nonce, written big-endian into MinerWork bytes 40–47.
    pub nonce: u64,
}

/// A share named by the header it was found on instead of a job id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSubmit {
    /// The session's MinerWork as the miner was sent it (its nonce field is
    /// not compared).
    pub header: MinerWork,
    /// The nonce, written big-endian into MinerWork bytes 40–47.
    pub nonce: u64,
}
