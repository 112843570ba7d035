//! Which kind of share a simulated miner sends next: valid, or one of the
//! configured fractions of invalid, duplicate and stale ones, spread evenly
//! over the run (no randomness: the same settings send the same shares).

use serde::Serialize;

use super::LoadError;

/// A kind of share the load generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareKind {
    /// A nonce whose hash meets the share target.
    Valid,
    /// A nonce whose hash misses the share target (low difficulty, code 23).
    Invalid,
    /// The nonce of an earlier accepted share again (code 22).
    Duplicate,
    /// A share for a job the pool no longer holds (code 21).
    Stale,
}

/// Fractions of the shares that are deliberately bad.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ShareMix {
    /// Fraction sent as invalid (low difficulty).
    pub invalid: f64,
    /// Fraction sent as duplicates.
    pub duplicate: f64,
    /// Fraction sent as stale.
    pub stale: f64,
}

impl ShareMix {
    /// A mix of these fractions; each in `0..=1` and their sum at most 1.
    pub fn new(invalid: f64, duplicate: f64, stale: f64) -> Result<ShareMix, LoadError> {
        let all = [invalid, duplicate, stale];
        if all.iter().any(|f| !(0.0..=1.0).contains(f)) || all.iter().sum::<f64>() > 1.0 {
            return Err(LoadError::Mix(format!(
                "invalid {invalid}, duplicate {duplicate} and stale {stale} must each lie in 0..=1 and add up to at most 1"
            )));
        }
        Ok(ShareMix {
            invalid,
            duplicate,
            stale,
        })
    }

    /// The kind of the next share of a miner that has sent `sent` shares
    /// so far (valid, invalid, duplicate, stale): a bad kind comes as soon as
    /// its count falls behind `fraction × shares sent`, so each fraction is
    /// spread over the run and met to within one share.
    pub fn next_kind(&self, sent: &KindCounts) -> ShareKind {
        let next = sent.total() + 1;
        let due = |fraction: f64, count: u64| (next as f64 * fraction).floor() > count as f64;
        if due(self.invalid, sent.invalid) {
            ShareKind::Invalid
        } else if due(self.duplicate, sent.duplicate) {
            ShareKind::Duplicate
        } else if due(self.stale, sent.stale) {
            ShareKind::Stale
        } else if self.invalid + self.duplicate + self.stale < 1.0 - 1e-9 {
            ShareKind::Valid
        } else {
            // No valid shares wanted at all: the bad kind furthest behind
            // its fraction goes now, so no valid share slips in.
            let behind = |fraction: f64, count: u64| next as f64 * fraction - count as f64;
            let candidates = [
                (ShareKind::Invalid, behind(self.invalid, sent.invalid)),
                (ShareKind::Duplicate, behind(self.duplicate, sent.duplicate)),
                (ShareKind::Stale, behind(self.stale, sent.stale)),
            ];
            candidates
                .into_iter()
                .fold(None::<(ShareKind, f64)>, |best, candidate| match best {
                    Some(best) if best.1 >= candidate.1 => Some(best),
                    _ => Some(candidate),
                })
                .map_or(ShareKind::Valid, |(kind, _)| kind)
        }
    }
}

/// Shares counted by the kind sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Valid shares sent.
    pub valid: u64,
    /// Invalid (low difficulty) shares sent.
    pub invalid: u64,
    /// Duplicates sent.
    pub duplicate: u64,
    /// Stale shares sent.
    pub stale: u64,
}

impl KindCounts {
    /// All shares counted.
    pub fn total(&self) -> u64 {
        self.valid + self.invalid + self.duplicate + self.stale
    }

    /// Counts one more share of `kind`.
    pub fn add(&mut self, kind: ShareKind) {
        match kind {
            ShareKind::Valid => self.valid += 1,
            ShareKind::Invalid => self.invalid += 1,
            ShareKind::Duplicate => self.duplicate += 1,
            ShareKind::Stale => self.stale += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mix: &ShareMix, shares: u64) -> (KindCounts, Vec<ShareKind>) {
        let mut sent = KindCounts::default();
        let mut kinds = Vec::new();
        for _ in 0..shares {
            let kind = mix.next_kind(&sent);
            sent.add(kind);
            kinds.push(kind);
        }
        (sent, kinds)
    }

    #[test]
    fn sends_each_fraction_of_the_shares() {
        let mix = ShareMix::new(0.1, 0.05, 0.2).expect("valid mix");
        let (sent, _) = run(&mix, 1000);
        // Two kinds due on the same share delay one of them by a share.
        assert_eq!(sent.invalid, 100);
        assert!(sent.duplicate.abs_diff(50) <= 1, "{sent:?}");
        assert!(sent.stale.abs_diff(200) <= 1, "{sent:?}");
        assert_eq!(sent.total(), 1000);
        let (none, _) = run(&ShareMix::default(), 37);
        assert_eq!(none.valid, 37);
        let all_bad = ShareMix::new(0.5, 0.25, 0.25).expect("valid mix");
        let (sent, _) = run(&all_bad, 400);
        assert_eq!(sent.valid, 0);
        assert!(sent.invalid.abs_diff(200) <= 1, "{sent:?}");
        assert!(sent.duplicate.abs_diff(100) <= 1, "{sent:?}");
        assert!(sent.stale.abs_diff(100) <= 1, "{sent:?}");
    }

    #[test]
    fn bad_kinds_are_spread_not_bunched() {
        let mix = ShareMix::new(0.25, 0.0, 0.0).expect("valid mix");
        let (_, kinds) = run(&mix, 8);
        let invalid: Vec<_> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == ShareKind::Invalid)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(invalid, vec![3, 7]);
    }

    #[test]
    fn refuses_impossible_fractions() {
        assert!(ShareMix::new(0.6, 0.5, 0.0).is_err());
        assert!(ShareMix::new(-0.1, 0.0, 0.0).is_err());
        assert!(ShareMix::new(0.0, 0.0, 1.5).is_err());
        assert!(ShareMix::new(0.0, 0.0, 1.0).is_ok());
    }
}
