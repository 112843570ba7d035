//! The admin audit log: one JSON entry per admin action, newest first, in
//! a list trimmed to [`AUDIT_LOG_LENGTH`] entries in the same step as each
//! append (`audit_append.lua`). The entries' shape belongs to the API
//! (`crate::api`); the ledger only stores and reads them.

use crate::ledger::{Ledger, LedgerError};

/// Entries the audit log keeps; older ones are dropped as new ones come.
pub const AUDIT_LOG_LENGTH: usize = 10_000;

impl Ledger {
    /// Appends `entry` (one JSON object) to the audit log, dropping the
    /// oldest beyond [`AUDIT_LOG_LENGTH`].
    pub async fn append_audit(&self, entry: &str) -> Result<(), LedgerError> {
        let mut connection = self.connection();
        let _length: u64 = self
            .scripts
            .audit_append
            .key(self.keys.audit_log())
            .arg(entry)
            .arg(AUDIT_LOG_LENGTH)
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("appending to the audit log"))?;
        Ok(())
    }

    /// The newest `limit` audit entries (at most [`AUDIT_LOG_LENGTH`]),
    /// newest first.
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<String>, LedgerError> {
        let limit = limit.min(AUDIT_LOG_LENGTH);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection();
        let stop = i64::try_from(limit).unwrap_or(i64::MAX) - 1;
        redis::cmd("LRANGE")
            .arg(self.keys.audit_log())
            .arg(0)
            .arg(stop)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading the audit log"))
    }
}
