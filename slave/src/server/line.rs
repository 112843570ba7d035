//! The connection task of line-framed doors (Stratum; Xatum will reuse it):
//! it only moves bytes and time between the socket, a [`LineCodec`] and the
//! [`SessionDriver`]. One task per connection; every write is bounded by
//! `write_timeout`, so a miner that does not read is disconnected instead of
//! buffered for.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};

use crate::link::BanChange;
use crate::policy::{ConnectionPermit, read_deadline_ms};
use crate::session::{Output, Request};

use super::counters::Counter;
use super::driver::SessionDriver;
use super::{ServerContext, now_ms};

/// How often vardiff and the hashrate estimate are ticked.
const TICK: Duration = Duration::from_secs(1);

/// Read buffer a connection keeps while it waits: a request line or two.
/// A longer line grows it; it shrinks back once the line is handled, so an
/// idle session holds no more than this.
const READ_BUFFER: usize = 512;

/// One line read from the connection's buffer.
#[derive(Debug)]
pub enum Line<Id, Malformed> {
    /// A request and the id to answer it with.
    Request(Id, Request),
    /// A line that is not a request: answered with an error and counted.
    Malformed(Malformed),
}

/// A line-framed miner protocol: pure decoding and encoding.
pub trait LineCodec: Send + Sync + 'static {
    /// A request's id, echoed in its answer.
    type Id: Send + Sync;
    /// What was wrong with a malformed line.
    type Malformed: std::fmt::Display + Send + Sync;

    /// The next line of `buf`: `Ok(None)` to read more, `Ok(Some((line,
    /// n)))` to drop `n` bytes, `Err(max)` when a line is longer than `max`.
    #[allow(clippy::type_complexity)]
    fn decode(&self, buf: &[u8])
    -> Result<Option<(Line<Self::Id, Self::Malformed>, usize)>, usize>;
    /// Appends the answer to request `id` and the pushes among `outputs`.
    fn write_outputs(&self, out: &mut Vec<u8>, id: &Self::Id, outputs: &[Output]);
    /// Appends pushes (no request being answered).
    fn write_pushes(&self, out: &mut Vec<u8>, outputs: &[Output]);
    /// Appends the error answer to a malformed line.
    fn write_malformed(&self, out: &mut Vec<u8>, malformed: &Self::Malformed);
    /// Appends the error sent before closing on a line over `max` bytes.
    fn write_oversized(&self, out: &mut Vec<u8>, max: usize);
}

/// Why a connection ended, for the log.
enum End {
    Eof,
    Io(std::io::Error),
    Slow,
    Timeout,
    Banned(String),
    Drained,
    Oversized,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Eof => f.write_str("closed by the miner"),
            End::Io(error) => write!(f, "socket error: {error}"),
            End::Slow => f.write_str("slow reader: a write timed out"),
            End::Timeout => f.write_str("no request in time"),
            End::Banned(reason) => write!(f, "{reason}"),
            End::Drained => f.write_str("drained"),
            End::Oversized => f.write_str("request line too long"),
        }
    }
}

