//! TOS addresses (classic bech32 of `public key ‖ type`) and the miner login
//! `ADDRESS.WORKER` built on them.
//!
//! Only normal addresses (type 0) are accepted: the pool pays to them, and an
//! integrated address (type 1, with payment data) is refused with an error that
//! says to use the normal one. The public key is taken as the 32 bytes the
//! address carries; whether they are a valid Ristretto point is the daemon's and
//! the wallet's business.

mod bech32;
mod login;

use std::fmt;

use serde::{Serialize, Serializer};

use crate::network::Network;

pub use login::{DEFAULT_WORKER, LoginError, MAX_WORKER_LENGTH, MinerLogin};

/// Address type byte of a normal address.
const TYPE_NORMAL: u8 = 0;
/// Address type byte of an integrated address (key plus payment data).
const TYPE_INTEGRATED: u8 = 1;
/// Payload of a normal address: 32-byte key and the type byte.
const NORMAL_PAYLOAD_LENGTH: usize = 33;

/// A normal (non-integrated) TOS address of one network.
///
/// `Display` (and `Serialize`) give the canonical lower-case text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Address {
    network: Network,
    public_key: [u8; 32],
}

/// Why an address string was refused. The messages are shown to miners and
/// operators, so each says what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The address text is empty.
    #[error("address is empty: give your TOS wallet address")]
    Empty,
    /// The text is longer than any TOS address.
    #[error(
        "address is {length} characters long, more than any TOS address ({max}): check what was pasted",
        max = bech32::MAX_LENGTH
    )]
    TooLong {
        /// Length of the text in characters.
        length: usize,
    },
    /// Upper- and lower-case letters are mixed, which bech32 forbids.
    #[error("address mixes upper- and lower-case letters: write it all in lower case")]
    MixedCase,
    /// A character outside the bech32 alphabet.
    #[error(
        "address has invalid character {character:?} at position {position}: copy the address again from your wallet"
    )]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its position in the text, counting from 1.
        position: usize,
    },
    /// No `1` between prefix and data.
    #[error("address has no '1' after its prefix: a TOS address looks like tos1… or tst1…")]
    MissingSeparator,
    /// Nothing before the `1` separator.
    #[error("address has no prefix before the '1': a TOS address starts with tos1 or tst1")]
    MissingPrefix,
    /// The data part is too short to hold a checksum.
    #[error("address is too short ({length} characters): a normal TOS address has 63")]
    TooShort {
        /// Length of the whole text in characters.
        length: usize,
    },
    /// The bech32 checksum does not match: a typo or a truncated copy.
    #[error(
        "bad bech32 checksum: the address has a typo or was cut short; copy it again from your wallet"
    )]
    BadChecksum,
    /// The data does not end on a byte boundary with zero padding.
    #[error("address data has invalid padding bits: the address is damaged; copy it again")]
    InvalidPadding,
    /// A valid address of another TOS network.
    #[error(
        "address is for {found} (prefix {found_prefix}) but the pool runs on {expected} (prefix {expected_prefix})",
        found = networks_of_prefix(found_prefix),
        expected_prefix = expected.address_prefix()
    )]
    WrongNetwork {
        /// The prefix the address carries.
        found_prefix: String,
        /// The network the pool runs on.
        expected: Network,
    },
    /// A valid bech32 string that is not a TOS address at all.
    #[error(
        "address prefix {found_prefix} is not a TOS prefix: the pool runs on {expected}, whose addresses start with {expected_prefix}1",
        expected_prefix = expected.address_prefix()
    )]
    UnknownPrefix {
        /// The prefix the text carries.
        found_prefix: String,
        /// The network the pool runs on.
        expected: Network,
    },
    /// An integrated address (with payment data).
    #[error(
        "integrated addresses are not accepted: use your wallet's normal address (63 characters, without payment data)"
    )]
    IntegratedNotAccepted,
    /// An address type other than normal or integrated.
    #[error("address has unknown type {0}: only normal addresses (type 0) are accepted")]
    UnknownType(u8),
    /// The payload is not 32 key bytes and a type byte.
    #[error(
        "address carries {length} bytes but a normal address carries 33 (key and type): the address is damaged"
    )]
    WrongPayloadLength {
        /// Number of payload bytes found.
        length: usize,
    },
}

/// What networks an address prefix belongs to, for error messages.
fn networks_of_prefix(prefix: &str) -> &'static str {
    if prefix == Network::Mainnet.address_prefix() {
        "mainnet"
    } else {
        "a test network (testnet, stagenet or devnet)"
    }
}

impl Address {
    /// Parses `text` (all lower or all upper case) as a normal address of `network`.
    pub fn parse(text: &str, network: Network) -> Result<Address, AddressError> {
        let (prefix, payload) = bech32::decode(text)?;
        if prefix != network.address_prefix() {
            let is_tos_prefix = [Network::Mainnet, Network::Devnet]
                .iter()
                .any(|other| other.address_prefix() == prefix);
            return Err(if is_tos_prefix {
                AddressError::WrongNetwork {
                    found_prefix: prefix,
                    expected: network,
                }
            } else {
                AddressError::UnknownPrefix {
                    found_prefix: prefix,
                    expected: network,
                }
            });
        }
        let Some((&address_type, _)) = payload.get(32..).and_then(<[u8]>::split_first) else {
            return Err(AddressError::WrongPayloadLength {
                length: payload.len(),
            });
        };
        match address_type {
            TYPE_NORMAL if payload.len() == NORMAL_PAYLOAD_LENGTH => {
                let mut public_key = [0u8; 32];
                public_key.copy_from_slice(&payload[..32]);
                Ok(Address::new(public_key, network))
            }
            TYPE_NORMAL => Err(AddressError::WrongPayloadLength {
                length: payload.len(),
            }),
            TYPE_INTEGRATED => Err(AddressError::IntegratedNotAccepted),
            other => Err(AddressError::UnknownType(other)),
        }
    }

    /// The normal address of `public_key` on `network`.
    pub fn new(public_key: [u8; 32], network: Network) -> Address {
        Address {
            network,
            public_key,
        }
    }

    /// The 32-byte public key (what goes into a header's miner field).
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The network this address was parsed for or built on.
    pub fn network(&self) -> Network {
        self.network
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut payload = [0u8; NORMAL_PAYLOAD_LENGTH];
        payload[..32].copy_from_slice(&self.public_key);
        payload[32] = TYPE_NORMAL;
        f.write_str(&bech32::encode(self.network.address_prefix(), &payload))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self}, {})", self.network)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests;
