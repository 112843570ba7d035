//! Vardiff against simulated miners: shares arrive as a Poisson process
//! (exponential gaps with mean difficulty / hashrate) from a seeded RNG, and
//! the state is driven with made-up times, ticked every second like a
//! connection task would.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const TARGET_SECS: f64 = 5.0;
const RETARGET_MS: u64 = 30_000;

fn config() -> VardiffConfig {
    VardiffConfig {
        enabled: true,
        initial_difficulty: 10_000,
        min_difficulty: 1_000,
        max_difficulty: 1_000_000_000_000,
        target_time: Duration::from_secs_f64(TARGET_SECS),
        retarget: Duration::from_millis(RETARGET_MS),
        variance_percent: 30.0,
    }
}

/// A simulated miner on one session.
struct Miner {
    rng: StdRng,
    vardiff: Vardiff,
    now_ms: u64,
    next_share_ms: u64,
    /// (time, difficulty) after each change.
    changes: Vec<(u64, u64)>,
    /// Times of valid shares.
    shares: Vec<u64>,
}

impl Miner {
    fn new(seed: u64, config: VardiffConfig) -> Miner {
        let mut miner = Miner {
            rng: StdRng::seed_from_u64(seed),
            vardiff: Vardiff::new(config, 0),
            now_ms: 0,
            next_share_ms: u64::MAX,
            changes: Vec::new(),
            shares: Vec::new(),
        };
        miner.changes.push((0, miner.vardiff.difficulty()));
        miner
    }

    fn draw_next_share(&mut self, hashrate: f64) {
        if hashrate <= 0.0 {
            self.next_share_ms = u64::MAX;
            return;
        }
        let mean_secs = self.vardiff.difficulty() as f64 / hashrate;
        let u: f64 = self.rng.random();
        let gap_ms = (-mean_secs * (1.0 - u).ln() * 1000.0).max(1.0);
        self.next_share_ms = self.now_ms.saturating_add(gap_ms as u64);
    }

    fn note(&mut self, change: Option<u64>) {
        if let Some(difficulty) = change {
            self.changes.push((self.now_ms, difficulty));
        }
    }

    /// Mines at `hashrate` for `secs` seconds.
    fn run(&mut self, hashrate: f64, secs: u64) {
        let end = self.now_ms + secs * 1000;
        self.draw_next_share(hashrate);
        while self.now_ms < end {
            let next_tick = (self.now_ms / 1000 + 1) * 1000;
            if self.next_share_ms < next_tick.min(end) {
                self.now_ms = self.next_share_ms;
                self.shares.push(self.now_ms);
                let difficulty = self.vardiff.difficulty();
                let change = self.vardiff.record_share(difficulty, self.now_ms);
                self.note(change);
                // Exponential gaps are memoryless: redraw at every event.
                self.draw_next_share(hashrate);
            } else {
                self.now_ms = next_tick.min(end);
                let change = self.vardiff.tick(self.now_ms);
                self.note(change);
                if change.is_some() {
                    self.draw_next_share(hashrate);
                }
            }
        }
    }

    fn difficulty(&self) -> u64 {
        self.vardiff.difficulty()
    }

    /// Changes made after `from_ms`.
    fn changes_since(&self, from_ms: u64) -> Vec<(u64, u64)> {
        self.changes
            .iter()
            .copied()
            .filter(|(at, _)| *at > from_ms)
            .collect()
    }

    /// Mean time between shares after `from_ms`, in seconds.
    fn mean_share_time_since(&self, from_ms: u64) -> f64 {
        let shares = self.shares.iter().filter(|at| **at > from_ms).count();
        (self.now_ms - from_ms) as f64 / 1000.0 / shares.max(1) as f64
    }

    /// The difficulty in force at `at_ms`.
    fn difficulty_at(&self, at_ms: u64) -> u64 {
        self.changes
            .iter()
            .take_while(|(when, _)| *when <= at_ms)
            .last()
            .map_or(0, |(_, difficulty)| *difficulty)
    }
}

/// How many times consecutive changes flip direction.
fn sign_flips(changes: &[(u64, u64)], before: u64) -> usize {
    let mut previous = before;
    let mut last_up = None;
    let mut flips = 0;
    for &(_, difficulty) in changes {
        let up = difficulty > previous;
        if last_up.is_some_and(|was_up| was_up != up) {
            flips += 1;
        }
        last_up = Some(up);
        previous = difficulty;
    }
    flips
}

fn ratio(difficulty: u64, ideal: f64) -> f64 {
    difficulty as f64 / ideal
}

const IDEAL: f64 = 1_000_000.0;
const SEEDS: std::ops::Range<u64> = 0..20;

/// A miner whose ideal difficulty is `IDEAL`, started 100× below it and
/// mined for ten minutes.
fn settled_miner(seed: u64) -> Miner {
    let mut miner = Miner::new(seed, config());
    miner.run(IDEAL / TARGET_SECS, 600);
    miner
}

