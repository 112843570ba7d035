//! When a template deserves a new job, without I/O: when it differs from the
//! last job's (tips, height, transactions, difficulty or upstream), or when the
//! last job is older than `mining.job_refresh` so timestamps stay fresh.

use std::time::Duration;

use tos_pool_common::difficulty::Difficulty;

/// What makes two templates the same work: the work hash (version, height,
/// tips, transactions), the difficulty and the daemon they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateKey {
    /// The header's work hash.
    pub work_hash: [u8; 32],
    /// The network difficulty.
    pub difficulty: Difficulty,
    /// The upstream's name.
    pub upstream: String,
}

/// Why a new job is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No job yet.
    First,
    /// The template changed.
    Changed,
    /// Same template, but the last job is `job_refresh` old.
    Refresh,
}

impl Reason {
    /// Name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::First => "first",
            Reason::Changed => "changed",
            Reason::Refresh => "refresh",
        }
    }
}

/// Whether `key` makes a new job, given the last job's key and age.
pub fn decide(
    last: Option<(&TemplateKey, Duration)>,
    key: &TemplateKey,
    refresh: Duration,
) -> Option<Reason> {
    match last {
        None => Some(Reason::First),
        Some((last_key, _)) if last_key != key => Some(Reason::Changed),
        Some((_, age)) if age >= refresh => Some(Reason::Refresh),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: u8, difficulty: u64, upstream: &str) -> TemplateKey {
        TemplateKey {
            work_hash: [hash; 32],
            difficulty: Difficulty::from_u64(difficulty).expect("nonzero"),
            upstream: upstream.into(),
        }
    }

    #[test]
    fn publishes_first_changed_and_stale_templates_only() {
        let refresh = Duration::from_secs(10);
        let a = key(1, 1000, "p");
        assert_eq!(decide(None, &a, refresh), Some(Reason::First));
        let young = Duration::from_secs(1);
        assert_eq!(decide(Some((&a, young)), &a, refresh), None);
        assert_eq!(
            decide(Some((&a, young)), &key(2, 1000, "p"), refresh),
            Some(Reason::Changed)
        );
        assert_eq!(
            decide(Some((&a, young)), &key(1, 2000, "p"), refresh),
            Some(Reason::Changed)
        );
        assert_eq!(
            decide(Some((&a, young)), &key(1, 1000, "b"), refresh),
            Some(Reason::Changed)
        );
        assert_eq!(
            decide(Some((&a, refresh)), &a, refresh),
            Some(Reason::Refresh)
        );
    }
}
