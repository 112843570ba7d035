//! The shared state behind every connection: the node under a lock, the
//! event broadcast and the producer's pause switch. The lock is never held
//! across an `.await`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use super::chain::ChainEvent;
use super::events::{self, Event};
use super::journal::{Journal, JournalError};
use super::node::Node;
use super::persist::{self, ApplyError, Record};

/// Events buffered per subscriber before a slow one starts missing some.
pub const EVENT_BUFFER: usize = 1024;

/// The daemon state shared by the server, the producer and the handle.
#[derive(Debug)]
pub struct Daemon {
    node: Mutex<Node>,
    events: broadcast::Sender<Event>,
    paused: AtomicBool,
    /// Where chain changes are made durable; `None` keeps them in memory.
    journal: Mutex<Option<Journal>>,
}

/// Why a change to the chain was not made.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The node refused it; nothing changed.
    #[error(transparent)]
    Refused(#[from] ApplyError),
    /// It could not be made durable; nothing changed.
    #[error("cannot persist the change: {0}")]
    Journal(#[from] JournalError),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Daemon {
    /// Wraps `node`; `paused` starts the producer paused.
    pub fn new(node: Node, paused: bool) -> Daemon {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Daemon {
            node: Mutex::new(node),
            events,
            paused: AtomicBool::new(paused),
            journal: Mutex::new(None),
        }
    }

    /// Makes every later [`commit`](Self::commit) durable in `journal`.
    pub fn with_journal(self, journal: Journal) -> Daemon {
        Daemon {
            journal: Mutex::new(Some(journal)),
            ..self
        }
    }

    /// Changes the chain of `node` (the guard of [`node`](Self::node), so
    /// journal order is change order): checks `record`, journals it with
    /// fsync when a journal is open, then applies it. Events are the
    /// caller's to publish, after this returns.
    pub fn commit(&self, node: &mut Node, record: Record) -> Result<Vec<ChainEvent>, CommitError> {
        persist::check(node, &record)?;
        if let Some(journal) = self
            .journal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_mut()
        {
            journal.append(&persist::encode(&record))?;
        }
        Ok(persist::apply(node, &record)?)
    }

    /// The node, locked. A poisoned lock is recovered: the node's state is
    /// always consistent between calls.
    pub fn node(&self) -> MutexGuard<'_, Node> {
        self.node
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Sends the events for `changes` (made on `node`) to every subscriber.
    pub fn publish(&self, node: &Node, changes: &[ChainEvent]) {
        for event in events::render(node, changes, now_ms()) {
            self.send(event);
        }
    }

    /// Sends one event to every subscriber (none listening is fine).
    pub fn send(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Whether the producer is paused.
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Pauses or resumes the producer.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Adds `count` blocks from the rest of the network now; stops at the
    /// first that cannot be journaled.
    pub fn advance(&self, count: u64) -> Result<(), CommitError> {
        let mut node = self.node();
        for _ in 0..count {
            let record = Record::Produce { now_ms: now_ms() };
            let changes = self.commit(&mut node, record)?;
            self.publish(&node, &changes);
        }
        Ok(())
    }
}
