//! Test miners for every miner protocol of PROTOCOLS.md, over real sockets:
//! Stratum over TCP and TLS ([`StratumMiner`]), WebSocket GetWork over ws and
//! wss ([`WebSocketMiner`]) and Xatum over TLS ([`XatumMiner`]). They find
//! shares by really hashing, record every message both ways, and surface each
//! answer as a typed value. [`TestMiner`] treats the three alike for end-to-end
//! tests and the load generator.
//!
//! Each connection costs one reader task and a few small buffers; the
//! transcript and the queues are bounded ([`MinerOptions`]).

mod any;
mod connection;
mod core;
mod queue;
pub mod stratum;
pub mod stratum_dialects;
pub mod transcript;
pub mod websocket;
pub mod work;
pub mod xatum;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

pub use any::{Endpoint, Protocol, TestMiner};
pub(crate) use connection::connect_tcp;
pub use connection::{CloseReason, Connection, answer_error, submit_outcome};
pub use stratum::{StratumMiner, Subscription};
pub use transcript::{Direction, Frame, Transcript, WireRecord};
pub use websocket::WebSocketMiner;
pub use work::{Job, find_bad_share, find_share};
pub use xatum::{Handshake, XatumMiner};

/// How a miner reaches the pool.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Plain TCP.
    Tcp,
    /// TLS over TCP.
    Tls(TlsClient),
}

impl Transport {
    /// TLS with `config`, naming the server `localhost` (SNI and certificate check).
    pub fn tls(config: Arc<rustls::ClientConfig>) -> Transport {
        Transport::Tls(TlsClient::new(config))
    }
}

/// A TLS client configuration and the server name to ask for.
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// The rustls configuration (see [`crate::tls`]).
    pub config: Arc<rustls::ClientConfig>,
    /// Name sent as SNI and checked against the certificate.
    pub server_name: ServerName<'static>,
}

impl TlsClient {
    /// A client that names the server `localhost`.
    pub fn new(config: Arc<rustls::ClientConfig>) -> TlsClient {
        TlsClient {
            config,
            server_name: crate::tls::localhost(),
        }
    }

    /// The same client naming the server `name` instead.
    pub fn with_server_name(mut self, name: ServerName<'static>) -> TlsClient {
        self.server_name = name;
        self
    }
}

/// Limits and waits shared by all test miners.
#[derive(Debug, Clone)]
pub struct MinerOptions {
    /// Longest wait for a connection, an answer, a job or a write.
    pub timeout: Duration,
    /// Most hashes one nonce search tries before giving up.
    pub max_tries: u64,
    /// Records kept in the transcript (oldest dropped first; 0 keeps none).
    pub transcript_capacity: usize,
    /// Jobs and pushed messages kept unread (oldest dropped first).
    pub queue_capacity: usize,
    /// Longest line or frame accepted from the pool.
    pub max_message_bytes: usize,
    /// Local address the socket binds to before connecting (any port);
    /// `None` lets the system choose. A load test spreads its sockets over
    /// several `127.0.0.x` so one source's port range is not the limit.
    pub source_addr: Option<IpAddr>,
}

impl Default for MinerOptions {
    fn default() -> Self {
        MinerOptions {
            timeout: Duration::from_secs(10),
            max_tries: 100_000,
            transcript_capacity: 10_000,
            queue_capacity: 256,
            max_message_bytes: 1 << 20,
            source_addr: None,
        }
    }
}

impl MinerOptions {
    /// Options for a load test: tiny transcript and queues.
    pub fn lean() -> MinerOptions {
        MinerOptions {
            transcript_capacity: 0,
            queue_capacity: 8,
            ..MinerOptions::default()
        }
    }

    /// The same options with another timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> MinerOptions {
        self.timeout = timeout;
        self
    }

    /// The same options binding the socket to `source` before connecting.
    pub fn with_source(mut self, source: IpAddr) -> MinerOptions {
        self.source_addr = Some(source);
        self
    }
}

/// An error object the pool answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pool error {code}: {message}")]
pub struct RpcError {
    /// The error code (PROTOCOLS.md: 20 other, 21 stale, 22 duplicate, 23 low
    /// difficulty, 24 unauthorized, 25 not subscribed).
    pub code: i64,
    /// The pool's reason.
    pub message: String,
}

/// What the pool said about a submitted share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// `result: true`.
    Accepted,
    /// An error with its code and reason.
    Rejected {
        /// The error code (see [`RpcError::code`]).
        code: i64,
        /// The pool's reason.
        message: String,
    },
}

impl SubmitOutcome {
    /// Whether the share was accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, SubmitOutcome::Accepted)
    }

    /// The rejection code, if rejected.
    pub fn rejection_code(&self) -> Option<i64> {
        match self {
            SubmitOutcome::Accepted => None,
            SubmitOutcome::Rejected { code, .. } => Some(*code),
        }
    }
}

/// Why a test miner could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// The TCP connection failed.
    #[error("could not connect to {addr}: {source}; is the pool listening there?")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS handshake failed.
    #[error(
        "TLS handshake with {addr} failed: {source}; check the certificate, SNI and TLS versions"
    )]
    Tls {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The WebSocket upgrade failed.
    #[error("WebSocket handshake with {addr} failed: {source}")]
    WebSocketHandshake {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// Writing to the socket failed.
    #[error("sending to the pool failed: {0}")]
    Send(String),
    /// Nothing came in time.
    #[error("no {what} within {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
    /// The connection is closed.
    #[error("the connection to the pool is closed")]
    Closed,
    /// The pool answered a request with an error.
    #[error("the pool refused {method}: {error}")]
    Rpc {
        /// The request's method.
        method: String,
        /// The pool's error.
        error: RpcError,
    },
    /// The pool answered with something the protocol does not allow.
    #[error("unexpected answer to {method}: {response}")]
    UnexpectedResponse {
        /// The request's method.
        method: String,
        /// The whole answer, as JSON.
        response: String,
    },
    /// The nonce search found nothing.
    #[error(
        "no nonce meeting the target within {tries} hashes; lower the share difficulty or raise max_tries"
    )]
    NoShareFound {
        /// Hashes tried.
        tries: u64,
    },
    /// No nonce missing the target was found.
    #[error(
        "no nonce missing the target within {tries} hashes; at difficulty 1 every hash meets the target, so use a higher one"
    )]
    NoBadShareFound {
        /// Hashes tried.
        tries: u64,
    },
    /// The hashing task failed.
    #[error("the nonce search task failed: {0}")]
    Search(String),
}
