use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::logs::AnyValue;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};

use crate::metrics::Signal;

use super::worker::{EventWorker, Message, WorkerLimits};
use super::*;

fn share(valid: bool) -> Event {
    Event::ShareSubmission(ShareSubmission {
        address: "tos1miner".into(),
        worker: "rig1".into(),
        difficulty: 5000,
        valid,
        reason: (!valid).then_some(Cow::Borrowed("low difficulty")),
    })
}

fn session() -> MinerSession {
    MinerSession {
        address: "tos1miner".into(),
        worker: "rig1".into(),
        protocol: "stratum".into(),
        slave: "slave-eu-1".into(),
        region: "eu".into(),
    }
}

fn attribute<'a>(attrs: &'a [(&'static str, AnyValue)], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

#[test]
fn every_event_carries_its_type_and_fields() {
    let cases = [
        (
            share(false),
            "ShareSubmission",
            &["address", "worker", "difficulty", "valid", "reason"][..],
        ),
        (
            Event::BlockFound(BlockFound {
                height: 42,
                hash: "ab".repeat(32).into(),
                finder: "tos1miner".into(),
                reward: u64::MAX,
            }),
            "BlockFound",
            &["height", "hash", "finder", "reward"][..],
        ),
        (
            Event::Payment(Payment {
                address: "tos1miner".into(),
                amount: 97_486_707,
                tx_hash: "cd".repeat(32).into(),
            }),
            "Payment",
            &["address", "amount", "txHash"][..],
        ),
        (
            Event::MinerConnected(session()),
            "MinerConnected",
            &["address", "worker", "protocol", "slave", "region"][..],
        ),
        (
            Event::MinerDisconnected(session()),
            "MinerDisconnected",
            &["address", "worker", "protocol", "slave", "region"][..],
        ),
    ];
    for (event, kind, keys) in cases {
        assert_eq!(event.event_type(), kind);
        let attrs = event.attributes();
        assert_eq!(
            attribute(&attrs, EVENT_TYPE_ATTRIBUTE),
            Some(&AnyValue::from(kind))
        );
        for key in keys {
            assert!(attribute(&attrs, key).is_some(), "{kind} lacks {key}");
        }
        assert_eq!(attrs.len(), keys.len() + 1, "{kind}: {attrs:?}");
    }
    let valid = share(true).attributes();
    assert!(attribute(&valid, "reason").is_none());
    assert_eq!(attribute(&valid, "valid"), Some(&AnyValue::Boolean(true)));
    assert_eq!(attribute(&valid, "difficulty"), Some(&AnyValue::Int(5000)));
    let block = Event::BlockFound(BlockFound {
        height: 1,
        hash: "00".into(),
        finder: "x".into(),
        reward: u64::MAX,
    });
    assert_eq!(
        attribute(&block.attributes(), "reward"),
        Some(&AnyValue::Int(i64::MAX)),
        "amounts past i64 saturate"
    );
}

#[test]
fn disabled_sink_does_nothing() {
    let sink = EventSink::disabled();
    assert!(!sink.is_enabled());
    for _ in 0..1000 {
        sink.record(share(true));
        sink.record(Event::MinerConnected(session()));
    }
    assert!(!EventSink::default().is_enabled());
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let metrics = Metrics::new();
    let (queue, receiver) = sync_channel(2);
    let sink = EventSink::new(queue, 1.0, 1_000_000, metrics.clone());
    for _ in 0..5 {
        sink.clone().record(Event::MinerConnected(session()));
    }
    assert_eq!(metrics.events_dropped(EventDrop::QueueFull), 3);
    assert_eq!(receiver.try_iter().count(), 2);
    drop(receiver);
    sink.record(Event::MinerDisconnected(session()));
    assert_eq!(metrics.events_dropped(EventDrop::Closed), 1);
}

#[test]
fn shares_are_sampled_and_capped_other_events_are_not() {
    let metrics = Metrics::new();
    let (queue, receiver) = sync_channel(100);
    let never_sampled = EventSink::new(queue.clone(), 0.0, 1000, metrics.clone());
    for _ in 0..10 {
        never_sampled.record(share(true));
    }
    assert_eq!(receiver.try_iter().count(), 0, "rate 0 samples nothing");
    assert_eq!(metrics.events_dropped(EventDrop::RateLimit), 0);

    let no_budget = EventSink::new(queue, 1.0, 0, metrics.clone());
    for _ in 0..10 {
        no_budget.record(share(false));
    }
    no_budget.record(Event::MinerConnected(session()));
    assert_eq!(metrics.events_dropped(EventDrop::RateLimit), 10);
    let queued: Vec<_> = receiver.try_iter().collect();
    assert_eq!(queued.len(), 1, "the cap applies to shares only");
    assert!(matches!(
        &queued[0],
        Message::Event(_, Event::MinerConnected(_))
    ));
}

#[test]
fn a_share_event_is_built_only_when_it_is_exported() {
    let built = std::cell::Cell::new(0);
    let make = || {
        built.set(built.get() + 1);
        match share(true) {
            Event::ShareSubmission(share) => share,
            _ => unreachable!("share() builds a share event"),
        }
    };
    EventSink::disabled().record_share(make);
    let metrics = Metrics::new();
    let (queue, receiver) = sync_channel(100);
    EventSink::new(queue.clone(), 0.0, 1000, metrics.clone()).record_share(make);
    EventSink::new(queue.clone(), 1.0, 0, metrics.clone()).record_share(make);
    assert_eq!(built.get(), 0, "off, sampled out or capped: never built");
    assert_eq!(metrics.events_dropped(EventDrop::RateLimit), 1);

    EventSink::new(queue, 1.0, 1000, metrics).record_share(make);
    assert_eq!(built.get(), 1);
    let queued: Vec<_> = receiver.try_iter().collect();
    assert!(matches!(
        &queued[..],
        [Message::Event(_, Event::ShareSubmission(_))]
    ));
}

/// Keeps what it is given as `(event type, attribute count)`, or fails.
#[derive(Debug, Clone, Default)]
struct FakeExporter {
    seen: Arc<Mutex<Vec<(String, usize)>>>,
    fail: bool,
}

impl LogExporter for FakeExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        if self.fail {
            return Err(OTelSdkError::InternalFailure("receiver down".to_string()));
        }
        let mut seen = self.seen.lock().expect("test lock");
        for (record, _) in batch.iter() {
            seen.push((
                record.event_name().unwrap_or_default().to_string(),
                record.attributes_iter().count(),
            ));
        }
        Ok(())
    }
}

