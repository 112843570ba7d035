//! New jobs pushed without waking each session's task. A plain-TCP Stratum
//! session's driver sits in a [`Seat`] that its connection task and one of a
//! few writer tasks share: the connection task locks it only while it
//! handles something (a request, a timer, new settings), and each writer
//! task owns a set of shards of seats and, for every job, locks each seat
//! in turn, has its session core make the session's notify
//! ([`SessionDriver::on_job`]), encodes it and writes it to the socket with
//! one non-blocking write. A job costs a seat one lock and one `sendto`,
//! not a task wake-up, a poll of the connection loop and a watch
//! re-registration.
//!
//! Nothing is skipped: a seat whose task is busy (the lock is taken), or
//! whose socket would not take the whole line, is left to its own task,
//! woken through the seat's [`Notify`]; the task writes what is left within
//! `write_timeout` (a miner that does not read is still cut off) and sends
//! the newest job itself if the session has not had it. Doors over TLS or
//! WebSocket have no such writer and push from their task as before.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

use crate::job::Job;
use crate::session::Output;

use super::driver::SessionDriver;
use super::fanout::FanoutProbe;
use super::now_ms;

/// Shards of seats; each writer task owns every `writers`-th one. Many more
/// shards than writers keep each lock short (a writer holds a shard's lock
/// while it pushes to that shard's seats), so a session opening or closing
/// waits for at most one shard's writes.
const SHARDS: usize = 64;

/// Encodes pushes in a door's wire form.
pub type EncodePushes = fn(&mut Vec<u8>, &[Output]);

/// What a seat's lock guards.
pub struct Seated {
    /// The session's driver.
    pub driver: SessionDriver,
    /// Bytes a writer could not write (the socket's buffer was full): the
    /// connection task writes them before anything else.
    leftover: Vec<u8>,
    /// The socket writers push to; taken away before the connection closes,
    /// so its task holds the only handle and can shut it down.
    stream: Option<(Arc<TcpStream>, EncodePushes)>,
}

impl Seated {
    /// Takes the bytes a writer left, to be written first.
    pub fn take_leftover(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.leftover)
    }

    /// Whether a writer left bytes to write.
    pub fn has_leftover(&self) -> bool {
        !self.leftover.is_empty()
    }

    /// Lets go of the socket: no writer pushes to it any more.
    pub fn release_stream(&mut self) {
        self.stream = None;
    }

    /// Writes the bytes a writer left, waiting for the socket as needed;
    /// the caller bounds the wait.
    pub async fn write_leftover(&mut self) -> io::Result<()> {
        let Some((stream, _)) = &self.stream else {
            self.leftover.clear();
            return Ok(());
        };
        let mut at = 0;
        while let Some(rest) = self.leftover.get(at..).filter(|rest| !rest.is_empty()) {
            stream.writable().await?;
            match stream.try_write(rest) {
                Ok(written) => at += written,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        self.leftover.clear();
        Ok(())
    }
}

/// One session's driver, shared by its connection task and a writer task.
pub struct Seat {
    seated: tokio::sync::Mutex<Seated>,
    /// Wakes the connection task: a writer left it bytes or a job.
    wake: Notify,
}

impl Seat {
    /// A seat for `driver`; with `stream`, writers may push to it.
    pub fn new(driver: SessionDriver, stream: Option<(Arc<TcpStream>, EncodePushes)>) -> Seat {
        Seat {
            seated: tokio::sync::Mutex::new(Seated {
                driver,
                leftover: Vec::new(),
                stream,
            }),
            wake: Notify::new(),
        }
    }

    /// Waits for the seat (a writer holds it only for one push).
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, Seated> {
        self.seated.lock().await
    }

    /// Resolves when a writer left this seat's task something to do.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Pushes `job` to this seat now if its task is not using it, else
    /// wakes the task to do it. `Some(true)` when the notify was written
    /// whole; `None` when `jobs` already has a newer job (which must not be
    /// overtaken by this one).
    fn push(
        &self,
        job: &Arc<Job>,
        jobs: &watch::Receiver<Option<Arc<Job>>>,
        line: &mut Vec<u8>,
    ) -> Option<bool> {
        let Ok(mut seated) = self.seated.try_lock() else {
            self.wake.notify_one();
            return Some(false);
        };
        // Checked with the seat held: a task that sends the newer job
        // itself does so under the same lock, so never before this one.
        if jobs.has_changed().unwrap_or(true) {
            return None;
        }
        Some(seated.push(job, line, &self.wake))
    }
}

impl Seated {
    /// The writer's half of [`Seat::push`], with the seat held.
    fn push(&mut self, job: &Arc<Job>, line: &mut Vec<u8>, wake: &Notify) -> bool {
        let seated = self;
        let Some((stream, encode)) = &seated.stream else {
            return false;
        };
        if !seated.leftover.is_empty() {
            // The task is still writing an earlier line; it sends the
            // newest job after it.
            wake.notify_one();
            return false;
        }
        if seated
            .driver
            .session()
            .latest_job()
            .is_some_and(|latest| Arc::ptr_eq(latest, job))
        {
            return false;
        }
        let deadline_before = seated.driver.poll_timeout();
        let outputs = seated.driver.on_job(Arc::clone(job), now_ms());
        if seated.driver.poll_timeout() < deadline_before {
            // The session now needs its task earlier (its first job starts
            // the refresh clock): the task re-arms its timer.
            wake.notify_one();
        }
        if outputs.is_empty() {
            return false;
        }
        line.clear();
        encode(line, &outputs);
        let written = match stream.try_write(line) {
            Ok(written) => written,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => 0,
            // A broken socket: the task finds out on its own write or read.
            Err(_) => 0,
        };
        if written == line.len() {
            return true;
        }
        seated.leftover = line.get(written..).unwrap_or_default().to_vec();
        wake.notify_one();
        false
    }
}

/// The writer tasks and their shards of seats.
pub struct Pushes {
    shards: Box<[Mutex<Vec<Arc<Seat>>>]>,
}

/// A seat's place in a shard; leaving it (on drop) stops the pushes.
pub struct Membership {
    pushes: Arc<Pushes>,
    seat: Arc<Seat>,
    shard: usize,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(shard) = self.pushes.shards.get(self.shard) {
            let mut seats = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = seats.iter().position(|seat| Arc::ptr_eq(seat, &self.seat)) {
                seats.swap_remove(at);
            }
        }
    }
}

