//! A recording TCP proxy for tests that assert exactly what crossed the wire:
//! it listens on `127.0.0.1:0`, forwards every connection to a target in both
//! directions and keeps every chunk with its direction and time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use crate::miners::Direction;

/// One chunk of bytes as the proxy read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Which proxied connection (numbered from 0 in accept order).
    pub connection: u64,
    /// Which way it went.
    pub direction: Direction,
    /// When the proxy read it.
    pub at: Instant,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Why the sniffer failed.
#[derive(Debug, thiserror::Error)]
pub enum SnifferError {
    /// It could not listen.
    #[error("sniffer could not listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    /// What was awaited did not cross the wire in time.
    #[error("{what} did not cross the sniffer within {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
}

#[derive(Debug)]
struct Shared {
    chunks: Mutex<Vec<Chunk>>,
    changed: watch::Sender<u64>,
}

impl Shared {
    fn chunks(&self) -> MutexGuard<'_, Vec<Chunk>> {
        // Poisoning only follows a panicking test thread; the records stay valid.
        self.chunks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record(&self, connection: u64, direction: Direction, bytes: &[u8]) {
        self.chunks().push(Chunk {
            connection,
            direction,
            at: Instant::now(),
            bytes: bytes.to_vec(),
        });
        self.changed.send_modify(|count| *count += 1);
    }
}

/// The recording proxy.
pub struct Sniffer;

impl Sniffer {
    /// Starts a proxy in front of `target`; connect to
    /// [`SnifferHandle::addr`] instead of `target`.
    pub async fn start(target: SocketAddr) -> Result<SnifferHandle, SnifferError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SnifferError::Bind)?;
        let addr = listener.local_addr().map_err(SnifferError::Bind)?;
        let shared = Arc::new(Shared {
            chunks: Mutex::new(Vec::new()),
            changed: watch::channel(0).0,
        });
        let task = tokio::spawn(accept_loop(listener, target, shared.clone()));
        Ok(SnifferHandle { addr, shared, task })
    }
}

/// A running sniffer; dropping it stops the proxy and all its connections.
pub struct SnifferHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SnifferHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SnifferHandle {
    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every chunk recorded so far, in the order read.
    pub fn records(&self) -> Vec<Chunk> {
        self.shared.chunks().clone()
    }

    /// All bytes that went one way on one connection, in order.
    pub fn bytes(&self, connection: u64, direction: Direction) -> Vec<u8> {
        self.shared
            .chunks()
            .iter()
            .filter(|c| c.connection == connection && c.direction == direction)
            .flat_map(|c| c.bytes.iter().copied())
            .collect()
    }

    /// The complete (newline-terminated) lines that went one way, connection
    /// by connection, without their line endings.
    pub fn lines(&self, direction: Direction) -> Vec<String> {
        let connections = {
            let chunks = self.shared.chunks();
            let mut ids: Vec<u64> = chunks.iter().map(|c| c.connection).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let mut lines = Vec::new();
        for connection in connections {
            let bytes = self.bytes(connection, direction);
            let mut parts: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            // The part after the last newline is incomplete (or empty).
            parts.pop();
            lines.extend(parts.into_iter().map(|line| {
                String::from_utf8_lossy(line)
                    .trim_end_matches('\r')
                    .to_string()
            }));
        }
        lines
    }

    /// Waits until at least `count` complete lines went `direction`, at most
    /// `timeout`; returns them all.
    pub async fn wait_for_lines(
        &self,
        direction: Direction,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<String>, SnifferError> {
        let mut changed = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changed.borrow_and_update();
            let lines = self.lines(direction);
            if lines.len() >= count {
                return Ok(lines);
            }
            let waited = tokio::time::timeout_at(deadline, changed.changed()).await;
            if !matches!(waited, Ok(Ok(()))) {
                return Err(SnifferError::Timeout {
                    what: format!("{count} lines {direction:?}"),
                    after: timeout,
                });
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    // Dropping the set (when this task is aborted) aborts every connection.
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                let id = next_id;
                next_id += 1;
                connections.spawn(proxy(client, target, id, shared.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn proxy(client: TcpStream, target: SocketAddr, id: u64, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(target).await else {
        tracing::warn!(%target, "sniffer could not reach its target; dropping the client");
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, id, Direction::ToServer, &shared),
        pump(server_read, client_write, id, Direction::ToClient, &shared),
    );
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    id: u64,
    direction: Direction,
    shared: &Shared,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                shared.record(id, direction, &buffer[..n]);
                if to.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    // Pass the end of stream on; the other direction keeps flowing.
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forwards_and_records_both_directions() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let target = upstream.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut socket, _) = upstream.accept().await.expect("accept");
            let mut buffer = [0u8; 6];
            socket.read_exact(&mut buffer).await.expect("read");
            socket.write_all(b"pong\npartial").await.expect("write");
            buffer
        });
        let sniffer = Sniffer::start(target).await.expect("sniffer");
        let mut client = TcpStream::connect(sniffer.addr()).await.expect("connect");
        client.write_all(b"ping\r\n").await.expect("write");
        let mut answer = [0u8; 12];
        client.read_exact(&mut answer).await.expect("read");
        assert_eq!(&answer, b"pong\npartial");
        assert_eq!(&server.await.expect("server"), b"ping\r\n");

        let to_server = sniffer
            .wait_for_lines(Direction::ToServer, 1, Duration::from_secs(10))
            .await
            .expect("lines");
        assert_eq!(to_server, vec!["ping"]);
        assert_eq!(sniffer.lines(Direction::ToClient), vec!["pong"]);
        assert_eq!(sniffer.bytes(0, Direction::ToClient), b"pong\npartial");
        assert!(sniffer.records().iter().all(|c| c.connection == 0));
    }

    #[tokio::test]
    async fn waiting_for_lines_that_never_come_times_out() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let sniffer = Sniffer::start(upstream.local_addr().expect("addr"))
            .await
            .expect("sniffer");
        let waited = sniffer
            .wait_for_lines(Direction::ToClient, 1, Duration::from_millis(50))
            .await;
        assert!(matches!(waited, Err(SnifferError::Timeout { .. })));
    }
}
