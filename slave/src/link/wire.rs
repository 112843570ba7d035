//! The one place the slave's own types become the master link's wire form
//! (`pool.proto`) and back. Nothing outside the link sees a proto type.

use std::net::IpAddr;
use std::time::Duration;

use tos_pool_common::metrics::ShareOutcome;
use tos_pool_proto::v1;

use crate::session::{BlockCandidate, PoolSettings, Protocol, ShareRecord, Verdict};

/// What happened to a miner's connection, for the master's session list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinerEventKind {
    /// The connection opened.
    Connected,
    /// The miner logged in.
    Authorized,
    /// The connection closed.
    Disconnected,
}

/// A miner connection's event, as the slave reports it to the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerEvent {
    /// What happened.
    pub kind: MinerEventKind,
    /// The session, unique within this slave's boot.
    pub session_id: u64,
    /// Miner address (bech32), once logged in.
    pub address: Option<String>,
    /// Worker name, once logged in.
    pub worker: Option<String>,
    /// The door the miner came through.
    pub protocol: Protocol,
    /// The miner's address.
    pub remote_ip: IpAddr,
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// The miner software's self-description, if it gave one.
    pub user_agent: Option<String>,
}

/// This slave's counters for the master's pool stats.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SlaveReport {
    /// Open miner connections.
    pub sessions: u64,
    /// Of which logged in.
    pub authorized_sessions: u64,
    /// Distinct miner addresses.
    pub miners: u64,
    /// Distinct (address, worker) pairs.
    pub workers: u64,
    /// Valid shares since start.
    pub shares_valid: u64,
    /// Invalid shares since start.
    pub shares_invalid: u64,
    /// Stale shares since start.
    pub shares_stale: u64,
    /// Estimated hashrate of this slave's miners, H/s.
    pub hashrate: f64,
}

/// The ledger's outcome of a verdict: its metrics outcome, with blocks
/// credited as valid shares. Only shares the session judged are recorded;
/// the driver's own refusals never reach the link, and are sent as invalid
/// if they ever do.
pub(super) fn outcome(verdict: Verdict) -> v1::ShareOutcome {
    match verdict.outcome() {
        ShareOutcome::Accepted | ShareOutcome::Block => v1::ShareOutcome::Valid,
        ShareOutcome::Stale => v1::ShareOutcome::Stale,
        ShareOutcome::Duplicate => v1::ShareOutcome::Duplicate,
        ShareOutcome::LowDifficulty => v1::ShareOutcome::LowDifficulty,
        ShareOutcome::Invalid => v1::ShareOutcome::Invalid,
    }
}

/// A share record as the ledger takes it, numbered `seq`.
pub(super) fn share(record: &ShareRecord, seq: u64) -> v1::Share {
    v1::Share {
        seq,
        job_id: record.job_id.clone(),
        height: record.height,
        address: record.address.clone(),
        worker: record.worker.clone(),
        difficulty: record.difficulty,
        actual_difficulty: record.actual_difficulty,
        outcome: outcome(record.verdict) as i32,
        timestamp_ms: record.timestamp_ms,
        session_id: record.session_id,
    }
}

/// A block candidate; the request id is the block desk's, `share_seq` the
/// seq of the same share in the share stream, `read_at_us` when the
/// connection read it (the start of the block's timed path).
pub(super) fn block(
    candidate: &BlockCandidate,
    share_seq: u64,
    read_at_us: u64,
) -> v1::BlockCandidate {
    v1::BlockCandidate {
        request_id: 0,
        job_id: candidate.job_id.clone(),
        height: candidate.height,
        miner_work: candidate.miner_work.as_bytes().to_vec(),
        pow_hash: candidate.pow_hash.to_vec(),
        address: candidate.address.clone(),
        worker: candidate.worker.clone(),
        share_difficulty: candidate.share_difficulty,
        found_at_ms: candidate.found_at_ms,
        share_seq,
        read_at_us,
        // Stamped by the link task as it sends.
        sent_at_us: 0,
    }
}

/// The wire name of a door's protocol.
pub(super) fn protocol(protocol: Protocol) -> v1::MinerProtocol {
    match protocol {
        Protocol::Stratum => v1::MinerProtocol::Stratum,
        Protocol::StratumTls => v1::MinerProtocol::StratumTls,
        Protocol::WebSocket => v1::MinerProtocol::Websocket,
        Protocol::WebSocketTls => v1::MinerProtocol::WebsocketTls,
        Protocol::Xatum => v1::MinerProtocol::Xatum,
    }
}

