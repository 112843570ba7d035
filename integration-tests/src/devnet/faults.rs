//! Fault injection: for a while the daemon answers every RPC with HTTP 500,
//! never answers, or refuses connections.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// How the daemon misbehaves during a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FaultMode {
    /// Every JSON-RPC request (and WebSocket upgrade) gets HTTP 500.
    #[serde(rename = "http500")]
    Http500,
    /// Requests are read but never answered.
    #[serde(rename = "hang")]
    Hang,
    /// The listener is closed and open connections are cut: connecting is
    /// refused until the fault ends and the same port is bound again.
    #[serde(rename = "refuse")]
    Refuse,
}

/// The fault in force, if any, and when it ends.
#[derive(Debug, Default)]
pub struct Faults {
    current: Mutex<Option<(FaultMode, Instant)>>,
}

impl Faults {
    /// Starts `mode` for `duration` from `now`, replacing any fault in force.
    pub fn start(&self, mode: FaultMode, now: Instant, duration: Duration) {
        *self.lock() = Some((mode, now + duration));
    }

    /// The fault in force at `now`.
    pub fn active(&self, now: Instant) -> Option<FaultMode> {
        let mut current = self.lock();
        match *current {
            Some((mode, until)) if now < until => Some(mode),
            Some(_) => {
                *current = None;
                None
            }
            None => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(FaultMode, Instant)>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_lasts_its_duration_only() {
        let faults = Faults::default();
        let t0 = Instant::now();
        assert_eq!(faults.active(t0), None);
        faults.start(FaultMode::Hang, t0, Duration::from_millis(100));
        assert_eq!(
            faults.active(t0 + Duration::from_millis(99)),
            Some(FaultMode::Hang)
        );
        assert_eq!(faults.active(t0 + Duration::from_millis(100)), None);
        assert_eq!(faults.active(t0), None, "an ended fault stays ended");
    }

    #[test]
    fn modes_parse_from_control_names() {
        let mode: FaultMode = serde_json::from_str("\"http500\"").expect("known mode");
        assert_eq!(mode, FaultMode::Http500);
        assert!(serde_json::from_str::<FaultMode>("\"explode\"").is_err());
    }
}
