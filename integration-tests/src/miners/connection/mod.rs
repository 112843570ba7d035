//! The one connection core behind every test miner: it writes requests with
//! fresh ids, routes each answer to the request waiting for it, queues pushed
//! jobs and messages, records the traffic, and tells when the pool closed the
//! connection. The three protocols differ only in framing (lines or WebSocket
//! frames), id style and how a pushed job is spelled.

mod inbound;
mod io;

pub(crate) use io::connect_tcp;
mod rpc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::SplitSink;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, WriteHalf};
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::queue::{EventQueue, QueueWait};
use super::transcript::Transcript;
use super::work::Job;
use super::{MinerError, MinerOptions};

pub(crate) use io::connect_io;
pub use rpc::{answer_error, submit_outcome};

/// Malformed messages kept per connection; later ones are only logged.
const MAX_PROTOCOL_ERRORS: usize = 1000;

/// A byte stream of either transport.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}
/// A boxed byte stream of either transport.
pub(crate) type BoxedIo = Box<dyn Io>;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The pool closed the TCP stream.
    Eof,
    /// The pool sent a WebSocket close frame.
    WebSocket {
        /// The close code (1001 going away, 1008 policy violation…).
        code: u16,
        /// The reason text.
        reason: String,
    },
    /// Reading failed (reset, TLS alert, oversized line…).
    Error(String),
    /// This side closed it.
    Local,
}

/// The wire dialect, which decides ids and pushed-job parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Stratum,
    WebSocket,
    Xatum,
}

enum Writer {
    Lines(tokio::sync::Mutex<WriteHalf<BoxedIo>>),
    WebSocket(tokio::sync::Mutex<SplitSink<WebSocketStream<BoxedIo>, Message>>),
}

/// One connection to a pool: what every test miner shares. Reached through
/// the miners (they dereference to it).
pub struct Connection {
    dialect: Dialect,
    options: MinerOptions,
    writer: Writer,
    transcript: Transcript,
    tls_version: Option<rustls::ProtocolVersion>,
    next_id: AtomicU64,
    pending: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    pub(crate) jobs: EventQueue<Job>,
    pushes: EventQueue<Value>,
    protocol_errors: Mutex<Vec<String>>,
    closed: watch::Sender<Option<CloseReason>>,
    pongs: watch::Sender<u64>,
    stratum_difficulty: Mutex<Option<f64>>,
    reconnect_requested: AtomicBool,
}