#[test]
fn settles_a_steady_miner_near_the_target_time() {
    for seed in SEEDS {
        let mut miner = settled_miner(seed);
        let settled_at = miner.now_ms;
        miner.run(IDEAL / TARGET_SECS, 3600);
        for minute in 0..60 {
            let difficulty = miner.difficulty_at(settled_at + minute * 60_000);
            let r = ratio(difficulty, IDEAL);
            assert!((0.5..=2.0).contains(&r), "seed {seed}: {r} × ideal");
        }
        let mean = miner.mean_share_time_since(settled_at);
        assert!(
            (TARGET_SECS * 0.8..=TARGET_SECS * 1.2).contains(&mean),
            "seed {seed}: mean share time {mean}s"
        );
    }
}

#[test]
fn does_not_oscillate_once_settled() {
    for seed in SEEDS {
        let mut miner = settled_miner(seed);
        let settled_at = miner.now_ms;
        let before = miner.difficulty();
        miner.run(IDEAL / TARGET_SECS, 3600);
        let changes = miner.changes_since(settled_at);
        // 120 retargets in the hour.
        assert!(changes.len() <= 8, "seed {seed}: {changes:?}");
        assert!(
            sign_flips(&changes, before) <= 5,
            "seed {seed}: {changes:?}"
        );
    }
}

