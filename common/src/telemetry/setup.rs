//! [`init_telemetry`]: logging plus, when New Relic is on, the OTLP export of
//! spans, metrics and custom events, with the guard that flushes them.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing::{Dispatch, Level, Metadata};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use super::Telemetry;
use super::events::EventSink;
use super::events::worker::{EventWorker, WorkerLimits};
use super::export::{EXPORT_TIMEOUT, exporters};
use super::{BoxedLayer, TelemetryError, install, log_layers};
use crate::config::{Config, Role};
use crate::metrics::Metrics;

/// Custom events waiting for export before `record` starts dropping them.
const EVENT_QUEUE_CAPACITY: usize = 8192;
/// Custom events per `/v1/logs` request.
const EVENT_BATCH: usize = 1000;
/// Spans waiting for export before new ones are dropped.
const SPAN_QUEUE_CAPACITY: usize = 2048;
/// Spans per `/v1/traces` request.
const SPAN_BATCH: usize = 512;

/// Keeps telemetry running and hands out its handles; hold it until the
/// process ends. Dropping it exports what is buffered (events, spans, a last
/// metric reading) and stops the export threads.
#[derive(Debug)]
pub struct TelemetryGuard {
    role: Role,
    node_id: String,
    metrics: Metrics,
    events: EventSink,
    /// This node's own span export, when it was started without the global
    /// subscriber ([`init_telemetry_scoped`]).
    spans: Option<Dispatch>,
    export: Option<Export>,
}

#[derive(Debug)]
struct Export {
    events: EventWorker,
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
}

impl TelemetryGuard {
    /// The role telemetry was set up for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// This instance's id (`service.instance.id`): `pool.node_id` or the
    /// host name.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The metrics registry, for `/metrics` and the services' numbers.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// The custom event sink (a no-op one when New Relic is off).
    pub fn events(&self) -> EventSink {
        self.events.clone()
    }

    /// The handles to give the master or the slave.
    pub fn telemetry(&self) -> Telemetry {
        let telemetry = Telemetry::new(self.metrics.clone(), self.events.clone());
        match &self.spans {
            Some(spans) => telemetry.with_spans(spans.clone()),
            None => telemetry,
        }
    }

    /// Whether data goes to New Relic.
    pub fn is_exporting(&self) -> bool {
        self.export.is_some()
    }

