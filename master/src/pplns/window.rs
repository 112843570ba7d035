//! The PPLNS window: how much share difficulty is paid for a block.

use super::PplnsError;

/// Scale of the fixed-point multiples: one million parts per unit.
pub const PPM: u64 = 1_000_000;

/// Largest window multiple accepted from the config.
const MAX_MULTIPLE: f64 = 1_000_000.0;

/// The PPLNS window of the `pplns` config, as fixed-point multiples of the
/// network difficulty (parts per million, so `window: 2.0` is exactly 2).
///
/// Fixed window: the window holds `window × network difficulty` of share
/// difficulty, which pays on average for `window` blocks of the pool,
/// whatever the pool's size.
///
/// Dynamic window: the multiple is
/// `clamp(window × pool_share, min_window, max_window)`, where `pool_share`
/// is the pool's fraction of the network hashrate (0..=1). Why: a share stays
/// in a window of multiple `m` for `m × block_time / pool_share` on average,
/// so a fixed multiple turns over in seconds once the pool is large (1-second
/// blocks) and a miner's short disconnect costs it its whole stake. Scaling
/// the multiple with the pool share keeps that time constant at `window`
/// network block times (in dynamic mode `window` counts block times, e.g.
/// 600 = ten minutes), while `min_window` bounds the payout variance and
/// `max_window` the length of the walk. When the pool share is unknown the
/// window is `min_window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PplnsWindow {
    window_ppm: u64,
    dynamic: Option<(u64, u64)>,
}

impl PplnsWindow {
    /// A fixed window of `window × network difficulty`.
    pub fn fixed(window: f64) -> Result<Self, PplnsError> {
        Ok(PplnsWindow {
            window_ppm: multiple_to_ppm("window", window)?,
            dynamic: None,
        })
    }

    /// The window from the `pplns` config keys of the same names.
    pub fn new(
        window: f64,
        dynamic_window: bool,
        min_window: f64,
        max_window: f64,
    ) -> Result<Self, PplnsError> {
        let fixed = Self::fixed(window)?;
        if !dynamic_window {
            return Ok(fixed);
        }
        let min = multiple_to_ppm("min_window", min_window)?;
        let max = multiple_to_ppm("max_window", max_window)?;
        if min > max {
            return Err(PplnsError::InvertedBounds {
                min: min_window,
                max: max_window,
            });
        }
        Ok(PplnsWindow {
            dynamic: Some((min, max)),
            ..fixed
        })
    }

    /// Whether the multiple follows the pool's share of the network hashrate.
    pub fn is_dynamic(&self) -> bool {
        self.dynamic.is_some()
    }

    /// The multiple of the network difficulty in parts per million, for the
    /// pool's current share of the network hashrate (ignored when fixed).
    pub fn multiple_ppm(&self, pool_share: Option<f64>) -> u64 {
        let Some((min, max)) = self.dynamic else {
            return self.window_ppm;
        };
        match pool_share.filter(|share| share.is_finite()) {
            // In range by the clamps; `as` saturates, and the bounds are at
            // most 10^12 so the product stays exact enough for a window.
            Some(share) => {
                let scaled = (self.window_ppm as f64 * share.clamp(0.0, 1.0)).round() as u64;
                scaled.clamp(min, max)
            }
            None => min,
        }
    }

    /// The window size in share difficulty: `multiple × network_difficulty`,
    /// rounded down (exact for the fixed multiples a config writes).
    pub fn size(&self, network_difficulty: u64, pool_share: Option<f64>) -> u128 {
        // Both factors are below 2^64, so the product fits in a u128.
        u128::from(network_difficulty) * u128::from(self.multiple_ppm(pool_share)) / u128::from(PPM)
    }
}

/// Converts a config multiple to parts per million, refusing what cannot be
/// a window.
fn multiple_to_ppm(key: &'static str, value: f64) -> Result<u64, PplnsError> {
    let invalid = PplnsError::InvalidMultiple { key, value };
    if !value.is_finite() || value <= 0.0 || value > MAX_MULTIPLE {
        return Err(invalid);
    }
    // 0 < value ≤ 10^6, so the product is in 0..=10^12 and the cast is exact.
    let ppm = (value * PPM as f64).round() as u64;
    if ppm == 0 { Err(invalid) } else { Ok(ppm) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_is_exactly_multiple_times_difficulty() {
        let window = PplnsWindow::fixed(2.0).expect("2.0 is a valid multiple");
        assert_eq!(window.multiple_ppm(None), 2_000_000);
        assert_eq!(window.size(1_000, None), 2_000);
        assert_eq!(window.size(u64::MAX, Some(0.5)), 2 * u128::from(u64::MAX));
        let tenth = PplnsWindow::fixed(0.1).expect("0.1 is a valid multiple");
        assert_eq!(tenth.size(123_456_789, None), 12_345_678);
        let odd = PplnsWindow::fixed(1.5).expect("1.5 is a valid multiple");
        assert_eq!(odd.size(3, None), 4);
    }

    #[test]
    fn bad_multiples_are_refused_with_their_key() {
        for value in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9, 2e6] {
            assert!(matches!(
                PplnsWindow::fixed(value),
                Err(PplnsError::InvalidMultiple { key: "window", .. })
            ));
        }
        assert!(matches!(
            PplnsWindow::new(2.0, true, 0.0, 4.0),
            Err(PplnsError::InvalidMultiple {
                key: "min_window",
                ..
            })
        ));
        assert!(matches!(
            PplnsWindow::new(2.0, true, 4.0, 0.5),
            Err(PplnsError::InvertedBounds { .. })
        ));
        // Bounds are not checked when the window is fixed.
        assert!(PplnsWindow::new(2.0, false, 4.0, 0.5).is_ok());
    }

    #[test]
    fn dynamic_window_follows_pool_share_within_bounds() {
        let window = PplnsWindow::new(600.0, true, 0.5, 4.0).expect("valid dynamic window");
        assert!(window.is_dynamic());
        // 0.5% of the network: 600 × 0.005 = 3.
        assert_eq!(window.multiple_ppm(Some(0.005)), 3_000_000);
        assert_eq!(window.size(1_000, Some(0.005)), 3_000);
        assert_eq!(window.multiple_ppm(Some(0.0001)), 500_000);
        assert_eq!(window.multiple_ppm(Some(0.5)), 4_000_000);
        assert_eq!(window.multiple_ppm(Some(7.0)), 4_000_000);
        assert_eq!(window.multiple_ppm(Some(-1.0)), 500_000);
        assert_eq!(window.multiple_ppm(Some(f64::NAN)), 500_000);
        assert_eq!(window.multiple_ppm(None), 500_000);
    }
}