/// Retargets from `from_ms` until the difficulty first reaches `bound`
/// (from below when `rising`).
fn retargets_until(miner: &Miner, from_ms: u64, bound: f64, rising: bool) -> Option<u64> {
    miner
        .changes_since(from_ms)
        .iter()
        .find(|(_, d)| {
            if rising {
                *d as f64 >= bound
            } else {
                *d as f64 <= bound
            }
        })
        .map(|(at, _)| (at - from_ms).div_ceil(RETARGET_MS))
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

#[test]
fn follows_a_doubled_hashrate_within_a_few_retargets() {
    let mut reactions = Vec::new();
    for seed in SEEDS {
        let mut miner = settled_miner(seed);
        miner.run(IDEAL / TARGET_SECS, 600);
        let from = miner.now_ms;
        miner.run(2.0 * IDEAL / TARGET_SECS, 1200);
        let reaction = retargets_until(&miner, from, 1.4 * IDEAL, true);
        let reaction = reaction.unwrap_or_else(|| panic!("seed {seed}: never rose"));
        assert!(reaction <= 20, "seed {seed}: {reaction} retargets");
        reactions.push(reaction);
        let r = ratio(miner.difficulty(), 2.0 * IDEAL);
        assert!((0.6..=1.6).contains(&r), "seed {seed}: ended at {r}");
    }
    assert!(median(reactions.clone()) <= 4, "{reactions:?}");
}

#[test]
fn follows_a_halved_hashrate_within_a_few_retargets() {
    let mut reactions = Vec::new();
    for seed in SEEDS {
        let mut miner = settled_miner(seed);
        miner.run(IDEAL / TARGET_SECS, 600);
        let from = miner.now_ms;
        miner.run(0.5 * IDEAL / TARGET_SECS, 1200);
        let reaction = retargets_until(&miner, from, 0.7 * IDEAL, false);
        let reaction = reaction.unwrap_or_else(|| panic!("seed {seed}: never fell"));
        assert!(reaction <= 25, "seed {seed}: {reaction} retargets");
        reactions.push(reaction);
        let r = ratio(miner.difficulty(), 0.5 * IDEAL);
        assert!((0.6..=1.6).contains(&r), "seed {seed}: ended at {r}");
    }
    assert!(median(reactions.clone()) <= 8, "{reactions:?}");
}

#[test]
fn a_flood_of_shares_retargets_before_the_window_ends() {
    let mut miner = Miner::new(1, config());
    // 100× the initial difficulty's ideal hashrate: 20 shares a second.
    miner.run(100.0 * 10_000.0 / TARGET_SECS, 10);
    let first = miner.changes_since(0);
    assert!(!first.is_empty(), "no retarget within 10 s");
    assert!(first[0].0 < RETARGET_MS);
    assert!(first[0].1 > 10_000);
}

#[test]
fn never_leaves_the_bounds() {
    let mut bounded = config();
    bounded.max_difficulty = 50_000_000;
    for seed in 0..5 {
        let mut fast = Miner::new(seed, bounded);
        fast.run(1e12, 1800);
        assert!(fast.changes.iter().all(|(_, d)| *d <= 50_000_000));
        assert_eq!(fast.difficulty(), 50_000_000);

        let mut slow = Miner::new(seed, config());
        slow.run(1.0, 1800);
        assert!(slow.changes.iter().all(|(_, d)| *d >= 1_000));
        assert_eq!(slow.difficulty(), 1_000);
    }
}

#[test]
fn a_silent_miner_comes_down_geometrically_to_the_minimum() {
    let mut miner = Miner::new(0, config());
    miner.run(0.0, 30 * 4);
    let changes = miner.changes_since(0);
    assert!(changes.len() >= 2, "{changes:?}");
    assert!(changes.windows(2).all(|pair| pair[1].1 < pair[0].1));
    miner.run(0.0, 30 * 6);
    assert_eq!(miner.difficulty(), 1_000);
}

#[test]
fn disabled_vardiff_keeps_the_initial_difficulty() {
    let mut fixed = config();
    fixed.enabled = false;
    let mut miner = Miner::new(3, fixed);
    miner.run(1e9, 600);
    assert_eq!(miner.changes.len(), 1);
    assert_eq!(miner.difficulty(), 10_000);
}

#[test]
fn initial_and_new_settings_are_clamped() {
    let mut low = config();
    low.initial_difficulty = 10;
    assert_eq!(Vardiff::new(low, 0).difficulty(), 1_000);
    let mut vardiff = Vardiff::new(config(), 0);
    let mut narrow = config();
    narrow.min_difficulty = 20_000;
    vardiff.set_config(narrow);
    assert_eq!(vardiff.difficulty(), 20_000);
    let mut zero = config();
    zero.min_difficulty = 0;
    zero.initial_difficulty = 0;
    assert_eq!(Vardiff::new(zero, 0).difficulty(), 1);
}

#[test]
fn a_clock_going_backwards_changes_nothing() {
    let mut vardiff = Vardiff::new(config(), 100_000);
    assert_eq!(vardiff.tick(50_000), None);
    assert_eq!(vardiff.record_share(10_000, 40_000), None);
    assert_eq!(vardiff.difficulty(), 10_000);
}

#[test]
fn reads_the_mining_section() {
    let mining = MiningConfig::default();
    let config = VardiffConfig::from_mining(&mining);
    assert_eq!(config.min_difficulty, mining.min_difficulty);
    assert_eq!(config.retarget, mining.vardiff_retarget);
    assert_eq!(config.variance_percent, mining.vardiff_variance);
}

#[test]
fn the_next_retarget_is_the_end_of_the_window() {
    let mut vardiff = Vardiff::new(config(), 1_000);
    assert_eq!(vardiff.next_retarget_ms(), 1_000 + RETARGET_MS);
    // Nothing happens before the deadline, and the window moves once it passes.
    assert_eq!(vardiff.tick(RETARGET_MS), None);
    assert_eq!(vardiff.next_retarget_ms(), 1_000 + RETARGET_MS);
    vardiff.tick(1_000 + RETARGET_MS);
    assert_eq!(vardiff.next_retarget_ms(), 1_000 + 2 * RETARGET_MS);
}

#[test]
fn a_fixed_difficulty_is_clamped_and_never_retargeted() {
    let mut vardiff = Vardiff::new(config(), 0);
    assert!(!vardiff.is_fixed());
    assert_eq!(vardiff.fix(5), 1_000, "below min_difficulty: raised to it");
    assert_eq!(
        vardiff.fix(u64::MAX),
        1_000_000_000_000,
        "above max: lowered"
    );
    assert_eq!(vardiff.fix(50_000), 50_000);
    assert!(vardiff.is_fixed());
    // A flood of easy shares would retarget a free session at once.
    for n in 0..200 {
        assert_eq!(vardiff.record_share(50_000, n * 10), None);
    }
    assert_eq!(vardiff.tick(10 * RETARGET_MS), None);
    assert_eq!(vardiff.difficulty(), 50_000);
    assert!(
        vardiff.hashrate().is_some(),
        "the hashrate is still measured"
    );
}

#[test]
fn restart_keeps_a_fixed_difficulty_and_new_bounds_clamp_it() {
    let mut vardiff = Vardiff::new(config(), 0);
    vardiff.fix(40_000);
    vardiff.record_share(40_000, 1_000);
    vardiff.restart(5_000);
    assert_eq!(vardiff.difficulty(), 40_000);
    assert!(vardiff.is_fixed());
    assert_eq!(vardiff.hashrate(), None, "the estimate starts afresh");
    assert_eq!(vardiff.next_retarget_ms(), 5_000 + RETARGET_MS);
    let mut free = Vardiff::new(config(), 0);
    free.set_config(VardiffConfig {
        initial_difficulty: 20_000,
        ..config()
    });
    free.restart(5_000);
    assert_eq!(
        free.difficulty(),
        20_000,
        "a free session starts at the initial one in use"
    );

    let mut disabled = VardiffConfig {
        enabled: false,
        max_difficulty: 30_000,
        ..config()
    };
    vardiff.set_config(disabled);
    assert_eq!(vardiff.difficulty(), 30_000, "kept, within the new bounds");
    disabled.max_difficulty = 1_000_000;
    vardiff.set_config(disabled);
    assert_eq!(vardiff.difficulty(), 30_000);
}
