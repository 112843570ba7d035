//! The one connection task every door runs: it only moves requests, pushes
//! and time between a [`Framing`] (lines over a byte stream, or WebSocket
//! frames) and the [`SessionDriver`]. Jobs, new settings, bans and the drain
//! are handled here once for all doors. Time has one timer: a sleep until
//! the session's next deadline ([`SessionDriver::poll_timeout`]: read
//! deadline, vardiff retarget, job refresh, keepalive), armed anew only when
//! the deadline comes earlier; one that moved later just wakes the task once
//! for nothing. A session the writer threads push to leaves the job refresh
//! and the vardiff retarget to them, so its deadline is the read deadline.
//! Every write is bounded by `write_timeout`, so a miner that
//! does not read is disconnected instead of buffered for.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use tos_pool_common::clock::unix_us;

use crate::policy::ConnectionPermit;
use crate::session::{CloseReason, Output, Request};

use super::counters::Counter;
use super::driver::SessionDriver;
use super::push::{Seat, Seated};
use super::{ServerContext, now_ms};

/// One message read from a connection.
#[derive(Debug)]
pub enum Line<Id, Malformed> {
    /// A request and the id to answer it with.
    Request(Id, Request),
    /// A message that is not a request: answered with an error and counted.
    Malformed(Malformed),
    /// An empty message (a blank line): not answered, but it counts as a
    /// request for the read deadline.
    Blank,
}

/// Why a connection ended.
#[derive(Debug)]
pub enum End {
    /// The miner closed it.
    Eof,
    /// The socket failed.
    Io(std::io::Error),
    /// A write timed out: the miner does not read.
    Slow,
    /// No request in time (`security.first_message_timeout` / `idle_timeout`).
    Timeout,
    /// Banned or refused by policy, with the reason.
    Banned(String),
    /// The slave is draining.
    Drained,
    /// A request longer than this many bytes (`security.max_request_size`).
    Oversized(usize),
    /// A request the protocol cannot go on after (e.g. an unsupported
    /// Xatum handshake), with the reason.
    Refused(String),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Eof => f.write_str("closed by the miner"),
            End::Io(error) => write!(f, "socket error: {error}"),
            End::Slow => f.write_str("slow reader: a write timed out"),
            End::Timeout => f.write_str("no request in time"),
            End::Banned(reason) => write!(f, "{reason}"),
            End::Drained => f.write_str("drained"),
            End::Oversized(max) => write!(
                f,
                "request longer than {max} bytes (security.max_request_size)"
            ),
            End::Refused(reason) => write!(f, "{reason}"),
        }
    }
}

/// A door's framing over one connection: reads requests, queues answers and
/// pushes in the protocol's wire form, and writes them out.
pub trait Framing: Send {
    /// A request's id, echoed in its answer.
    type Id: Send + Sync;
    /// What was wrong with a malformed request.
    type Malformed: fmt::Display + Send + Sync;

    /// Waits for more input from the miner. Must be cancel-safe: it is
    /// raced against jobs and timers. `Err(End::Oversized)` when the
    /// transport itself refused a too-large message.
    fn receive(&mut self) -> impl Future<Output = Result<(), End>> + Send;
    /// The next complete request received so far: `Ok(None)` when there is
    /// none, `Err(max)` when one is longer than `max` bytes.
    #[allow(clippy::type_complexity)]
    fn next_request(&mut self) -> Result<Option<Line<Self::Id, Self::Malformed>>, usize>;
    /// Whether the connection must close after answering `malformed`.
    fn is_fatal(&self, malformed: &Self::Malformed) -> bool;
    /// Queues the answer to request `id` and the pushes among `outputs`.
    fn write_outputs(&mut self, id: &Self::Id, outputs: &[Output]);
    /// Queues pushes (no request being answered).
    fn write_pushes(&mut self, outputs: &[Output]);
    /// Queues the error answer to a malformed request.
    fn write_malformed(&mut self, malformed: &Self::Malformed);
    /// Queues the error sent before closing on a request over `max` bytes.
    fn write_oversized(&mut self, max: usize);
    /// Writes what is queued (and anything the transport owes, e.g. pongs).
    fn flush(&mut self) -> impl Future<Output = std::io::Result<()>> + Send;
    /// How often to send a transport keepalive, if the protocol has one.
    fn keepalive_interval(&self) -> Option<Duration> {
        None
    }
    /// Queues a transport keepalive (WebSocket ping).
    fn keepalive(&mut self) {}
    /// Ends the connection for `end` (close frame, TLS close_notify, FIN).
    fn close(&mut self, end: &End) -> impl Future<Output = ()> + Send;
}

