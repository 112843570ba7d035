//! A private `redis-sentinel` for tests: monitors one master on loopback
//! with short failure timeouts, so a test can kill the master and watch a
//! replica be promoted. Started from Debian's `redis-sentinel` (installed by
//! `scripts/ensure-deps`); stopped and its directory removed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::redis_server::{HarnessError, free_port, io_error};

/// How long a starting sentinel may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// How the sentinel judges the master it watches.
#[derive(Debug, Clone)]
pub struct SentinelOptions {
    /// The name the master is monitored under.
    pub master_name: String,
    /// The master's loopback port.
    pub master_port: u16,
    /// Silence after which the master is judged down.
    pub down_after: Duration,
    /// How long one failover attempt may take before another is tried.
    pub failover_timeout: Duration,
}

/// A running private `redis-sentinel` (quorum 1).
#[derive(Debug)]
pub struct RedisSentinel {
    dir: TempDir,
    port: u16,
    options: SentinelOptions,
    child: Option<Child>,
}

impl RedisSentinel {
    /// Starts a sentinel watching `options.master_port` and waits until it
    /// names that master.
    pub fn start(options: SentinelOptions) -> Result<RedisSentinel, HarnessError> {
        let binary = find_sentinel()?;
        let dir = tempfile::Builder::new()
            .prefix("tos-pool-sentinel-")
            .tempdir()
            .map_err(io_error("creating the sentinel directory"))?;
        let port = free_port()?;
        let config = dir.path().join("sentinel.conf");
        let name = &options.master_name;
        // Sentinel rewrites its config file as it learns, so it must be its own.
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\nlogfile {dir}/sentinel.log\n\
             sentinel monitor {name} 127.0.0.1 {master} 1\n\
             sentinel down-after-milliseconds {name} {down}\n\
             sentinel failover-timeout {name} {failover}\n\
             sentinel parallel-syncs {name} 1\n",
            dir = dir.path().display(),
            master = options.master_port,
            down = options.down_after.as_millis(),
            failover = options.failover_timeout.as_millis(),
        );
        std::fs::write(&config, text).map_err(io_error("writing sentinel.conf"))?;
        let child = Command::new(binary)
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_error("spawning redis-sentinel"))?;
        let sentinel = RedisSentinel {
            dir,
            port,
            options,
            child: Some(child),
        };
        let deadline = Instant::now() + START_DEADLINE;
        while sentinel.master_port().is_none() {
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(sentinel.dir.path().join("sentinel.log"))
                    .unwrap_or_default();
                return Err(HarnessError::StartFailed {
                    port,
                    reason: "redis-sentinel did not name its master".to_string(),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(sentinel)
    }

    /// `127.0.0.1:PORT`, as `redis.sentinels` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port of the master the sentinel names now, if it answers.
    pub fn master_port(&self) -> Option<u16> {
        let client = redis::Client::open(format!("redis://{}", self.address())).ok()?;
        let mut connection = client
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()?;
        let answer: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.options.master_name)
            .query(&mut connection)
            .ok()?;
        answer.map(|(_, port)| port)
    }

    /// The sentinel's log so far, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sentinel.log")).unwrap_or_default()
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `redis-sentinel` on PATH (Debian's package puts it in /usr/bin).
fn find_sentinel() -> Result<PathBuf, HarnessError> {
    let path = std::env::var_os("PATH").ok_or(HarnessError::SentinelNotInstalled)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-sentinel"))
        .find(|candidate| candidate.is_file())
        .ok_or(HarnessError::SentinelNotInstalled)
}
