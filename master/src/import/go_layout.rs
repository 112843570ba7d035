//! The Go pool's Redis layout (tos-network/tos-pool,
//! `internal/storage/redis.go`) as plain data, and the pure parsing of its
//! values. Everything here is read-only towards the Go pool.
//!
//! Units: the Go pool's amounts are atomic units of 10^-8 TOS (its web page
//! divides by 10^8), the same as ours, so amounts are copied as they are.
//! Its timestamps are Unix SECONDS; ours are milliseconds, so every time is
//! multiplied by 1,000.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The Go pool's fixed key prefix.
pub const GO_PREFIX: &str = "tos:";

/// `tos:miners:<address>` (hash) — and `tos:miners:<address>:workers`,
/// which is not a miner.
pub fn miner_address_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("tos:miners:")?;
    (!rest.is_empty() && !rest.contains(':')).then_some(rest)
}

/// Pattern of the miners' hashes for SCAN.
pub const MINERS_PATTERN: &str = "tos:miners:*";
/// Sorted set of candidate blocks (JSON members).
pub const BLOCKS_CANDIDATES: &str = "tos:blocks:candidates";
/// Sorted set of immature blocks (JSON members).
pub const BLOCKS_IMMATURE: &str = "tos:blocks:immature";
/// Sorted set of matured blocks (JSON members).
pub const BLOCKS_MATURED: &str = "tos:blocks:matured";
/// Sorted set of payments sent but not confirmed (JSON members).
pub const PAYMENTS_PENDING: &str = "tos:payments:pending";
/// Sorted set of confirmed payments (JSON members).
pub const PAYMENTS_ALL: &str = "tos:payments:all";
/// Set of blacklisted miner addresses.
pub const BLACKLIST: &str = "tos:blacklist";
/// Set of whitelisted IPs.
pub const WHITELIST: &str = "tos:whitelist";

/// One miner's balances in the Go pool (`tos:miners:<address>`), atomic
/// units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoBalances {
    /// `balance`: payable (our `balance:confirmed`).
    pub balance: u64,
    /// `immature`: credited by immature blocks.
    pub immature: u64,
    /// `pending`: in payments sent but not confirmed.
    pub pending: u64,
    /// `paid`: paid in total.
    pub paid: u64,
}

impl GoBalances {
    /// Reads the fields of a miner hash. The Go pool wrote them with
    /// HINCRBY, so a negative or unreadable value is a broken record: it is
    /// refused with the field's name, never read as 0.
    pub fn from_fields(fields: &BTreeMap<String, String>) -> Result<GoBalances, String> {
        let read = |name: &str| -> Result<u64, String> {
            match fields.get(name) {
                None => Ok(0),
                Some(text) => text
                    .trim()
                    .parse()
                    .map_err(|_| format!("field {name} is {text:?}, not an amount")),
            }
        };
        Ok(GoBalances {
            balance: read("balance")?,
            immature: read("immature")?,
            pending: read("pending")?,
            paid: read("paid")?,
        })
    }

    /// Whether every balance is zero.
    pub fn is_zero(&self) -> bool {
        *self == GoBalances::default()
    }
}

/// A block of the Go pool (a JSON member of a `tos:blocks:*` set).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GoBlock {
    /// Height.
    pub height: u64,
    /// Hash (hex, maybe with `0x`).
    pub hash: String,
    /// Network difficulty.
    #[serde(default)]
    pub difficulty: u64,
    /// Reward, atomic units.
    #[serde(default)]
    pub reward: u64,
    /// When found, Unix SECONDS.
    #[serde(default)]
    pub timestamp: i64,
    /// The finder's address.
    #[serde(default)]
    pub finder: String,
    /// Shares per address of the round.
    #[serde(default)]
    pub shares: BTreeMap<String, u64>,
}