/// What woke a connection's task.
enum Event {
    /// Input from the miner (or the end of it).
    Received(Result<(), End>),
    /// The job feed changed (false: it is gone).
    Job(bool),
    /// A writer thread left this session something to do.
    Woken,
    /// The session's deadline passed.
    Timer,
    /// The shared settings changed (false: gone).
    Settings(bool),
    /// The drain flag changed.
    Drain,
    /// This IP's ban changed (false: gone).
    Ban(bool),
}

/// Serves one connection until it ends. When `seat` holds the socket (a
/// plain-TCP Stratum connection), new jobs are written to it by the writer
/// threads of [`super::push`] and wake this task only when they could not
/// be; otherwise this task pushes each job itself.
pub async fn serve<F: Framing>(
    mut framing: F,
    seat: Arc<Seat>,
    ctx: Arc<ServerContext>,
    permit: ConnectionPermit,
) {
    let ip = permit.ip();
    let session_id = seat.session_id();
    let by_writers = seat.is_pushed();
    let membership = by_writers.then(|| ctx.pushes.join(&seat));

    let mut jobs = ctx.jobs.clone();
    let mut deadline_ms = {
        let mut seated = seat.lock().await;
        seated
            .driver
            .set_keepalive(framing.keepalive_interval(), now_ms());
        if by_writers {
            // Writers refresh their seats all at once and retarget each
            // when they push it a job: no idle session's task wakes for
            // either.
            seated.driver.hand_timers_to_writer();
        }
        if let Some(job) = jobs.borrow_and_update().clone() {
            seated.driver.on_job(job, now_ms());
        }
        seated.driver.poll_timeout()
    };
    let mut sessions = ctx.sessions.clone();
    sessions.borrow_and_update();
    let mut drain = ctx.drain.clone();
    // This IP's ban only: another IP's ban wakes no session here.
    let mut ban = permit.ban();
    let mut jobs_open = true;
    let mut sessions_open = true;
    let mut ban_open = true;

    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    // The deadline the timer is armed for; `u64::MAX` once it fired.
    let mut armed_ms = u64::MAX;
    let end = loop {
        if *drain.borrow_and_update() {
            let mut seated = seat.lock().await;
            if let Err(end) = write_leftover(&mut seated, seat.stream(), &ctx).await {
                break end;
            }
            let outputs = seated.driver.drain();
            framing.write_pushes(&outputs);
            if let Err(end) = flush(&mut framing, &ctx).await {
                break end;
            }
            break End::Drained;
        }
        if deadline_ms < armed_ms {
            armed_ms = deadline_ms;
            timer.as_mut().reset(instant_at(deadline_ms));
        }
        let event = tokio::select! {
            received = framing.receive() => Event::Received(received),
            changed = jobs.changed(), if jobs_open && !by_writers => Event::Job(changed.is_ok()),
            () = seat.woken(), if by_writers => Event::Woken,
            () = &mut timer => Event::Timer,
            changed = sessions.changed(), if sessions_open => Event::Settings(changed.is_ok()),
            _ = drain.changed() => Event::Drain,
            changed = ban.changed(), if ban_open => Event::Ban(changed.is_ok()),
        };
        // Writers wait while this task handles the event and writes.
        let mut seated = seat.lock().await;
        let mut new_job = seated.has_leftover();
        if let Err(end) = write_leftover(&mut seated, seat.stream(), &ctx).await {
            break end;
        }
        let driver = &mut seated.driver;
        match event {
            Event::Received(received) => {
                let handled = match received {
                    // Boxed: the request → judge → hash → forward state
                    // lives only while a request is handled, not in every
                    // idle session's task.
                    Ok(()) => {
                        let read_at_us = unix_us();
                        Box::pin(handle_requests(&mut framing, driver, ip, read_at_us)).await
                    }
                    Err(End::Oversized(max)) => Err(oversized(&mut framing, driver, ip, max)),
                    Err(end) => Err(end),
                };
                if let Err(end) = handled {
                    let _ = flush(&mut framing, &ctx).await;
                    break end;
                }
            }
            Event::Job(false) => jobs_open = false,
            Event::Job(true) => {
                if let Some(job) = jobs.borrow_and_update().clone() {
                    let outputs = driver.on_job(job, now_ms());
                    new_job = !outputs.is_empty();
                    framing.write_pushes(&outputs);
                }
            }
            Event::Woken | Event::Drain => {}
            Event::Timer => {
                armed_ms = u64::MAX;
                let outputs = driver.on_timeout(now_ms());
                if outputs.contains(&Output::Close(CloseReason::Idle)) {
                    break End::Timeout;
                }
                for output in &outputs {
                    if *output == Output::Keepalive {
                        framing.keepalive();
                    }
                }
                framing.write_pushes(&outputs);
            }
            Event::Settings(false) => sessions_open = false,
            Event::Settings(true) => {
                let config = sessions.borrow_and_update().clone();
                driver.on_config(config);
            }
            Event::Ban(false) => ban_open = false,
            Event::Ban(true) => {
                if let Some(reason) = ban.borrow_and_update().clone() {
                    break End::Banned(reason);
                }
            }
        }
        // A job the writers could not give this session (it was busy, or
        // its socket full) is sent now, after everything before it.
        if by_writers
            && let Some(job) = jobs.borrow_and_update().clone()
            && !driver
                .session()
                .latest_job()
                .is_some_and(|latest| latest.is(&job))
        {
            let outputs = driver.on_job(job, now_ms());
            new_job |= !outputs.is_empty();
            framing.write_pushes(&outputs);
        }
        if let Err(end) = flush(&mut framing, &ctx).await {
            break end;
        }
        deadline_ms = seated.driver.poll_timeout();
        drop(seated);
        if new_job {
            ctx.fanout.written(std::time::Instant::now());
        }
    };
    // No writer reaches the socket any more: the close below shuts it down
    // after everything written, as any other.
    drop(membership);
    seat.lock().await.stop_pushes();
    if !matches!(end, End::Slow | End::Io(_)) {
        let close = tokio::time::timeout(ctx.write_timeout, framing.close(&end));
        let _ = Box::pin(close).await;
    }
    tracing::debug!(session = session_id, %ip, reason = %end, "miner connection closed");
}

