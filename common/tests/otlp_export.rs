//! New Relic export end to end: a local OTLP/HTTP receiver (axum on
//! 127.0.0.1:0) stands in for New Relic; the pool's telemetry exports custom
//! events, metrics and a `block.submit` span to it, and the test waits until
//! every event type and metric name has arrived with the license key.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;
use tos_pool_common::config::{Config, Role};
use tos_pool_common::metrics::ShareOutcome;
use tos_pool_common::telemetry::events::{
    BlockFound, Event, MinerSession, Payment, ShareSubmission,
};
use tos_pool_common::telemetry::init_telemetry;

const LICENSE_KEY: &str = "test-license-key-0123456789";

/// What the receiver has seen so far.
#[derive(Debug, Default)]
struct Received {
    api_keys: BTreeSet<String>,
    encodings: BTreeSet<String>,
    paths: BTreeSet<String>,
    event_types: BTreeSet<String>,
    /// Metric name → last value seen for a point without attributes.
    metrics: BTreeMap<String, Option<f64>>,
    spans: BTreeSet<String>,
    resource: BTreeMap<String, String>,
    errors: Vec<String>,
}

#[derive(Default)]
struct Receiver {
    seen: Mutex<Received>,
    changed: Condvar,
}

fn text(value: &Option<AnyValue>) -> Option<String> {
    match value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    }
}

fn note_resource(seen: &mut Received, attributes: &[KeyValue]) {
    for kv in attributes {
        if let Some(value) = text(&kv.value) {
            seen.resource.insert(kv.key.clone(), value);
        }
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
                for scope in resource.scope_logs {
                    for record in scope.log_records {
                        for kv in &record.attributes {
                            if kv.key == "newrelic.event.type" {
                                seen.event_types.extend(text(&kv.value));
                            }
                        }
                    }
                }
            }
        }
        "metrics" => {
            let request = ExportMetricsServiceRequest::decode(body).map_err(|e| e.to_string())?;
            for resource in request.resource_metrics {
                if let Some(r) = &resource.resource {
                    note_resource(seen, &r.attributes);
                }
                for scope in resource.scope_metrics {
                    for metric in scope.metrics {
                        let points = match &metric.data {
                            Some(metric::Data::Gauge(g)) => g.data_points.clone(),
                            Some(metric::Data::Sum(s)) => s.data_points.clone(),
                            _ => Vec::new(),
                        };
                        let value =
                            points
                                .iter()
                                .filter(|p| p.attributes.is_empty())
                                .find_map(|p| match p.value {
                                    Some(number_data_point::Value::AsDouble(v)) => Some(v),
                                    Some(number_data_point::Value::AsInt(v)) => Some(v as f64),
                                    None => None,
                                });
                        let slot = seen.metrics.entry(metric.name.clone()).or_default();
                        if value.is_some() {
                            *slot = value;
                        }
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
                for scope in resource.scope_spans {
                    seen.spans.extend(scope.spans.into_iter().map(|s| s.name));
                }
            }
        }
        other => return Err(format!("unexpected signal {other}")),
    }
    Ok(())
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path(signal): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_string()
    };
    let encoding = header("content-encoding");
    let mut plain = Vec::new();
    let unpacked = if encoding == "gzip" {
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .map(|_| plain)
            .map_err(|e| e.to_string())
    } else {
        Ok(body.to_vec())
    };
    let mut seen = receiver.seen.lock().expect("receiver lock");
    seen.api_keys.insert(header("api-key"));
    seen.encodings.insert(encoding);
    seen.paths.insert(signal.clone());
    if let Err(error) = unpacked.and_then(|body| decode(&mut seen, &signal, &body)) {
        seen.errors.push(format!("{signal}: {error}"));
    }
    drop(seen);
    receiver.changed.notify_all();
    StatusCode::OK
}

fn start_receiver(runtime: &tokio::runtime::Runtime) -> (SocketAddr, Arc<Receiver>) {
    let receiver = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/v1/{signal}", post(receive))
        .with_state(receiver.clone());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("receiver address");
    runtime.spawn(async move { axum::serve(listener, app).await });
    (addr, receiver)
}

fn session() -> MinerSession {
    MinerSession {
        address: "tos1qminer".into(),
        worker: "rig-7".into(),
        protocol: "stratum+tls".into(),
        slave: "slave-eu-1".into(),
        region: "eu-west".into(),
    }
}

const EVENT_TYPES: [&str; 5] = [
    "ShareSubmission",
    "BlockFound",
    "Payment",
    "MinerConnected",
    "MinerDisconnected",
];

const METRIC_NAMES: [&str; 12] = [
    "Custom/Pool/Hashrate",
    "Custom/Pool/Miners",
    "Custom/Pool/Workers",
    "Custom/Network/Height",
    "Custom/Network/Difficulty",
    "Custom/Network/Hashrate",
    "Custom/Pool/Shares",
    "Custom/Telemetry/EventsDropped",
    "Custom/Telemetry/ExportFailures",
    "Custom/Pool/ShareValidation/Count",
    "Custom/Pool/ShareValidation/Seconds",
    "Custom/Pool/JobFanout/Bucket",
];

