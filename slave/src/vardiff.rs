//! Variable share difficulty: keeps each session's share interval near
//! `mining.vardiff_target_time` whatever its hashrate.
//!
//! Pure state driven with made-up times. The hashrate is estimated from the
//! difficulty of the valid shares over elapsed time, summed over windows of
//! `vardiff_retarget` with older windows fading by [`HISTORY_WEIGHT`] per
//! retarget: about 30 shares of history at the defaults, so one lucky or
//! unlucky window does not move the difficulty, while a changed hashrate shows
//! within a few retargets. The estimate is in hashes, not shares, so it stays
//! valid across difficulty changes.
//!
//! At each retarget the ideal difficulty is `hashrate × target_time`. The
//! difficulty moves to it only when it strays further than
//! `vardiff_variance` percent and further than the estimate's own noise
//! (two standard deviations for the shares it rests on): this is what keeps a
//! steady miner from see-sawing. One step moves at most [`MAX_STEP`]×, and the
//! result stays within `min_difficulty..=max_difficulty`. A window without
//! shares counts as if one share had been about to arrive, so a miner far below
//! its difficulty comes down geometrically rather than waiting forever. A miner
//! flooding shares (more than [`FLOOD_FACTOR`]× the expected count) is retargeted
//! at once instead of at the end of the window.
//!
//! The session applies a new difficulty from its next job: the next notify
//! carries the new target.
//!
//! A miner may ask for a difficulty of its own (Stratum
//! `mining.suggest_difficulty`, a client-sent `mining.set_difficulty`, or a
//! `d=NUMBER` password): [`Vardiff::fix`] holds the session there, within
//! the bounds, and retargets stop moving it. The hashrate is still estimated.

use std::time::Duration;

use tos_pool_common::config::MiningConfig;

/// How much of the previous estimate survives one retarget (0..1).
pub const HISTORY_WEIGHT: f64 = 0.8;

/// Largest factor one retarget may move the difficulty, up or down.
pub const MAX_STEP: f64 = 4.0;

/// A window holding this many times the expected shares retargets at once.
pub const FLOOD_FACTOR: f64 = 4.0;

/// Fewest shares that make a flood, whatever the expected count.
const FLOOD_MIN_SHARES: f64 = 16.0;

/// Standard deviations the estimate must stray before it is trusted.
const NOISE_SIGMAS: f64 = 2.0;

/// The vardiff settings of a session (from `mining.*` or the master's Settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VardiffConfig {
    /// Adjust the difficulty at all; when false it stays at the initial one.
    pub enabled: bool,
    /// Difficulty a new session starts at.
    pub initial_difficulty: u64,
    /// Lowest difficulty (≥ 1).
    pub min_difficulty: u64,
    /// Highest difficulty (≥ `min_difficulty`).
    pub max_difficulty: u64,
    /// Aimed-for time between two shares.
    pub target_time: Duration,
    /// How often the difficulty is reconsidered.
    pub retarget: Duration,
    /// Percent the share interval may stray before retargeting.
    pub variance_percent: f64,
}

impl VardiffConfig {
    /// The settings of the `mining` config section.
    pub fn from_mining(mining: &MiningConfig) -> VardiffConfig {
        VardiffConfig {
            enabled: mining.vardiff_enabled,
            initial_difficulty: mining.initial_difficulty,
            min_difficulty: mining.min_difficulty,
            max_difficulty: mining.max_difficulty,
            target_time: mining.vardiff_target_time,
            retarget: mining.vardiff_retarget,
            variance_percent: mining.vardiff_variance,
        }
    }

    /// `difficulty` within the configured bounds (and never 0).
    pub fn clamp(&self, difficulty: u64) -> u64 {
        let min = self.min_difficulty.max(1);
        difficulty.clamp(min, self.max_difficulty.max(min))
    }

    /// Shares expected in one retarget window at the ideal difficulty.
    fn expected_shares(&self) -> f64 {
        self.retarget.as_secs_f64() / self.target_time.as_secs_f64().max(1e-3)
    }
}

impl Default for VardiffConfig {
    fn default() -> Self {
        VardiffConfig::from_mining(&MiningConfig::default())
    }
}

/// One session's vardiff state.
#[derive(Debug, Clone)]
pub struct Vardiff {
    config: VardiffConfig,
    difficulty: u64,
    window_start_ms: u64,
    window_shares: u32,
    window_work: f64,
    /// The hashrate estimate retargets go by.
    estimate: Rate,
    /// Set by the miner ([`Vardiff::fix`]): retargets leave it alone.
    fixed: bool,
}

/// Work (summed share difficulty) over time, older windows fading.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    work: f64,
    secs: f64,
}

impl Rate {
    /// Fades the past by `weight` and adds a window.
    fn fold(&mut self, weight: f64, work: f64, secs: f64) {
        self.work = self.work * weight + work;
        self.secs = self.secs * weight + secs;
    }

    /// Hashes per second; 0 without evidence.
    fn hashrate(&self) -> f64 {
        if self.secs > 0.0 {
            self.work / self.secs
        } else {
            0.0
        }
    }
}