/// Serves one connection until it ends.
pub async fn serve<S, C>(
    mut stream: S,
    codec: C,
    mut driver: SessionDriver,
    ctx: Arc<ServerContext>,
    permit: ConnectionPermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    C: LineCodec,
{
    let ip = permit.ip();
    let config = ctx.policy.config().clone();
    let max_buffer = config.max_request_size.saturating_add(1);
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BUFFER);
    // Allocated only while there is something to write (see `flush`).
    let mut out: Vec<u8> = Vec::new();
    let connected_ms = now_ms();
    let mut last_request_ms: Option<u64> = None;

    let mut jobs = ctx.jobs.clone();
    if let Some(job) = jobs.borrow_and_update().clone() {
        driver.on_job(job, connected_ms);
    }
    let mut sessions = ctx.sessions.clone();
    sessions.borrow_and_update();
    let mut drain = ctx.drain.clone();
    let mut bans = ctx.policy.bans().subscribe();
    let mut refresh = tokio::time::interval_at(Instant::now() + ctx.job_refresh, ctx.job_refresh);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut tick = tokio::time::interval_at(Instant::now() + TICK, TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut jobs_open = true;
    let mut sessions_open = true;
    let mut bans_open = true;

    let timeout = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timeout);
    let mut timeout_ms = None;
    let end = loop {
        let mut new_job = false;
        if *drain.borrow_and_update() {
            let outputs = driver.drain();
            codec.write_pushes(&mut out, &outputs);
            if let Err(end) = flush(&mut stream, &mut out, &ctx).await {
                break end;
            }
            break End::Drained;
        }
        let deadline_ms = read_deadline_ms(
            connected_ms,
            last_request_ms,
            config.first_message_timeout,
            config.idle_timeout,
        );
        if timeout_ms != Some(deadline_ms) {
            // Re-arm only when the deadline moved: a wake-up for a job does
            // not touch the timer wheel.
            timeout_ms = Some(deadline_ms);
            let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms()));
            timeout.as_mut().reset(Instant::now() + left);
        }
        tokio::select! {
            read = stream.read_buf(&mut buf) => {
                match read {
                    Ok(0) => break End::Eof,
                    Err(error) => break End::Io(error),
                    Ok(_) => {}
                }
                match handle_lines(&codec, &mut buf, &mut out, &mut driver, ip).await {
                    Ok(handled) => {
                        if handled {
                            last_request_ms = Some(now_ms());
                        }
                    }
                    Err(end) => {
                        let _ = flush(&mut stream, &mut out, &ctx).await;
                        break end;
                    }
                }
                if buf.len() > max_buffer {
                    // decode() already refused such a line; this only guards the buffer.
                    break End::Oversized;
                }
                if buf.capacity() > READ_BUFFER && buf.len() <= READ_BUFFER {
                    buf.shrink_to(READ_BUFFER);
                }
            }
            changed = jobs.changed(), if jobs_open => {
                if changed.is_err() {
                    jobs_open = false;
                    continue;
                }
                if let Some(job) = jobs.borrow_and_update().clone() {
                    let outputs = driver.on_job(job, now_ms());
                    new_job = !outputs.is_empty();
                    codec.write_pushes(&mut out, &outputs);
                    refresh.reset();
                }
            }
            _ = refresh.tick() => {
                if let Some(job) = jobs.borrow().clone() {
                    let outputs = driver.on_job(job, now_ms());
                    codec.write_pushes(&mut out, &outputs);
                }
            }
            _ = tick.tick() => {
                let outputs = driver.on_tick(now_ms());
                codec.write_pushes(&mut out, &outputs);
            }
            changed = sessions.changed(), if sessions_open => {
                if changed.is_err() {
                    sessions_open = false;
                    continue;
                }
                let config = sessions.borrow_and_update().clone();
                driver.on_config(config);
            }
            _ = drain.changed() => {}
            change = bans.recv(), if bans_open => match change {
                Ok(BanChange::Banned { ip: banned, entry }) if banned == ip => {
                    break End::Banned(entry.reason);
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if let Some(ban) = ctx.policy.bans().check(ip, now_ms()) {
                        break End::Banned(ban.reason);
                    }
                }
                Err(RecvError::Closed) => bans_open = false,
            },
            () = &mut timeout => break End::Timeout,
        }
        if let Err(end) = flush(&mut stream, &mut out, &ctx).await {
            break end;
        }
        if new_job {
            ctx.fanout.written(std::time::Instant::now());
        }
    };
    let _ = tokio::time::timeout(ctx.write_timeout, stream.shutdown()).await;
    tracing::debug!(session = driver.id(), %ip, reason = %end, "miner connection closed");
}

/// Handles every complete line in `buf`. Ok(true) when at least one request
/// (well-formed or not) was read; Err when the connection must close.
async fn handle_lines<C: LineCodec>(
    codec: &C,
    buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    driver: &mut SessionDriver,
    ip: IpAddr,
) -> Result<bool, End> {
    let mut handled = false;
    loop {
        let (line, used) = match codec.decode(buf) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(handled),
            Err(max) => {
                codec.write_oversized(out, max);
                if let Some(ban) = driver.malformed(now_ms()) {
                    return Err(End::Banned(ban));
                }
                tracing::info!(session = driver.id(), %ip, max, "request line too long");
                return Err(End::Oversized);
            }
        };
        buf.drain(..used);
        handled = true;
        match line {
            Line::Request(id, request) => {
                let turn = driver.request(request, now_ms()).await;
                codec.write_outputs(out, &id, &turn.outputs);
                if let Some(reason) = turn.close {
                    return Err(End::Banned(reason));
                }
            }
            Line::Malformed(malformed) => {
                tracing::debug!(session = driver.id(), %ip, error = %malformed, "malformed request");
                codec.write_malformed(out, &malformed);
                if let Some(ban) = driver.malformed(now_ms()) {
                    return Err(End::Banned(ban));
                }
            }
        }
    }
}

/// Writes what is waiting, within `write_timeout`.
async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
    ctx: &ServerContext,
) -> Result<(), End> {
    if out.is_empty() {
        return Ok(());
    }
    let written = tokio::time::timeout(ctx.write_timeout, async {
        stream.write_all(out).await?;
        stream.flush().await
    })
    .await;
    // Idle sessions far outnumber writing ones: free the buffer rather
    // than keep its capacity for the next write.
    *out = Vec::new();
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(End::Io(error)),
        Err(_) => {
            ctx.counters.add(Counter::SlowClient);
            Err(End::Slow)
        }
    }
}