const LIMITS: WorkerLimits = WorkerLimits {
    capacity: 64,
    max_batch: 3,
    interval: Duration::from_secs(3600),
};

#[test]
fn the_worker_exports_in_batches_on_flush_and_on_shutdown() {
    let exporter = FakeExporter::default();
    let metrics = Metrics::new();
    let mut worker = EventWorker::spawn(exporter.clone(), metrics.clone(), LIMITS).expect("thread");
    let sink = EventSink::new(worker.queue(), 1.0, 1000, metrics.clone());
    sink.record(share(true));
    sink.record(Event::MinerConnected(session()));
    assert!(worker.flush(Duration::from_secs(30)));
    assert_eq!(
        *exporter.seen.lock().expect("test lock"),
        vec![
            ("ShareSubmission".to_string(), 5),
            ("MinerConnected".to_string(), 6)
        ]
    );
    for _ in 0..4 {
        sink.record(Event::MinerDisconnected(session()));
    }
    worker.shutdown();
    assert_eq!(exporter.seen.lock().expect("test lock").len(), 6);
    sink.record(Event::MinerDisconnected(session()));
    assert_eq!(metrics.events_dropped(EventDrop::Closed), 1);
    assert_eq!(metrics.export_failures(Signal::Logs), 0);
}

#[test]
fn failed_exports_are_counted() {
    let exporter = FakeExporter {
        fail: true,
        ..FakeExporter::default()
    };
    let metrics = Metrics::new();
    let worker = EventWorker::spawn(exporter, metrics.clone(), LIMITS).expect("thread");
    let sink = EventSink::new(worker.queue(), 1.0, 1000, metrics.clone());
    for _ in 0..7 {
        sink.record(Event::MinerConnected(session()));
    }
    assert!(worker.flush(Duration::from_secs(30)));
    // Two full batches of three, then the flush of the last one.
    assert_eq!(metrics.export_failures(Signal::Logs), 3);
}
