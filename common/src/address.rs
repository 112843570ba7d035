//! TOS bech32 addresses. Placeholder: being written.
use crate::network::Network;

/// A normal (non-integrated) TOS address of one network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    network: Network,
    public_key: [u8; 32],
}

/// Why an address string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Placeholder.
    #[error("invalid address")]
    Invalid,
}

impl Address {
    /// Parses `text` as a normal address of `network`.
    pub fn parse(text: &str, network: Network) -> Result<Address, AddressError> {
        let _ = (text, network);
        Err(AddressError::Invalid)
    }

    /// The address of `public_key` on `network`.
    pub fn new(public_key: [u8; 32], network: Network) -> Address {
        Address {
            network,
            public_key,
        }
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }
}
