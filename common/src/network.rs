//! The TOS networks a pool can serve and what differs between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A TOS network. Decides the address prefix and the chain's minimum difficulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The main network (`tos` addresses).
    Mainnet,
    /// The public test network (`tst` addresses).
    Testnet,
    /// The staging network (`tst` addresses).
    Stagenet,
    /// A local development network (`tst` addresses).
    Devnet,
}

impl Network {
    /// The bech32 human-readable prefix of this network's addresses.
    pub fn address_prefix(self) -> &'static str {
        match self {
            Network::Mainnet => "tos",
            Network::Testnet | Network::Stagenet | Network::Devnet => "tst",
        }
    }

    /// The chain's minimum block difficulty on this network (TOS.md).
    pub fn minimum_difficulty(self) -> u64 {
        match self {
            Network::Mainnet => 100_000,
            Network::Testnet | Network::Stagenet => 10_000,
            Network::Devnet => 1_000,
        }
    }

    /// The name the daemon reports in `get_info.network`.
    pub fn daemon_name(self) -> &'static str {
        match self {
            Network::Mainnet => "Mainnet",
            Network::Testnet => "Testnet",
            Network::Stagenet => "Stagenet",
            Network::Devnet => "Dev",
        }
    }

    /// Reads the daemon's `get_info.network` value.
    pub fn from_daemon_name(name: &str) -> Option<Network> {
        match name {
            "Mainnet" => Some(Network::Mainnet),
            "Testnet" => Some(Network::Testnet),
            "Stagenet" => Some(Network::Stagenet),
            "Dev" | "Devnet" => Some(Network::Devnet),
            _ => None,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Stagenet => "stagenet",
            Network::Devnet => "devnet",
        })
    }
}

/// A network name that is not one of `mainnet`, `testnet`, `stagenet`, `devnet`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network {0:?}: expected mainnet, testnet, stagenet or devnet")]
pub struct UnknownNetwork(pub String);

impl FromStr for Network {
    type Err = UnknownNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mainnet" => Ok(Network::Mainnet),
            "testnet" => Ok(Network::Testnet),
            "stagenet" => Ok(Network::Stagenet),
            "devnet" | "dev" => Ok(Network::Devnet),
            _ => Err(UnknownNetwork(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_tos_md() {
        assert_eq!(Network::Mainnet.address_prefix(), "tos");
        assert_eq!(Network::Devnet.address_prefix(), "tst");
        assert_eq!(Network::Testnet.address_prefix(), "tst");
    }

    #[test]
    fn parses_names_and_refuses_others() {
        assert_eq!("Devnet".parse::<Network>(), Ok(Network::Devnet));
        assert!("moon".parse::<Network>().is_err());
        assert_eq!(Network::from_daemon_name("Dev"), Some(Network::Devnet));
    }
}
