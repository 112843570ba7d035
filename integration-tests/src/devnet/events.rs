//! The daemon's event stream: what a WebSocket client can subscribe to and
//! the payload pushed for each chain change.

use serde_json::{Value, json};

use super::chain::ChainEvent;
use super::node::Node;
use super::views;

/// An event a client can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new template is available (new top block, or a difficulty change).
    NewBlockTemplate,
    /// A block was added.
    NewBlock,
    /// A block got a topoheight.
    BlockOrdered,
    /// A block left the DAG order.
    BlockOrphaned,
    /// The stable height moved.
    StableHeightChanged,
}

impl EventKind {
    /// Every event kind.
    pub const ALL: [EventKind; 5] = [
        EventKind::NewBlockTemplate,
        EventKind::NewBlock,
        EventKind::BlockOrdered,
        EventKind::BlockOrphaned,
        EventKind::StableHeightChanged,
    ];

    /// The name used in `subscribe {notify}` and in pushes.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::NewBlockTemplate => "new_block_template",
            EventKind::NewBlock => "new_block",
            EventKind::BlockOrdered => "block_ordered",
            EventKind::BlockOrphaned => "block_orphaned",
            EventKind::StableHeightChanged => "stable_height_changed",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One event: its kind and the `result` object pushed to subscribers
/// (which carries `"event": <name>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The pushed `result` object.
    pub payload: Value,
}

impl Event {
    fn new(kind: EventKind, mut payload: Value) -> Event {
        if let Value::Object(map) = &mut payload {
            map.insert("event".into(), Value::from(kind.name()));
        }
        Event { kind, payload }
    }

    /// The push frame for a subscription made with request id `id`.
    pub fn frame(&self, id: &Value) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "result": self.payload})
    }
}

/// The `new_block_template` event: a template for the daemon's own miner key
/// (the only key it accepts blocks for).
pub fn new_template(node: &Node, now_ms: u64) -> Event {
    let template = node.template(node.miner_key(), now_ms);
    Event::new(EventKind::NewBlockTemplate, views::template(&template))
}

/// The events a client sees for `changes`.
pub fn render(node: &Node, changes: &[ChainEvent], now_ms: u64) -> Vec<Event> {
    let chain = node.chain();
    let mut events = Vec::new();
    for change in changes {
        match change {
            ChainEvent::BlockAdded(hash) => {
                if let Some(block) = chain.block(hash) {
                    events.push(Event::new(
                        EventKind::NewBlock,
                        views::block(node, block, false),
                    ));
                    events.push(Event::new(
                        EventKind::BlockOrdered,
                        json!({
                            "block_hash": hex::encode(hash),
                            "block_type": chain.block_type(block),
                            "topoheight": block.topoheight,
                        }),
                    ));
                }
                events.push(new_template(node, now_ms));
            }
            ChainEvent::TopChanged(_) => events.push(new_template(node, now_ms)),
            ChainEvent::BlockOrphaned {
                hash,
                old_topoheight,
            } => events.push(Event::new(
                EventKind::BlockOrphaned,
                json!({
                    "block_hash": hex::encode(hash),
                    "block_type": "Orphaned",
                    "old_topoheight": old_topoheight,
                }),
            )),
            ChainEvent::StableHeightChanged { previous, new } => events.push(Event::new(
                EventKind::StableHeightChanged,
                json!({"previous_stable_height": previous, "new_stable_height": new}),
            )),
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(EventKind::from_name("new_transaction"), None);
    }

    #[test]
    fn frame_carries_the_subscription_id_and_event_name() {
        let event = Event::new(EventKind::BlockOrphaned, json!({"block_hash": "ab"}));
        let frame = event.frame(&json!(3));
        assert_eq!(
            frame,
            json!({"jsonrpc":"2.0","id":3,"result":{"block_hash":"ab","event":"block_orphaned"}})
        );
    }
}
