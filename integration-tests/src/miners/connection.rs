//! The one connection core behind every test miner: it writes requests with
//! fresh ids, routes each answer to the request waiting for it, queues pushed
//! jobs and messages, records the traffic, and tells when the pool closed the
//! connection. The three protocols differ only in framing (lines or WebSocket
//! frames), id style and how a pushed job is spelled.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::queue::{EventQueue, QueueWait};
use super::transcript::{Direction, Frame, Transcript};
use super::work::Job;
use super::{MinerError, MinerOptions, RpcError, SubmitOutcome, Transport};

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

/// Opens TCP (and TLS) to `addr`.
pub(crate) async fn connect_io(
    addr: SocketAddr,
    transport: &Transport,
    timeout: Duration,
) -> Result<(BoxedIo, Option<rustls::ProtocolVersion>), MinerError> {
    let connect = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| MinerError::Connect { addr, source })?;
        // Small JSON messages: send each at once.
        tcp.set_nodelay(true)
            .map_err(|source| MinerError::Connect { addr, source })?;
        match transport {
            Transport::Tcp => Ok::<_, MinerError>((Box::new(tcp) as BoxedIo, None)),
            Transport::Tls(tls) => {
                let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
                let stream = connector
                    .connect(tls.server_name.clone(), tcp)
                    .await
                    .map_err(|source| MinerError::Tls { addr, source })?;
                let version = stream.get_ref().1.protocol_version();
                Ok((Box::new(stream) as BoxedIo, version))
            }
        }
    };
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| MinerError::Timeout {
            what: format!("connection to {addr}"),
            after: timeout,
        })?
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
        let reader = tokio::spawn(read_lines(connection.clone(), read, max));
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
        let reader = tokio::spawn(read_frames(connection.clone(), stream));
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
    /// a malformed job, an answer to no request). Empty for a well-behaved pool.
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

    /// Sends one line (Stratum, Xatum; a newline is added) or one text frame
    /// (WebSocket) exactly as given: for malformed-input tests.
    pub async fn send_raw_text(&self, text: &str) -> Result<(), MinerError> {
        self.transcript
            .record(Direction::ToServer, Frame::Text(text.to_string()));
        match &self.writer {
            Writer::Lines(writer) => {
                let mut line = Vec::with_capacity(text.len() + 1);
                line.extend_from_slice(text.as_bytes());
                line.push(b'\n');
                self.write_lines(writer, &line).await
            }
            Writer::WebSocket(sink) => {
                self.write_frame(sink, Message::text(text.to_string()))
                    .await
            }
        }
    }

    /// Sends bytes as they are (lines: no newline added; WebSocket: a binary frame).
    pub async fn send_raw_bytes(&self, bytes: &[u8]) -> Result<(), MinerError> {
        self.transcript
            .record(Direction::ToServer, Frame::Binary(bytes.to_vec()));
        match &self.writer {
            Writer::Lines(writer) => self.write_lines(writer, bytes).await,
            Writer::WebSocket(sink) => {
                self.write_frame(sink, Message::binary(bytes.to_vec()))
                    .await
            }
        }
    }

    /// Closes the connection from this side: a close frame with `code` and
    /// `reason` on WebSocket, a TCP (and TLS) shutdown otherwise.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), MinerError> {
        match &self.writer {
            Writer::Lines(writer) => {
                let mut writer = writer.lock().await;
                writer
                    .shutdown()
                    .await
                    .map_err(|e| MinerError::Send(e.to_string()))?;
            }
            Writer::WebSocket(sink) => {
                self.transcript.record(
                    Direction::ToServer,
                    Frame::Close {
                        code,
                        reason: reason.to_string(),
                    },
                );
                let frame = CloseFrame {
                    code: code.into(),
                    reason: reason.to_string().into(),
                };
                self.write_frame(sink, Message::Close(Some(frame))).await?;
            }
        }
        self.set_closed(CloseReason::Local);
        Ok(())
    }

    async fn write_lines(
        &self,
        writer: &tokio::sync::Mutex<WriteHalf<BoxedIo>>,
        bytes: &[u8],
    ) -> Result<(), MinerError> {
        let write = async {
            let mut writer = writer.lock().await;
            writer.write_all(bytes).await?;
            writer.flush().await
        };
        match tokio::time::timeout(self.options.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(MinerError::Send(e.to_string())),
            Err(_) => Err(self.write_timeout()),
        }
    }

    async fn write_frame(
        &self,
        sink: &tokio::sync::Mutex<SplitSink<WebSocketStream<BoxedIo>, Message>>,
        message: Message,
    ) -> Result<(), MinerError> {
        let write = async { sink.lock().await.send(message).await };
        match tokio::time::timeout(self.options.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(MinerError::Send(e.to_string())),
            Err(_) => Err(self.write_timeout()),
        }
    }

    fn write_timeout(&self) -> MinerError {
        MinerError::Timeout {
            what: "write to the pool (is it reading?)".to_string(),
            after: self.options.timeout,
        }
    }

    fn fresh_id(&self) -> (Value, String) {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = match self.dialect {
            Dialect::Xatum => Value::String(n.to_string()),
            Dialect::Stratum | Dialect::WebSocket => Value::from(n),
        };
        (id, n.to_string())
    }

    /// Sends `{"id":…,"method":method,"params":params}` (no `params` key when
    /// `None`) with a fresh id and waits for the answer with that id. Returns
    /// the whole answer object.
    pub async fn request(&self, method: &str, params: Option<Value>) -> Result<Value, MinerError> {
        let (id, key) = self.fresh_id();
        let (sender, receiver) = oneshot::channel();
        lock(&self.pending).insert(key.clone(), sender);
        // Removes the waiter however this future ends (answer, timeout, drop).
        let _pending = PendingGuard {
            connection: self,
            key,
        };
        let mut message = Map::new();
        message.insert("id".to_string(), id);
        message.insert("method".to_string(), Value::String(method.to_string()));
        if let Some(params) = params {
            message.insert("params".to_string(), params);
        }
        self.send_raw_text(&Value::Object(message).to_string())
            .await?;
        let timeout = self.options.timeout;
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(MinerError::Closed),
            Err(_) => Err(MinerError::Timeout {
                what: format!("answer to {method}"),
                after: timeout,
            }),
        }
    }

    /// Sends a request whose answer must be a plain result; an error object
    /// becomes [`MinerError::Rpc`].
    pub async fn call(&self, method: &str, params: Option<Value>) -> Result<Value, MinerError> {
        let answer = self.request(method, params).await?;
        match answer_error(&answer) {
            Some(error) => Err(MinerError::Rpc {
                method: method.to_string(),
                error,
            }),
            None => Ok(answer.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// Sends a request that must be answered `true`.
    pub(crate) async fn call_expecting_true(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<(), MinerError> {
        let result = self.call(method, params).await?;
        if result == Value::Bool(true) {
            Ok(())
        } else {
            Err(MinerError::UnexpectedResponse {
                method: method.to_string(),
                response: result.to_string(),
            })
        }
    }

    /// Sends a share and reads the verdict.
    pub(crate) async fn submit_request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<SubmitOutcome, MinerError> {
        let answer = self.request(method, Some(params)).await?;
        submit_outcome(method, &answer)
    }

    /// Sends `method` without params and waits for the next
    /// `{"method":"pong"}` or an answer carrying the request's id.
    pub(crate) async fn ping_expecting_pong(&self, method: &str) -> Result<(), MinerError> {
        let before = *self.pongs.borrow();
        let mut pongs = self.pongs.subscribe();
        let request = self.request(method, None);
        let pong = pongs.wait_for(|count| *count > before);
        tokio::select! {
            answer = request => match answer {
                Ok(answer) => match answer_error(&answer) {
                    None => Ok(()),
                    Some(error) => Err(MinerError::Rpc { method: method.to_string(), error }),
                },
                // No answer by id, but a pong may have come meanwhile.
                Err(_) if *self.pongs.borrow() > before => Ok(()),
                Err(error) => Err(error),
            },
            _ = pong => Ok(()),
        }
    }

    fn protocol_error(&self, what: String) {
        tracing::warn!(error = %what, "test miner received a malformed message");
        lock(&self.protocol_errors).push(what);
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

    /// Handles one JSON text from the pool.
    fn on_text(&self, text: &str) {
        self.transcript
            .record(Direction::ToClient, Frame::Text(text.to_string()));
        let message: Value = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(error) => {
                self.protocol_error(format!("not JSON ({error}): {text}"));
                return;
            }
        };
        if let Some(method) = message.get("method").and_then(Value::as_str) {
            self.on_push(method, &message);
            self.pushes.push(message);
            return;
        }
        let key = match message.get("id") {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        match key {
            Some(key) => {
                let waiter = lock(&self.pending).remove(&key);
                match waiter {
                    // A waiter that timed out meanwhile no longer listens.
                    Some(waiter) => drop(waiter.send(message)),
                    None => {
                        self.protocol_error(format!("answer to no pending request: {text}"));
                        self.pushes.push(message);
                    }
                }
            }
            None => self.pushes.push(message),
        }
    }

    fn on_push(&self, method: &str, message: &Value) {
        let decoded = match (self.dialect, method) {
            (Dialect::Stratum, "mining.notify") => Some(super::stratum::decode_notify(
                message.get("params").unwrap_or(&Value::Null),
                self.stratum_difficulty(),
            )),
            (Dialect::Stratum, "mining.set_difficulty") => {
                match message
                    .get("params")
                    .and_then(|p| p.get(0))
                    .and_then(Value::as_f64)
                {
                    Some(difficulty) => *lock(&self.stratum_difficulty) = Some(difficulty),
                    None => self.protocol_error(format!("bad mining.set_difficulty: {message}")),
                }
                None
            }
            (Dialect::Stratum, "client.reconnect") => {
                self.reconnect_requested.store(true, Ordering::SeqCst);
                None
            }
            (Dialect::WebSocket, "mining.notify") => Some(super::websocket::decode_notify(
                message.get("params").unwrap_or(&Value::Null),
            )),
            (Dialect::Xatum, "job") => Some(super::xatum::decode_job(
                message.get("result").unwrap_or(&Value::Null),
            )),
            (_, "pong") => {
                self.pongs.send_modify(|count| *count += 1);
                None
            }
            _ => None,
        };
        match decoded {
            Some(Ok(job)) => self.jobs.push(job),
            Some(Err(error)) => self.protocol_error(format!("{error}: {message}")),
            None => {}
        }
    }
}

/// The error object of an answer, in either spelling: Stratum's
/// `[code, message, data]` or `{"code":…, "message":…}`.
pub fn answer_error(answer: &Value) -> Option<RpcError> {
    let error = answer.get("error")?;
    match error {
        Value::Null => None,
        Value::Array(items) => Some(RpcError {
            code: items.first().and_then(Value::as_i64).unwrap_or(-1),
            message: items
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }),
        Value::Object(fields) => Some(RpcError {
            code: fields.get("code").and_then(Value::as_i64).unwrap_or(-1),
            message: fields
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }),
        Value::String(message) => Some(RpcError {
            code: -1,
            message: message.clone(),
        }),
        other => Some(RpcError {
            code: -1,
            message: other.to_string(),
        }),
    }
}

/// The verdict on a share: `result: true` is accepted, an error is a
/// rejection, anything else breaks PROTOCOLS.md ("never `true` for a rejected
/// share, always a reason").
pub fn submit_outcome(method: &str, answer: &Value) -> Result<SubmitOutcome, MinerError> {
    if let Some(error) = answer_error(answer) {
        return Ok(SubmitOutcome::Rejected {
            code: error.code,
            message: error.message,
        });
    }
    if answer.get("result") == Some(&Value::Bool(true)) {
        Ok(SubmitOutcome::Accepted)
    } else {
        Err(MinerError::UnexpectedResponse {
            method: method.to_string(),
            response: answer.to_string(),
        })
    }
}

async fn read_lines(connection: Arc<Connection>, read: ReadHalf<BoxedIo>, max_line: usize) {
    let mut reader = BufReader::new(read);
    let mut buffer = Vec::new();
    let limit = u64::try_from(max_line)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let reason = loop {
        buffer.clear();
        match (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut buffer)
            .await
        {
            Ok(0) => break CloseReason::Eof,
            Ok(_) => {
                if !buffer.ends_with(b"\n") && buffer.len() > max_line {
                    connection.protocol_error(format!("line longer than {max_line} bytes"));
                    break CloseReason::Error(format!("line longer than {max_line} bytes"));
                }
                let text = String::from_utf8_lossy(&buffer);
                let text = text.trim_end_matches(['\n', '\r']);
                if !text.trim().is_empty() {
                    connection.on_text(text);
                }
            }
            Err(error) => break CloseReason::Error(error.to_string()),
        }
    };
    connection.finish(reason);
}

async fn read_frames(
    connection: Arc<Connection>,
    mut stream: SplitStream<WebSocketStream<BoxedIo>>,
) {
    let mut reason = CloseReason::Eof;
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Text(text)) => connection.on_text(text.as_str()),
            Ok(Message::Binary(bytes)) => {
                connection
                    .transcript
                    .record(Direction::ToClient, Frame::Binary(bytes.to_vec()));
                connection.protocol_error("binary frame from the pool".to_string());
            }
            Ok(Message::Close(frame)) => {
                let (code, text) = match frame {
                    Some(frame) => (u16::from(frame.code), frame.reason.to_string()),
                    None => (1005, String::new()),
                };
                connection.transcript.record(
                    Direction::ToClient,
                    Frame::Close {
                        code,
                        reason: text.clone(),
                    },
                );
                reason = CloseReason::WebSocket { code, reason: text };
                // Announce at once; the stream ends after the close handshake.
                connection.set_closed(reason.clone());
            }
            Ok(_) => {}
            Err(error) => {
                if !matches!(reason, CloseReason::WebSocket { .. }) {
                    reason = CloseReason::Error(error.to_string());
                }
                break;
            }
        }
    }
    connection.finish(reason);
}
