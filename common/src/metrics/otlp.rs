//! The OTLP side of the registry: observable instruments whose callbacks read
//! the same atomics `/metrics` renders. The SDK calls them once per export.

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

use super::names::{
    BLOCK_PATH, CounterName, EVENTS_DROPPED, EXPORT_FAILURES, EventDrop, Gauge, HistogramName,
    JOB_FANOUT, SHARE_VALIDATION, SHARES, ShareOutcome, Signal,
};
use super::{BUCKET_BOUNDS, HistogramSnapshot, Metrics};

/// Registers every metric of `metrics` on `meter`. The instruments live as
/// long as the meter provider; the returned handles need not be kept.
pub(crate) fn register(meter: &Meter, metrics: &Metrics) {
    for gauge in Gauge::ALL {
        let source = metrics.clone();
        let _ = meter
            .f64_observable_gauge(gauge.otlp_name())
            .with_description(gauge.help())
            .with_unit(gauge.unit())
            .with_callback(move |observer| observer.observe(source.gauge(gauge), &[]))
            .build();
    }
    labelled_counter(meter, &SHARES, metrics, |m| {
        ShareOutcome::ALL
            .iter()
            .map(|o| (o.label(), m.shares(*o)))
            .collect()
    });
    labelled_counter(meter, &EVENTS_DROPPED, metrics, |m| {
        EventDrop::ALL
            .iter()
            .map(|r| (r.label(), m.events_dropped(*r)))
            .collect()
    });
    labelled_counter(meter, &EXPORT_FAILURES, metrics, |m| {
        Signal::ALL
            .iter()
            .map(|s| (s.label(), m.export_failures(*s)))
            .collect()
    });
    histogram(
        meter,
        &SHARE_VALIDATION,
        metrics,
        Metrics::validation_snapshot,
    );
    histogram(meter, &JOB_FANOUT, metrics, Metrics::fanout_snapshot);
    histogram(meter, &BLOCK_PATH, metrics, Metrics::block_path_snapshot);
}

fn labelled_counter(
    meter: &Meter,
    name: &'static CounterName,
    metrics: &Metrics,
    read: fn(&Metrics) -> Vec<(&'static str, u64)>,
) {
    let source = metrics.clone();
    let _ = meter
        .u64_observable_counter(name.otlp)
        .with_description(name.help)
        .with_callback(move |observer| {
            for (label, value) in read(&source) {
                observer.observe(value, &[KeyValue::new(name.label, label)]);
            }
        })
        .build();
}

/// A histogram as three cumulative counters, the Prometheus model over OTLP:
/// `…/Count`, `…/Seconds` (the sum) and `…/Bucket` with an `le` attribute.
fn histogram(
    meter: &Meter,
    name: &'static HistogramName,
    metrics: &Metrics,
    read: fn(&Metrics) -> HistogramSnapshot,
) {
    let source = metrics.clone();
    let _ = meter
        .u64_observable_counter(format!("{}/Count", name.otlp))
        .with_description(name.help)
        .with_callback(move |observer| observer.observe(read(&source).count, &[]))
        .build();
    let source = metrics.clone();
    let _ = meter
        .f64_observable_counter(format!("{}/Seconds", name.otlp))
        .with_description(name.help)
        .with_unit("s")
        .with_callback(move |observer| observer.observe(read(&source).sum_seconds, &[]))
        .build();
    let source = metrics.clone();
    let _ = meter
        .u64_observable_counter(format!("{}/Bucket", name.otlp))
        .with_description(name.help)
        .with_callback(move |observer| {
            let snap = read(&source);
            for (bound, count) in BUCKET_BOUNDS.iter().zip(snap.cumulative) {
                observer.observe(count, &[KeyValue::new("le", bound.to_string())]);
            }
            observer.observe(snap.count, &[KeyValue::new("le", "+Inf")]);
        })
        .build();
}
