//! The shared state behind every connection: the node under a lock, the
//! event broadcast and the producer's pause switch. The lock is never held
//! across an `.await`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use super::chain::ChainEvent;
use super::events::{self, Event};
use super::node::Node;

/// Events buffered per subscriber before a slow one starts missing some.
pub const EVENT_BUFFER: usize = 1024;

/// The daemon state shared by the server, the producer and the handle.
#[derive(Debug)]
pub struct Daemon {
    node: Mutex<Node>,
    events: broadcast::Sender<Event>,
    paused: AtomicBool,
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
        }
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

    /// Adds `count` blocks from the rest of the network now.
    pub fn advance(&self, count: u64) {
        let mut node = self.node();
        for _ in 0..count {
            let changes = node.produce(now_ms());
            self.publish(&node, &changes);
        }
    }
}
