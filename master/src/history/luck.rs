//! The pool's luck as plain data: each found block closes a round, and a
//! round's effort is the share difficulty it took over the network
//! difficulty of the block (100% = as expected, less = lucky). Rounds are
//! summed per hour, so a window of N hours is the sum of its N newest hours.

use std::collections::BTreeMap;

use serde::Serialize;

/// Hours of per-hour sums kept: the longest window, 30 days.
pub const LUCK_HOURS_KEPT: u64 = 30 * 24;

/// The windows `/api/luck` answers, by name and hours (`None` = all time).
pub const LUCK_WINDOWS: [(&str, Option<u64>); 4] = [
    ("24h", Some(24)),
    ("7d", Some(7 * 24)),
    ("30d", Some(30 * 24)),
    ("all", None),
];

/// What the rounds closed in some span add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RoundSums {
    /// Rounds closed (blocks found).
    pub blocks: u64,
    /// Share difficulty of those rounds.
    pub round_shares: u64,
    /// Network difficulty of their blocks, summed.
    pub difficulty: u64,
}

impl RoundSums {
    fn add(&mut self, other: &RoundSums) {
        self.blocks = self.blocks.saturating_add(other.blocks);
        self.round_shares = self.round_shares.saturating_add(other.round_shares);
        self.difficulty = self.difficulty.saturating_add(other.difficulty);
    }

    /// Round shares over network difficulty; `None` before any block.
    pub fn effort(&self) -> Option<f64> {
        (self.difficulty > 0).then(|| self.round_shares as f64 / self.difficulty as f64)
    }
}

/// The luck of one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LuckWindow {
    /// `24h`, `7d`, `30d` or `all`.
    pub window: &'static str,
    /// Its length in hours; `None` for all time.
    pub hours: Option<u64>,
    /// The sums of the rounds closed in it.
    #[serde(flatten)]
    pub sums: RoundSums,
    /// `round_shares / difficulty`; `None` when no block was found in it.
    pub effort: Option<f64>,
}

/// The hour (since the Unix epoch) of a time in ms.
pub fn hour_of(ms: u64) -> u64 {
    ms / 3_600_000
}

/// The oldest hour still kept at `now_ms`.
pub fn oldest_hour_kept(now_ms: u64) -> u64 {
    (hour_of(now_ms) + 1).saturating_sub(LUCK_HOURS_KEPT)
}

/// Every window of [`LUCK_WINDOWS`] at `now_ms`, from the per-hour sums and
/// the all-time sums.
pub fn windows(
    hourly: &BTreeMap<u64, RoundSums>,
    all_time: RoundSums,
    now_ms: u64,
) -> Vec<LuckWindow> {
    let now_hour = hour_of(now_ms);
    LUCK_WINDOWS
        .iter()
        .map(|&(name, hours)| {
            let sums = match hours {
                None => all_time,
                Some(hours) => {
                    let from = (now_hour + 1).saturating_sub(hours);
                    let mut sums = RoundSums::default();
                    for round in hourly.range(from..=now_hour).map(|(_, sums)| sums) {
                        sums.add(round);
                    }
                    sums
                }
            };
            LuckWindow {
                window: name,
                hours,
                sums,
                effort: sums.effort(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(blocks: u64, round_shares: u64, difficulty: u64) -> RoundSums {
        RoundSums {
            blocks,
            round_shares,
            difficulty,
        }
    }

    #[test]
    fn effort_is_shares_over_difficulty() {
        assert_eq!(sums(2, 150, 200).effort(), Some(0.75));
        assert_eq!(RoundSums::default().effort(), None);
    }

    #[test]
    fn windows_sum_their_newest_hours() {
        let now_ms = 1_000 * 3_600_000 + 5;
        let mut hourly = BTreeMap::new();
        hourly.insert(1_000, sums(1, 100, 100)); // this hour
        hourly.insert(977, sums(1, 300, 100)); // 23 hours ago: in 24h
        hourly.insert(976, sums(1, 50, 100)); // 24 hours ago: in 7d only
        hourly.insert(1_000 - 719, sums(1, 10, 100)); // last hour of 30d
        hourly.insert(1_000 - 720, sums(5, 5, 5)); // beyond 30d (not trimmed yet)
        let all = sums(9, 999, 900);
        let luck = windows(&hourly, all, now_ms);
        let names: Vec<_> = luck.iter().map(|w| w.window).collect();
        assert_eq!(names, ["24h", "7d", "30d", "all"]);
        assert_eq!(luck[0].sums, sums(2, 400, 200));
        assert_eq!(luck[0].effort, Some(2.0));
        assert_eq!(luck[1].sums, sums(3, 450, 300));
        assert_eq!(luck[2].sums, sums(4, 460, 400));
        assert_eq!(luck[3].sums, all);
        assert_eq!(luck[3].hours, None);
    }

    #[test]
    fn no_blocks_means_no_effort() {
        let luck = windows(&BTreeMap::new(), RoundSums::default(), 0);
        assert!(
            luck.iter()
                .all(|w| w.effort.is_none() && w.sums.blocks == 0)
        );
    }

    #[test]
    fn thirty_days_of_hours_are_kept() {
        let now_ms = 1_000 * 3_600_000;
        assert_eq!(oldest_hour_kept(now_ms), 1_000 - 719);
        assert_eq!(oldest_hour_kept(0), 0);
    }
}
