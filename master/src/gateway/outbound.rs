//! The master's half of one slave stream: a bounded queue of frames, a
//! second bounded lane for bans, and a way to end the stream with a status
//! from anywhere.
//!
//! The two lanes differ in what a full queue means. The frame queue
//! (Welcome, jobs, acks, block results) is filled without waiting: a slave
//! that lets it fill up does not read and is disconnected. The ban lane is
//! filled with back-pressure by the stream's ban sync, which reads the bans
//! from the master's list as the lane drains, so any number of bans reaches
//! a slave without buffering them and without disconnecting it. The frame
//! queue is always sent first: the Welcome precedes every ban, and a burst
//! of bans never delays a job.

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

/// Ban frames queued for one slave at most; the ban sync waits for room.
pub const BAN_LANE: usize = 64;

/// What the gateway returns to tonic as the response stream: the queued
/// frames, then either the end of the stream (every sender dropped) or the
/// status it was closed with.
#[derive(Debug)]
pub struct OutboundStream {
    frames: mpsc::Receiver<MasterMessage>,
    bans: mpsc::Receiver<MasterMessage>,
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
        match self.frames.poll_recv(cx) {
            Poll::Ready(frame) => return Poll::Ready(frame.map(Ok)),
            Poll::Pending => {}
        }
        match self.bans.poll_recv(cx) {
            Poll::Ready(Some(ban)) => Poll::Ready(Some(Ok(ban))),
            // No ban sync (any more): the frame queue decides the end.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
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
    bans: mpsc::Sender<MasterMessage>,
    closer: Closer,
}

/// The sending side of one slave's ban lane; see [`BanLane::send`].
#[derive(Debug)]
pub struct BanLane {
    bans: mpsc::Sender<MasterMessage>,
}

impl BanLane {
    /// Queues a ban frame, waiting while the lane is full (the slave reads
    /// at its own pace); fails only when the stream is gone.
    pub async fn send(&self, frame: MasterMessage) -> Result<(), PushError> {
        self.bans.send(frame).await.map_err(|_| PushError::Closed)
    }
}

impl Outbox {
    /// A new stream: its sending side and what tonic streams to the slave.
    pub fn new() -> (Outbox, OutboundStream) {
        let (frames, receiver) = mpsc::channel(OUTBOUND_QUEUE);
        let (bans, ban_receiver) = mpsc::channel(BAN_LANE);
        let (close, close_receiver) = oneshot::channel();
        let outbox = Outbox {
            frames,
            bans,
            closer: Closer(Arc::new(Mutex::new(Some(close)))),
        };
        let stream = OutboundStream {
            frames: receiver,
            bans: ban_receiver,
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

    /// The stream's ban lane.
    pub fn ban_lane(&self) -> BanLane {
        BanLane {
            bans: self.bans.clone(),
        }
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
    async fn frames_go_before_bans_and_a_full_ban_lane_waits() {
        let (outbox, mut stream) = Outbox::new();
        let lane = outbox.ban_lane();
        for seq in 0..BAN_LANE as u64 {
            lane.send(ack(1_000 + seq)).await.expect("room in the lane");
        }
        let waiting = tokio::spawn(async move { lane.send(ack(9_999)).await });
        outbox.push(ack(1)).expect("room in the queue");
        let first = stream.next().await.expect("a frame").expect("not a status");
        assert_eq!(first, ack(1), "the frame queue goes first");
        for seq in 0..BAN_LANE as u64 {
            let frame = stream.next().await.expect("a frame").expect("not a status");
            assert_eq!(frame, ack(1_000 + seq));
        }
        let last = stream.next().await.expect("a frame").expect("not a status");
        assert_eq!(
            last,
            ack(9_999),
            "the waiting ban went out once there was room"
        );
        waiting
            .await
            .expect("the sender task ran")
            .expect("the ban was queued");
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
