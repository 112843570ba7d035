//! A writer thread: owns its share of the sessions' sockets and, for each
//! job, writes every one of them its own notify with one blocking write.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::notify::{NotifyTemplate, extra_nonce_of};

/// What a writer thread is told.
#[derive(Debug)]
pub enum Command {
    /// A logged-in session to push to from now on.
    Session(TcpStream, u64),
    /// A new job, published at the instant given.
    Job(Arc<NotifyTemplate>, Instant),
}

/// What one writer did for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobWrites {
    /// Sessions written to.
    pub written: u64,
    /// Sessions dropped because the write failed.
    pub dropped: u64,
    /// From the job's publication to the last write.
    pub last_write: Duration,
}

struct Session {
    stream: TcpStream,
    extra_nonce: [u8; 32],
}

/// Runs until the command channel closes; reports each job's writes to
/// `report`.
pub fn run(commands: Receiver<Command>, report: impl Fn(&NotifyTemplate, JobWrites)) {
    let mut sessions: Vec<Session> = Vec::new();
    let mut line = Vec::with_capacity(512);
    for command in commands {
        match command {
            Command::Session(stream, number) => sessions.push(Session {
                stream,
                extra_nonce: extra_nonce_of(number),
            }),
            Command::Job(template, published) => {
                let before = sessions.len();
                sessions.retain_mut(|session| {
                    template.write_for(&session.extra_nonce, &mut line);
                    session.stream.write_all(&line).is_ok()
                });
                let written = sessions.len();
                report(
                    &template,
                    JobWrites {
                        written: written as u64,
                        dropped: (before - written) as u64,
                        last_write: published.elapsed(),
                    },
                );
            }
        }
    }
}
