//! Line framing (Stratum and Xatum): a [`LineCodec`] over a byte stream
//! (TCP or TLS), driven by the one [`connection`](super::connection) task.
//! Reads go into a buffer that never holds more than one incomplete line of
//! at most `security.max_request_size` bytes plus one read: complete lines
//! (blank ones too) are consumed as they come, bytes already searched for a
//! newline are not searched again, and what was consumed is dropped once
//! per read. Answers and pushes are queued as bytes and written in one go.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::policy::ConnectionPermit;
use crate::session::Output;

use super::ServerContext;
pub use super::connection::Line;
use super::connection::{End, Framing};
use super::driver::SessionDriver;
use super::push::{Seat, SharedTcp};
use super::stratum::StratumLines;

/// How long a connection closed for a bad request keeps reading what the
/// miner still sends.
const LINGER: Duration = Duration::from_secs(1);

/// Read buffer a connection keeps while it waits: a request line or two.
/// A longer line grows it; it shrinks back once the line is handled, so an
/// idle session holds no more than this.
const READ_BUFFER: usize = 512;
/// Room reserved in the (freed after each write) write buffer before
/// encoding into it: a job's notify and a difficulty line fit, so a push
/// costs one allocation rather than one per doubling.
const WRITE_BUFFER: usize = 512;

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
    /// The longest line accepted, in bytes (`security.max_request_size`).
    fn max_line(&self) -> usize;
    /// Appends the answer to request `id` and the pushes among `outputs`.
    fn write_outputs(&self, out: &mut Vec<u8>, id: &Self::Id, outputs: &[Output]);
    /// Appends pushes (no request being answered).
    fn write_pushes(&self, out: &mut Vec<u8>, outputs: &[Output]);
    /// Appends the error answer to a malformed line.
    fn write_malformed(&self, out: &mut Vec<u8>, malformed: &Self::Malformed);
    /// Appends the error sent before closing on a line over `max` bytes.
    fn write_oversized(&self, out: &mut Vec<u8>, max: usize);
    /// Whether the connection must close after answering `malformed`.
    fn is_fatal(&self, _malformed: &Self::Malformed) -> bool {
        false
    }
}

/// A byte stream framed in lines by a [`LineCodec`].
pub struct LineFraming<S, C> {
    stream: S,
    codec: C,
    buf: Vec<u8>,
    /// Bytes at the start of `buf` already handled, dropped before the next read.
    consumed: usize,
    /// Bytes after `consumed` already searched for a newline, in vain.
    scanned: usize,
    out: Vec<u8>,
}

impl<S, C> LineFraming<S, C> {
    /// Frames `stream` with `codec`.
    pub fn new(stream: S, codec: C) -> LineFraming<S, C> {
        LineFraming {
            stream,
            codec,
            buf: Vec::with_capacity(READ_BUFFER),
            consumed: 0,
            scanned: 0,
            // Allocated only while there is something to write (see `flush`).
            out: Vec::new(),
        }
    }
}

impl<S, C> Framing for LineFraming<S, C>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    C: LineCodec,
{
    type Id = C::Id;
    type Malformed = C::Malformed;

    async fn receive(&mut self) -> Result<(), End> {
        self.compact();
        // `read_buf` is cancel-safe: nothing is read if it is dropped.
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(End::Eof),
            Ok(_) => Ok(()),
            Err(error) => Err(End::Io(error)),
        }
    }

    fn next_request(&mut self) -> Result<Option<Line<C::Id, C::Malformed>>, usize> {
        let pending = &self.buf[self.consumed..];
        // Only bytes not searched yet can hold the newline that ends a line.
        if !pending[self.scanned..].contains(&b'\n') {
            self.scanned = pending.len();
            let max = self.codec.max_line();
            if pending.len() > max {
                return Err(max);
            }
            self.compact();
            return Ok(None);
        }
        match self.codec.decode(pending)? {
            Some((line, used)) => {
                self.consumed += used;
                self.scanned = 0;
                Ok(Some(line))
            }
            None => {
                self.scanned = pending.len();
                self.compact();
                Ok(None)
            }
        }
    }

    fn is_fatal(&self, malformed: &C::Malformed) -> bool {
        self.codec.is_fatal(malformed)
    }

    fn write_outputs(&mut self, id: &C::Id, outputs: &[Output]) {
        self.out.reserve(WRITE_BUFFER);
        self.codec.write_outputs(&mut self.out, id, outputs);
    }

    fn write_pushes(&mut self, outputs: &[Output]) {
        self.out.reserve(WRITE_BUFFER);
        self.codec.write_pushes(&mut self.out, outputs);
    }

    fn write_malformed(&mut self, malformed: &C::Malformed) {
        self.codec.write_malformed(&mut self.out, malformed);
    }

    fn write_oversized(&mut self, max: usize) {
        self.codec.write_oversized(&mut self.out, max);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let written = async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
        }
        .await;
        // Idle sessions hold no write buffer between jobs.
        self.out = Vec::new();
        written
    }

    async fn close(&mut self, end: &End) {
        let _ = self.stream.shutdown().await;
        if matches!(end, End::Oversized(_) | End::Refused(_) | End::Banned(_)) {
            // The miner may still be sending: read (and drop) it until it
            // closes, so the kernel does not answer unread data with a reset
            // that would lose the error line.
            let mut sink = [0u8; 1024];
            let _ = tokio::time::timeout(LINGER, async {
                while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {}
            })
            .await;
        }
    }
}

