//! Line framing (Stratum and Xatum): a [`LineCodec`] over a byte stream
//! (TCP or TLS), driven by the one [`connection`](super::connection) task.
//! Reads go into a buffer bounded by `security.max_request_size`; answers
//! and pushes are queued as bytes and written in one go.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::policy::ConnectionPermit;
use crate::session::Output;

use super::ServerContext;
pub use super::connection::Line;
use super::connection::{End, Framing};
use super::driver::SessionDriver;

/// How long a connection closed for a bad request keeps reading what the
/// miner still sends.
const LINGER: Duration = Duration::from_secs(1);

/// Read buffer a connection keeps while it waits: a request line or two.
/// A longer line grows it; it shrinks back once the line is handled, so an
/// idle session holds no more than this.
const READ_BUFFER: usize = 512;

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
    out: Vec<u8>,
}

impl<S, C> LineFraming<S, C> {
    /// Frames `stream` with `codec`.
    pub fn new(stream: S, codec: C) -> LineFraming<S, C> {
        LineFraming {
            stream,
            codec,
            buf: Vec::with_capacity(READ_BUFFER),
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
        // `read_buf` is cancel-safe: nothing is read if it is dropped.
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(End::Eof),
            Ok(_) => Ok(()),
            Err(error) => Err(End::Io(error)),
        }
    }

    fn next_request(&mut self) -> Result<Option<Line<C::Id, C::Malformed>>, usize> {
        match self.codec.decode(&self.buf)? {
            Some((line, used)) => {
                self.buf.drain(..used);
                if self.buf.capacity() > READ_BUFFER && self.buf.len() <= READ_BUFFER {
                    self.buf.shrink_to(READ_BUFFER);
                }
                Ok(Some(line))
            }
            None => Ok(None),
        }
    }

    fn is_fatal(&self, malformed: &C::Malformed) -> bool {
        self.codec.is_fatal(malformed)
    }

    fn write_outputs(&mut self, id: &C::Id, outputs: &[Output]) {
        self.codec.write_outputs(&mut self.out, id, outputs);
    }

    fn write_pushes(&mut self, outputs: &[Output]) {
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
    super::connection::serve(LineFraming::new(stream, codec), driver, ctx, permit)
}
