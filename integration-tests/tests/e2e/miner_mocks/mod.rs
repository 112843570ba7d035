//! Small scripted mock pools for the test miners: Stratum, WebSocket GetWork
//! and Xatum, each answering as PROTOCOLS.md says and judging shares by
//! recomputing the PoW hash itself, so a share they accept was really mined.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tos_pool_common::difficulty::{Difficulty, Target, meets_target};
use tos_pool_common::pow;
use tos_pool_integration_tests::tls::{self, TestCertificate};

/// The mocks' share difficulty: low enough to mine in a few hashes, high
/// enough that bad shares exist.
pub const SHARE_DIFFICULTY: u64 = 16;

/// A byte stream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

#[derive(Clone)]
pub struct MockJob {
    pub id: String,
    pub header: [u8; 112],
    pub height: u64,
}

/// What every mock shares: the jobs handed out and the share judge.
pub struct MockPool {
    pub target: Target,
    pub jobs: Mutex<Vec<MockJob>>,
    seen: Mutex<HashSet<(String, u64)>>,
    pub sessions: AtomicU64,
    pub accepted: AtomicU64,
}

impl MockPool {
    pub fn new() -> Arc<MockPool> {
        Arc::new(MockPool {
            target: Difficulty::from_u64(SHARE_DIFFICULTY)
                .expect("non-zero")
                .target(),
            jobs: Mutex::new(Vec::new()),
            seen: Mutex::new(HashSet::new()),
            sessions: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        })
    }

    /// A new job with a header unique to this call (the extra nonce carries
    /// a counter, as a pool gives each session its own).
    fn new_job(&self, height: u64) -> MockJob {
        let mut jobs = self.jobs.lock().expect("lock");
        let n = jobs.len() as u64 + 1;
        let mut header = [0u8; 112];
        for (i, byte) in header.iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(7);
        }
        header[48..56].copy_from_slice(&n.to_be_bytes());
        let job = MockJob {
            id: format!("job{n}"),
            header,
            height,
        };
        jobs.push(job.clone());
        job
    }

    /// Judges a share as a pool must: unknown job 21, low difficulty 23,
    /// duplicate 22. The nonce goes big-endian into bytes 40..48 here, not
    /// through the miners' own code.
    fn judge(&self, job_id: &str, nonce_text: &str) -> Result<(), (i64, &'static str)> {
        let digits = nonce_text.strip_prefix("0x").unwrap_or(nonce_text);
        if digits.len() != 16 {
            return Err((20, "nonce must be 16 hex characters"));
        }
        let nonce = u64::from_str_radix(digits, 16).map_err(|_| (20, "nonce is not hex"))?;
        let job = {
            let jobs = self.jobs.lock().expect("lock");
            jobs.iter().find(|job| job.id == job_id).cloned()
        };
        let job = job.ok_or((21, "job not found"))?;
        let mut work = job.header;
        work[40..48].copy_from_slice(&nonce.to_be_bytes());
        if !meets_target(&pow::hash(&work), &self.target) {
            return Err((23, "low difficulty share"));
        }
        if !self
            .seen
            .lock()
            .expect("lock")
            .insert((job_id.to_string(), nonce))
        {
            return Err((22, "duplicate share"));
        }
        self.accepted.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Listens on 127.0.0.1:0 and runs `session` for every connection, after a
/// TLS handshake when `tls` is given.
pub async fn serve<F, Fut>(
    pool: Arc<MockPool>,
    tls: Option<Arc<rustls::ServerConfig>>,
    session: F,
) -> SocketAddr
where
    F: Fn(Box<dyn Io>, Arc<MockPool>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            pool.sessions.fetch_add(1, Ordering::SeqCst);
            let io: Box<dyn Io> = match &tls {
                None => Box::new(socket),
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
                    match acceptor.accept(socket).await {
                        Ok(stream) => Box::new(stream),
                        Err(_) => continue,
                    }
                }
            };
            tokio::spawn(session(io, pool.clone()));
        }
    });
    addr
}

