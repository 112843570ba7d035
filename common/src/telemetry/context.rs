//! [`Telemetry`]: what a service records into (the metrics registry, the
//! custom event sink and, for nodes started in-process, their own span
//! export), handed to the master and the slave explicitly so that several
//! nodes in one process (tests, the local cluster) stay apart.

use tracing::{Dispatch, Span};

use crate::metrics::Metrics;

use super::events::EventSink;

/// One node's telemetry handles. Cheap to clone; clones share everything.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    metrics: Metrics,
    events: EventSink,
    spans: Option<Dispatch>,
}

impl Telemetry {
    /// Nothing exported: a private metrics registry (still served on
    /// `/metrics`) and a disabled event sink.
    pub fn disabled() -> Telemetry {
        Telemetry::default()
    }

    /// Handles over `metrics` and `events`; spans go to the process's global
    /// subscriber.
    pub fn new(metrics: Metrics, events: EventSink) -> Telemetry {
        Telemetry {
            metrics,
            events,
            spans: None,
        }
    }

    /// The same handles, with the node's exported spans sent to `spans`
    /// instead of the global subscriber.
    pub(crate) fn with_spans(mut self, spans: Dispatch) -> Telemetry {
        self.spans = Some(spans);
        self
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The custom event sink.
    pub fn events(&self) -> &EventSink {
        &self.events
    }

    /// Creates a span to export (`block.submit`, `payout.run`): `make` runs
    /// under this node's span export when it has its own, otherwise under
    /// the current subscriber. The span keeps reporting where it was created,
    /// whichever thread enters it later; the events logged inside it still go
    /// to the current subscriber.
    pub fn span(&self, make: impl FnOnce() -> Span) -> Span {
        match &self.spans {
            Some(dispatch) => tracing::dispatcher::with_default(dispatch, make),
            None => make(),
        }
    }
}
