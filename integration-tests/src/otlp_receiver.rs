//! A local OTLP/HTTP receiver standing in for New Relic: it takes
//! `POST /v1/{traces,metrics,logs}` with protobuf bodies (gzip or plain),
//! decodes them and keeps what arrived, with the headers that came along,
//! for tests to assert on.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, metric, number_data_point};
use prost::Message;
use tokio::task::JoinHandle;

/// The attribute New Relic reads a custom event's type from.
const EVENT_TYPE: &str = "newrelic.event.type";

/// Attributes as text, by key.
pub type Attributes = BTreeMap<String, String>;

/// Everything the receiver has decoded so far.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// Every `api-key` header value seen (`<none>` when one was missing).
    pub api_keys: BTreeSet<String>,
    /// Every `content-encoding` seen (`<none>` when absent).
    pub encodings: BTreeSet<String>,
    /// The signals posted to (`traces`, `metrics`, `logs`).
    pub signals: BTreeSet<String>,
    /// Custom events by type, each with its attributes.
    pub events: BTreeMap<String, Vec<Attributes>>,
    /// Gauges: the last value of each point, by metric name, then by the
    /// exporting node's `tos.role` and the point's attributes.
    pub gauges: BTreeMap<String, BTreeMap<(String, Attributes), f64>>,
    /// Sums (counters): points added up over every export (the pool exports
    /// deltas), by metric name and attributes.
    pub sums: BTreeMap<String, BTreeMap<Attributes, f64>>,
    /// Spans, in arrival order: name and attributes.
    pub spans: Vec<(String, Attributes)>,
    /// Every distinct set of resource attributes (one per exporting node).
    pub resources: BTreeSet<Attributes>,
    /// Requests that could not be read.
    pub errors: Vec<String>,
}

impl Received {
    /// Whether a metric of that name arrived, gauge or sum.
    pub fn has_metric(&self, name: &str) -> bool {
        self.gauges.contains_key(name) || self.sums.contains_key(name)
    }

    /// The total of a sum's points whose attribute `key` is `value`.
    pub fn sum_where(&self, name: &str, key: &str, value: &str) -> f64 {
        self.sums.get(name).map_or(0.0, |points| {
            points
                .iter()
                .filter(|(attrs, _)| attrs.get(key).map(String::as_str) == Some(value))
                .map(|(_, total)| total)
                .sum()
        })
    }

    /// The last value of gauge `name` (its point without attributes) from a
    /// node of `role` (`master` or `slave`).
    pub fn gauge(&self, name: &str, role: &str) -> Option<f64> {
        self.gauges
            .get(name)?
            .get(&(role.to_string(), Attributes::new()))
            .copied()
    }

    /// The spans named `name`.
    pub fn spans_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Attributes> {
        self.spans
            .iter()
            .filter(move |(span, _)| span == name)
            .map(|(_, attrs)| attrs)
    }
}

/// A running receiver; stops when dropped.
#[derive(Debug)]
pub struct OtlpReceiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Received>>,
    task: JoinHandle<()>,
}

impl OtlpReceiver {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<OtlpReceiver> {
        let seen = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/{signal}", post(receive))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "the OTLP receiver stopped");
            }
        });
        Ok(OtlpReceiver { addr, seen, task })
    }

    /// The OTLP base URL to put in `newrelic.endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// A copy of what arrived so far.
    pub fn received(&self) -> Received {
        lock(&self.seen).clone()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(seen: &Mutex<Received>) -> MutexGuard<'_, Received> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn receive(
    State(seen): State<Arc<Mutex<Received>>>,
    Path(signal): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("<none>")
            .to_string()
    };
    let encoding = header("content-encoding");
    let plain = if encoding == "gzip" {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .map(|_| plain)
            .map_err(|error| error.to_string())
    } else {
        Ok(body.to_vec())
    };
    let mut seen = lock(&seen);
    seen.api_keys.insert(header("api-key"));
    seen.encodings.insert(encoding);
    seen.signals.insert(signal.clone());
    if let Err(error) = plain.and_then(|body| decode(&mut seen, &signal, &body)) {
        seen.errors.push(format!("{signal}: {error}"));
        return StatusCode::BAD_REQUEST;
    }
    StatusCode::OK
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(list: &[KeyValue]) -> Attributes {
    list.iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

/// Notes a resource; returns its `tos.role`.
fn note_resource(seen: &mut Received, list: &[KeyValue]) -> String {
    let attrs = attributes(list);
    let role = attrs.get("tos.role").cloned().unwrap_or_default();
    seen.resources.insert(attrs);
    role
}

fn value(point: &NumberDataPoint) -> Option<f64> {
    match point.value? {
        number_data_point::Value::AsDouble(value) => Some(value),
        number_data_point::Value::AsInt(value) => Some(value as f64),
    }
}

fn decode(seen: &mut Received, signal: &str, body: &[u8]) -> Result<(), String> {
    match signal {
        "logs" => {
            let request = ExportLogsServiceRequest::decode(body).map_err(|e| e.to_string())?;
            for resource in request.resource_logs {
                if let Some(r) = &resource.resource {
                    note_resource(seen, &r.attributes);
                }
                for record in resource.scope_logs.into_iter().flat_map(|s| s.log_records) {
                    let mut attrs = attributes(&record.attributes);
                    if let Some(kind) = attrs.remove(EVENT_TYPE) {
                        seen.events.entry(kind).or_default().push(attrs);
                    }
                }
            }
        }
        "metrics" => {
            let request = ExportMetricsServiceRequest::decode(body).map_err(|e| e.to_string())?;
            for resource in request.resource_metrics {
                let role = match &resource.resource {
                    Some(r) => note_resource(seen, &r.attributes),
                    None => String::new(),
                };
                for metric in resource.scope_metrics.into_iter().flat_map(|s| s.metrics) {
                    match &metric.data {
                        Some(metric::Data::Gauge(gauge)) => {
                            let slot = seen.gauges.entry(metric.name.clone()).or_default();
                            for point in &gauge.data_points {
                                if let Some(v) = value(point) {
                                    slot.insert((role.clone(), attributes(&point.attributes)), v);
                                }
                            }
                        }
                        Some(metric::Data::Sum(sum)) => {
                            let slot = seen.sums.entry(metric.name.clone()).or_default();
                            for point in &sum.data_points {
                                if let Some(v) = value(point) {
                                    *slot.entry(attributes(&point.attributes)).or_default() += v;
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        "traces" => {
            let request = ExportTraceServiceRequest::decode(body).map_err(|e| e.to_string())?;
            for resource in request.resource_spans {
                if let Some(r) = &resource.resource {
                    note_resource(seen, &r.attributes);
                }
                for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                    seen.spans.push((span.name, attributes(&span.attributes)));
                }
            }
        }
        other => return Err(format!("unexpected signal {other}")),
    }
    Ok(())
}