async fn write_json(io: &mut (impl AsyncWrite + Unpin), message: Value) {
    let mut line = message.to_string();
    line.push('\n');
    // A client that went away is not the mock's problem.
    let _ = io.write_all(line.as_bytes()).await;
}

fn stratum_error(code: i64, message: &str) -> Value {
    json!([code, message, null])
}

/// Stratum as PROTOCOLS.md writes it. Scripted extras: `mining.silent` is
/// never answered; `mining.bye` makes the pool send `client.reconnect` and close.
pub async fn stratum_session(io: Box<dyn Io>, pool: Arc<MockPool>) {
    let (read, mut write) = tokio::io::split(io);
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(request) = serde_json::from_str::<Value>(&line) else {
            let error = stratum_error(20, "malformed request");
            write_json(
                &mut write,
                json!({"id": null, "result": null, "error": error}),
            )
            .await;
            continue;
        };
        let id = request["id"].clone();
        let params = request["params"].as_array().cloned().unwrap_or_default();
        let reply =
            |result: Value, error: Value| json!({"id": id, "result": result, "error": error});
        match request["method"].as_str().unwrap_or_default() {
            "mining.subscribe" => {
                let result = json!([
                    [["mining.notify", "s1"], ["mining.set_difficulty", "s1"]],
                    "0500000000000000",
                    4
                ]);
                write_json(&mut write, reply(result, Value::Null)).await;
            }
            "mining.authorize" => {
                let login = params.first().and_then(Value::as_str).unwrap_or_default();
                if !login.starts_with("tst1") {
                    let error = stratum_error(24, "unauthorized worker");
                    write_json(&mut write, reply(Value::Null, error)).await;
                    continue;
                }
                write_json(&mut write, reply(json!(true), Value::Null)).await;
                let set = json!({"id": null, "method": "mining.set_difficulty", "params": [SHARE_DIFFICULTY]});
                write_json(&mut write, set).await;
                let job = pool.new_job(100);
                let notify = json!({"id": null, "method": "mining.notify", "params": [
                    job.id, hex::encode(job.header), pool.target.to_hex(), job.height, true]});
                write_json(&mut write, notify).await;
            }
            "mining.submit" if params.len() == 4 || params.len() == 3 => {
                let job_id = params[1].as_str().unwrap_or_default();
                let nonce = params[params.len() - 1].as_str().unwrap_or_default();
                let answer = match pool.judge(job_id, nonce) {
                    Ok(()) => reply(json!(true), Value::Null),
                    Err((code, message)) => reply(Value::Null, stratum_error(code, message)),
                };
                write_json(&mut write, answer).await;
            }
            "mining.ping" => write_json(&mut write, reply(json!("pong"), Value::Null)).await,
            "mining.extranonce.subscribe" => {
                write_json(&mut write, reply(json!(true), Value::Null)).await;
            }
            "mining.silent" => {}
            "mining.bye" => {
                let reconnect = json!({"id": null, "method": "client.reconnect", "params": []});
                write_json(&mut write, reconnect).await;
                let _ = write.shutdown().await;
                return;
            }
            _ => {
                let error = stratum_error(20, "unknown method");
                write_json(&mut write, reply(Value::Null, error)).await;
            }
        }
    }
}