impl GoBlock {
    /// Parses one member.
    pub fn parse(json: &str) -> Result<GoBlock, String> {
        serde_json::from_str(json).map_err(|error| format!("not a Go pool block: {error}"))
    }

    /// The hash as ours: 64 lowercase hex characters without `0x`.
    pub fn normalized_hash(&self) -> Result<String, String> {
        normalize_hash(&self.hash)
    }

    /// When found, our milliseconds.
    pub fn found_at_ms(&self) -> u64 {
        seconds_to_ms(self.timestamp)
    }
}

/// A payment of the Go pool (a JSON member of `tos:payments:*`): one
/// transfer to one address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GoPayment {
    /// The transaction.
    pub tx_hash: String,
    /// Receiving address.
    pub address: String,
    /// Atomic units.
    pub amount: u64,
    /// When, Unix SECONDS.
    #[serde(default)]
    pub timestamp: i64,
}

impl GoPayment {
    /// Parses one member.
    pub fn parse(json: &str) -> Result<GoPayment, String> {
        serde_json::from_str(json).map_err(|error| format!("not a Go pool payment: {error}"))
    }

    /// When, our milliseconds.
    pub fn at_ms(&self) -> u64 {
        seconds_to_ms(self.timestamp)
    }
}

/// Unix seconds (the Go pool's) as our milliseconds; negative is 0.
pub fn seconds_to_ms(seconds: i64) -> u64 {
    u64::try_from(seconds).unwrap_or(0).saturating_mul(1_000)
}

/// A hash as 64 lowercase hex characters without `0x`.
pub fn normalize_hash(text: &str) -> Result<String, String> {
    let hex = text.trim().trim_start_matches("0x").to_ascii_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(format!("{text:?} is not a 64-hex-character hash"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_miner_hashes_are_miners() {
        assert_eq!(miner_address_of_key("tos:miners:tos1abc"), Some("tos1abc"));
        assert_eq!(miner_address_of_key("tos:miners:tos1abc:workers"), None);
        assert_eq!(miner_address_of_key("tos:miners:"), None);
        assert_eq!(miner_address_of_key("tos:payments:tos1abc"), None);
    }

    #[test]
    fn balances_read_every_field_and_refuse_broken_ones() {
        let fields: BTreeMap<String, String> = [
            ("balance", "150000000"),
            ("immature", "7"),
            ("paid", "300000000"),
            ("lastShare", "1700000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            GoBalances::from_fields(&fields),
            Ok(GoBalances {
                balance: 150_000_000,
                immature: 7,
                pending: 0,
                paid: 300_000_000,
            })
        );
        let broken: BTreeMap<String, String> = [("balance".to_owned(), "-5".to_owned())].into();
        assert!(
            GoBalances::from_fields(&broken)
                .unwrap_err()
                .contains("balance")
        );
    }

    #[test]
    fn blocks_and_payments_parse_and_times_become_milliseconds() {
        let block = GoBlock::parse(
            r#"{"height":12,"hash":"0xAB00000000000000000000000000000000000000000000000000000000000000",
                "reward":97486707,"timestamp":1700000000,"finder":"tos1x","shares":{"tos1x":5},
                "status":"matured","difficulty":1000}"#,
        )
        .unwrap();
        assert_eq!(block.found_at_ms(), 1_700_000_000_000);
        assert_eq!(block.reward, 97_486_707, "atomic units copied as they are");
        assert_eq!(
            block.normalized_hash().unwrap(),
            format!("ab{}", "0".repeat(62))
        );
        let payment = GoPayment::parse(
            r#"{"tx_hash":"aa","address":"tos1x","amount":100000000,"timestamp":1700000100,"status":"confirmed"}"#,
        )
        .unwrap();
        assert_eq!(payment.at_ms(), 1_700_000_100_000);
        assert!(GoBlock::parse("{}").is_err());
        assert!(normalize_hash("xyz").is_err());
        assert_eq!(seconds_to_ms(-1), 0);
    }
}
