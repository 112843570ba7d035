//! The cluster's processes as a fault run sees them: started from a fixed
//! command line (so a restart comes back on the same ports and state),
//! killed with SIGKILL, frozen with SIGSTOP and thawed with SIGCONT. Each
//! appends its output to its own log in the run directory.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// How long a started process may take to listen on its port.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// A child process with a fixed command line.
#[derive(Debug)]
pub struct Proc {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    log: PathBuf,
    /// The port that accepts connections once the process is ready.
    ready_port: SocketAddr,
    child: Option<Child>,
    frozen: bool,
    /// Times started, for the report.
    starts: u32,
    /// When it was last started.
    spawned_at: Option<Instant>,
}

/// Why a process could not be started or signalled.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// Spawning failed.
    #[error("starting {name} ({program}): {source}")]
    Spawn {
        /// The process.
        name: String,
        /// Its program.
        program: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// It did not listen in time, or exited while starting.
    #[error("{name} did not come up on {port}: {reason} (log: {log})")]
    NotReady {
        /// The process.
        name: String,
        /// The port waited on.
        port: SocketAddr,
        /// Why.
        reason: String,
        /// Its log file.
        log: String,
    },
    /// A signal could not be sent.
    #[error("signalling {name}: {source}")]
    Signal {
        /// The process.
        name: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

impl Proc {
    /// A process named `name` running `program args`, logging to `log`,
    /// ready once `ready_port` accepts a connection. Not started yet.
    pub fn new(
        name: impl Into<String>,
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        log: PathBuf,
        ready_port: SocketAddr,
    ) -> Proc {
        Proc {
            name: name.into(),
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            log,
            ready_port,
            child: None,
            frozen: false,
            starts: 0,
            spawned_at: None,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Times it was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Starts it and waits until its port accepts connections.
    pub fn start(&mut self) -> Result<(), ProcError> {
        self.spawn()?;
        self.wait_ready()
    }

    /// Starts it without waiting for it to be ready.
    pub fn spawn(&mut self) -> Result<(), ProcError> {
        let spawn_error = |source| ProcError::Spawn {
            name: self.name.clone(),
            program: self.program.display().to_string(),
            source,
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(spawn_error)?;
        let log_err = log.try_clone().map_err(spawn_error)?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(spawn_error)?;
        self.child = Some(child);
        self.frozen = false;
        self.starts += 1;
        self.spawned_at = Some(Instant::now());
        Ok(())
    }

    /// Whether its port accepts a connection now.
    pub fn is_ready(&self) -> bool {
        TcpStream::connect_timeout(&self.ready_port, Duration::from_millis(200)).is_ok()
    }

    /// Time since it was last started.
    pub fn since_spawn(&self) -> Option<Duration> {
        self.spawned_at.map(|at| at.elapsed())
    }

    /// Waits until its port accepts connections; fails if it exits first.
    pub fn wait_ready(&mut self) -> Result<(), ProcError> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if self.is_ready() {
                return Ok(());
            }
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Ok(None)) => None,
                Some(Err(error)) => Some(error.to_string()),
                None => Some("not started".to_owned()),
            };
            let reason = match exited {
                Some(status) => Some(format!("it exited ({status})")),
                None if Instant::now() >= deadline => {
                    Some(format!("nothing listened in {READY_DEADLINE:?}"))
                }
                None => None,
            };
            if let Some(reason) = reason {
                self.child = None;
                return Err(ProcError::NotReady {
                    name: self.name.clone(),
                    port: self.ready_port,
                    reason,
                    log: self.log.display().to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a crash; reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.frozen = false;
    }

    /// SIGSTOP: the process stops running but keeps its sockets.
    pub fn freeze(&mut self) -> Result<(), ProcError> {
        self.signal(Signal::STOP)?;
        self.frozen = true;
        Ok(())
    }

    /// SIGCONT after [`freeze`](Self::freeze).
    pub fn thaw(&mut self) -> Result<(), ProcError> {
        self.signal(Signal::CONT)?;
        self.frozen = false;
        Ok(())
    }

    /// Whether it runs (frozen counts as running).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Whether it is frozen now.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// SIGTERM and a wait of up to `grace`, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        if self.frozen {
            let _ = self.thaw();
        }
        let _ = self.signal(Signal::TERM);
        let deadline = Instant::now() + grace;
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    fn signal(&self, signal: Signal) -> Result<(), ProcError> {
        let Some(pid) = self
            .child
            .as_ref()
            .and_then(|child| i32::try_from(child.id()).ok())
            .and_then(Pid::from_raw)
        else {
            return Ok(());
        };
        kill_process(pid, signal).map_err(|errno| ProcError::Signal {
            name: self.name.clone(),
            source: errno.into(),
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.frozen {
            let _ = self.thaw();
        }
        self.kill();
    }
}
