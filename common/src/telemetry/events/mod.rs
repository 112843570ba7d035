//! New Relic custom events (`FROM ShareSubmission SELECT …`), sent as OTLP
//! log records that carry the attribute `newrelic.event.type`.
//!
//! [`EventSink::record`] never blocks: share events are sampled and capped
//! first, then every event goes into a bounded queue that a background thread
//! batches to `/v1/logs`. A full queue drops the event and counts it in
//! `tos_pool_events_dropped_total`. A disabled sink does nothing at all.

mod gate;
pub(crate) mod worker;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::logs::AnyValue;

use crate::metrics::{EventDrop, Metrics};
use gate::{Admission, ShareGate};
use worker::Message;

/// The attribute New Relic reads the event type from.
pub const EVENT_TYPE_ATTRIBUTE: &str = "newrelic.event.type";

/// One share as the pool judged it (sampled before sending).
#[derive(Debug, Clone, PartialEq)]
pub struct ShareSubmission {
    /// Miner's address.
    pub address: Arc<str>,
    /// Worker name.
    pub worker: Arc<str>,
    /// The share's difficulty (the session's target difficulty).
    pub difficulty: u64,
    /// Whether the share was accepted.
    pub valid: bool,
    /// Why it was refused (`None` when valid).
    pub reason: Option<Cow<'static, str>>,
}

/// A block the pool found and submitted.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockFound {
    /// Chain height of the block.
    pub height: u64,
    /// Block hash, hex.
    pub hash: Arc<str>,
    /// Address of the miner whose share it was.
    pub finder: Arc<str>,
    /// Reward in atomic units (10^-8 TOS).
    pub reward: u64,
}

/// A payout transfer sent to a miner.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    /// Receiving address.
    pub address: Arc<str>,
    /// Amount in atomic units (10^-8 TOS).
    pub amount: u64,
    /// Hash of the transaction carrying it.
    pub tx_hash: Arc<str>,
}

/// A miner connection, for connect and disconnect events.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerSession {
    /// Miner's address.
    pub address: Arc<str>,
    /// Worker name.
    pub worker: Arc<str>,
    /// Protocol door: `stratum`, `stratum+tls`, `ws`, `wss`, `xatum`.
    pub protocol: Arc<str>,
    /// The slave holding the connection.
    pub slave: Arc<str>,
    /// That slave's region.
    pub region: Arc<str>,
}

/// A custom event; its variant name is its New Relic event type.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `ShareSubmission`: address, worker, difficulty, valid, reason.
    ShareSubmission(ShareSubmission),
    /// `BlockFound`: height, hash, finder, reward.
    BlockFound(BlockFound),
    /// `Payment`: address, amount, txHash.
    Payment(Payment),
    /// `MinerConnected`: address, worker, protocol, slave, region.
    MinerConnected(MinerSession),
    /// `MinerDisconnected`: address, worker, protocol, slave, region.
    MinerDisconnected(MinerSession),
}

impl Event {
    /// The New Relic event type (`FROM <type>` in NRQL).
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::ShareSubmission(_) => "ShareSubmission",
            Event::BlockFound(_) => "BlockFound",
            Event::Payment(_) => "Payment",
            Event::MinerConnected(_) => "MinerConnected",
            Event::MinerDisconnected(_) => "MinerDisconnected",
        }
    }

    /// The event's attributes as New Relic will show them, type included.
    pub(crate) fn attributes(&self) -> Vec<(&'static str, AnyValue)> {
        let text = |value: &Arc<str>| AnyValue::from(value.to_string());
        let mut out = vec![(EVENT_TYPE_ATTRIBUTE, AnyValue::from(self.event_type()))];
        match self {
            Event::ShareSubmission(share) => {
                out.push(("address", text(&share.address)));
                out.push(("worker", text(&share.worker)));
                out.push(("difficulty", amount(share.difficulty)));
                out.push(("valid", AnyValue::Boolean(share.valid)));
                if let Some(reason) = &share.reason {
                    out.push(("reason", AnyValue::from(reason.to_string())));
                }
            }
            Event::BlockFound(block) => {
                out.push(("height", amount(block.height)));
                out.push(("hash", text(&block.hash)));
                out.push(("finder", text(&block.finder)));
                out.push(("reward", amount(block.reward)));
            }
            Event::Payment(payment) => {
                out.push(("address", text(&payment.address)));
                out.push(("amount", amount(payment.amount)));
                out.push(("txHash", text(&payment.tx_hash)));
            }
            Event::MinerConnected(session) | Event::MinerDisconnected(session) => {
                out.push(("address", text(&session.address)));
                out.push(("worker", text(&session.worker)));
                out.push(("protocol", text(&session.protocol)));
                out.push(("slave", text(&session.slave)));
                out.push(("region", text(&session.region)));
            }
        }
        out
    }
}

/// OTLP integers are signed; values past `i64::MAX` saturate.
fn amount(value: u64) -> AnyValue {
    AnyValue::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

/// Where services send custom events. Cheap to clone; [`EventSink::record`]
/// never blocks. `EventSink::default()` is a disabled sink.
#[derive(Debug, Clone, Default)]
pub struct EventSink {
    inner: Option<Arc<SinkInner>>,
}

#[derive(Debug)]
struct SinkInner {
    queue: SyncSender<Message>,
    gate: ShareGate,
    origin: Instant,
    metrics: Metrics,
}

impl EventSink {
    /// A sink that drops everything without counting: New Relic is off.
    pub fn disabled() -> EventSink {
        EventSink::default()
    }

    pub(crate) fn new(
        queue: SyncSender<Message>,
        sample_rate: f64,
        max_share_events_per_second: u32,
        metrics: Metrics,
    ) -> EventSink {
        EventSink {
            inner: Some(Arc::new(SinkInner {
                queue,
                gate: ShareGate::new(sample_rate, max_share_events_per_second, Duration::ZERO),
                origin: Instant::now(),
                metrics,
            })),
        }
    }

    /// Whether events go anywhere (New Relic export is on).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues `event` for New Relic without waiting. Share events are
    /// sampled and rate capped first; an event that finds the queue full is
    /// dropped and counted.
    pub fn record(&self, event: Event) {
        let Some(inner) = &self.inner else {
            return;
        };
        if matches!(event, Event::ShareSubmission(_)) && !inner.admit_share() {
            return;
        }
        inner.enqueue(event);
    }

    /// Like [`EventSink::record`] for a share event, but `make` runs only
    /// when the event is exported (New Relic on, sampled in, under the cap):
    /// the share path pays for building it (an address to text) only then.
    pub fn record_share(&self, make: impl FnOnce() -> ShareSubmission) {
        let Some(inner) = &self.inner else {
            return;
        };
        if inner.admit_share() {
            inner.enqueue(Event::ShareSubmission(make()));
        }
    }
}

impl SinkInner {
    /// Whether the next share event passes sampling and the per-second cap
    /// (a capped one is counted as dropped).
    fn admit_share(&self) -> bool {
        match self
            .gate
            .admit(rand::random::<f64>(), self.origin.elapsed())
        {
            Admission::Admitted => true,
            Admission::SampledOut => false,
            Admission::RateLimited => {
                self.metrics.event_dropped(EventDrop::RateLimit);
                false
            }
        }
    }

    fn enqueue(&self, event: Event) {
        match self
            .queue
            .try_send(Message::Event(SystemTime::now(), event))
        {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.metrics.event_dropped(EventDrop::QueueFull),
            Err(TrySendError::Disconnected(_)) => self.metrics.event_dropped(EventDrop::Closed),
        }
    }
}

#[cfg(test)]
mod tests;
