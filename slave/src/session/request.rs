//! What a miner asks, whatever door it came through. Each codec decodes its
//! wire form into these.

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
        /// The password field; TOS Pool does not check it.
        password: Option<String>,
    },
    /// A found nonce for a job.
    Submit(Submit),
    /// WebSocket `getwork`: the current work as an answer.
    GetWork,
    /// Keep-alive.
    Ping,
    /// Stratum `mining.extranonce.subscribe`; answered `true`, nothing changes.
    ExtranonceSubscribe,
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
