//! The fault plan of a run, decided by its seed alone: which component is
//! hit when, and how. Pure: the same seed and duration give the same plan,
//! so a failing run can be replayed exactly.

use std::time::Duration;

/// A process of the cluster that faults can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// The pool's master.
    Master,
    /// Slave 0 or 1.
    Slave(u8),
    /// The Redis server (AOF on).
    Redis,
    /// The wallet emulator.
    Wallet,
    /// The daemon emulator.
    Daemon,
}

impl Component {
    /// Every component a plan picks from.
    pub const ALL: [Component; 6] = [
        Component::Master,
        Component::Slave(0),
        Component::Slave(1),
        Component::Redis,
        Component::Wallet,
        Component::Daemon,
    ];

    /// A short name for logs and the report.
    pub fn name(self) -> String {
        match self {
            Component::Master => "master".to_owned(),
            Component::Slave(index) => format!("slave{index}"),
            Component::Redis => "redis".to_owned(),
            Component::Wallet => "wallet".to_owned(),
            Component::Daemon => "daemon".to_owned(),
        }
    }
}

/// What is done to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL, then a restart after the pause.
    Kill,
    /// SIGSTOP, then SIGCONT after the pause.
    Freeze,
}

/// One fault of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Time from the start of the run.
    pub at: Duration,
    /// Who is hit.
    pub component: Component,
    /// How.
    pub action: Action,
    /// How long it stays dead or frozen.
    pub pause: Duration,
}

/// How dense the plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Shortest time between two faults.
    pub min_gap: Duration,
    /// Longest time between two faults.
    pub max_gap: Duration,
    /// Longest a component stays dead or frozen.
    pub max_pause: Duration,
    /// Quiet time at the start, before the first fault.
    pub warm_up: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            min_gap: Duration::from_secs(2),
            max_gap: Duration::from_secs(6),
            max_pause: Duration::from_secs(3),
            warm_up: Duration::from_secs(5),
        }
    }
}

/// A small, seeded generator (SplitMix64): enough for a plan, and the same
/// on every machine.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` ≥ 1).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// A duration in `low..=high`, to the millisecond.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let low_ms = low.as_millis() as u64;
        let high_ms = (high.as_millis() as u64).max(low_ms);
        Duration::from_millis(low_ms + self.below(high_ms - low_ms + 1))
    }
}

/// Most components down or frozen at the same moment.
pub const MAX_CONCURRENT: usize = 2;

/// The faults of a run of `duration` with `seed`, in order of their start.
/// Faults overlap (a slave killed while the master is down is the case a
/// share journal exists for), but never on one component, never more than
/// [`MAX_CONCURRENT`] at once, and every fault ends (restart or SIGCONT)
/// before the run does.
pub fn plan(seed: u64, duration: Duration, pace: Pace) -> Vec<Fault> {
    let mut random = SplitMix64::new(seed);
    let mut faults: Vec<Fault> = Vec::new();
    let mut at = pace.warm_up;
    loop {
        let ends_after = |moment: Duration| -> Vec<&Fault> {
            faults.iter().filter(|f| f.at + f.pause > moment).collect()
        };
        let active = ends_after(at);
        if active.len() >= MAX_CONCURRENT {
            // Wait for the first of them to end.
            at = active
                .iter()
                .map(|f| f.at + f.pause + Duration::from_millis(100))
                .min()
                .unwrap_or(at);
            continue;
        }
        let busy: Vec<Component> = active.iter().map(|f| f.component).collect();
        let free: Vec<Component> = Component::ALL
            .into_iter()
            .filter(|c| !busy.contains(c))
            .collect();
        let pause = random.between(Duration::from_millis(200), pace.max_pause);
        if at + pause >= duration {
            return faults;
        }
        let component = free[random.below(free.len() as u64) as usize];
        // Two kills in three: a crash is the harder fault for the ledger.
        let action = if random.below(3) < 2 {
            Action::Kill
        } else {
            Action::Freeze
        };
        faults.push(Fault {
            at,
            component,
            action,
            pause,
        });
        // One time in four the next fault starts while this one lasts.
        at += if random.below(4) == 0 {
            random.between(Duration::from_millis(100), pause)
        } else {
            pause + random.between(pace.min_gap, pace.max_gap)
        };
    }
}

/// A moment of the plan: a fault begins or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Time from the start of the run.
    pub at: Duration,
    /// The fault.
    pub fault: Fault,
    /// True when the fault begins (kill, freeze), false when it ends
    /// (restart, thaw).
    pub begins: bool,
}

/// The plan's beginnings and ends in time order (an end before a beginning
/// at the same moment).
pub fn steps(plan: &[Fault]) -> Vec<Step> {
    let mut steps: Vec<Step> = plan
        .iter()
        .flat_map(|fault| {
            [
                Step {
                    at: fault.at,
                    fault: *fault,
                    begins: true,
                },
                Step {
                    at: fault.at + fault.pause,
                    fault: *fault,
                    begins: false,
                },
            ]
        })
        .collect();
    steps.sort_by_key(|step| (step.at, step.begins));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        let duration = Duration::from_secs(300);
        let one = plan(7, duration, Pace::default());
        assert_eq!(one, plan(7, duration, Pace::default()));
        assert_ne!(one, plan(8, duration, Pace::default()));
    }

    #[test]
    fn faults_overlap_within_limits_and_end_before_the_run() {
        let mut overlaps = 0;
        for seed in 0..50 {
            let duration = Duration::from_secs(120);
            let faults = plan(seed, duration, Pace::default());
            assert!(!faults.is_empty());
            assert!(faults[0].at >= Pace::default().warm_up);
            let mut down: Vec<Component> = Vec::new();
            for step in steps(&faults) {
                if step.begins {
                    assert!(
                        !down.contains(&step.fault.component),
                        "seed {seed}: {step:?}"
                    );
                    down.push(step.fault.component);
                    assert!(down.len() <= MAX_CONCURRENT, "seed {seed}");
                    overlaps += usize::from(down.len() > 1);
                } else {
                    down.retain(|c| *c != step.fault.component);
                }
                assert!(step.at < duration);
            }
            assert!(down.is_empty());
        }
        assert!(overlaps > 0, "some faults overlap");
    }

    #[test]
    fn a_long_plan_hits_every_component_both_ways() {
        let faults = plan(42, Duration::from_secs(600), Pace::default());
        for component in Component::ALL {
            for action in [Action::Kill, Action::Freeze] {
                assert!(
                    faults
                        .iter()
                        .any(|f| f.component == component && f.action == action),
                    "{component:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn a_run_too_short_for_any_fault_has_none() {
        assert!(plan(1, Duration::from_secs(3), Pace::default()).is_empty());
    }
}