/// Writes the bytes a writer thread left in `seated` (a notify its socket
/// would not take whole), within `write_timeout`.
async fn write_leftover(
    seated: &mut Seated,
    stream: Option<&TcpStream>,
    ctx: &ServerContext,
) -> Result<(), End> {
    if !seated.has_leftover() {
        return Ok(());
    }
    match tokio::time::timeout(ctx.write_timeout, seated.write_leftover(stream)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(End::Io(error)),
        Err(_) => {
            ctx.counters.add(Counter::SlowClient);
            Err(End::Slow)
        }
    }
}

/// The monotonic instant of a wall-clock deadline (ms since the Unix epoch),
/// a millisecond late rather than early so the deadline has passed when the
/// timer fires.
fn instant_at(deadline_ms: u64) -> Instant {
    let left = deadline_ms.saturating_sub(now_ms()).saturating_add(1);
    // Far deadlines (an idle timeout of years) are capped: the timer just
    // fires early and is armed again.
    Instant::now() + Duration::from_millis(left.min(86_400_000))
}

/// Handles every complete request received, read from the socket at
/// `read_at_us` (µs since the Unix epoch). Err when the connection must
/// close.
async fn handle_requests<F: Framing>(
    framing: &mut F,
    driver: &mut SessionDriver,
    ip: IpAddr,
    read_at_us: u64,
) -> Result<(), End> {
    loop {
        let line = match framing.next_request() {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(max) => return Err(oversized(framing, driver, ip, max)),
        };
        match line {
            Line::Request(id, request) => {
                let turn = driver.request(request, now_ms(), read_at_us).await;
                framing.write_outputs(&id, &turn.outputs);
                if let Some(reason) = turn.close {
                    return Err(End::Banned(reason));
                }
            }
            Line::Blank => driver.blank(now_ms()),
            Line::Malformed(malformed) => {
                tracing::debug!(session = driver.id(), %ip, error = %malformed, "malformed request");
                framing.write_malformed(&malformed);
                if let Some(ban) = driver.malformed(now_ms()) {
                    return Err(End::Banned(ban));
                }
                if framing.is_fatal(&malformed) {
                    return Err(End::Refused(malformed.to_string()));
                }
            }
        }
    }
}

/// A request over `max` bytes: answered, counted (it may ban), and the
/// connection closes.
fn oversized<F: Framing>(
    framing: &mut F,
    driver: &mut SessionDriver,
    ip: IpAddr,
    max: usize,
) -> End {
    framing.write_oversized(max);
    if let Some(ban) = driver.malformed(now_ms()) {
        return End::Banned(ban);
    }
    tracing::info!(session = driver.id(), %ip, max, "request too long");
    End::Oversized(max)
}

/// Writes what is waiting, within `write_timeout`.
async fn flush<F: Framing>(framing: &mut F, ctx: &ServerContext) -> Result<(), End> {
    match tokio::time::timeout(ctx.write_timeout, framing.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(End::Io(error)),
        Err(_) => {
            ctx.counters.add(Counter::SlowClient);
            Err(End::Slow)
        }
    }
}
