//! The miner login `ADDRESS.WORKER`: who gets paid and which rig is speaking.

use super::{Address, AddressError};
use crate::network::Network;

/// Worker name used when a miner gives none.
pub const DEFAULT_WORKER: &str = "default";

/// Longest worker name accepted, in characters.
pub const MAX_WORKER_LENGTH: usize = 32;

/// A checked miner login: a normal address of the pool's network and a worker name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MinerLogin {
    /// The address shares are credited to and payouts go to.
    pub address: Address,
    /// The rig's name: 1 to 32 characters of `[A-Za-z0-9_-]`, `default` if none was given.
    pub worker: String,
}

/// Why a miner login was refused. Shown to the miner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The address part is not a valid address of the pool's network.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// The worker name is longer than allowed.
    #[error(
        "worker name is {length} characters long: use at most {MAX_WORKER_LENGTH} of A-Z, a-z, 0-9, _ and -"
    )]
    WorkerTooLong {
        /// Length of the given name in characters.
        length: usize,
    },
    /// The worker name has a character outside `[A-Za-z0-9_-]`.
    #[error(
        "worker name has invalid character {character:?}: use only A-Z, a-z, 0-9, _ and - (log in as ADDRESS.WORKER)"
    )]
    WorkerInvalidCharacter {
        /// The first offending character.
        character: char,
    },
}

impl MinerLogin {
    /// Parses `ADDRESS` or `ADDRESS.WORKER` for a pool on `network`.
    ///
    /// Surrounding whitespace is ignored; an empty worker (`ADDRESS.`) means
    /// the default worker.
    pub fn parse(login: &str, network: Network) -> Result<MinerLogin, LoginError> {
        let login = login.trim();
        let (address, worker) = match login.split_once('.') {
            Some((address, worker)) => (address, Some(worker)),
            None => (login, None),
        };
        MinerLogin::checked(address, worker, network)
    }

    /// Builds a login from separate address and worker fields (protocols that
    /// have both). Without a worker, `address` may itself be `ADDRESS.WORKER`.
    pub fn from_parts(
        address: &str,
        worker: Option<&str>,
        network: Network,
    ) -> Result<MinerLogin, LoginError> {
        match worker.map(str::trim) {
            None | Some("") => MinerLogin::parse(address, network),
            Some(worker) => MinerLogin::checked(address.trim(), Some(worker), network),
        }
    }

    /// The address shares are credited to.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The worker name.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    fn checked(
        address: &str,
        worker: Option<&str>,
        network: Network,
    ) -> Result<MinerLogin, LoginError> {
        let address = Address::parse(address, network)?;
        let worker = match worker {
            None | Some("") => DEFAULT_WORKER,
            Some(worker) => check_worker(worker)?,
        };
        Ok(MinerLogin {
            address,
            worker: worker.to_string(),
        })
    }
}

/// Checks a non-empty worker name against the allowed length and alphabet.
fn check_worker(worker: &str) -> Result<&str, LoginError> {
    if let Some(character) = worker
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(LoginError::WorkerInvalidCharacter { character });
    }
    // Only ASCII is left, so bytes are characters.
    if worker.len() > MAX_WORKER_LENGTH {
        return Err(LoginError::WorkerTooLong {
            length: worker.len(),
        });
    }
    Ok(worker)
}
