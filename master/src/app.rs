//! The master process: wires the ledger, the upstreams, the jobs, the slave
//! gateway, the block path and the unlocker, and stops them together.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// Resolves once the master's stop flag is set (or its sender is gone):
/// what every long-lived task waits on to end.
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
