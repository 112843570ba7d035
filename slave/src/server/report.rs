//! What a slave reports to New Relic and `/metrics` about its miners: one
//! share outcome per judged share (the `Custom/Pool/Shares` counters and a
//! sampled `ShareSubmission` event), `MinerConnected` / `MinerDisconnected`
//! events, and the slave's own `Custom/Pool/*` gauges. Every door reports
//! through [`SessionDriver`](super::SessionDriver), so none needs its own
//! code for it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use tos_pool_common::address::MinerLogin;
use tos_pool_common::metrics::{Metrics, ShareOutcome};
use tos_pool_common::telemetry::Telemetry;
use tos_pool_common::telemetry::events::{Event, MinerSession, ShareSubmission};
use tos_pool_proto::v1::MinerProtocol;

use crate::session::SessionCounters;

use super::{CountersSnapshot, SlaveCounters};

/// Why a share was refused outside the session core: the per-connection
/// share rate (`security.max_shares_per_second`).
pub const REASON_RATE_LIMITED: &str = "rate_limited";
/// Why a share was refused outside the session core: the master link could
/// not take it ("pool busy").
pub const REASON_POOL_BUSY: &str = "pool_busy";

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
    /// the sink) when the miner is logged in. `reason` names a refusal made
    /// outside the session core; otherwise the outcome's label is the reason.
    pub fn share(
        &self,
        login: Option<&MinerLogin>,
        difficulty: u64,
        outcome: ShareOutcome,
        reason: Option<&'static str>,
    ) {
        self.telemetry.metrics().share(outcome);
        let Some(login) = login else {
            return;
        };
        let valid = matches!(outcome, ShareOutcome::Accepted | ShareOutcome::Block);
        let reason = match (valid, reason) {
            (true, _) => None,
            (false, Some(reason)) => Some(Cow::Borrowed(reason)),
            (false, None) => Some(Cow::Borrowed(outcome.label())),
        };
        self.telemetry.events().record_share(|| ShareSubmission {
            address: login.address.to_string().into(),
            worker: login.worker.as_str().into(),
            difficulty,
            valid,
            reason,
        });
    }

    /// A miner logged in on a connection through `protocol`.
    pub fn connected(&self, login: &MinerLogin, protocol: MinerProtocol) {
        let session = self.session(login, protocol);
        self.telemetry
            .events()
            .record(Event::MinerConnected(session));
    }

    /// A logged-in miner's connection closed.
    pub fn disconnected(&self, login: &MinerLogin, protocol: MinerProtocol) {
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

    fn session(&self, login: &MinerLogin, protocol: MinerProtocol) -> MinerSession {
        MinerSession {
            address: login.address.to_string().into(),
            worker: login.worker.as_str().into(),
            protocol: protocol_label(protocol).into(),
            slave: self.slave.clone(),
            region: self.region.clone(),
        }
    }
}

/// Keeps this slave's pool gauges current from `counters` every `every`
/// (at least every 100 ms) until `stop` turns true, so the OTLP export
/// reads fresh numbers.
pub async fn refresh_gauges(
    reports: MinerReports,
    counters: Arc<SlaveCounters>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            _ = ticker.tick() => reports.record_gauges(&counters.snapshot()),
        }
    }
}

/// The `protocol` attribute of connection events.
pub fn protocol_label(protocol: MinerProtocol) -> &'static str {
    match protocol {
        MinerProtocol::Unspecified => "unknown",
        MinerProtocol::Stratum => "stratum",
        MinerProtocol::StratumTls => "stratum+tls",
        MinerProtocol::Websocket => "ws",
        MinerProtocol::WebsocketTls => "wss",
        MinerProtocol::Xatum => "xatum",
    }
}

/// How the session core judged the share of one submit, from its counters
/// before and after; `None` when it counted no share (for example a submit
/// refused before it was read as one).
pub fn judged(before: &SessionCounters, after: &SessionCounters) -> Option<ShareOutcome> {
    if after.blocks > before.blocks {
        Some(ShareOutcome::Block)
    } else if after.valid > before.valid {
        Some(ShareOutcome::Accepted)
    } else if after.stale > before.stale {
        Some(ShareOutcome::Stale)
    } else if after.duplicate > before.duplicate {
        Some(ShareOutcome::Duplicate)
    } else if after.low_difficulty > before.low_difficulty {
        Some(ShareOutcome::LowDifficulty)
    } else if after.other_rejected > before.other_rejected
        || after.unauthorized > before.unauthorized
    {
        Some(ShareOutcome::Invalid)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use tos_pool_common::network::Network;

    use super::*;

    const ADDRESS: &str = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";

    #[test]
    fn each_counter_maps_to_its_outcome() {
        let before = SessionCounters::default();
        type Change = fn(&mut SessionCounters);
        let cases: [(Change, Option<ShareOutcome>); 8] = [
            (|_| {}, None),
            (|c| c.valid += 1, Some(ShareOutcome::Accepted)),
            (
                |c| {
                    c.valid += 1;
                    c.blocks += 1;
                },
                Some(ShareOutcome::Block),
            ),
            (|c| c.stale += 1, Some(ShareOutcome::Stale)),
            (|c| c.duplicate += 1, Some(ShareOutcome::Duplicate)),
            (|c| c.low_difficulty += 1, Some(ShareOutcome::LowDifficulty)),
            (|c| c.other_rejected += 1, Some(ShareOutcome::Invalid)),
            (|c| c.unauthorized += 1, Some(ShareOutcome::Invalid)),
        ];
        for (change, expected) in cases {
            let mut after = before;
            change(&mut after);
            assert_eq!(judged(&before, &after), expected, "{after:?}");
        }
        // Malformed requests are not shares.
        let after = SessionCounters {
            malformed: 1,
            ..before
        };
        assert_eq!(judged(&before, &after), None);
    }

    #[test]
    fn shares_are_counted_even_without_a_login() {
        let reports = MinerReports::new(Telemetry::disabled(), "slave-1", "eu");
        reports.share(None, 100, ShareOutcome::Invalid, Some(REASON_RATE_LIMITED));
        let login = MinerLogin::parse(&format!("{ADDRESS}.rig1"), Network::Devnet).unwrap();
        reports.share(Some(&login), 100, ShareOutcome::Accepted, None);
        reports.connected(&login, MinerProtocol::Stratum);
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
        assert_eq!(protocol_label(MinerProtocol::StratumTls), "stratum+tls");
        assert_eq!(protocol_label(MinerProtocol::WebsocketTls), "wss");
        assert_eq!(protocol_label(MinerProtocol::Xatum), "xatum");
    }
}