fn arrived(seen: &Received) -> bool {
    EVENT_TYPES.iter().all(|t| seen.event_types.contains(*t))
        && METRIC_NAMES.iter().all(|m| seen.metrics.contains_key(*m))
        && seen.metrics.get("Custom/Pool/Miners") == Some(&Some(12.0))
        && seen.spans.contains("block.submit")
}

#[test]
fn events_metrics_and_spans_reach_the_otlp_receiver_with_the_license_key() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, receiver) = start_receiver(&runtime);

    let mut config = Config::default();
    config.pool.node_id = Some("master-test-1".to_string());
    config.pool.region = "eu-west".to_string();
    config.newrelic.enabled = true;
    config.newrelic.app_name = "tos-pool-test".to_string();
    config.newrelic.license_key = Some(LICENSE_KEY.to_string());
    config.newrelic.endpoint = Some(format!("http://{addr}/"));
    config.newrelic.export_interval = Duration::from_millis(100);
    config.newrelic.share_event_sample_rate = 1.0;
    config.newrelic.max_share_events_per_second = 1000;

    let guard = init_telemetry(&config, Role::Master).expect("telemetry starts");
    assert!(guard.is_exporting());
    let metrics = guard.metrics();
    let events = guard.events();

    metrics.set_pool_hashrate(2.5e9);
    metrics.set_pool_miners(12);
    metrics.set_pool_workers(40);
    metrics.set_network_height(123_456);
    metrics.set_network_difficulty(7.5e12);
    metrics.set_network_hashrate(9e12);
    metrics.share(ShareOutcome::Accepted);
    metrics.share(ShareOutcome::Stale);
    metrics.observe_validation(Duration::from_micros(800));
    metrics.observe_fanout(Duration::from_millis(2));

    events.record(Event::ShareSubmission(ShareSubmission {
        address: "tos1qminer".into(),
        worker: "rig-7".into(),
        difficulty: 100_000,
        valid: false,
        reason: Some("stale".into()),
    }));
    events.record(Event::BlockFound(BlockFound {
        height: 123_457,
        hash: "ab".repeat(32).into(),
        finder: "tos1qminer".into(),
        reward: 87_738_036,
    }));
    events.record(Event::Payment(Payment {
        address: "tos1qminer".into(),
        amount: 50_000_000,
        tx_hash: "cd".repeat(32).into(),
    }));
    events.record(Event::MinerConnected(session()));
    events.record(Event::MinerDisconnected(session()));

    tracing::info_span!(target: "tos_pool_master::blocks", "block.submit", height = 123_457)
        .in_scope(|| tracing::info!(target: "tos_pool_master::blocks", "block accepted"));

    let deadline = Instant::now() + Duration::from_secs(60);
    let seen = receiver.seen.lock().expect("receiver lock");
    let (seen, _) = receiver
        .changed
        .wait_timeout_while(
            seen,
            deadline.saturating_duration_since(Instant::now()),
            |seen| !arrived(seen),
        )
        .expect("receiver lock");
    assert!(arrived(&seen), "not everything arrived in time: {seen:#?}");
    assert!(
        seen.errors.is_empty(),
        "undecodable requests: {:?}",
        seen.errors
    );
    assert_eq!(
        seen.api_keys,
        BTreeSet::from([LICENSE_KEY.to_string()]),
        "every request carries the license key"
    );
    assert_eq!(seen.encodings, BTreeSet::from(["gzip".to_string()]));
    assert_eq!(
        seen.paths,
        BTreeSet::from(["logs", "metrics", "traces"].map(String::from))
    );
    assert_eq!(seen.metrics["Custom/Pool/Hashrate"], Some(2.5e9));
    assert_eq!(seen.metrics["Custom/Network/Height"], Some(123_456.0));
    for (key, value) in [
        ("service.name", "tos-pool-test"),
        ("service.instance.id", "master-test-1"),
        ("tos.role", "master"),
        ("tos.region", "eu-west"),
    ] {
        assert_eq!(
            seen.resource.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
    drop(seen);

    // The same numbers on /metrics.
    let text = metrics.render_prometheus();
    assert!(text.contains("tos_pool_miners 12\n"), "{text}");
    assert!(
        text.contains("tos_pool_shares_total{outcome=\"stale\"} 1\n"),
        "{text}"
    );

    // Shutting down flushes without hanging, with nothing dropped or failed.
    drop(guard);
    for reason in tos_pool_common::metrics::EventDrop::ALL {
        assert_eq!(metrics.events_dropped(reason), 0, "{reason:?}");
    }
    for signal in tos_pool_common::metrics::Signal::ALL {
        assert_eq!(metrics.export_failures(signal), 0, "{signal:?}");
    }
    runtime.shutdown_background();
}
