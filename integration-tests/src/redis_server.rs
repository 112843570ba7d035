//! A private `redis-server` per test: started from `PATH` on a free loopback
//! port with its data in a temporary directory, killed (a crash) or stopped
//! (a clean shutdown) and restarted on the same port and data on demand, and
//! cleaned away on drop.
//!
//! ```no_run
//! use tos_pool_integration_tests::redis_server::RedisServer;
//! let redis = RedisServer::builder().aof(true).start()?;
//! println!("{}", redis.url());
//! # Ok::<(), tos_pool_integration_tests::redis_server::HarnessError>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a starting server may take to answer PING.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long a graceful SHUTDOWN may take before the process is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// How often a free port is tried when the chosen one was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;
/// Name of the server's log file inside its data directory.
const LOG_FILE: &str = "redis.log";

/// Why the Redis harness could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// `redis-server` is not on `PATH`.
    #[error(
        "redis-server is not installed (not found on PATH): install it with `apt-get install redis-server`"
    )]
    RedisNotInstalled,
    /// `redis-sentinel` is not on PATH.
    #[error(
        "redis-sentinel is not installed (not found on PATH): install it with `apt-get install redis-sentinel` (scripts/ensure-deps does)"
    )]
    SentinelNotInstalled,
    /// A file-system or process operation failed.
    #[error("redis harness: {action} failed: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The server did not answer PING in time or exited while starting.
    #[error("redis-server on port {port} did not come up: {reason}\n--- redis log ---\n{log}")]
    StartFailed {
        /// The port it was started on.
        port: u16,
        /// What went wrong.
        reason: String,
        /// The server's log, to see why.
        log: String,
    },
    /// A command the harness sent was refused or the server did not stop.
    #[error("redis-server on port {port}: {reason}")]
    Command {
        /// The server's port.
        port: u16,
        /// What went wrong.
        reason: String,
    },
}

pub(crate) fn io_error(action: &'static str) -> impl FnOnce(io::Error) -> HarnessError {
    move |source| HarnessError::Io { action, source }
}

/// Options of a private Redis server; see [`RedisServer::builder`].
#[derive(Debug, Clone, Default)]
pub struct RedisServerBuilder {
    aof: bool,
    save: Option<String>,
    extra_args: Vec<String>,
    port: Option<u16>,
}

impl RedisServerBuilder {
    /// Turns the append-only file on (`appendfsync always`, so every write
    /// acknowledged before a kill is there after a restart) or off (default).
    pub fn aof(mut self, on: bool) -> Self {
        self.aof = on;
        self
    }

    /// Sets RDB snapshot points (the `save` directive, e.g. `"900 1"`);
    /// by default snapshots are off (`--save ""`).
    pub fn save(mut self, points: impl Into<String>) -> Self {
        self.save = Some(points.into());
        self
    }

    /// Listens on `port` instead of a free one (the local cluster's fixed
    /// port); a taken port is then an error, not retried.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds a raw `redis-server` argument (e.g. `"--maxmemory"`, `"64mb"`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Starts the server and waits until it answers PING.
    pub fn start(self) -> Result<RedisServer, HarnessError> {
        let binary = find_redis_server()?;
        let dir = tempfile::Builder::new()
            .prefix("tos-pool-redis-")
            .tempdir()
            .map_err(io_error("creating the data directory"))?;
        let fixed = self.port;
        let mut server = RedisServer {
            options: self,
            binary,
            dir,
            port: match fixed {
                Some(port) => port,
                None => free_port()?,
            },
            child: None,
        };
        let mut attempt = 1;
        loop {
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(error)
                    if fixed.is_none() && attempt < PORT_ATTEMPTS && port_was_taken(&error) =>
                {
                    tracing::debug!(
                        port = server.port,
                        "redis port taken meanwhile, trying another"
                    );
                    attempt += 1;
                    server.port = free_port()?;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// A running private `redis-server`; stopped and its directory removed on drop.
#[derive(Debug)]
pub struct RedisServer {
    options: RedisServerBuilder,
    binary: PathBuf,
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// A builder for a server with options (AOF, snapshots, extra arguments).
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// Starts a server with default options (no persistence at all).
    pub fn start() -> Result<RedisServer, HarnessError> {
        Self::builder().start()
    }

    /// The connection URL, `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory (AOF, RDB and log live here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) -> Result<(), HarnessError> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(io_error("killing redis-server"))?;
            child.wait().map_err(io_error("reaping redis-server"))?;
        }
        Ok(())
    }

    /// Stops the server gracefully (`SHUTDOWN`, which flushes the AOF) and
    /// waits for it to exit; kills it if it has not exited in 10 s.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // SHUTDOWN closes the connection without a reply when it succeeds.
        let sent = send_command(self.port, "SHUTDOWN\r\n");
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL_INTERVAL),
                _ => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(HarnessError::Command {
            port: self.port,
            reason: format!(
                "SHUTDOWN did not stop the server in {STOP_DEADLINE:?} (reply: {sent:?}); killed it"
            ),
        })
    }

