//! New jobs pushed without waking each session's task. A plain-TCP Stratum
//! session's driver sits in a [`Seat`] that its connection task and one of a
//! few writer threads share: the connection task locks it only while it
//! handles something (a request, a timer, new settings), and each writer
//! thread owns a set of shards of seats and, for every job, locks each seat
//! in turn, has its session core enter the job ([`SessionDriver::push_job`]),
//! copies the writer's line for the session's difficulty with its
//! extra_nonce written in (`JobLines`) and sends it on the socket with one
//! non-blocking `send`. A job costs a seat one lock and one `send`, not a
//! task wake-up, a poll of the connection loop and a watch re-registration.
//! The writers also hold the seats' timers: they send the current job again
//! after `mining.job_refresh` without a new one, and each push makes the
//! session's vardiff retarget when it is due, so an idle session's task
//! sleeps until its read deadline. The writers are OS threads of their own,
//! told when to go over their seats by a task of the runtime; the pushes
//! themselves never wait on the runtime.
//!
//! A push is mostly the kernel's work; of the rest, most is waiting for
//! memory, since 10,000 seats do not fit in the cache. So the socket lives
//! in the seat (not in an allocation of its own the push would wait on
//! once more); a writer walks its seats in the order they connected, the
//! order their memory was allocated in (`RUN`); and it takes eight seats
//! at a time, reading what each push will need for all eight before
//! pushing to any, so that their cache misses overlap rather than each
//! push waiting out its own.
//!
//! Nothing is skipped: a seat whose task is busy (the lock is taken), or
//! whose socket would not take the whole line, is left to its own task,
//! woken through the seat's [`Notify`]; the task writes what is left within
//! `write_timeout` (a miner that does not read is still cut off) and sends
//! the newest job itself if the session has not had it. Doors over TLS or
//! WebSocket have no such writer and push from their task as before.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

use crate::job::Job;
use crate::session::{JobPush, Output, SessionConfig, Work};
use crate::stratum::{NotifyTemplate, write_push};

use super::driver::SessionDriver;
use super::fanout::FanoutProbe;
use super::now_ms;

/// Shards of seats per writer thread; each writer owns every `writers`-th
/// shard. Many more shards than writers keep each lock short (a writer
/// holds a shard's lock while it pushes to that shard's seats), so a
/// session opening or closing waits for at most one shard's writes.
const SHARDS_PER_WRITER: usize = 32;

/// Writer threads at most.
const MAX_WRITERS: usize = 64;

/// Consecutive session ids that go to the same shard, one run after the
/// other. Session ids count up as miners connect, so a writer walks its
/// seats in the order they connected, a run at a time; the seats, the
/// sockets' kernel memory and the sessions' backlogs were allocated in that
/// order, so each push reads memory next to the last one's and the
/// processor's prefetching keeps ahead of the walk. Spread one id per
/// shard instead, each push landed 64 sessions away from the previous one
/// in all of that memory, and a job cost the writers 17 % more CPU
/// (docs/BENCHMARKS.md, "Walking the seats in the order they connected").
const RUN: u64 = 64;

/// The shard, of `shards` (a multiple of the writers), of the session with
/// `session_id`: runs of [`RUN`] consecutive ids, dealt to the shards in
/// turn, so that the writers (each taking every `writers`-th shard) get
/// the runs in turn and as many sessions each, give or take one run.
fn shard_of(session_id: u64, shards: usize) -> usize {
    let shards = u64::try_from(shards.max(1)).unwrap_or(1);
    usize::try_from((session_id / RUN) % shards).unwrap_or(0)
}

/// Seats a writer takes together: it fetches their memory at once, then
/// pushes to them one by one. A seat is held from the batch's start to its
/// own push, at most the time of this many pushes.
const TOUCH_AHEAD: usize = 8;

/// What a seat's lock guards. In declaration order (`repr(C)`): what a
/// writer reads first sits next to the lock, not after the driver.
#[repr(C)]
pub struct Seated {
    /// Whether writers push to the seat's socket; turned off before the
    /// connection closes, so nothing is written after the close.
    pushing: bool,
    /// Bytes a writer could not write (the socket's buffer was full): the
    /// connection task writes them before anything else.
    leftover: Vec<u8>,
    /// The session's driver.
    pub driver: SessionDriver,
}

