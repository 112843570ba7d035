//! The payout lock: one payer in the cluster. `SET NX PX` with a random
//! token; renewed and released only by the holder of the token (compare and
//! expire, compare and delete), so a payer whose lock expired can never
//! remove the next payer's.

use std::time::Duration;

use crate::ledger::{Ledger, LedgerError};

impl Ledger {
    /// Takes the payout lock for `ttl` with `token` (random, unique to the
    /// caller). `true` when taken, `false` when someone holds it.
    pub async fn acquire_payout_lock(
        &self,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, LedgerError> {
        let mut connection = self.connection();
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.keys.payout_lock())
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("taking the payout lock"))?;
        Ok(reply.is_some())
    }

    /// Extends the lock held with `token` to `ttl` from now. `false` when
    /// the lock expired or another payer holds it.
    pub async fn renew_payout_lock(&self, token: &str, ttl: Duration) -> Result<bool, LedgerError> {
        let mut connection = self.connection();
        let renewed: u8 = self
            .scripts
            .lock_renew
            .key(self.keys.payout_lock())
            .arg(token)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("renewing the payout lock"))?;
        Ok(renewed == 1)
    }

    /// Releases the lock held with `token`. `false` when it was no longer
    /// ours (nothing deleted).
    pub async fn release_payout_lock(&self, token: &str) -> Result<bool, LedgerError> {
        let mut connection = self.connection();
        let released: u8 = self
            .scripts
            .lock_release
            .key(self.keys.payout_lock())
            .arg(token)
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("releasing the payout lock"))?;
        Ok(released == 1)
    }
}

/// A TTL in whole milliseconds, at least 1 (`PX 0` is an error in Redis).
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_whole_positive_milliseconds() {
        assert_eq!(ttl_ms(Duration::from_secs(300)), 300_000);
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1_500)), 1);
    }
}