/// A miner event as the master's gateway takes it.
pub(super) fn miner_event(event: MinerEvent) -> v1::MinerEvent {
    let kind = match event.kind {
        MinerEventKind::Connected => v1::MinerEventKind::Connected,
        MinerEventKind::Authorized => v1::MinerEventKind::Authorized,
        MinerEventKind::Disconnected => v1::MinerEventKind::Disconnected,
    };
    v1::MinerEvent {
        kind: kind as i32,
        session_id: event.session_id,
        address: event.address.unwrap_or_default(),
        worker: event.worker.unwrap_or_default(),
        protocol: protocol(event.protocol) as i32,
        remote_ip: event.remote_ip.to_string(),
        at_ms: event.at_ms,
        user_agent: event.user_agent.unwrap_or_default(),
    }
}

/// The slave's stats, with the link's own `unacked_shares` and the time.
pub(super) fn stats(report: SlaveReport, unacked_shares: u64, at_ms: u64) -> v1::SlaveStats {
    v1::SlaveStats {
        sessions: report.sessions,
        authorized_sessions: report.authorized_sessions,
        miners: report.miners,
        workers: report.workers,
        shares_valid: report.shares_valid,
        shares_invalid: report.shares_invalid,
        shares_stale: report.shares_stale,
        hashrate: report.hashrate,
        unacked_shares,
        at_ms,
    }
}

/// The master's settings as the sessions take them: 0 means "keep yours".
pub(super) fn pool_settings(settings: &v1::Settings) -> PoolSettings {
    let set = |value: u64| (value > 0).then_some(value);
    PoolSettings {
        initial_difficulty: set(settings.initial_difficulty),
        min_difficulty: set(settings.min_difficulty),
        max_difficulty: set(settings.max_difficulty),
        vardiff_target_time: set(settings.vardiff_target_time_ms).map(Duration::from_millis),
        vardiff_retarget: set(settings.vardiff_retarget_ms).map(Duration::from_millis),
        vardiff_variance_percent: (settings.vardiff_variance_percent > 0)
            .then(|| f64::from(settings.vardiff_variance_percent)),
        job_backlog: (settings.job_backlog > 0)
            .then(|| usize::try_from(settings.job_backlog).unwrap_or(usize::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_verdicts_are_credited_on_the_wire() {
        assert_eq!(outcome(Verdict::Block), v1::ShareOutcome::Valid);
        assert_eq!(outcome(Verdict::UnknownJob), v1::ShareOutcome::Invalid);
        assert_eq!(
            outcome(Verdict::LowDifficulty),
            v1::ShareOutcome::LowDifficulty
        );
        assert_eq!(outcome(Verdict::PoolBusy), v1::ShareOutcome::Invalid);
    }

    #[test]
    fn zero_settings_keep_the_slaves_own() {
        let settings = pool_settings(&v1::Settings {
            min_difficulty: 5,
            vardiff_retarget_ms: 1500,
            ..v1::Settings::default()
        });
        assert_eq!(
            settings,
            PoolSettings {
                min_difficulty: Some(5),
                vardiff_retarget: Some(Duration::from_millis(1500)),
                ..PoolSettings::default()
            }
        );
    }

    #[test]
    fn events_keep_every_field() {
        let event = miner_event(MinerEvent {
            kind: MinerEventKind::Authorized,
            session_id: 7,
            address: Some("tst1a".into()),
            worker: Some("rig".into()),
            protocol: Protocol::WebSocketTls,
            remote_ip: IpAddr::from([127, 0, 0, 9]),
            at_ms: 42,
            user_agent: None,
        });
        assert_eq!(event.kind, v1::MinerEventKind::Authorized as i32);
        assert_eq!(event.protocol, v1::MinerProtocol::WebsocketTls as i32);
        assert_eq!(
            (
                event.address.as_str(),
                event.worker.as_str(),
                event.remote_ip.as_str()
            ),
            ("tst1a", "rig", "127.0.0.9")
        );
        assert_eq!(event.user_agent, "");
    }
}