impl<S, C> LineFraming<S, C> {
    /// Drops the bytes already handled: one move per read, however many
    /// lines the read held.
    fn compact(&mut self) {
        if self.consumed == 0 {
            return;
        }
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        if self.buf.capacity() > READ_BUFFER && self.buf.len() <= READ_BUFFER {
            self.buf.shrink_to(READ_BUFFER);
        }
    }

    /// Bytes held for reading: at most one incomplete line plus one read.
    #[cfg(test)]
    fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }
}

/// Serves one line-framed connection until it ends. Not an `async fn`: the
/// returned future is the connection loop itself, without a copy of the
/// arguments beside it.
pub fn serve<S, C>(
    stream: S,
    codec: C,
    driver: SessionDriver,
    ctx: Arc<ServerContext>,
    permit: ConnectionPermit,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    C: LineCodec,
{
    let seat = Arc::new(Seat::new(driver, None));
    super::connection::serve(LineFraming::new(stream, codec), seat, ctx, permit)
}

/// Serves a plain-TCP Stratum connection whose job pushes the writer tasks
/// write straight to its socket ([`super::push`]).
pub fn serve_pushed(
    stream: TcpStream,
    codec: StratumLines,
    driver: SessionDriver,
    ctx: Arc<ServerContext>,
    permit: ConnectionPermit,
) -> impl Future<Output = ()> + Send {
    let seat = Arc::new(Seat::new(driver, Some(stream)));
    let framing = LineFraming::new(SharedTcp(Arc::clone(&seat)), codec);
    super::connection::serve(framing, seat, ctx, permit)
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::server::stratum::StratumLines;
    use crate::session::Request;

    const MAX_LINE: usize = 512;

    /// Reads every line `framing` can give now, counting blank ones; true
    /// once the ping arrived.
    fn drain(
        framing: &mut LineFraming<tokio::io::DuplexStream, StratumLines>,
        blanks: &mut usize,
    ) -> bool {
        loop {
            match framing.next_request() {
                Ok(Some(Line::Blank)) => *blanks += 1,
                Ok(Some(Line::Request(_, Request::Ping))) => return true,
                Ok(None) => return false,
                Ok(Some(Line::Request(_, other))) => panic!("unexpected request {other:?}"),
                Ok(Some(Line::Malformed(error))) => panic!("unexpected malformed line: {error}"),
                Err(max) => panic!("a blank line counted as over {max} bytes"),
            }
        }
    }

    #[tokio::test]
    async fn a_flood_of_blank_lines_never_piles_up_in_the_buffer() {
        const ROUNDS: usize = 2_000;
        let (mut miner, pool) = tokio::io::duplex(64 * 1024);
        let mut framing = LineFraming::new(pool, StratumLines::new(MAX_LINE));
        tokio::spawn(async move {
            // 4 MiB of blank lines of every shape, then one request.
            let chunk = b"\n \r\n\t\t\n                                \n".repeat(50);
            let rounds = (4 << 20) / chunk.len();
            for _ in 0..rounds {
                miner.write_all(&chunk).await.expect("the pool reads");
            }
            miner
                .write_all(b"{\"id\":1,\"method\":\"mining.ping\",\"params\":[]}\n")
                .await
                .expect("the pool reads");
            // Kept open until the reader is done.
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        });
        let (mut blanks, mut reads) = (0, 0);
        loop {
            framing.receive().await.expect("the stream stays open");
            reads += 1;
            // One read on top of at most one incomplete line.
            assert!(
                framing.buffered() <= MAX_LINE + framing.buf.capacity(),
                "{} bytes buffered after a read",
                framing.buffered()
            );
            assert!(
                framing.buf.capacity() <= 2 * READ_BUFFER + 64,
                "{}",
                framing.buf.capacity()
            );
            if drain(&mut framing, &mut blanks) {
                break;
            }
            assert!(
                framing.buffered() <= MAX_LINE,
                "{} bytes left",
                framing.buffered()
            );
            assert!(reads < ROUNDS * 1_000, "never got the request");
        }
        let chunk_lines = 4 * 50;
        let chunk_len = b"\n \r\n\t\t\n                                \n".len() * 50;
        assert_eq!(blanks, (4 << 20) / chunk_len * chunk_lines);
    }

    #[tokio::test]
    async fn a_partial_line_is_searched_once_and_refused_past_the_limit() {
        let (mut miner, pool) = tokio::io::duplex(64 * 1024);
        let mut framing = LineFraming::new(pool, StratumLines::new(MAX_LINE));
        for _ in 0..MAX_LINE / 64 {
            miner.write_all(&[b'x'; 64]).await.expect("write");
            framing.receive().await.expect("open");
            assert!(matches!(framing.next_request(), Ok(None)));
            assert_eq!(framing.scanned, framing.buffered());
        }
        miner.write_all(b"x").await.expect("write");
        framing.receive().await.expect("open");
        assert!(matches!(framing.next_request(), Err(MAX_LINE)));
    }
}