impl Seated {
    /// Whether a writer left bytes to write.
    pub fn has_leftover(&self) -> bool {
        !self.leftover.is_empty()
    }

    /// No writer pushes to the socket any more.
    pub fn stop_pushes(&mut self) {
        self.pushing = false;
    }

    /// Writes the bytes a writer left to `stream` (the seat's socket),
    /// waiting for the socket as needed; the caller bounds the wait.
    pub async fn write_leftover(&mut self, stream: Option<&TcpStream>) -> io::Result<()> {
        let Some(stream) = stream.filter(|_| self.pushing) else {
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

/// One session's driver, shared by its connection task and a writer thread,
/// with the plain-TCP Stratum socket writers push to. In declaration order
/// (`repr(C)`): the lock first, so that its state shares the allocation's
/// first line with the `Arc`'s counts, which a writer can read without the
/// lock (`touch`); the socket after the driver.
#[repr(C)]
pub struct Seat {
    seated: tokio::sync::Mutex<Seated>,
    /// The socket, in the seat itself: a push reads its descriptor from the
    /// seat's memory, not from a separate allocation the writer would wait
    /// on once more per session. The connection task reads and writes it
    /// through [`SharedTcp`].
    stream: Option<TcpStream>,
    /// Wakes the connection task: a writer left it bytes or a job.
    wake: Notify,
    session_id: u64,
}

impl Seat {
    /// A seat for `driver`; with `stream` (a plain-TCP Stratum socket),
    /// writers may push to it.
    pub fn new(driver: SessionDriver, stream: Option<TcpStream>) -> Seat {
        Seat {
            session_id: driver.id(),
            seated: tokio::sync::Mutex::new(Seated {
                driver,
                leftover: Vec::new(),
                pushing: stream.is_some(),
            }),
            stream,
            wake: Notify::new(),
        }
    }

    /// The session's id.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Whether writers push to this seat (it has a plain-TCP socket).
    pub fn is_pushed(&self) -> bool {
        self.stream.is_some()
    }

    /// The seat's socket, when writers push to it.
    pub fn stream(&self) -> Option<&TcpStream> {
        self.stream.as_ref()
    }

    /// Waits for the seat (a writer holds it for at most `TOUCH_AHEAD`
    /// pushes).
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, Seated> {
        self.seated.lock().await
    }

    /// Resolves when a writer left this seat's task something to do.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Takes the seat for a writer's push if its task is not using it;
    /// else wakes the task to push a new job itself (a refresh is just
    /// skipped).
    fn hold(&self, pass: Pass) -> Option<tokio::sync::MutexGuard<'_, Seated>> {
        let held = self.seated.try_lock().ok();
        if held.is_none() && pass == Pass::Job {
            self.wake.notify_one();
        }
        held
    }

    /// Pushes `job` to this seat, held by the writer as `seated`.
    /// `Some(true)` when the notify was written whole; `None` when `jobs`
    /// already has a newer job (which must not be overtaken by this one).
    fn push(
        &self,
        seated: &mut Seated,
        job: &Arc<Job>,
        pass: Pass,
        jobs: &watch::Receiver<Option<Arc<Job>>>,
        lines: &mut JobLines,
        now_ms: u64,
    ) -> Option<bool> {
        // Checked with the seat held: a task that sends the newer job
        // itself does so under the same lock, so never before this one.
        if jobs.has_changed().unwrap_or(true) {
            return None;
        }
        let Some(stream) = &self.stream else {
            // Never in a shard: only seats with a socket join one.
            return Some(false);
        };
        Some(seated.push(job, pass, lines, now_ms, stream, &self.wake))
    }
}

/// Reads a seat's first line (its lock, beside the `Arc`'s counts) and its
/// socket's descriptor, and nothing else: the memory a writer needs before
/// it can take the seat, fetched ahead (see [`Writer::push_all`]).
fn touch(seat: &Arc<Seat>) {
    std::hint::black_box(Arc::strong_count(seat));
    if let Some(stream) = &seat.stream {
        std::hint::black_box(std::os::fd::AsRawFd::as_raw_fd(stream));
    }
}

/// Why a writer goes over its seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// A new job.
    Job,
    /// No new job for `mining.job_refresh`: the current one again.
    Refresh,
}

impl Seated {
    /// Reads the memory a push to this seat uses (see
    /// [`SessionDriver::warm`]).
    fn warm(&self) -> u64 {
        u64::from(self.pushing) ^ self.leftover.len() as u64 ^ self.driver.warm()
    }