struct PendingGuard<'a> {
    connection: &'a Connection,
    key: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.connection.pending).remove(&self.key);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only follows a panicking test thread; the data stays valid.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Connection {
    fn new(
        dialect: Dialect,
        options: MinerOptions,
        writer: Writer,
        tls_version: Option<rustls::ProtocolVersion>,
    ) -> Connection {
        Connection {
            dialect,
            transcript: Transcript::new(options.transcript_capacity),
            jobs: EventQueue::new(options.queue_capacity),
            pushes: EventQueue::new(options.queue_capacity),
            options,
            writer,
            tls_version,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            protocol_errors: Mutex::new(Vec::new()),
            closed: watch::channel(None).0,
            pongs: watch::channel(0).0,
            stratum_difficulty: Mutex::new(None),
            reconnect_requested: AtomicBool::new(false),
        }
    }

    /// A line-framed connection (Stratum, Xatum) and its reader task.
    pub(crate) fn spawn_lines(
        dialect: Dialect,
        io: BoxedIo,
        tls_version: Option<rustls::ProtocolVersion>,
        options: MinerOptions,
    ) -> (Arc<Connection>, tokio::task::JoinHandle<()>) {
        let (read, write) = tokio::io::split(io);
        let max = options.max_message_bytes;
        let writer = Writer::Lines(tokio::sync::Mutex::new(write));
        let connection = Arc::new(Connection::new(dialect, options, writer, tls_version));
        let reader = tokio::spawn(inbound::read_lines(connection.clone(), read, max));
        (connection, reader)
    }

    /// A WebSocket connection and its reader task.
    pub(crate) fn spawn_websocket(
        stream: WebSocketStream<BoxedIo>,
        tls_version: Option<rustls::ProtocolVersion>,
        options: MinerOptions,
    ) -> (Arc<Connection>, tokio::task::JoinHandle<()>) {
        let (sink, stream) = stream.split();
        let writer = Writer::WebSocket(tokio::sync::Mutex::new(sink));
        let connection = Arc::new(Connection::new(
            Dialect::WebSocket,
            options,
            writer,
            tls_version,
        ));
        let reader = tokio::spawn(inbound::read_frames(connection.clone(), stream));
        (connection, reader)
    }

    /// The options this connection was opened with.
    pub fn options(&self) -> &MinerOptions {
        &self.options
    }

    /// Everything sent and received so far (bounded).
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// The TLS version negotiated, for a TLS connection.
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls_version
    }

    /// Messages from the pool this miner could not make sense of (bad JSON,
    /// a malformed job, an answer to no request), the first 1000 of them.
    /// Empty for a well-behaved pool.
    pub fn protocol_errors(&self) -> Vec<String> {
        lock(&self.protocol_errors).clone()
    }

    /// The next job pushed (or fetched) and not yet taken, waiting at most
    /// `timeout`.
    pub async fn next_job(&self, timeout: Duration) -> Result<Job, MinerError> {
        self.jobs.next(timeout).await.map_err(|wait| match wait {
            QueueWait::Timeout => MinerError::Timeout {
                what: "job".to_string(),
                after: timeout,
            },
            QueueWait::Closed => MinerError::Closed,
        })
    }

    /// The newest job already received, dropping older unread ones; `None`
    /// when no job is waiting.
    pub fn latest_job(&self) -> Option<Job> {
        let mut latest = None;
        while let Some(job) = self.jobs.try_next() {
            latest = Some(job);
        }
        latest
    }

    /// Jobs dropped unread because the queue was full.
    pub fn dropped_jobs(&self) -> u64 {
        self.jobs.dropped()
    }

    /// The next message the pool sent that answered no request (pushed
    /// notifications, pongs, errors with a null id), waiting at most `timeout`.
    pub async fn next_push(&self, timeout: Duration) -> Result<Value, MinerError> {
        self.pushes.next(timeout).await.map_err(|wait| match wait {
            QueueWait::Timeout => MinerError::Timeout {
                what: "pushed message".to_string(),
                after: timeout,
            },
            QueueWait::Closed => MinerError::Closed,
        })
    }

    /// The next pushed message whose `method` is `method`, skipping others.
    pub async fn next_push_of(&self, method: &str, timeout: Duration) -> Result<Value, MinerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let push = self.next_push(left).await.map_err(|error| match error {
                MinerError::Timeout { .. } => MinerError::Timeout {
                    what: format!("{method} message"),
                    after: timeout,
                },
                other => other,
            })?;
            if push.get("method").and_then(Value::as_str) == Some(method) {
                return Ok(push);
            }
        }
    }

    /// The last `mining.set_difficulty` value (Stratum).
    pub fn stratum_difficulty(&self) -> Option<f64> {
        *lock(&self.stratum_difficulty)
    }

    /// Whether the pool sent `client.reconnect` (Stratum).
    pub fn reconnect_requested(&self) -> bool {
        self.reconnect_requested.load(Ordering::SeqCst)
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.borrow().is_some()
    }

    /// Why the connection ended, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed.borrow().clone()
    }

    /// Waits until the connection ends and says why.
    pub async fn closed(&self) -> CloseReason {
        let mut receiver = self.closed.subscribe();
        match receiver.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or(CloseReason::Local),
            // The sender lives in `self`, so it cannot be gone while we borrow it.
            Err(_) => CloseReason::Local,
        }
    }

    /// Waits at most `timeout` for the connection to end.
    pub async fn closed_within(&self, timeout: Duration) -> Result<CloseReason, MinerError> {
        tokio::time::timeout(timeout, self.closed())
            .await
            .map_err(|_| MinerError::Timeout {
                what: "close of the connection".to_string(),
                after: timeout,
            })
    }

    fn protocol_error(&self, what: String) {
        tracing::warn!(error = %what, "test miner received a malformed message");
        let mut errors = lock(&self.protocol_errors);
        // A misbehaving pool must not grow a load test's memory without bound.
        if errors.len() < MAX_PROTOCOL_ERRORS {
            errors.push(what);
        }
    }

    fn set_closed(&self, reason: CloseReason) {
        self.closed.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// The reader has stopped: wake everyone who waits.
    fn finish(&self, reason: CloseReason) {
        self.set_closed(reason);
        lock(&self.pending).clear();
        self.jobs.close();
        self.pushes.close();
    }
}
