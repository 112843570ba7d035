//! The Prometheus text exposition format 0.0.4, written by hand: `# HELP` and
//! `# TYPE` lines, then one sample per line. Every labelled series is shown,
//! zeros included, so dashboards see a series from the first scrape.

use std::fmt::Write;

use super::names::{
    BLOCK_PATH, CounterName, EVENTS_DROPPED, EXPORT_FAILURES, EventDrop, Gauge, HistogramName,
    JOB_FANOUT, SHARE_VALIDATION, SHARES, ShareOutcome, Signal,
};
use super::{BUCKET_BOUNDS, HistogramSnapshot, Metrics};

pub(super) fn render(metrics: &Metrics) -> String {
    let mut out = String::with_capacity(4096);
    for gauge in Gauge::ALL {
        header(&mut out, gauge.prometheus_name(), gauge.help(), "gauge");
        sample(&mut out, gauge.prometheus_name(), "", metrics.gauge(gauge));
    }
    counter(
        &mut out,
        &SHARES,
        ShareOutcome::ALL
            .iter()
            .map(|o| (o.label(), metrics.shares(*o))),
    );
    counter(
        &mut out,
        &EVENTS_DROPPED,
        EventDrop::ALL
            .iter()
            .map(|r| (r.label(), metrics.events_dropped(*r))),
    );
    counter(
        &mut out,
        &EXPORT_FAILURES,
        Signal::ALL
            .iter()
            .map(|s| (s.label(), metrics.export_failures(*s))),
    );
    histogram(&mut out, &SHARE_VALIDATION, &metrics.validation_snapshot());
    histogram(&mut out, &JOB_FANOUT, &metrics.fanout_snapshot());
    histogram(&mut out, &BLOCK_PATH, &metrics.block_path_snapshot());
    out
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: f64) {
    let _ = writeln!(out, "{name}{labels} {}", number(value));
}

fn counter<'a>(out: &mut String, name: &CounterName, series: impl Iterator<Item = (&'a str, u64)>) {
    header(out, name.prometheus, name.help, "counter");
    for (label, value) in series {
        let _ = writeln!(
            out,
            "{}{{{}=\"{label}\"}} {value}",
            name.prometheus, name.label
        );
    }
}

fn histogram(out: &mut String, name: &HistogramName, snap: &HistogramSnapshot) {
    let base = name.prometheus;
    header(out, base, name.help, "histogram");
    for (bound, count) in BUCKET_BOUNDS.iter().zip(snap.cumulative) {
        let _ = writeln!(out, "{base}_bucket{{le=\"{}\"}} {count}", number(*bound));
    }
    let _ = writeln!(out, "{base}_bucket{{le=\"+Inf\"}} {}", snap.count);
    sample(out, &format!("{base}_sum"), "", snap.sum_seconds);
    let _ = writeln!(out, "{base}_count {}", snap.count);
}