    /// The writer's half of [`Seat::push`], with the seat held: the push to
    /// `stream`, the seat's socket, waking the seat's task through `wake`
    /// when it could not be done whole.
    fn push(
        &mut self,
        job: &Arc<Job>,
        pass: Pass,
        lines: &mut JobLines,
        now_ms: u64,
        stream: &TcpStream,
        wake: &Notify,
    ) -> bool {
        let seated = self;
        if !seated.pushing {
            return false;
        }
        if !seated.leftover.is_empty() {
            // The task is still writing an earlier line; it sends the
            // newest job after it.
            wake.notify_one();
            return false;
        }
        let has_job = seated
            .driver
            .session()
            .latest_job()
            .is_some_and(|latest| latest.is(job));
        let push = match pass {
            Pass::Job if has_job => return false,
            Pass::Job => seated.driver.push_job(Arc::clone(job), now_ms),
            // A session without the current job gets it from its task.
            Pass::Refresh if !has_job => return false,
            Pass::Refresh => seated.driver.refresh_job(now_ms),
        };
        let Some(push) = push else {
            return false;
        };
        let extra_nonce = seated.driver.session().nonce().extra_nonce;
        let line = lines.line(job, push, &extra_nonce);
        // Straight to the socket: tokio's readiness is left as it was (a
        // would-block here is the task's to wait out, with `writable()`,
        // which finds out again on its own try), which spares each push a
        // touch of the socket's readiness state.
        let written = match socket2::SockRef::from(stream).send(line) {
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

/// A writer's `mining.notify` lines for the job it is pushing: one
/// [`NotifyTemplate`] per share difficulty and clean flag met (sessions
/// share a handful of difficulties), made on first use, and the buffer each
/// session's line is copied into.
struct JobLines {
    job: Option<Arc<Job>>,
    templates: Vec<(u64, bool, NotifyTemplate)>,
    line: Vec<u8>,
}

impl JobLines {
    /// No lines yet.
    fn new() -> JobLines {
        JobLines {
            job: None,
            templates: Vec::new(),
            line: Vec::with_capacity(512),
        }
    }

    /// The bytes to send a session with `extra_nonce` that entered `job`
    /// as `push`: `mining.set_difficulty` first when announced, then the
    /// notify.
    fn line(&mut self, job: &Arc<Job>, push: JobPush, extra_nonce: &[u8; 32]) -> &[u8] {
        if !self.job.as_ref().is_some_and(|held| Arc::ptr_eq(held, job)) {
            self.job = Some(Arc::clone(job));
            self.templates.clear();
        }
        self.line.clear();
        if push.announce_difficulty {
            write_push(&mut self.line, &Output::SetDifficulty(push.difficulty));
        }
        let found = self.templates.iter().position(|(difficulty, clean, _)| {
            *difficulty == push.difficulty && *clean == push.clean
        });
        let at = found.unwrap_or_else(|| {
            let work = Work::of(job, push.difficulty, push.clean, &[0; 32]);
            self.templates
                .push((push.difficulty, push.clean, NotifyTemplate::new(&work)));
            self.templates.len() - 1
        });
        if let Some((_, _, template)) = self.templates.get(at) {
            template.write(&mut self.line, extra_nonce);
        }
        &self.line
    }
}

/// The writer threads and their shards of seats.
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
            // Removed in place, not swapped with the last seat: the shard
            // stays in the order its sessions connected ([`RUN`]).
            if let Some(at) = seats.iter().position(|seat| Arc::ptr_eq(seat, &self.seat)) {
                seats.remove(at);
            }
        }
    }
}

impl Pushes {
    /// Starts `writers` writer threads pushing each job of `jobs`, and the
    /// current job again after `mining.job_refresh` (of `sessions`) without
    /// a new one, paced by a task of the current runtime; each session's
    /// write of a new job is reported to `fanout`. They end with the feed
    /// (or the runtime). Fails when a thread cannot be started.
    pub fn start(
        jobs: &watch::Receiver<Option<Arc<Job>>>,
        sessions: &watch::Receiver<Arc<SessionConfig>>,
        fanout: &Arc<FanoutProbe>,
        writers: usize,
    ) -> io::Result<Arc<Pushes>> {
        let writers = writers.clamp(1, MAX_WRITERS);
        let pushes = Arc::new(Pushes {
            shards: (0..writers * SHARDS_PER_WRITER)
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
        });
        let mut passes = Vec::with_capacity(writers);
        for first in 0..writers {
            let (pass, passed) = mpsc::channel();
            let writer = Writer {
                pushes: Arc::clone(&pushes),
                jobs: seen(jobs),
                passes: passed,
                fanout: Arc::clone(fanout),
                first,
                step: writers,
            };
            std::thread::Builder::new()
                .name(format!("tos-push-{first}"))
                .spawn(move || writer.run())?;
            passes.push(pass);
        }
        tokio::spawn(pace_passes(seen(jobs), sessions.clone(), passes));
        Ok(pushes)
    }