    /// Exports everything buffered now (events, spans, a metric reading),
    /// waiting for each at most the export timeout. Blocks: call it from a
    /// blocking context (for example `spawn_blocking`).
    pub fn flush(&self) {
        let Some(export) = &self.export else {
            return;
        };
        if !export.events.flush(EXPORT_TIMEOUT) {
            tracing::warn!("custom events were not flushed in time");
        }
        if let Err(error) = export.tracer.force_flush() {
            tracing::warn!(%error, "spans were not flushed");
        }
        if let Err(error) = export.meter.force_flush() {
            tracing::warn!(%error, "metrics were not flushed");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let Some(mut export) = self.export.take() else {
            return;
        };
        export.events.shutdown();
        if let Err(error) = export.tracer.shutdown() {
            tracing::warn!(%error, "span export did not shut down cleanly");
        }
        if let Err(error) = export.meter.shutdown() {
            tracing::warn!(%error, "metric export did not shut down cleanly");
        }
    }
}

/// Sets up logging as [`init_logging`](super::init_logging) does and, when
/// `newrelic.enabled`, the export to New Relic: resource attributes
/// `service.name` (= `newrelic.app_name`), `service.instance.id` (node id),
/// `tos.role` and `tos.region`; spans from `tracing` (see below), the metrics
/// every `newrelic.export_interval`, and custom events.
///
/// Spans exported: those at INFO or above, from `tos_pool*` targets, whose
/// name has a dot (`block.submit`, `payout.run`); the pool's per-connection
/// spans stay local.
pub fn init_telemetry(config: &Config, role: Role) -> Result<TelemetryGuard, TelemetryError> {
    let mut layers = log_layers(&config.log)?;
    let (guard, span_layer) = start(config, role)?;
    layers.extend(span_layer);
    install(layers)?;
    tracing::info!(
        role = role_label(role),
        node = %guard.node_id,
        level = %config.log.level,
        newrelic = guard.is_exporting(),
        endpoint = config.newrelic.otlp_endpoint(),
        "logging started"
    );
    Ok(guard)
}

/// Sets up the export of [`init_telemetry`] for one node without touching
/// the process's logging: nothing global is installed, and the node's
/// exported spans go through [`TelemetryGuard::telemetry`]'s
/// [`Telemetry::span`]. For nodes started in-process (tests, the local
/// cluster), several per process.
pub fn init_telemetry_scoped(
    config: &Config,
    role: Role,
) -> Result<TelemetryGuard, TelemetryError> {
    let (mut guard, span_layer) = start(config, role)?;
    guard.spans = span_layer.map(|layer| Dispatch::new(Registry::default().with(layer)));
    Ok(guard)
}

/// Builds the guard and, when exporting, the span layer; installs nothing
/// global.
fn start(
    config: &Config,
    role: Role,
) -> Result<(TelemetryGuard, Option<BoxedLayer>), TelemetryError> {
    let metrics = Metrics::new();
    let node_id = node_id(config.pool.node_id.as_deref());
    let nr = &config.newrelic;
    if !nr.enabled {
        let guard = TelemetryGuard {
            role,
            node_id,
            metrics,
            events: EventSink::disabled(),
            spans: None,
            export: None,
        };
        return Ok((guard, None));
    }
    let license_key = nr
        .license_key
        .as_deref()
        .filter(|key| !key.trim().is_empty())
        .ok_or(TelemetryError::MissingLicenseKey)?;
    let resource = Resource::builder()
        .with_service_name(nr.app_name.clone())
        .with_attributes([
            KeyValue::new("service.instance.id", node_id.clone()),
            KeyValue::new("tos.role", role_label(role)),
            KeyValue::new("tos.region", config.pool.region.clone()),
        ])
        .build();
    let exporters = exporters(nr, license_key, &resource, &metrics)?;
    let interval = nr.export_interval.max(Duration::from_millis(10));

    let spans = BatchSpanProcessor::builder(exporters.spans)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(SPAN_QUEUE_CAPACITY)
                .with_max_export_batch_size(SPAN_BATCH)
                .with_scheduled_delay(interval)
                .build(),
        )
        .build();
    let tracer = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_span_processor(spans)
        .build();
    let meter = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(
            PeriodicReader::builder(exporters.metrics)
                .with_interval(interval)
                .build(),
        )
        .build();
    crate::metrics::otlp::register(&meter.meter("tos-pool"), &metrics);
    let worker = EventWorker::spawn(
        exporters.logs,
        metrics.clone(),
        WorkerLimits {
            capacity: EVENT_QUEUE_CAPACITY,
            max_batch: EVENT_BATCH,
            interval,
        },
    )
    .map_err(TelemetryError::Thread)?;
    let events = EventSink::new(
        worker.queue(),
        nr.share_event_sample_rate,
        nr.max_share_events_per_second,
        metrics.clone(),
    );
    let span_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer.tracer("tos-pool"))
        .with_filter(filter_fn(exported_to_new_relic))
        .boxed();
    let guard = TelemetryGuard {
        role,
        node_id,
        metrics,
        events,
        spans: None,
        export: Some(Export {
            events: worker,
            tracer,
            meter,
        }),
    };
    Ok((guard, Some(span_layer)))
}

/// Which spans (and the events inside them) go to New Relic.
fn exported_to_new_relic(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("tos_pool")
        && *meta.level() <= Level::INFO
        && (meta.is_event() || meta.name().contains('.'))
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Master => "master",
        Role::Slave => "slave",
    }
}