impl Pushes {
    /// Starts `writers` writer tasks pushing each job of `jobs`; each
    /// session's write is reported to `fanout`. They end with the feed.
    pub fn start(
        jobs: &watch::Receiver<Option<Arc<Job>>>,
        fanout: &Arc<FanoutProbe>,
        writers: usize,
    ) -> Arc<Pushes> {
        let pushes = Arc::new(Pushes {
            shards: (0..SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
        });
        let writers = writers.clamp(1, SHARDS);
        for first in 0..writers {
            let mut jobs = jobs.clone();
            jobs.borrow_and_update();
            tokio::spawn(write_jobs(
                Arc::clone(&pushes),
                jobs,
                Arc::clone(fanout),
                first,
                writers,
            ));
        }
        pushes
    }

    /// Adds `seat` (session `session_id`) to its shard.
    pub fn join(self: &Arc<Pushes>, seat: &Arc<Seat>, session_id: u64) -> Membership {
        let shard = usize::try_from(session_id % SHARDS as u64).unwrap_or(0);
        if let Some(seats) = self.shards.get(shard) {
            seats
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Arc::clone(seat));
        }
        Membership {
            pushes: Arc::clone(self),
            seat: Arc::clone(seat),
            shard,
        }
    }
}

/// One writer: for each new job, pushes it to every seat of shards
/// `first`, `first + step`, …, yielding between shards.
async fn write_jobs(
    pushes: Arc<Pushes>,
    mut jobs: watch::Receiver<Option<Arc<Job>>>,
    fanout: Arc<FanoutProbe>,
    first: usize,
    step: usize,
) {
    let mut line = Vec::with_capacity(512);
    while jobs.changed().await.is_ok() {
        let Some(job) = jobs.borrow_and_update().clone() else {
            continue;
        };
        'shards: for shard in pushes.shards.iter().skip(first).step_by(step) {
            let mut written = 0;
            let newer = {
                let seats = shard.lock().unwrap_or_else(PoisonError::into_inner);
                let mut newer = false;
                for seat in seats.iter() {
                    match seat.push(&job, &jobs, &mut line) {
                        Some(true) => written += 1,
                        Some(false) => {}
                        None => {
                            newer = true;
                            break;
                        }
                    }
                }
                newer
            };
            fanout.written_many(written, std::time::Instant::now());
            if newer {
                // A newer job is out: start over with it.
                break 'shards;
            }
            tokio::task::yield_now().await;
        }
    }
}

/// A TCP socket its connection task reads and writes while writer tasks
/// may write to it too (always under the seat's lock, never both at once).
pub struct SharedTcp(pub Arc<TcpStream>);

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(read) => {
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The seat let go of its handle before the close: this is the only
        // one, and the FIN goes out as with an unshared socket.
        match Arc::get_mut(&mut self.get_mut().0) {
            Some(stream) => Pin::new(stream).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}
