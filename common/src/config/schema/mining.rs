//! Sections about work and money: `mining` (difficulty and jobs),
//! `validation` (share checking), `unlocker`, `pplns` and `payouts`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::duration;

/// `mining`: share difficulty, vardiff and job timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiningConfig {
    /// Share difficulty a new connection starts at.
    pub initial_difficulty: u64,
    /// Lowest share difficulty vardiff may set (≥ 1).
    pub min_difficulty: u64,
    /// Highest share difficulty vardiff may set.
    pub max_difficulty: u64,
    /// Adjust each connection's difficulty to its hashrate.
    pub vardiff_enabled: bool,
    /// Aimed-for time between shares of one connection.
    #[serde(with = "duration")]
    pub vardiff_target_time: Duration,
    /// How often vardiff reconsiders a connection's difficulty.
    #[serde(with = "duration")]
    pub vardiff_retarget: Duration,
    /// Percent the share interval may stray from the target before retargeting.
    pub vardiff_variance: f64,
    /// Template polling interval, the fallback when no push arrives.
    #[serde(with = "duration")]
    pub job_refresh_interval: Duration,
    /// Work is resent to miners at least this often, even without a new block.
    #[serde(with = "duration")]
    pub job_refresh: Duration,
    /// Recent jobs for which shares still count (≥ 1, the current one included).
    pub job_backlog: u32,
}

impl Default for MiningConfig {
    fn default() -> Self {
        MiningConfig {
            initial_difficulty: 10_000,
            min_difficulty: 1_000,
            max_difficulty: 1_000_000_000_000,
            vardiff_enabled: true,
            vardiff_target_time: Duration::from_secs(5),
            vardiff_retarget: Duration::from_secs(30),
            vardiff_variance: 30.0,
            job_refresh_interval: Duration::from_millis(500),
            job_refresh: Duration::from_secs(10),
            job_backlog: 8,
        }
    }
}

/// `validation`: hashrate windows and the optional trust mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// Window of the short hashrate estimate.
    #[serde(with = "duration")]
    pub hashrate_window: Duration,
    /// Window of the long hashrate estimate (≥ `hashrate_window`).
    #[serde(with = "duration")]
    pub hashrate_large_window: Duration,
    /// Consecutive valid shares before a miner is trusted; 0 turns trust off.
    pub trust_threshold: u64,
    /// Percent of a trusted miner's shares still hashed (0..=100). Shares that
    /// claim a block are always hashed.
    pub trust_check_percent: f64,
    /// Validation workers; 0 = number of cores.
    pub workers: u32,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            hashrate_window: Duration::from_secs(600),
            hashrate_large_window: Duration::from_secs(3 * 3600),
            trust_threshold: 0,
            trust_check_percent: 50.0,
            workers: 0,
        }
    }
}

/// `unlocker`: moves found blocks from candidate to immature to matured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnlockerConfig {
    /// Run the unlocker on this master.
    pub enabled: bool,
    /// Time between unlocker runs.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// Depth at which a candidate becomes immature (immature balances).
    pub immature_depth: u64,
    /// Depth at which a block matures into real balances (> `immature_depth`).
    pub mature_depth: u64,
}

impl Default for UnlockerConfig {
    fn default() -> Self {
        UnlockerConfig {
            enabled: true,
            interval: Duration::from_secs(10),
            immature_depth: 10,
            mature_depth: 100,
        }
    }
}

/// `pplns`: the reward window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PplnsConfig {
    /// Window as a multiple of the network difficulty (> 0).
    pub window: f64,
    /// Let the window move between `min_window` and `max_window`.
    pub dynamic_window: bool,
    /// Smallest window of the dynamic option.
    pub min_window: f64,
    /// Largest window of the dynamic option.
    pub max_window: f64,
}

impl Default for PplnsConfig {
    fn default() -> Self {
        PplnsConfig {
            window: 2.0,
            dynamic_window: false,
            min_window: 0.5,
            max_window: 4.0,
        }
    }
}

/// `payouts`: sending matured balances through the wallet RPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayoutsConfig {
    /// Run payouts on this master (needs `wallet_rpc`).
    pub enabled: bool,
    /// Time between payout runs.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// Smallest balance paid, in atomic units (1 TOS = 10^8).
    pub threshold: u64,
    /// Fixed fee taken from each payout, in atomic units.
    pub withdrawal_fee: u64,
    /// Fee taken from each payout in percent of the amount (0..=100).
    pub withdrawal_fee_rate: f64,
    /// Transfers per transaction (1..=500, the chain's limit).
    pub max_addresses_per_tx: u32,
    /// Wallet JSON-RPC URL.
    pub wallet_rpc: Option<String>,
    /// Wallet RPC basic-auth user.
    pub wallet_user: Option<String>,
    /// Wallet RPC basic-auth password.
    pub wallet_password: Option<String>,
    /// Pay only while the daemon has at least this many peers (0 = no check).
    pub min_peers: u32,
    /// Lifetime of the payout lock, renewed while a run is in progress.
    #[serde(with = "duration")]
    pub lock_ttl: Duration,
    /// Blocks a payout transaction needs on top before it counts as confirmed.
    pub confirmations: u64,
    /// Plan and log payouts without sending them.
    pub dry_run: bool,
}

impl Default for PayoutsConfig {
    fn default() -> Self {
        PayoutsConfig {
            enabled: false,
            interval: Duration::from_secs(600),
            threshold: 100_000_000,
            withdrawal_fee: 0,
            withdrawal_fee_rate: 0.0,
            max_addresses_per_tx: 100,
            wallet_rpc: None,
            wallet_user: None,
            wallet_password: None,
            min_peers: 1,
            lock_ttl: Duration::from_secs(300),
            confirmations: 10,
            dry_run: false,
        }
    }
}
