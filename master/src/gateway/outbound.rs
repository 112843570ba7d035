//! The master's half of one slave stream: a bounded queue of frames, and a
//! way to end the stream with a status from anywhere.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::Status;
use tos_pool_proto::v1::MasterMessage;

/// Frames queued for one slave. The queue is bounded: a slave that lets it
/// fill up is not reading its stream, and is disconnected rather than
/// buffered for without bound (see [`Outbox::push`]). At a job a second this
/// is minutes of jobs, far more than a healthy slave ever lags.
pub const OUTBOUND_QUEUE: usize = 256;

/// What the gateway returns to tonic as the response stream: the queued
/// frames, then either the end of the stream (every sender dropped) or the
/// status it was closed with.
#[derive(Debug)]
pub struct OutboundStream {
    frames: mpsc::Receiver<MasterMessage>,
    close: Option<oneshot::Receiver<Status>>,
    done: bool,
}

impl Stream for OutboundStream {
    type Item = Result<MasterMessage, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(close) = self.close.as_mut()
            && let Poll::Ready(outcome) = Pin::new(close).poll(cx)
        {
            self.close = None;
            if let Ok(status) = outcome {
                self.done = true;
                return Poll::Ready(Some(Err(status)));
            }
        }
        self.frames.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}

/// Ends one stream with a status; cheap to clone, and only the first close
/// counts.
#[derive(Debug, Clone)]
pub struct Closer(Arc<Mutex<Option<oneshot::Sender<Status>>>>);

impl Closer {
    /// Ends the stream with `status` (after nothing else: frames still queued
    /// are dropped). Does nothing if the stream was already closed.
    pub fn close(&self, status: Status) {
        let sender = match self.0.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(sender) = sender {
            let _ = sender.send(status);
        }
    }
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue is full: the slave does not read.
    Full,
    /// The stream is gone.
    Closed,
}

/// The sending side of one slave's stream.
#[derive(Debug, Clone)]
pub struct Outbox {
    frames: mpsc::Sender<MasterMessage>,
    closer: Closer,
}

impl Outbox {
    /// A new stream: its sending side and what tonic streams to the slave.
    pub fn new() -> (Outbox, OutboundStream) {
        let (frames, receiver) = mpsc::channel(OUTBOUND_QUEUE);
        let (close, close_receiver) = oneshot::channel();
        let outbox = Outbox {
            frames,
            closer: Closer(Arc::new(Mutex::new(Some(close)))),
        };
        let stream = OutboundStream {
            frames: receiver,
            close: Some(close_receiver),
            done: false,
        };
        (outbox, stream)
    }

    /// Queues a frame without waiting. A full queue is the slave's fault:
    /// the caller closes the stream (the slave reconnects and resumes; acks
    /// are idempotent and jobs are re-sent after Welcome, so nothing is lost).
    pub fn push(&self, frame: MasterMessage) -> Result<(), PushError> {
        self.frames.try_send(frame).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => PushError::Full,
            mpsc::error::TrySendError::Closed(_) => PushError::Closed,
        })
    }

    /// What closes this stream.
    pub fn closer(&self) -> Closer {
        self.closer.clone()
    }

    /// Ends the stream with `status`.
    pub fn close(&self, status: Status) {
        self.closer.close(status);
    }

    /// Resolves when tonic dropped the response stream (the slave is gone or
    /// the stream was closed).
    pub async fn closed(&self) {
        self.frames.closed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;
    use tos_pool_proto::v1::{Ack, master_message};

    fn ack(seq: u64) -> MasterMessage {
        MasterMessage {
            kind: Some(master_message::Kind::Ack(Ack { up_to_seq: seq })),
        }
    }

    #[tokio::test]
    async fn frames_flow_then_the_stream_ends_when_every_sender_is_gone() {
        let (outbox, mut stream) = Outbox::new();
        outbox.push(ack(1)).expect("room in the queue");
        outbox.push(ack(2)).expect("room in the queue");
        drop(outbox);
        let frames: Vec<_> = (&mut stream).collect().await;
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn close_ends_the_stream_with_the_status_once() {
        let (outbox, mut stream) = Outbox::new();
        outbox.close(Status::aborted("resume"));
        outbox.close(Status::internal("ignored"));
        let first = stream.next().await.expect("one item");
        assert_eq!(first.expect_err("a status").code(), tonic::Code::Aborted);
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn a_full_queue_is_reported_not_buffered() {
        let (outbox, _stream) = Outbox::new();
        for seq in 0..OUTBOUND_QUEUE as u64 {
            outbox.push(ack(seq)).expect("room in the queue");
        }
        assert_eq!(outbox.push(ack(0)), Err(PushError::Full));
    }
}
