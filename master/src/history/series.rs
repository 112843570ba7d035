//! The charts' time series as plain data: how a sample is written in Redis
//! and read back, how many samples a retention keeps, which samples a chart
//! shows, and how a long range is thinned to a few hundred points. No I/O,
//! no clock: the time is always an argument.

use std::time::Duration;

/// How long the pool's history is kept: 7 days.
pub const POOL_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a miner's history is kept: 24 hours.
pub const MINER_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Most points a chart answer carries: a 7-day chart at one sample a minute
/// (10,080 samples) is averaged down to this many, which a phone draws at
/// once and which keeps the answer to a few kilobytes.
pub const MAX_CHART_POINTS: usize = 360;

/// One sample of a series: when, and the values (the pool's: hashrate,
/// workers, miners; a miner's: hashrate).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Sample time, ms since the Unix epoch.
    pub at_ms: u64,
    /// The values, in the series' order.
    pub values: Vec<f64>,
}

impl Sample {
    /// The stored form: the time and each value, separated by `:`
    /// (`1795475391152:199.94:2:2`). Values are written with enough digits
    /// to read back the same.
    pub fn encode(&self) -> String {
        let mut text = self.at_ms.to_string();
        for value in &self.values {
            text.push(':');
            text.push_str(&compact(*value));
        }
        text
    }

    /// Reads a stored sample of `width` values; `None` for anything else (a
    /// sample written by another version is skipped, not an error).
    pub fn decode(text: &str, width: usize) -> Option<Sample> {
        let mut parts = text.split(':');
        let at_ms = parts.next()?.parse().ok()?;
        let values = parts
            .map(|part| part.parse::<f64>().ok().filter(|value| value.is_finite()))
            .collect::<Option<Vec<f64>>>()?;
        (values.len() == width).then_some(Sample { at_ms, values })
    }
}

/// A value in few characters: whole numbers as they are, others with 5
/// significant digits (`1.2346e8`): a chart needs no more, and a miner's
/// day of samples stays a few kilobytes.
fn compact(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_owned();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    format!("{value:.4e}")
}

/// Shortest time between two samples of a miner: a miner's hashrate is an
/// average over `validation.hashrate_window` (10 minutes by default), so
/// finer samples would add bytes, not detail.
pub const MIN_MINER_INTERVAL: Duration = Duration::from_secs(300);

/// How many pool sample ticks (`web.sample_interval`) pass between two
/// samples of the miners: enough that they are at least
/// [`MIN_MINER_INTERVAL`] apart.
pub fn miner_every(interval: Duration) -> u32 {
    let interval_ms = interval.as_millis().max(1);
    let every = MIN_MINER_INTERVAL.as_millis().div_ceil(interval_ms);
    u32::try_from(every).unwrap_or(u32::MAX).max(1)
}

/// The time between two samples of a miner.
pub fn miner_interval(interval: Duration) -> Duration {
    interval.saturating_mul(miner_every(interval))
}

/// How many samples a list keeps so that `retention` is covered at one
/// sample per `interval` (one extra, so the oldest edge is still drawn).
pub fn capacity(retention: Duration, interval: Duration) -> u64 {
    let interval_ms = interval.as_millis().max(1);
    let samples = retention.as_millis().div_ceil(interval_ms);
    u64::try_from(samples).unwrap_or(u64::MAX).saturating_add(1)
}

/// The samples of the last `hours` before `now_ms`, oldest first (stored
/// newest first, but sorted here: a clock step back or a sample taken out
/// of turn must not draw a line backwards).
pub fn window(stored: Vec<Sample>, hours: u32, now_ms: u64) -> Vec<Sample> {
    let from_ms = now_ms.saturating_sub(u64::from(hours) * 3_600_000);
    let mut samples: Vec<Sample> = stored
        .into_iter()
        .filter(|sample| sample.at_ms >= from_ms && sample.at_ms <= now_ms)
        .collect();
    samples.sort_by_key(|sample| sample.at_ms);
    samples
}

/// Thins `samples` (oldest first) to at most `max_points`: the range is cut
/// into `max_points` equal slices and each slice with samples becomes one
/// point, at the time of its last sample, with the mean of its values. At or
/// under `max_points` samples are returned as they are.
pub fn thin(samples: Vec<Sample>, max_points: usize) -> Vec<Sample> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return samples;
    };
    if samples.len() <= max_points || max_points == 0 {
        return samples;
    }
    let (start, span) = (first.at_ms, last.at_ms.saturating_sub(first.at_ms).max(1));
    let slices = max_points as u64;
    let mut points: Vec<Sample> = Vec::with_capacity(max_points);
    let mut current: Option<(u64, Sample, usize)> = None;
    for sample in samples {
        let slice = ((sample.at_ms - start) as u128 * u128::from(slices) / u128::from(span))
            .min(u128::from(slices - 1)) as u64;
        match &mut current {
            Some((index, sum, count)) if *index == slice => {
                sum.at_ms = sample.at_ms;
                for (total, value) in sum.values.iter_mut().zip(&sample.values) {
                    *total += value;
                }
                *count += 1;
            }
            _ => {
                if let Some(done) = current.take() {
                    points.push(mean(done));
                }
                current = Some((slice, sample, 1));
            }
        }
    }
    if let Some(done) = current {
        points.push(mean(done));
    }
    points
}

fn mean((_, mut sum, count): (u64, Sample, usize)) -> Sample {
    for value in &mut sum.values {
        *value /= count as f64;
    }
    sum
}