    /// Adds `seat` to its shard.
    pub fn join(self: &Arc<Pushes>, seat: &Arc<Seat>) -> Membership {
        let shard = shard_of(seat.session_id(), self.shards.len());
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

/// A receiver of `jobs` that has seen its current job: a job already out
/// when the writers start reaches each session from its own task.
fn seen(jobs: &watch::Receiver<Option<Arc<Job>>>) -> watch::Receiver<Option<Arc<Job>>> {
    let mut jobs = jobs.clone();
    jobs.borrow_and_update();
    jobs
}

/// Tells the writers when to go over their seats: at each new job, and
/// after `mining.job_refresh` without one. Ends with the feed, or when every
/// writer is gone; its end (the senders dropped) ends them.
async fn pace_passes(
    mut jobs: watch::Receiver<Option<Arc<Job>>>,
    sessions: watch::Receiver<Arc<SessionConfig>>,
    mut writers: Vec<mpsc::Sender<Pass>>,
) {
    let mut last_pass = tokio::time::Instant::now();
    loop {
        let refresh_every = sessions.borrow().timers.job_refresh;
        let pass = tokio::select! {
            biased;
            changed = jobs.changed() => match changed {
                Ok(()) => Pass::Job,
                Err(_) => return,
            },
            () = tokio::time::sleep_until(last_pass + refresh_every) => {
                if jobs.has_changed().unwrap_or(false) { Pass::Job } else { Pass::Refresh }
            }
        };
        last_pass = tokio::time::Instant::now();
        if pass == Pass::Job {
            jobs.borrow_and_update();
        }
        // A writer gone (it can only have panicked) leaves its shards'
        // sessions without new jobs: said loudly, and the others go on.
        writers.retain(|writer| {
            let alive = writer.send(pass).is_ok();
            if !alive {
                tracing::error!(
                    "a job writer thread stopped: the plain-TCP Stratum sessions it pushed to get no new jobs until the slave restarts"
                );
            }
            alive
        });
        if writers.is_empty() {
            return;
        }
    }
}

/// One writer thread: for each pass, pushes the job to every seat of
/// shards `first`, `first + step`, ….
///
/// Threads of their own, not tasks of the runtime: a job's pushes are plain
/// blocking work (a lock tried, a `send`), and on threads the pushes of a
/// job run on every core at once, as the kernel schedules them, where two
/// writer tasks woken together could queue behind each other (or behind
/// other tasks) on one worker until the other worker stole one.
struct Writer {
    pushes: Arc<Pushes>,
    jobs: watch::Receiver<Option<Arc<Job>>>,
    passes: mpsc::Receiver<Pass>,
    fanout: Arc<FanoutProbe>,
    first: usize,
    step: usize,
}

impl Writer {
    fn run(mut self) {
        let mut lines = JobLines::new();
        while let Ok(mut pass) = self.passes.recv() {
            // Passes that queued while this one pushed: one pass does for
            // all of them, a new job's if any.
            while let Ok(later) = self.passes.try_recv() {
                if later == Pass::Job {
                    pass = Pass::Job;
                }
            }
            let job = match pass {
                Pass::Job => self.jobs.borrow_and_update().clone(),
                Pass::Refresh => self.jobs.borrow().clone(),
            };
            let Some(job) = job else {
                continue;
            };
            // This writer's own copy: each session keeps the job it was
            // sent (its newest job, its backlog), so every push counts a
            // reference to it and drops one to an older job. On one shared
            // copy the writers would fight over its reference count's cache
            // line for each session; on their own copies each counts alone.
            let job = Arc::new(Job::clone(&job));
            self.push_all(&job, pass, &mut lines);
        }
    }

    /// Pushes `job` to every seat of this writer's shards, until a newer
    /// job is out.
    fn push_all(&self, job: &Arc<Job>, pass: Pass, lines: &mut JobLines) {
        let shards = self.pushes.shards.iter().skip(self.first);
        for shard in shards.step_by(self.step) {
            let mut written = 0;
            let mut newer = false;
            {
                let seats = shard.lock().unwrap_or_else(PoisonError::into_inner);
                let now = now_ms();
                'seats: for batch in seats.chunks(TOUCH_AHEAD) {
                    // Each stage's reads are independent across the batch,
                    // issued back to back, so that the batch's cache
                    // misses overlap instead of each push waiting out its
                    // own: the seats' first lines, then (the locks taken
                    // on lines already fetched) the memory each push uses.
                    batch.iter().for_each(touch);
                    let mut held: [Option<tokio::sync::MutexGuard<'_, Seated>>; TOUCH_AHEAD] =
                        Default::default();
                    for (hold, seat) in held.iter_mut().zip(batch) {
                        *hold = seat.hold(pass);
                    }
                    let warmth = held
                        .iter()
                        .flatten()
                        .fold(0, |sum, seated| sum ^ seated.warm());
                    std::hint::black_box(warmth);
                    for (hold, seat) in held.iter_mut().zip(batch) {
                        // Each seat is let go as soon as it is pushed.
                        let Some(mut seated) = hold.take() else {
                            continue;
                        };
                        match seat.push(&mut seated, job, pass, &self.jobs, lines, now) {
                            Some(true) => written += 1,
                            Some(false) => {}
                            None => {
                                newer = true;
                                break 'seats;
                            }
                        }
                    }
                }
            }
            if pass == Pass::Job {
                self.fanout.written_many(written, std::time::Instant::now());
            }
            if newer {
                // A newer job is out: its pass starts over with it.
                return;
            }
        }
    }
}

/// A seat's TCP socket as its connection task reads and writes it, while
/// writer threads may write to it too (always under the seat's lock, never
/// both at once).
pub struct SharedTcp(pub Arc<Seat>);

impl SharedTcp {
    fn stream(&self) -> io::Result<&TcpStream> {
        self.0
            .stream()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the seat has no socket"))
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = self.stream()?;
        loop {
            ready!(stream.poll_read_ready(cx))?;
            match stream.try_read(buf.initialize_unfilled()) {
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
        let stream = self.stream()?;
        loop {
            ready!(stream.poll_write_ready(cx))?;
            match stream.try_write(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The seat stopped its pushes before the close: the FIN goes out
        // after everything written, as with an unshared socket. The
        // descriptor closes with the seat.
        let stream = self.stream()?;
        Poll::Ready(socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_sessions_share_a_shard_in_runs() {
        let shards = 2 * SHARDS_PER_WRITER;
        assert!((0..RUN).all(|id| shard_of(id, shards) == 0));
        assert_eq!(shard_of(RUN, shards), 1);
        assert_eq!(shard_of(RUN * 2 - 1, shards), 1);
        let cycle = RUN * shards as u64;
        assert_eq!(shard_of(cycle - 1, shards), shards - 1);
        // After the last shard the runs start again at the first.
        assert_eq!(shard_of(cycle, shards), 0);
        assert!(shard_of(u64::MAX, shards) < shards);
        assert_eq!(shard_of(7, 0), 0);
    }

    #[test]
    fn writers_get_as_many_sessions_each() {
        for writers in 1..=6 {
            let shards = writers * SHARDS_PER_WRITER;
            let mut per_writer = vec![0u64; writers];
            for id in 1..=20_000 {
                per_writer[shard_of(id, shards) % writers] += 1;
            }
            let most = per_writer.iter().max().copied().unwrap_or(0);
            let least = per_writer.iter().min().copied().unwrap_or(0);
            assert!(most - least <= RUN, "{writers} writers: {per_writer:?}");
        }
    }
}
