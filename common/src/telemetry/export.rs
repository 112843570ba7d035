//! The OTLP/HTTP exporters for New Relic: protobuf bodies, gzip, the
//! `api-key` header, one blocking HTTP client (rustls with ring) shared by the
//! three signals, and wrappers that count and rate-limit export failures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig,
    WithHttpConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::SpanData;

use super::TelemetryError;
use super::throttle::LogThrottle;
use crate::config::NewRelicConfig;
use crate::metrics::{Metrics, Signal};

/// Longest time one export request may take.
pub(crate) const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Failures of one signal are logged at most this often.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The URL a signal is posted to under the OTLP base URL.
pub(crate) fn signal_url(base: &str, signal: Signal) -> String {
    format!("{}/v1/{}", base.trim_end_matches('/'), signal.label())
}

/// The three exporters, ready for the SDK's processors.
pub(crate) struct Exporters {
    pub(crate) spans: Watched<SpanExporter>,
    pub(crate) metrics: Watched<MetricExporter>,
    pub(crate) logs: LogExporter,
}

/// Builds the exporters for `config` (New Relic enabled, key present).
pub(crate) fn exporters(
    config: &NewRelicConfig,
    license_key: &str,
    resource: &Resource,
    metrics: &Metrics,
) -> Result<Exporters, TelemetryError> {
    let client = http_client()?;
    let base = config.otlp_endpoint();
    let headers = HashMap::from([("api-key".to_string(), license_key.to_string())]);
    let failed = |signal| move |source| TelemetryError::Exporter { signal, source };

    let spans = SpanExporter::builder()
        .with_http()
        .with_endpoint(signal_url(base, Signal::Traces))
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(client.clone())
        .with_headers(headers.clone())
        .with_compression(Compression::Gzip)
        .build()
        .map_err(failed("traces"))?;
    let metric_exporter = MetricExporter::builder()
        .with_http()
        .with_endpoint(signal_url(base, Signal::Metrics))
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(client.clone())
        .with_headers(headers.clone())
        .with_compression(Compression::Gzip)
        // New Relic stores deltas natively; cumulative sums cost it a conversion.
        .with_temporality(Temporality::Delta)
        .build()
        .map_err(failed("metrics"))?;
    let mut logs = LogExporter::builder()
        .with_http()
        .with_endpoint(signal_url(base, Signal::Logs))
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(client)
        .with_headers(headers)
        .with_compression(Compression::Gzip)
        .build()
        .map_err(failed("logs"))?;
    opentelemetry_sdk::logs::LogExporter::set_resource(&mut logs, resource);
    Ok(Exporters {
        spans: Watched::new(spans, Signal::Traces, metrics.clone()),
        metrics: Watched::new(metric_exporter, Signal::Metrics, metrics.clone()),
        logs,
    })
}

/// The blocking HTTP client the exporters share. It runs its own small
/// runtime thread, so it is built off any async runtime. TLS is rustls with
/// the ring provider (installed as the process default if there is none).
fn http_client() -> Result<reqwest::blocking::Client, TelemetryError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    std::thread::Builder::new()
        .name("tos-telemetry-http".to_string())
        .spawn(|| {
            reqwest::blocking::Client::builder()
                .timeout(EXPORT_TIMEOUT)
                .build()
        })
        .map_err(TelemetryError::Thread)?
        .join()
        .map_err(|_| TelemetryError::HttpClient("the client builder panicked".to_string()))?
        .map_err(|error| TelemetryError::HttpClient(error.to_string()))
}

/// An exporter that counts its failures in the metrics and logs them at most
/// once a minute per signal.
#[derive(Debug)]
pub(crate) struct Watched<E> {
    inner: E,
    signal: Signal,
    metrics: Metrics,
    throttle: Arc<Mutex<LogThrottle>>,
    origin: Instant,
}

impl<E> Watched<E> {
    pub(crate) fn new(inner: E, signal: Signal, metrics: Metrics) -> Watched<E> {
        Watched {
            inner,
            signal,
            metrics,
            throttle: Arc::new(Mutex::new(LogThrottle::new(FAILURE_LOG_INTERVAL))),
            origin: Instant::now(),
        }
    }

    fn note(&self, result: OTelSdkResult) -> OTelSdkResult {
        if let Err(error) = &result {
            self.metrics.export_failed(self.signal);
            let allowed = self
                .throttle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .allow(self.origin.elapsed());
            if let Some(suppressed) = allowed {
                tracing::warn!(
                    signal = self.signal.label(),
                    suppressed,
                    %error,
                    "export to New Relic failed; check newrelic.endpoint, the license key and \
                     the network"
                );
            }
        }
        result
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Watched<E>
{
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.note(result)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Watched<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.note(result)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::error::OTelSdkError;
    use opentelemetry_sdk::trace::SpanExporter as _;

    use super::*;

    #[test]
    fn signals_go_under_the_base_url() {
        assert_eq!(
            signal_url("https://otlp.nr-data.net", Signal::Traces),
            "https://otlp.nr-data.net/v1/traces"
        );
        assert_eq!(
            signal_url("http://127.0.0.1:4318/", Signal::Metrics),
            "http://127.0.0.1:4318/v1/metrics"
        );
        assert_eq!(
            signal_url("https://otlp.eu01.nr-data.net", Signal::Logs),
            "https://otlp.eu01.nr-data.net/v1/logs"
        );
    }

    #[derive(Debug)]
    struct Failing;

    impl opentelemetry_sdk::trace::SpanExporter for Failing {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            Err(OTelSdkError::InternalFailure(
                "connection refused".to_string(),
            ))
        }
    }

    #[test]
    fn failures_are_counted_per_signal() {
        let metrics = Metrics::new();
        let watched = Watched::new(Failing, Signal::Traces, metrics.clone());
        for _ in 0..3 {
            let result = futures_executor::block_on(watched.export(Vec::new()));
            assert!(result.is_err());
        }
        assert_eq!(metrics.export_failures(Signal::Traces), 3);
        assert_eq!(metrics.export_failures(Signal::Metrics), 0);
    }
}
