//! What telemetry costs the pool's hot paths: recording a custom event
//! (disabled, sampled out, queued) and the metric updates, plus rendering
//! `/metrics`. Exports go to a closed loopback port, so they fail fast and
//! are counted; nothing leaves the machine.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tos_pool_common::config::{Config, Role};
use tos_pool_common::metrics::{Metrics, ShareOutcome};
use tos_pool_common::telemetry::events::{Event, EventSink, MinerSession, ShareSubmission};
use tos_pool_common::telemetry::init_telemetry;

fn share() -> Event {
    Event::ShareSubmission(ShareSubmission {
        address: Arc::from("tos1qminer"),
        worker: Arc::from("rig-7"),
        difficulty: 100_000,
        valid: true,
        reason: None,
    })
}

fn events(c: &mut Criterion) {
    let mut config = Config::default();
    config.log.level = "off".to_string();
    config.newrelic.enabled = true;
    config.newrelic.license_key = Some("bench".to_string());
    config.newrelic.endpoint = Some("http://127.0.0.1:9".to_string());
    config.newrelic.share_event_sample_rate = 0.01;
    config.newrelic.max_share_events_per_second = 100;
    let guard = init_telemetry(&config, Role::Slave).expect("telemetry starts");
    let enabled = guard.events();
    let disabled = EventSink::disabled();
    let event = share();
    c.bench_function("events/record disabled", |b| {
        b.iter(|| disabled.record(black_box(event.clone())))
    });
    c.bench_function("events/record share, 1% sampled, capped 100/s", |b| {
        b.iter(|| enabled.record(black_box(event.clone())))
    });
    let connected = Event::MinerConnected(MinerSession {
        address: Arc::from("tos1qminer"),
        worker: Arc::from("rig-7"),
        protocol: Arc::from("stratum"),
        slave: Arc::from("slave-1"),
        region: Arc::from("eu"),
    });
    c.bench_function("events/record connect (queued or dropped)", |b| {
        b.iter(|| enabled.record(black_box(connected.clone())))
    });
    drop(guard);
}

fn metrics(c: &mut Criterion) {
    let metrics = Metrics::new();
    c.bench_function("metrics/share", |b| {
        b.iter(|| metrics.share(black_box(ShareOutcome::Accepted)))
    });
    c.bench_function("metrics/observe_validation", |b| {
        b.iter(|| metrics.observe_validation(black_box(Duration::from_micros(700))))
    });
    c.bench_function("metrics/set_pool_hashrate", |b| {
        b.iter(|| metrics.set_pool_hashrate(black_box(1.5e9)))
    });
    c.bench_function("metrics/render_prometheus", |b| {
        b.iter(|| black_box(metrics.render_prometheus()))
    });
}

criterion_group!(benches, events, metrics);
criterion_main!(benches);
