//! What a slave reports to New Relic and `/metrics` about its miners: one
//! share outcome per judged share (the `Custom/Pool/Shares` counters and a
//! sampled `ShareSubmission` event), `MinerConnected` / `MinerDisconnected`
//! events, and the slave's own `Custom/Pool/*` gauges. Every door reports
//! through [`SessionDriver`](super::SessionDriver), so none needs its own
//! code for it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tos_pool_common::shutdown::Shutdown;

use crate::session::{Protocol, Verdict};
use tos_pool_common::address::MinerLogin;
use tos_pool_common::metrics::Metrics;
use tos_pool_common::telemetry::Telemetry;
use tos_pool_common::telemetry::events::{Event, MinerSession, ShareSubmission};

use super::{CountersSnapshot, SlaveCounters};

/// The `reason` of a refused share's event: the refusals made outside the
/// session core by their own name, the rest by their outcome's label.
pub fn share_reason(verdict: Verdict) -> Option<&'static str> {
    match verdict {
        Verdict::Accepted | Verdict::Block => None,
        Verdict::RateLimited | Verdict::PoolBusy | Verdict::Unchecked => Some(verdict.label()),
        _ => Some(verdict.outcome().label()),
    }
}

/// One slave's telemetry for its miner sessions. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct MinerReports {
    telemetry: Telemetry,
    slave: Arc<str>,
    region: Arc<str>,
}

impl MinerReports {
    /// Reports into `telemetry`, naming this slave `slave` in `region` in the
    /// connection events.
    pub fn new(telemetry: Telemetry, slave: &str, region: &str) -> MinerReports {
        MinerReports {
            telemetry,
            slave: slave.into(),
            region: region.into(),
        }
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        self.telemetry.metrics()
    }

    /// One judged share: counted by outcome; an event (sampled and capped by
    /// the sink) when the miner is logged in.
    pub fn share(&self, login: Option<&MinerLogin>, difficulty: u64, verdict: Verdict) {
        self.telemetry.metrics().share(verdict.outcome());
        let Some(login) = login else {
            return;
        };
        self.telemetry.events().record_share(|| ShareSubmission {
            address: login.address.to_string().into(),
            worker: login.worker.as_str().into(),
            difficulty,
            valid: verdict.is_valid(),
            reason: share_reason(verdict).map(Cow::Borrowed),
        });
    }

    /// A miner logged in on a connection through `protocol`.
    pub fn connected(&self, login: &MinerLogin, protocol: Protocol) {
        let session = self.session(login, protocol);
        self.telemetry
            .events()
            .record(Event::MinerConnected(session));
    }

    /// A logged-in miner's connection closed.
    pub fn disconnected(&self, login: &MinerLogin, protocol: Protocol) {
        let session = self.session(login, protocol);
        self.telemetry
            .events()
            .record(Event::MinerDisconnected(session));
    }

    /// Sets this slave's `Custom/Pool/Hashrate`, `Miners` and `Workers`
    /// from its counters (its own miners; the master's gauges are the
    /// pool's).
    pub fn record_gauges(&self, counters: &CountersSnapshot) {
        let metrics = self.telemetry.metrics();
        metrics.set_pool_hashrate(counters.hashrate);
        metrics.set_pool_miners(counters.miners);
        metrics.set_pool_workers(counters.workers);
    }

    fn session(&self, login: &MinerLogin, protocol: Protocol) -> MinerSession {
        MinerSession {
            address: login.address.to_string().into(),
            worker: login.worker.as_str().into(),
            protocol: protocol.label().into(),
            slave: self.slave.clone(),
            region: self.region.clone(),
        }
    }
}

/// Keeps this slave's pool gauges current from `counters` every `every`
/// (at least every 100 ms) until `stop` fires, so the OTLP export reads
/// fresh numbers.
pub async fn refresh_gauges(
    reports: MinerReports,
    counters: Arc<SlaveCounters>,
    every: Duration,
    stop: Shutdown,
) {
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.stopped() => return,
            _ = ticker.tick() => reports.record_gauges(&counters.snapshot()),
        }
    }
}

#[cfg(test)]
mod tests {
    use tos_pool_common::metrics::ShareOutcome;
    use tos_pool_common::network::Network;

    use super::*;

    const ADDRESS: &str = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";

    #[test]
    fn each_verdict_maps_to_its_outcome_and_reason() {
        let cases = [
            (Verdict::Accepted, ShareOutcome::Accepted, None),
            (Verdict::Block, ShareOutcome::Block, None),
            (Verdict::Stale, ShareOutcome::Stale, Some("stale")),
            (Verdict::UnknownJob, ShareOutcome::Invalid, Some("invalid")),
            (
                Verdict::Duplicate,
                ShareOutcome::Duplicate,
                Some("duplicate"),
            ),
            (
                Verdict::LowDifficulty,
                ShareOutcome::LowDifficulty,
                Some("low_difficulty"),
            ),
            (
                Verdict::TooManyForJob,
                ShareOutcome::Invalid,
                Some("invalid"),
            ),
            (
                Verdict::Unauthorized,
                ShareOutcome::Invalid,
                Some("invalid"),
            ),
            (
                Verdict::NotSubscribed,
                ShareOutcome::Invalid,
                Some("invalid"),
            ),
            (
                Verdict::RateLimited,
                ShareOutcome::Invalid,
                Some("rate_limited"),
            ),
            (Verdict::PoolBusy, ShareOutcome::Invalid, Some("pool_busy")),
        ];
        for (verdict, outcome, reason) in cases {
            assert_eq!(verdict.outcome(), outcome, "{verdict:?}");
            assert_eq!(share_reason(verdict), reason, "{verdict:?}");
        }
    }

    #[test]
    fn shares_are_counted_even_without_a_login() {
        let reports = MinerReports::new(Telemetry::disabled(), "slave-1", "eu");
        reports.share(None, 100, Verdict::RateLimited);
        let login = MinerLogin::parse(&format!("{ADDRESS}.rig1"), Network::Devnet).unwrap();
        reports.share(Some(&login), 100, Verdict::Accepted);
        reports.connected(&login, Protocol::Stratum);
        let metrics = reports.metrics();
        assert_eq!(metrics.shares(ShareOutcome::Invalid), 1);
        assert_eq!(metrics.shares(ShareOutcome::Accepted), 1);
        assert_eq!(metrics.shares(ShareOutcome::Stale), 0);
    }

    #[test]
    fn gauges_show_this_slaves_miners() {
        let reports = MinerReports::new(Telemetry::disabled(), "slave-1", "eu");
        reports.record_gauges(&CountersSnapshot {
            miners: 2,
            workers: 5,
            hashrate: 1e6,
            ..CountersSnapshot::default()
        });
        let text = reports.metrics().render_prometheus();
        assert!(text.contains("tos_pool_miners 2\n"), "{text}");
        assert!(text.contains("tos_pool_workers 5\n"), "{text}");
    }

    #[test]
    fn protocols_have_the_documented_labels() {
        assert_eq!(Protocol::StratumTls.label(), "stratum+tls");
        assert_eq!(Protocol::WebSocketTls.label(), "wss");
        assert_eq!(Protocol::Xatum.label(), "xatum");
    }
}