/// A sample value as Prometheus parses it (`NaN`, `+Inf`, `-Inf` spelled out).
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    /// Parses the exposition text into `series → value`, checking every
    /// sample line belongs to a family announced by `# TYPE`.
    fn parse(text: &str) -> HashMap<String, f64> {
        let mut families = Vec::new();
        let mut samples = HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                families.push(parts.next().expect("name").to_string());
                let kind = parts.next().expect("kind");
                assert!(["gauge", "counter", "histogram"].contains(&kind), "{line}");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let name = series.split('{').next().expect("name");
            let family = families.last().expect("a TYPE line comes first");
            assert!(
                name == family
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|suffix| name == format!("{family}{suffix}")),
                "{name} outside family {family}"
            );
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                other => other.parse().expect("numeric sample"),
            };
            assert!(
                samples.insert(series.to_string(), value).is_none(),
                "{series} twice"
            );
        }
        samples
    }

    #[test]
    fn renders_every_family_with_help_and_type() {
        let metrics = Metrics::new();
        metrics.set_pool_hashrate(1_234_567.5);
        metrics.set_pool_miners(12);
        metrics.set_pool_workers(30);
        metrics.set_network_height(987_654);
        metrics.set_network_difficulty(5e12);
        metrics.set_network_hashrate(f64::INFINITY);
        metrics.share(ShareOutcome::Accepted);
        metrics.share(ShareOutcome::Accepted);
        metrics.share(ShareOutcome::LowDifficulty);
        metrics.event_dropped(EventDrop::RateLimit);
        metrics.export_failed(Signal::Metrics);
        metrics.observe_validation(Duration::from_micros(400));
        metrics.observe_validation(Duration::from_millis(30));
        metrics.observe_fanout(Duration::from_secs(5));
        metrics.observe_block_path(Duration::from_micros(2_600));
        metrics.observe_block_path(Duration::from_millis(12));

        let text = metrics.render_prometheus();
        let samples = parse(&text);
        assert_eq!(samples["tos_pool_hashrate"], 1_234_567.5);
        assert_eq!(samples["tos_pool_miners"], 12.0);
        assert_eq!(samples["tos_pool_workers"], 30.0);
        assert_eq!(samples["tos_pool_network_height"], 987_654.0);
        assert_eq!(samples["tos_pool_network_difficulty"], 5e12);
        assert_eq!(samples["tos_pool_network_hashrate"], f64::INFINITY);
        assert_eq!(samples["tos_pool_shares_total{outcome=\"accepted\"}"], 2.0);
        assert_eq!(
            samples["tos_pool_shares_total{outcome=\"low_difficulty\"}"],
            1.0
        );
        assert_eq!(samples["tos_pool_shares_total{outcome=\"block\"}"], 0.0);
        assert_eq!(
            samples["tos_pool_events_dropped_total{reason=\"rate_limit\"}"],
            1.0
        );
        assert_eq!(
            samples["tos_pool_export_failures_total{signal=\"metrics\"}"],
            1.0
        );
        assert_eq!(
            samples["tos_pool_export_failures_total{signal=\"logs\"}"],
            0.0
        );
        let v = "tos_pool_share_validation_seconds";
        assert_eq!(samples[&format!("{v}_bucket{{le=\"0.00025\"}}")], 0.0);
        assert_eq!(samples[&format!("{v}_bucket{{le=\"0.0005\"}}")], 1.0);
        assert_eq!(samples[&format!("{v}_bucket{{le=\"0.05\"}}")], 2.0);
        assert_eq!(samples[&format!("{v}_bucket{{le=\"+Inf\"}}")], 2.0);
        assert_eq!(samples[&format!("{v}_count")], 2.0);
        assert!((samples[&format!("{v}_sum")] - 0.0304).abs() < 1e-9);
        let f = "tos_pool_job_fanout_seconds";
        assert_eq!(samples[&format!("{f}_bucket{{le=\"2.5\"}}")], 0.0);
        assert_eq!(samples[&format!("{f}_bucket{{le=\"+Inf\"}}")], 1.0);
        assert_eq!(samples[&format!("{f}_sum")], 5.0);
        let b = "tos_pool_block_path_seconds";
        assert_eq!(samples[&format!("{b}_bucket{{le=\"0.0025\"}}")], 0.0);
        assert_eq!(samples[&format!("{b}_bucket{{le=\"0.005\"}}")], 1.0);
        assert_eq!(samples[&format!("{b}_bucket{{le=\"0.01\"}}")], 1.0);
        assert_eq!(samples[&format!("{b}_bucket{{le=\"0.025\"}}")], 2.0);
        assert_eq!(samples[&format!("{b}_count")], 2.0);

        for gauge in Gauge::ALL {
            let name = gauge.prometheus_name();
            assert!(text.contains(&format!("# HELP {name} {}\n", gauge.help())));
            assert!(text.contains(&format!("# TYPE {name} gauge\n")));
        }
        assert!(text.contains("# TYPE tos_pool_shares_total counter\n"));
        assert!(text.contains("# TYPE tos_pool_job_fanout_seconds histogram\n"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn special_values_are_spelled_as_prometheus_expects() {
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(3.0), "3");
    }
}