fn object_error(code: i64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

/// WebSocket GetWork. Scripted extras: `bye` closes with 1001 going away;
/// a frame over 4 KiB closes with 1008 policy violation.
pub async fn websocket_session(io: Box<dyn Io>, pool: Arc<MockPool>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(io).await else {
        return;
    };
    let close = |code: u16, reason: &str| {
        Message::Close(Some(CloseFrame {
            code: code.into(),
            reason: reason.to_string().into(),
        }))
    };
    let mut authorized = false;
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        if text.len() > 4096 {
            let _ = ws
                .send(close(1008, "policy violation: frame too large"))
                .await;
            continue;
        }
        let Ok(request) = serde_json::from_str::<Value>(text.as_str()) else {
            let error = object_error(20, "malformed request");
            let _ = ws
                .send(Message::text(
                    json!({"id": null, "result": null, "error": error}).to_string(),
                ))
                .await;
            continue;
        };
        let id = request["id"].clone();
        let ok = |result: Value| json!({"id": id, "result": result}).to_string();
        let err = |code, message| {
            json!({"id": id, "result": null, "error": object_error(code, message)}).to_string()
        };
        let answer = match request["method"].as_str().unwrap_or_default() {
            "authorize" => {
                authorized = true;
                ok(json!(true))
            }
            "getwork" if !authorized => err(24, "unauthorized"),
            "getwork" => {
                let job = pool.new_job(200);
                ok(
                    json!({"headerHash": format!("0x{}", hex::encode(job.header)),
                    "target": format!("0x{}", pool.target.to_hex()), "height": job.height,
                    "jobId": job.id, "difficulty": SHARE_DIFFICULTY}),
                )
            }
            "submit" => {
                let job_id = request["params"][0].as_str().unwrap_or_default();
                let nonce = request["params"][1].as_str().unwrap_or_default();
                match pool.judge(job_id, nonce) {
                    Ok(()) => ok(json!(true)),
                    Err((code, message)) => err(code, message),
                }
            }
            "newjob" => {
                let job = pool.new_job(201);
                let push = json!({"method": "mining.notify", "params": [job.id,
                    format!("0x{}", hex::encode(job.header)), format!("0x{}", pool.target.to_hex()),
                    job.height, true]});
                let _ = ws.send(Message::text(push.to_string())).await;
                ok(json!(true))
            }
            "bye" => {
                let _ = ws.send(close(1001, "going away")).await;
                continue;
            }
            _ => err(20, "unknown method"),
        };
        if ws.send(Message::text(answer)).await.is_err() {
            return;
        }
    }
}

/// Xatum over TLS: string ids, object params, a job pushed after authorize.
pub async fn xatum_session(io: Box<dyn Io>, pool: Arc<MockPool>) {
    let (read, mut write) = tokio::io::split(io);
    let mut lines = BufReader::new(read).lines();
    let mut shaken = false;
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(request) = serde_json::from_str::<Value>(&line) else {
            return;
        };
        let id = request["id"].clone();
        let params = &request["params"];
        let ok = |result: Value| json!({"id": id, "result": result});
        let err =
            |code, message| json!({"id": id, "result": null, "error": object_error(code, message)});
        match request["method"].as_str().unwrap_or_default() {
            "handshake" => {
                let protocol = params["protocol"].as_str().unwrap_or_default();
                if !protocol.starts_with("xatum/1.") {
                    write_json(&mut write, err(20, "unsupported protocol")).await;
                    let _ = write.shutdown().await;
                    return;
                }
                shaken = true;
                let result = json!({"version": "1.0.0", "protocol": "xatum/1.0",
                    "session_id": "0x1234", "difficulty": SHARE_DIFFICULTY});
                write_json(&mut write, ok(result)).await;
            }
            _ if !shaken => write_json(&mut write, err(20, "handshake first")).await,
            "authorize" => {
                write_json(&mut write, ok(json!(true))).await;
                let job = pool.new_job(300);
                let push = json!({"method": "job", "result": {"id": job.id,
                    "header_hash": format!("0x{}", hex::encode(job.header)),
                    "target": format!("0x{}", pool.target.to_hex()), "height": job.height,
                    "difficulty": SHARE_DIFFICULTY, "clean": true}});
                write_json(&mut write, push).await;
            }
            "submit" => {
                let job_id = params["job_id"].as_str().unwrap_or_default();
                let nonce = params["nonce"].as_str().unwrap_or_default();
                let answer = match pool.judge(job_id, nonce) {
                    Ok(()) => ok(json!(true)),
                    Err((code, message)) => err(code, message),
                };
                write_json(&mut write, answer).await;
            }
            "ping" => write_json(&mut write, json!({"method": "pong"})).await,
            _ => write_json(&mut write, err(20, "unknown method")).await,
        }
    }
}

pub fn certificate() -> (TestCertificate, Arc<rustls::ServerConfig>) {
    let cert = TestCertificate::self_signed(&["localhost", "127.0.0.1"]).expect("certificate");
    let server = tls::server_config(&cert).expect("server config");
    (cert, server)
}
