//! The operator's runtime access lists, kept in Redis so they outlive a
//! restart: `access:blacklist` (miner addresses refused at login) and
//! `access:whitelist` (IPs and CIDRs never banned), both sets. The admin
//! API writes them; the gateway sends them to every slave.

use crate::ledger::{Ledger, LedgerError};

/// One of the two runtime lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessList {
    /// Miner addresses refused at login.
    Blacklist,
    /// IPs and CIDRs never banned.
    Whitelist,
}

impl AccessList {
    /// The list's name in keys, routes and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            AccessList::Blacklist => "blacklist",
            AccessList::Whitelist => "whitelist",
        }
    }
}

impl Ledger {
    /// The entries of `list`, sorted.
    pub async fn access_list(&self, list: AccessList) -> Result<Vec<String>, LedgerError> {
        let mut connection = self.connection();
        let mut entries: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.access_list(list.name()))
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading an access list"))?;
        entries.sort();
        Ok(entries)
    }

    /// Adds `entry` to `list`; true when it was not there yet.
    pub async fn add_to_access_list(
        &self,
        list: AccessList,
        entry: &str,
    ) -> Result<bool, LedgerError> {
        let mut connection = self.connection();
        let added: u64 = redis::cmd("SADD")
            .arg(self.keys.access_list(list.name()))
            .arg(entry)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("adding to an access list"))?;
        Ok(added > 0)
    }

    /// Removes `entry` from `list`; true when it was there.
    pub async fn remove_from_access_list(
        &self,
        list: AccessList,
        entry: &str,
    ) -> Result<bool, LedgerError> {
        let mut connection = self.connection();
        let removed: u64 = redis::cmd("SREM")
            .arg(self.keys.access_list(list.name()))
            .arg(entry)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("removing from an access list"))?;
        Ok(removed > 0)
    }
}