/// `configured`, else the host name, else `unknown`.
fn node_id(configured: Option<&str>) -> String {
    let configured = configured.map(str::trim).filter(|id| !id.is_empty());
    if let Some(id) = configured {
        return id.to_string();
    }
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use tracing::callsite::Identifier;
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;

    use super::*;
    use crate::metrics::Signal;
    use crate::telemetry::events::{Event, MinerSession};

    fn meta(
        target: &'static str,
        name: &'static str,
        level: Level,
        kind: Kind,
    ) -> &'static Metadata<'static> {
        struct NoCallsite;
        impl tracing::callsite::Callsite for NoCallsite {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unreachable!("never registered")
            }
        }
        static CALLSITE: NoCallsite = NoCallsite;
        Box::leak(Box::new(Metadata::new(
            name,
            target,
            level,
            None,
            None,
            None,
            FieldSet::new(&[], Identifier(&CALLSITE)),
            kind,
        )))
    }

    #[test]
    fn only_named_pool_spans_are_exported() {
        let exported =
            |target, name, level, kind| exported_to_new_relic(meta(target, name, level, kind));
        assert!(exported(
            "tos_pool_master::blocks",
            "block.submit",
            Level::INFO,
            Kind::SPAN
        ));
        assert!(exported(
            "tos_pool_master::payouts",
            "payout.run",
            Level::WARN,
            Kind::SPAN
        ));
        assert!(!exported(
            "tos_pool_slave::session",
            "session",
            Level::INFO,
            Kind::SPAN
        ));
        assert!(!exported(
            "tos_pool_master::blocks",
            "block.submit",
            Level::DEBUG,
            Kind::SPAN
        ));
        assert!(!exported(
            "hyper::proto",
            "h1.read",
            Level::INFO,
            Kind::SPAN
        ));
        assert!(exported(
            "tos_pool_master::blocks",
            "event x.rs:1",
            Level::INFO,
            Kind::EVENT
        ));
        assert!(!exported(
            "tos_pool_master::blocks",
            "event x.rs:1",
            Level::DEBUG,
            Kind::EVENT
        ));
    }

    #[test]
    fn node_id_prefers_the_configured_one() {
        assert_eq!(node_id(Some(" slave-eu-1 ")), "slave-eu-1");
        let fallback = node_id(Some("  "));
        assert!(!fallback.is_empty());
        assert_eq!(fallback, node_id(None));
    }

    #[test]
    fn disabled_new_relic_exports_nothing_and_records_nothing() {
        let config = Config::default();
        assert!(!config.newrelic.enabled);
        let (guard, layer) = start(&config, Role::Slave).expect("disabled start");
        assert!(layer.is_none());
        assert!(!guard.is_exporting());
        assert_eq!(guard.role(), Role::Slave);
        let events = guard.events();
        assert!(!events.is_enabled());
        events.record(Event::MinerConnected(MinerSession {
            address: "a".into(),
            worker: "w".into(),
            protocol: "stratum".into(),
            slave: "s".into(),
            region: "r".into(),
        }));
        let metrics = guard.metrics();
        metrics.set_pool_miners(3);
        assert!(metrics.render_prometheus().contains("tos_pool_miners 3\n"));
        for reason in crate::metrics::EventDrop::ALL {
            assert_eq!(metrics.events_dropped(reason), 0);
        }
        guard.flush();
        drop(guard);
        assert_eq!(metrics.export_failures(Signal::Logs), 0);
    }

    #[test]
    fn scoped_telemetry_shares_the_guards_handles() {
        let config = Config::default();
        let guard = init_telemetry_scoped(&config, Role::Master).expect("disabled start");
        let telemetry = guard.telemetry();
        telemetry.metrics().set_network_height(42);
        assert_eq!(
            guard.metrics().gauge(crate::metrics::Gauge::NetworkHeight),
            42.0
        );
        assert!(!telemetry.events().is_enabled());
        // Without an export of its own, spans go to the current subscriber.
        let span = telemetry.span(|| tracing::info_span!("block.submit", height = 1));
        drop(span);
    }

    #[test]
    fn enabled_without_a_key_is_refused() {
        let mut config = Config::default();
        config.newrelic.enabled = true;
        config.newrelic.license_key = Some("  ".to_string());
        let Err(error) = start(&config, Role::Master) else {
            panic!("started without a license key");
        };
        assert!(
            matches!(error, TelemetryError::MissingLicenseKey),
            "{error}"
        );
    }
}
