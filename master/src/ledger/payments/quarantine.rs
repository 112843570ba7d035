//! Recipients payouts leave out: the quarantine (addresses the wallet
//! refused or called invalid, until an admin releases them), the suspects
//! (addresses of a payment the wallet failed with an error that may have
//! followed a broadcast: paid alone until cleared) and the cache of
//! `validate_address` answers. docs/REDIS.md describes the keys.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ledger::{Ledger, LedgerError};

/// Why a recipient is quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineCause {
    /// The wallet's `validate_address` said the address is not valid.
    InvalidAddress,
    /// The wallet refused a transaction because of this recipient.
    Refused,
}

/// One quarantined recipient, as stored and as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct QuarantineEntry {
    /// The address left out of payouts.
    pub address: String,
    /// Why.
    pub cause: QuarantineCause,
    /// What the wallet said.
    pub reason: String,
    /// The payment whose refusal put it here, if any.
    pub payment_id: Option<String>,
    /// When it was quarantined (ms since the Unix epoch).
    pub since_ms: u64,
}

impl Ledger {
    /// Quarantines `entry.address` (replacing an older entry of it).
    pub async fn quarantine(&self, entry: &QuarantineEntry) -> Result<(), LedgerError> {
        let json = serde_json::to_string(entry).map_err(|source| LedgerError::CorruptPayment {
            id: format!("quarantine of {}", entry.address),
            source,
        })?;
        let mut connection = self.connection();
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(self.keys.payouts_quarantine())
            .arg(&entry.address)
            .arg(json)
            .ignore()
            .cmd("HDEL")
            .arg(self.keys.payouts_suspects())
            .arg(&entry.address)
            .ignore()
            .query_async::<()>(&mut connection)
            .await
            .map_err(LedgerError::redis("quarantining a recipient"))?;
        tracing::warn!(address = %entry.address, cause = ?entry.cause, reason = %entry.reason, "recipient quarantined: left out of payouts until an admin releases it");
        Ok(())
    }

    /// Every quarantined recipient, by address.
    pub async fn quarantined(&self) -> Result<Vec<QuarantineEntry>, LedgerError> {
        let mut connection = self.connection();
        let entries: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.payouts_quarantine())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading the quarantine"))?;
        entries
            .iter()
            .map(|(address, json)| parse_entry(address, json))
            .collect()
    }

    /// Releases `address` from the quarantine and forgets its cached
    /// validation (it is validated again before it is paid). Returns the
    /// entry it had, or `None` when it was not quarantined.
    pub async fn release_quarantined(
        &self,
        address: &str,
    ) -> Result<Option<QuarantineEntry>, LedgerError> {
        let mut connection = self.connection();
        let (json, _, _): (Option<String>, u8, u8) = redis::pipe()
            .atomic()
            .cmd("HGET")
            .arg(self.keys.payouts_quarantine())
            .arg(address)
            .cmd("HDEL")
            .arg(self.keys.payouts_quarantine())
            .arg(address)
            .cmd("HDEL")
            .arg(self.keys.payouts_valid_addresses())
            .arg(address)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("releasing a quarantined recipient"))?;
        json.map(|json| parse_entry(address, &json)).transpose()
    }

    /// Marks `addresses` as suspects with the wallet's `error`.
    pub async fn add_payout_suspects(
        &self,
        addresses: &[String],
        error: &str,
    ) -> Result<(), LedgerError> {
        if addresses.is_empty() {
            return Ok(());
        }
        let mut command = redis::cmd("HSET");
        command.arg(self.keys.payouts_suspects());
        for address in addresses {
            command.arg(address).arg(error);
        }
        let mut connection = self.connection();
        command
            .query_async::<()>(&mut connection)
            .await
            .map_err(LedgerError::redis("marking payout suspects"))
    }

    /// Clears `addresses` from the suspects (a payment to them went out).
    pub async fn clear_payout_suspects(&self, addresses: &[String]) -> Result<(), LedgerError> {
        if addresses.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection();
        redis::cmd("HDEL")
            .arg(self.keys.payouts_suspects())
            .arg(addresses)
            .query_async::<()>(&mut connection)
            .await
            .map_err(LedgerError::redis("clearing payout suspects"))
    }

    /// Every suspect and the wallet error that made it one.
    pub async fn payout_suspects(&self) -> Result<BTreeMap<String, String>, LedgerError> {
        let mut connection = self.connection();
        redis::cmd("HGETALL")
            .arg(self.keys.payouts_suspects())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading payout suspects"))
    }

    /// Which of `addresses` the wallet already said are valid.
    pub async fn validated_addresses(
        &self,
        addresses: &[String],
    ) -> Result<BTreeSet<String>, LedgerError> {
        if addresses.is_empty() {
            return Ok(BTreeSet::new());
        }
        let mut connection = self.connection();
        let seen: Vec<Option<u64>> = redis::cmd("HMGET")
            .arg(self.keys.payouts_valid_addresses())
            .arg(addresses)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading validated addresses"))?;
        Ok(addresses
            .iter()
            .zip(seen)
            .filter_map(|(address, at)| at.map(|_| address.clone()))
            .collect())
    }

    /// Caches the wallet's "valid" for `address` at `now_ms`.
    pub async fn mark_address_valid(&self, address: &str, now_ms: u64) -> Result<(), LedgerError> {
        let mut connection = self.connection();
        redis::cmd("HSET")
            .arg(self.keys.payouts_valid_addresses())
            .arg(address)
            .arg(now_ms)
            .query_async::<()>(&mut connection)
            .await
            .map_err(LedgerError::redis("caching a validated address"))
    }
}

fn parse_entry(address: &str, json: &str) -> Result<QuarantineEntry, LedgerError> {
    serde_json::from_str(json).map_err(|source| LedgerError::CorruptPayment {
        id: format!("quarantine of {address}"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_in_snake_case() {
        let entry = QuarantineEntry {
            address: "tst1a".into(),
            cause: QuarantineCause::InvalidAddress,
            reason: "is_valid false".into(),
            payment_id: None,
            since_ms: 5,
        };
        let json = serde_json::to_string(&entry).expect("serializes");
        assert!(json.contains("\"invalid_address\""), "{json}");
        assert_eq!(parse_entry("tst1a", &json).expect("parses"), entry);
        assert!(parse_entry("tst1a", "{}").is_err());
    }
}
