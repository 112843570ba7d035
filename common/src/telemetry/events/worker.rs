//! The thread that turns queued events into OTLP log records and exports them
//! in batches: when `max_batch` are waiting, every interval, on a flush and at
//! shutdown. It also reports dropped events, at most once per interval.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord, SdkLogger, SdkLoggerProvider};

use super::Event;
use crate::metrics::{EventDrop, Metrics, Signal};
use crate::telemetry::throttle::LogThrottle;

/// What travels through the queue.
#[derive(Debug)]
pub(crate) enum Message {
    /// An event and when it happened.
    Event(SystemTime, Event),
    /// Export what is buffered, then answer.
    Flush(SyncSender<()>),
    /// Export what is buffered and stop.
    Shutdown,
}

/// Owns the export thread; dropping it flushes and stops the thread.
#[derive(Debug)]
pub(crate) struct EventWorker {
    queue: SyncSender<Message>,
    thread: Option<JoinHandle<()>>,
}

/// Sizes and timing of the event pipeline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkerLimits {
    /// Events the queue holds before `record` starts dropping.
    pub(crate) capacity: usize,
    /// Events per export request.
    pub(crate) max_batch: usize,
    /// Longest time an event waits to be exported.
    pub(crate) interval: Duration,
}

impl EventWorker {
    /// Starts the thread exporting through `exporter` (its resource already
    /// set).
    pub(crate) fn spawn<E: LogExporter + 'static>(
        exporter: E,
        metrics: Metrics,
        limits: WorkerLimits,
    ) -> std::io::Result<EventWorker> {
        let (queue, receiver) = sync_channel(limits.capacity);
        let thread = std::thread::Builder::new()
            .name("tos-telemetry-events".to_string())
            .spawn(move || run(receiver, exporter, metrics, limits))?;
        Ok(EventWorker {
            queue,
            thread: Some(thread),
        })
    }

    /// A sender for event sinks.
    pub(crate) fn queue(&self) -> SyncSender<Message> {
        self.queue.clone()
    }

    /// Exports everything queued before this call; waits at most `timeout`
    /// for the answer. True when the flush finished in time.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let (ack, done) = sync_channel(1);
        if self.queue.send(Message::Flush(ack)).is_err() {
            return false;
        }
        done.recv_timeout(timeout).is_ok()
    }

    /// Exports what is queued and stops the thread.
    pub(crate) fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        // Blocks only while the queue is full; the thread keeps draining it.
        let _ = self.queue.send(Message::Shutdown);
        if thread.join().is_err() {
            tracing::error!("the custom event export thread panicked");
        }
    }
}

impl Drop for EventWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Batcher<E> {
    exporter: E,
    logger: SdkLogger,
    scope: InstrumentationScope,
    batch: Vec<SdkLogRecord>,
    metrics: Metrics,
    origin: Instant,
    failures: LogThrottle,
}

fn run<E: LogExporter>(
    receiver: Receiver<Message>,
    exporter: E,
    metrics: Metrics,
    limits: WorkerLimits,
) {
    // A provider without processors: only its record factory is used.
    let provider = SdkLoggerProvider::builder().build();
    let mut batcher = Batcher {
        exporter,
        logger: provider.logger("tos-pool"),
        scope: InstrumentationScope::builder("tos-pool").build(),
        batch: Vec::with_capacity(limits.max_batch),
        metrics,
        origin: Instant::now(),
        failures: LogThrottle::new(limits.interval.max(Duration::from_secs(10))),
    };
    let mut drops_reported = 0;
    let mut next_tick = Instant::now() + limits.interval;
    loop {
        let now = Instant::now();
        if now >= next_tick {
            batcher.export();
            drops_reported = report_drops(&batcher.metrics, drops_reported);
            next_tick = now + limits.interval;
        }
        match receiver.recv_timeout(next_tick.saturating_duration_since(now)) {
            Ok(Message::Event(at, event)) => {
                batcher.push(at, &event);
                if batcher.batch.len() >= limits.max_batch {
                    batcher.export();
                }
            }
            Ok(Message::Flush(ack)) => {
                batcher.export();
                let _ = ack.send(());
            }
            Ok(Message::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    batcher.export();
    report_drops(&batcher.metrics, drops_reported);
    if let Err(error) = batcher.exporter.shutdown() {
        tracing::debug!(%error, "custom event exporter shutdown");
    }
    // Events recorded from now on count as dropped (`closed`).
    drop(receiver);
    let _ = provider.shutdown();
}

impl<E: LogExporter> Batcher<E> {
    fn push(&mut self, at: SystemTime, event: &Event) {
        let mut record = self.logger.create_log_record();
        record.set_timestamp(at);
        record.set_observed_timestamp(at);
        record.set_event_name(event.event_type());
        record.set_severity_number(Severity::Info);
        record.set_severity_text("INFO");
        record.set_body(AnyValue::from(event.event_type()));
        for (key, value) in event.attributes() {
            record.add_attribute(key, value);
        }
        self.batch.push(record);
    }

    fn export(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let result = {
            let pairs: Vec<(&SdkLogRecord, &InstrumentationScope)> = self
                .batch
                .iter()
                .map(|record| (record, &self.scope))
                .collect();
            futures_executor::block_on(self.exporter.export(LogBatch::new(&pairs)))
        };
        if let Err(error) = result {
            self.metrics.export_failed(Signal::Logs);
            if let Some(suppressed) = self.failures.allow(self.origin.elapsed()) {
                tracing::warn!(
                    signal = "logs",
                    events = self.batch.len(),
                    suppressed,
                    %error,
                    "custom events could not be exported to New Relic; check newrelic.endpoint, \
                     the license key and the network"
                );
            }
        }
        self.batch.clear();
    }
}

/// Logs one line if events were dropped since the last report; returns the
/// new total.
fn report_drops(metrics: &Metrics, reported: u64) -> u64 {
    let rate_limited = metrics.events_dropped(EventDrop::RateLimit);
    let queue_full = metrics.events_dropped(EventDrop::QueueFull);
    let total = rate_limited + queue_full;
    if total > reported {
        tracing::warn!(
            dropped = total - reported,
            rate_limited,
            queue_full,
            "custom events dropped: over newrelic.max_share_events_per_second or the export \
             queue was full (New Relic slow or unreachable)"
        );
    }
    total
}