    /// Starts the server again on the same port with the same data directory
    /// (after [`kill`](Self::kill) or [`stop`](Self::stop); a running server
    /// is killed first).
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill()?;
        self.spawn_and_wait()
    }

    fn spawn_and_wait(&mut self) -> Result<(), HarnessError> {
        let dir = self.dir.path();
        let mut command = Command::new(&self.binary);
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join(LOG_FILE))
            .arg("--save")
            .arg(self.options.save.as_deref().unwrap_or(""));
        if self.options.aof {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        command
            .args(&self.options.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = command.spawn().map_err(io_error("spawning redis-server"))?;
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.exit_status() {
                let reason = format!("redis-server exited while starting ({status})");
                return Err(self.start_failed(reason));
            }
            // Make sure the server answering is ours, not another on the port.
            if let Ok(info) = send_command(self.port, "INFO server\r\n")
                && info.contains(&format!("process_id:{pid}\r\n"))
            {
                tracing::debug!(port = self.port, pid, "private redis-server is up");
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = self.kill();
                let reason = format!("no answer to PING within {START_DEADLINE:?}");
                return Err(self.start_failed(reason));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn exit_status(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                self.child = None;
                Some(format!("{status}; stderr: {}", stderr.trim()))
            }
            _ => None,
        }
    }

    fn start_failed(&self, reason: String) -> HarnessError {
        let log = std::fs::read_to_string(self.dir.path().join(LOG_FILE))
            .unwrap_or_else(|error| format!("(no log: {error})"));
        HarnessError::StartFailed {
            port: self.port,
            reason,
            log,
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// How often a starting or stopping server is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

fn port_was_taken(error: &HarnessError) -> bool {
    match error {
        HarnessError::StartFailed { reason, log, .. } => {
            let text = format!("{reason}\n{log}");
            text.contains("Address already in use") || text.contains("already in use")
        }
        _ => false,
    }
}

fn find_redis_server() -> Result<PathBuf, HarnessError> {
    let path = std::env::var_os("PATH").ok_or(HarnessError::RedisNotInstalled)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
        .ok_or(HarnessError::RedisNotInstalled)
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> Result<u16, HarnessError> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(io_error("finding a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_error("finding a free port"))?
        .port();
    Ok(port)
}

/// Sends one inline command and returns what the server answered before it
/// paused or closed the connection.
fn send_command(port: u16, command: &str) -> io::Result<String> {
    let address = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into();
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(command.as_bytes())?;
    let mut reply = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buffer[..n]);
                if reply_is_complete(&reply) {
                    break;
                }
            }
            Err(error) if reply.is_empty() => return Err(error),
            Err(_) => break,
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Whether `reply` holds one whole RESP reply (simple string, error or bulk).
fn reply_is_complete(reply: &[u8]) -> bool {
    let Some(line_end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    match reply.first() {
        Some(b'$') => {
            let length: i64 = std::str::from_utf8(&reply[1..line_end])
                .ok()
                .and_then(|text| text.parse().ok())
                .unwrap_or(0);
            length < 0 || reply.len() >= line_end + 2 + length as usize + 2
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_reply_is_complete_only_with_all_bytes() {
        assert!(!reply_is_complete(b"$5\r\nhel"));
        assert!(reply_is_complete(b"$5\r\nhello\r\n"));
        assert!(reply_is_complete(b"$-1\r\n"));
        assert!(reply_is_complete(b"+PONG\r\n"));
        assert!(!reply_is_complete(b"+PON"));
    }

    #[test]
    fn port_taken_is_recognised_from_the_log() {
        let taken = HarnessError::StartFailed {
            port: 1,
            reason: "exited".into(),
            log: "Warning: Could not create server TCP listening socket 127.0.0.1:1: bind: Address already in use".into(),
        };
        assert!(port_was_taken(&taken));
        let other = HarnessError::StartFailed {
            port: 1,
            reason: "exited".into(),
            log: "Fatal error loading the DB".into(),
        };
        assert!(!port_was_taken(&other));
    }

    #[test]
    fn missing_binary_error_names_the_fix() {
        assert!(
            HarnessError::RedisNotInstalled
                .to_string()
                .contains("apt-get install redis-server")
        );
    }
}