/// Reads a chart's `hours` parameter: `default` when absent, else a whole
/// number from 1 to `max`.
pub fn hours(requested: Option<&str>, default: u32, max: u32) -> Result<u32, String> {
    let Some(text) = requested else {
        return Ok(default);
    };
    match text.trim().parse::<u32>() {
        Ok(hours) if (1..=max).contains(&hours) => Ok(hours),
        _ => Err(format!(
            "hours={text:?} is not a whole number of hours from 1 to {max}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, value: f64) -> Sample {
        Sample {
            at_ms,
            values: vec![value],
        }
    }

    #[test]
    fn samples_read_back_as_written() {
        let sample = Sample {
            at_ms: 1_795_475_391_152,
            values: vec![199.947_781_619, 2.0, 0.0],
        };
        let text = sample.encode();
        assert_eq!(text, "1795475391152:1.9995e2:2:0");
        let back = Sample::decode(&text, 3).expect("decodes");
        assert_eq!(back.at_ms, sample.at_ms);
        assert_eq!(back.values, [199.95, 2.0, 0.0]);
        let big = Sample {
            at_ms: 1,
            values: vec![123_456_789.123, f64::NAN],
        };
        assert_eq!(big.encode(), "1:1.2346e8:0");
    }

    #[test]
    fn foreign_samples_are_skipped() {
        assert_eq!(Sample::decode("1:2", 3), None);
        assert_eq!(Sample::decode("x:1", 1), None);
        assert_eq!(Sample::decode("1:NaN", 1), None);
        assert_eq!(Sample::decode("", 0), None);
        assert_eq!(
            Sample::decode("5", 0),
            Some(Sample {
                at_ms: 5,
                values: vec![]
            })
        );
    }

    #[test]
    fn capacity_covers_the_retention() {
        let minute = Duration::from_secs(60);
        assert_eq!(capacity(POOL_RETENTION, minute), 10_081);
        assert_eq!(capacity(MINER_RETENTION, minute), 1_441);
        assert_eq!(capacity(MINER_RETENTION, Duration::from_secs(7)), 12_344);
        assert_eq!(capacity(MINER_RETENTION, Duration::ZERO), 86_400_001);
    }

    #[test]
    fn miners_are_sampled_at_most_every_five_minutes() {
        let minute = Duration::from_secs(60);
        assert_eq!(miner_every(minute), 5);
        assert_eq!(miner_interval(minute), Duration::from_secs(300));
        assert_eq!(miner_every(Duration::from_secs(7 * 60)), 1);
        assert_eq!(
            miner_interval(Duration::from_secs(7 * 60)),
            Duration::from_secs(420)
        );
        assert_eq!(miner_every(Duration::from_secs(1)), 300);
        assert_eq!(miner_every(Duration::from_secs(45)), 7);
        assert_eq!(capacity(MINER_RETENTION, miner_interval(minute)), 289);
    }

    #[test]
    fn the_window_keeps_the_last_hours_oldest_first() {
        let hour = 3_600_000;
        let now = 10 * hour;
        let stored = vec![
            sample(now + 1, 9.0),
            sample(now, 1.0),
            sample(now - hour, 2.0),
            sample(now - hour - 1, 3.0),
        ];
        let kept = window(stored, 1, now);
        assert_eq!(kept, [sample(now - hour, 2.0), sample(now, 1.0)]);
        assert!(window(Vec::new(), 24, now).is_empty());
        let out_of_turn = vec![sample(now - 5, 1.0), sample(now, 2.0), sample(now - 9, 3.0)];
        let times: Vec<u64> = window(out_of_turn, 1, now)
            .iter()
            .map(|s| s.at_ms)
            .collect();
        assert_eq!(times, [now - 9, now - 5, now]);
    }

    #[test]
    fn thinning_averages_equal_slices() {
        let samples: Vec<Sample> = (0..10).map(|i| sample(i * 10, i as f64)).collect();
        assert_eq!(thin(samples.clone(), 10), samples);
        let thinned = thin(samples, 5);
        assert_eq!(
            thinned,
            [
                sample(10, 0.5),
                sample(30, 2.5),
                sample(50, 4.5),
                sample(70, 6.5),
                sample(90, 8.5)
            ]
        );
    }

    #[test]
    fn thinning_leaves_gaps_as_gaps() {
        let samples = vec![sample(0, 1.0), sample(1, 3.0), sample(100, 5.0)];
        assert_eq!(thin(samples, 2), [sample(1, 2.0), sample(100, 5.0)]);
    }

    #[test]
    fn a_week_thins_to_the_chart_size() {
        let week: Vec<Sample> = (0..10_080).map(|i| sample(i * 60_000, 1.0)).collect();
        let thinned = thin(week, MAX_CHART_POINTS);
        assert_eq!(thinned.len(), MAX_CHART_POINTS);
        assert!(thinned.iter().all(|point| point.values == [1.0]));
    }

    #[test]
    fn hours_are_checked() {
        assert_eq!(hours(None, 24, 168), Ok(24));
        assert_eq!(hours(Some("6"), 24, 168), Ok(6));
        assert_eq!(hours(Some("168"), 24, 168), Ok(168));
        assert!(hours(Some("0"), 24, 168).is_err());
        assert!(hours(Some("169"), 24, 168).is_err());
        assert!(hours(Some("1.5"), 24, 24).is_err());
        assert!(hours(Some("-1"), 24, 24).is_err());
    }
}
