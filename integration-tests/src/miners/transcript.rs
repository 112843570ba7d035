//! A record of everything a test miner sent and received, for assertions and
//! for reading a failed test like a packet capture.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Which way bytes crossed the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the miner (client) to the pool (server).
    ToServer,
    /// From the pool (server) to the miner (client).
    ToClient,
}

/// One message as it crossed the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A JSON line (without its newline) or a WebSocket text frame.
    Text(String),
    /// Raw bytes: a WebSocket binary frame, or bytes sent with `send_raw_bytes`.
    Binary(Vec<u8>),
    /// A WebSocket close frame.
    Close {
        /// The close code (1000 normal, 1001 going away, 1008 policy violation…).
        code: u16,
        /// The reason text.
        reason: String,
    },
}

/// One recorded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    /// Which way it went.
    pub direction: Direction,
    /// When it was sent or received.
    pub at: Instant,
    /// What it was.
    pub frame: Frame,
}

/// A bounded, shared record of one session's traffic. When full, the oldest
/// records are dropped, so a long load test costs a fixed amount of memory;
/// a capacity of 0 records nothing.
#[derive(Debug, Clone)]
pub struct Transcript {
    inner: Arc<Mutex<TranscriptInner>>,
}

#[derive(Debug)]
struct TranscriptInner {
    capacity: usize,
    dropped: u64,
    records: VecDeque<WireRecord>,
}

impl Transcript {
    /// An empty transcript keeping at most `capacity` records.
    pub fn new(capacity: usize) -> Transcript {
        Transcript {
            inner: Arc::new(Mutex::new(TranscriptInner {
                capacity,
                dropped: 0,
                records: VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TranscriptInner> {
        // A poisoned lock only means a panicking test thread; the records stay valid.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a record, dropping the oldest one when full.
    pub fn record(&self, direction: Direction, frame: Frame) {
        let mut inner = self.lock();
        if inner.capacity == 0 {
            inner.dropped += 1;
            return;
        }
        if inner.records.len() == inner.capacity {
            inner.records.pop_front();
            inner.dropped += 1;
        }
        inner.records.push_back(WireRecord {
            direction,
            at: Instant::now(),
            frame,
        });
    }

    /// A copy of every record kept, oldest first.
    pub fn records(&self) -> Vec<WireRecord> {
        self.lock().records.iter().cloned().collect()
    }

    /// The text messages that went one way, oldest first.
    pub fn texts(&self, direction: Direction) -> Vec<String> {
        self.lock()
            .records
            .iter()
            .filter(|r| r.direction == direction)
            .filter_map(|r| match &r.frame {
                Frame::Text(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// How many records were dropped because the transcript was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_records_within_capacity() {
        let transcript = Transcript::new(2);
        for i in 0..3 {
            transcript.record(Direction::ToServer, Frame::Text(i.to_string()));
        }
        transcript.record(Direction::ToClient, Frame::Binary(vec![1]));
        assert_eq!(transcript.texts(Direction::ToServer), vec!["2"]);
        assert_eq!(transcript.records().len(), 2);
        assert_eq!(transcript.dropped(), 2);
    }

    #[test]
    fn zero_capacity_records_nothing() {
        let transcript = Transcript::new(0);
        transcript.record(Direction::ToServer, Frame::Text("x".into()));
        assert!(transcript.records().is_empty());
        assert_eq!(transcript.dropped(), 1);
    }
}