impl Vardiff {
    /// A session starting at `now_ms` at the configured initial difficulty.
    pub fn new(config: VardiffConfig, now_ms: u64) -> Vardiff {
        Vardiff {
            difficulty: config.clamp(config.initial_difficulty),
            config,
            window_start_ms: now_ms,
            window_shares: 0,
            window_work: 0.0,
            estimate: Rate::default(),
            fixed: false,
        }
    }

    /// Starts measuring afresh from `now_ms` (the miner just logged in), as
    /// [`Vardiff::new`] with the settings in use, except that a difficulty
    /// the miner fixed is kept.
    pub fn restart(&mut self, now_ms: u64) {
        if !self.fixed {
            self.difficulty = self.config.clamp(self.config.initial_difficulty);
        }
        self.window_start_ms = now_ms;
        self.window_shares = 0;
        self.window_work = 0.0;
        self.estimate = Rate::default();
    }

    /// Holds the difficulty at `difficulty`, brought within
    /// `min_difficulty..=max_difficulty`; retargets stop moving it. Returns
    /// the difficulty now in force.
    pub fn fix(&mut self, difficulty: u64) -> u64 {
        self.fixed = true;
        self.difficulty = self.config.clamp(difficulty);
        self.difficulty
    }

    /// Whether the miner fixed the difficulty ([`Vardiff::fix`]).
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// The difficulty in force for the next job.
    pub fn difficulty(&self) -> u64 {
        self.difficulty
    }

    /// The settings in use.
    pub fn config(&self) -> &VardiffConfig {
        &self.config
    }

    /// Takes new settings (the master changed them); the current difficulty is
    /// brought within the new bounds, the estimate is kept.
    pub fn set_config(&mut self, config: VardiffConfig) {
        self.config = config;
        self.difficulty = if config.enabled || self.fixed {
            config.clamp(self.difficulty)
        } else {
            config.clamp(config.initial_difficulty)
        };
    }

    /// Estimated hashrate in hashes per second, if there is any evidence yet.
    pub fn hashrate(&self) -> Option<f64> {
        let hashrate = self.estimate.hashrate();
        (hashrate > 0.0).then_some(hashrate)
    }

    /// A valid share judged at `share_difficulty` arrived at `now_ms`. Returns
    /// the new difficulty when this retargeted.
    pub fn record_share(&mut self, share_difficulty: u64, now_ms: u64) -> Option<u64> {
        self.window_shares = self.window_shares.saturating_add(1);
        self.window_work += share_difficulty as f64;
        let flood = (self.config.expected_shares() * FLOOD_FACTOR).max(FLOOD_MIN_SHARES);
        if f64::from(self.window_shares) >= flood {
            return self.retarget(now_ms);
        }
        self.tick(now_ms)
    }

    /// When the current window ends: [`Vardiff::tick`] retargets from then on.
    pub fn next_retarget_ms(&self) -> u64 {
        let retarget = u64::try_from(self.config.retarget.as_millis()).unwrap_or(u64::MAX);
        self.window_start_ms.saturating_add(retarget)
    }

    /// Reads the memory a [`Vardiff::tick`] that is not due reads, and the
    /// difficulty and estimate, as a number of no meaning: for a caller
    /// that fetches many sessions' memory at once before using it.
    pub fn warm(&self) -> u64 {
        self.window_start_ms ^ self.difficulty ^ self.estimate.work.to_bits()
    }

    /// Time passed: retargets when a window is over. Returns the new
    /// difficulty when it changed.
    pub fn tick(&mut self, now_ms: u64) -> Option<u64> {
        let elapsed = now_ms.saturating_sub(self.window_start_ms);
        if u128::from(elapsed) < self.config.retarget.as_millis() {
            return None;
        }
        self.retarget(now_ms)
    }

    /// Closes the window at `now_ms`, folds it into the estimate and moves the
    /// difficulty if the estimate says so.
    fn retarget(&mut self, now_ms: u64) -> Option<u64> {
        let elapsed_ms = now_ms.saturating_sub(self.window_start_ms);
        if elapsed_ms == 0 {
            return None;
        }
        let elapsed = elapsed_ms as f64 / 1000.0;
        let empty_window = self.window_shares == 0;
        self.estimate
            .fold(HISTORY_WEIGHT, self.window_work, elapsed);
        self.window_start_ms = now_ms;
        self.window_shares = 0;
        self.window_work = 0.0;
        let current = self.difficulty as f64;
        if !self.config.enabled || self.fixed {
            return None;
        }

        // An empty window: as if a share were due right now (an upper bound).
        let work = if empty_window {
            self.estimate.work + current
        } else {
            self.estimate.work
        };
        let hashrate = work / self.estimate.secs;
        let ideal = hashrate * self.config.target_time.as_secs_f64();
        let drift = (ideal / current).ln();
        let shares_behind = (work / current).max(1.0);
        let band = (1.0 + self.config.variance_percent / 100.0).ln();
        // No share in a whole window is strong evidence on its own (a miner at
        // the ideal rate sees that once in e^(expected shares) windows).
        let allowed = if empty_window {
            band
        } else {
            band.max(NOISE_SIGMAS / shares_behind.sqrt())
        };
        if !drift.is_finite() || drift.abs() <= allowed {
            return None;
        }
        let factor = drift.exp().clamp(1.0 / MAX_STEP, MAX_STEP);
        let next = self.config.clamp((current * factor).round() as u64);
        if next == self.difficulty {
            return None;
        }
        self.difficulty = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests;
