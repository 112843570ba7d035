//! One face for the three protocols, so end-to-end tests and the load
//! generator can run the same scenario over each.

use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;

use super::connection::Connection;
use super::work::Job;
use super::{
    MinerError, MinerOptions, StratumMiner, SubmitOutcome, TlsClient, Transport, WebSocketMiner,
    XatumMiner,
};

/// A miner protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Stratum (JSON lines), over TCP or TLS.
    Stratum,
    /// WebSocket GetWork, ws or wss.
    WebSocket,
    /// Xatum (JSON lines over TLS).
    Xatum,
}

/// Where and how to reach one of the pool's listeners.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The protocol spoken there.
    pub protocol: Protocol,
    /// The listener's address.
    pub addr: SocketAddr,
    /// Plain TCP or TLS.
    pub transport: Transport,
}

impl Endpoint {
    /// Stratum over plain TCP.
    pub fn stratum_tcp(addr: SocketAddr) -> Endpoint {
        Endpoint {
            protocol: Protocol::Stratum,
            addr,
            transport: Transport::Tcp,
        }
    }

    /// Stratum over TLS.
    pub fn stratum_tls(addr: SocketAddr, tls: TlsClient) -> Endpoint {
        Endpoint {
            protocol: Protocol::Stratum,
            addr,
            transport: Transport::Tls(tls),
        }
    }

    /// WebSocket over plain TCP (`ws://`).
    pub fn ws(addr: SocketAddr) -> Endpoint {
        Endpoint {
            protocol: Protocol::WebSocket,
            addr,
            transport: Transport::Tcp,
        }
    }

    /// WebSocket over TLS (`wss://`).
    pub fn wss(addr: SocketAddr, tls: TlsClient) -> Endpoint {
        Endpoint {
            protocol: Protocol::WebSocket,
            addr,
            transport: Transport::Tls(tls),
        }
    }

    /// Xatum (always TLS).
    pub fn xatum(addr: SocketAddr, tls: TlsClient) -> Endpoint {
        Endpoint {
            protocol: Protocol::Xatum,
            addr,
            transport: Transport::Tls(tls),
        }
    }
}

/// A test miner of any protocol. Dereferences to its [`Connection`].
pub enum TestMiner {
    /// A Stratum miner.
    Stratum(StratumMiner),
    /// A WebSocket miner.
    WebSocket(WebSocketMiner),
    /// An Xatum miner.
    Xatum(XatumMiner),
}

impl Deref for TestMiner {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            TestMiner::Stratum(miner) => miner,
            TestMiner::WebSocket(miner) => miner,
            TestMiner::Xatum(miner) => miner,
        }
    }
}

impl TestMiner {
    /// Connects to `endpoint` with the miner of its protocol.
    pub async fn connect(
        endpoint: &Endpoint,
        options: MinerOptions,
    ) -> Result<TestMiner, MinerError> {
        let (addr, transport) = (endpoint.addr, endpoint.transport.clone());
        Ok(match endpoint.protocol {
            Protocol::Stratum => {
                TestMiner::Stratum(StratumMiner::connect(addr, transport, options).await?)
            }
            Protocol::WebSocket => {
                TestMiner::WebSocket(WebSocketMiner::connect(addr, transport, options).await?)
            }
            Protocol::Xatum => {
                TestMiner::Xatum(XatumMiner::connect(addr, transport, options).await?)
            }
        })
    }

    /// The protocol this miner speaks.
    pub fn protocol(&self) -> Protocol {
        match self {
            TestMiner::Stratum(_) => Protocol::Stratum,
            TestMiner::WebSocket(_) => Protocol::WebSocket,
            TestMiner::Xatum(_) => Protocol::Xatum,
        }
    }

    /// Logs in as `ADDRESS.WORKER` the way each protocol does: Stratum
    /// subscribes and authorizes with password `x`; WebSocket authorizes and
    /// fetches work with `getwork` (queued as the next job); Xatum shakes
    /// hands and authorizes with address and worker apart (worker `default`
    /// when the login has none).
    pub async fn login(&self, login: &str) -> Result<(), MinerError> {
        match self {
            TestMiner::Stratum(miner) => {
                miner.subscribe().await?;
                miner.authorize(login, "x").await
            }
            TestMiner::WebSocket(miner) => {
                miner.authorize(login).await?;
                let job = miner.getwork().await?;
                miner.jobs.push(job);
                Ok(())
            }
            TestMiner::Xatum(miner) => {
                miner.handshake().await?;
                let (address, worker) = login.split_once('.').unwrap_or((login, "default"));
                miner.authorize(address, worker).await
            }
        }
    }

    /// The next job not yet taken, waiting at most `timeout`.
    pub async fn next_job(&self, timeout: Duration) -> Result<Job, MinerError> {
        Connection::next_job(self, timeout).await
    }

    /// Submits `nonce` for `job` in the protocol's usual form.
    pub async fn submit(&self, job: &Job, nonce: u64) -> Result<SubmitOutcome, MinerError> {
        match self {
            TestMiner::Stratum(miner) => miner.submit(&job.job_id, nonce).await,
            TestMiner::WebSocket(miner) => miner.submit(&job.job_id, nonce).await,
            TestMiner::Xatum(miner) => miner.submit(&job.job_id, nonce).await,
        }
    }

    /// Searches a nonce meeting the job's target (on a blocking thread).
    pub async fn mine(&self, job: &Job) -> Result<u64, MinerError> {
        match self {
            TestMiner::Stratum(miner) => miner.mine(job).await,
            TestMiner::WebSocket(miner) => miner.mine(job).await,
            TestMiner::Xatum(miner) => miner.mine(job).await,
        }
    }

    /// Mines a share for `job` and submits it.
    pub async fn mine_and_submit_one(&self, job: &Job) -> Result<SubmitOutcome, MinerError> {
        let nonce = self.mine(job).await?;
        self.submit(job, nonce).await
    }

    /// Submits a nonce whose hash misses the job's target; returns it with the verdict.
    pub async fn submit_bad_share(&self, job: &Job) -> Result<(u64, SubmitOutcome), MinerError> {
        match self {
            TestMiner::Stratum(miner) => miner.submit_bad_share(job).await,
            TestMiner::WebSocket(miner) => miner.submit_bad_share(job).await,
            TestMiner::Xatum(miner) => miner.submit_bad_share(job).await,
        }
    }
}
