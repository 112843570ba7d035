//! What every session of a slave shares: the network, vardiff settings, the
//! backlog and the address lists. Built once from the config (and again when
//! the master sends new settings) and shared behind an `Arc`.

use std::collections::HashSet;

use tos_pool_common::address::{Address, AddressError};
use tos_pool_common::config::Config;
use tos_pool_common::network::Network;

use crate::vardiff::VardiffConfig;

use super::clock::SessionTimers;

/// Nonces remembered per job and session by default; beyond that more shares
/// for the job are refused rather than risk an unnoticed duplicate.
pub const DEFAULT_MAX_SHARES_PER_JOB: usize = 4096;

/// Settings shared by every session of a slave.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// The network whose addresses may log in.
    pub network: Network,
    /// Share difficulty settings.
    pub vardiff: VardiffConfig,
    /// Jobs per session whose shares still count, the current one included.
    pub job_backlog: usize,
    /// Nonces remembered per job for the duplicate check.
    pub max_shares_per_job: usize,
    /// Addresses refused or exclusively allowed at login.
    pub addresses: AddressPolicy,
    /// Read deadlines and the job refresh.
    pub timers: SessionTimers,
}

/// A bad entry in the session settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionConfigError {
    /// An entry of `security.blacklist` or `security.whitelist` is not an
    /// address of the pool's network.
    #[error(
        "{key}[{index}] = {value:?} is not a valid address ({source}): fix or remove the entry"
    )]
    BadListAddress {
        /// `security.blacklist` or `security.whitelist`.
        key: &'static str,
        /// Position in the list, from 0.
        index: usize,
        /// The entry.
        value: String,
        /// Why it was refused.
        source: AddressError,
    },
}

impl SessionConfig {
    /// The session settings of a slave's config.
    pub fn from_config(config: &Config) -> Result<SessionConfig, SessionConfigError> {
        Ok(SessionConfig {
            network: config.network,
            vardiff: VardiffConfig::from_mining(&config.mining),
            job_backlog: usize::try_from(config.mining.job_backlog)
                .unwrap_or(usize::MAX)
                .max(1),
            max_shares_per_job: DEFAULT_MAX_SHARES_PER_JOB,
            addresses: AddressPolicy::new(
                config.network,
                &config.security.blacklist,
                &config.security.whitelist,
            )?,
            timers: SessionTimers::from_config(&config.security, &config.mining),
        })
    }

    /// These settings with the master's pool-wide ones applied; what the
    /// master left unset keeps its current value.
    pub fn with_settings(&self, settings: &PoolSettings) -> SessionConfig {
        let mut next = self.clone();
        let vardiff = &mut next.vardiff;
        let keep = |new: Option<u64>, old: u64| new.unwrap_or(old);
        vardiff.initial_difficulty = keep(settings.initial_difficulty, vardiff.initial_difficulty);
        vardiff.min_difficulty = keep(settings.min_difficulty, vardiff.min_difficulty);
        vardiff.max_difficulty = keep(settings.max_difficulty, vardiff.max_difficulty);
        if let Some(target_time) = settings.vardiff_target_time {
            vardiff.target_time = target_time;
        }
        if let Some(retarget) = settings.vardiff_retarget {
            vardiff.retarget = retarget;
        }
        if let Some(variance) = settings.vardiff_variance_percent {
            vardiff.variance_percent = variance;
        }
        if let Some(backlog) = settings.job_backlog {
            next.job_backlog = backlog;
        }
        next
    }
}

/// The master's pool-wide session settings (its `Settings` message, read by
/// the link); `None` leaves the slave's own value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolSettings {
    /// Share difficulty a new session starts with.
    pub initial_difficulty: Option<u64>,
    /// Lowest share difficulty vardiff may set.
    pub min_difficulty: Option<u64>,
    /// Highest share difficulty vardiff may set.
    pub max_difficulty: Option<u64>,
    /// Time vardiff aims for between two shares.
    pub vardiff_target_time: Option<std::time::Duration>,
    /// How often vardiff reconsiders the difficulty.
    pub vardiff_retarget: Option<std::time::Duration>,
    /// Drift (percent) tolerated before a retarget.
    pub vardiff_variance_percent: Option<f64>,
    /// Jobs per session whose shares still count.
    pub job_backlog: Option<usize>,
}

/// The login address lists, compared by public key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    blacklist: HashSet<[u8; 32]>,
    whitelist: HashSet<[u8; 32]>,
}

/// Why an address may not log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressRefused {
    /// The address is on the blacklist.
    #[error("this address is blocked on this pool: mine to another address")]
    Blacklisted,
    /// The whitelist is in use and the address is not on it.
    #[error("this pool accepts only registered addresses: ask the operator to add yours")]
    NotWhitelisted,
}

impl AddressPolicy {
    /// Lists of addresses (bech32) of `network`.
    pub fn new(
        network: Network,
        blacklist: &[String],
        whitelist: &[String],
    ) -> Result<AddressPolicy, SessionConfigError> {
        Ok(AddressPolicy {
            blacklist: keys("security.blacklist", blacklist, network)?,
            whitelist: keys("security.whitelist", whitelist, network)?,
        })
    }

    /// Whether `address` may log in.
    pub fn check(&self, address: &Address) -> Result<(), AddressRefused> {
        let key = address.public_key();
        if self.blacklist.contains(&key) {
            return Err(AddressRefused::Blacklisted);
        }
        if !self.whitelist.is_empty() && !self.whitelist.contains(&key) {
            return Err(AddressRefused::NotWhitelisted);
        }
        Ok(())
    }
}

fn keys(
    key: &'static str,
    list: &[String],
    network: Network,
) -> Result<HashSet<[u8; 32]>, SessionConfigError> {
    list.iter()
        .enumerate()
        .map(|(index, value)| {
            Address::parse(value.trim(), network)
                .map(|address| address.public_key())
                .map_err(|source| SessionConfigError::BadListAddress {
                    key,
                    index,
                    value: value.clone(),
                    source,
                })
        })
        .collect()
}
