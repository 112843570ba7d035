//! The stats cache: a computed value is served for `api.stats_cache`, and
//! however many requests arrive when it is stale, one computes it again while
//! the others wait for that result.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A value and when it was computed: plain data, the clock passed in.
#[derive(Debug, Clone, Default)]
pub struct Cached<T> {
    entry: Option<(T, u64)>,
}

impl<T: Clone> Cached<T> {
    /// The value, if it was computed less than `ttl_ms` before `now_ms`.
    pub fn fresh(&self, now_ms: u64, ttl_ms: u64) -> Option<T> {
        let (value, at_ms) = self.entry.as_ref()?;
        (now_ms.saturating_sub(*at_ms) < ttl_ms).then(|| value.clone())
    }

    /// Keeps `value`, computed at `now_ms`.
    pub fn store(&mut self, value: T, now_ms: u64) {
        self.entry = Some((value, now_ms));
    }
}

/// A [`Cached`] value shared by the request tasks, computed by one at a time.
#[derive(Debug)]
pub struct StatsCache<T> {
    ttl_ms: u64,
    slot: Mutex<Cached<T>>,
    /// Held by the task computing a new value (held across the computation on
    /// purpose: it is the async mutex made for that, and the other requests
    /// are meant to wait for the result rather than compute it too).
    computing: tokio::sync::Mutex<()>,
    computations: AtomicU64,
}

impl<T: Clone> StatsCache<T> {
    /// An empty cache whose values stay fresh for `ttl_ms`.
    pub fn new(ttl_ms: u64) -> Self {
        StatsCache {
            ttl_ms,
            slot: Mutex::new(Cached { entry: None }),
            computing: tokio::sync::Mutex::new(()),
            computations: AtomicU64::new(0),
        }
    }

    /// The fresh value at `now_ms`, or a new one from `compute` (stored
    /// unless it failed; a failure is returned and the next call tries again).
    pub async fn get<E, F, Fut>(&self, now_ms: u64, compute: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.fresh(now_ms) {
            return Ok(value);
        }
        let _computing = self.computing.lock().await;
        if let Some(value) = self.fresh(now_ms) {
            return Ok(value);
        }
        self.computations.fetch_add(1, Ordering::Relaxed);
        let value = compute().await?;
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .store(value.clone(), now_ms);
        Ok(value)
    }

    /// How many times a value was computed.
    pub fn computations(&self) -> u64 {
        self.computations.load(Ordering::Relaxed)
    }

    fn fresh(&self, now_ms: u64) -> Option<T> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fresh(now_ms, self.ttl_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_value_is_fresh_for_the_ttl() {
        let mut cached = Cached::default();
        assert_eq!(cached.fresh(0, 5_000), None::<u8>);
        cached.store(7, 1_000);
        assert_eq!(cached.fresh(1_000, 5_000), Some(7));
        assert_eq!(cached.fresh(5_999, 5_000), Some(7));
        assert_eq!(cached.fresh(6_000, 5_000), None);
        assert_eq!(cached.fresh(6_000, 0), None, "a zero ttl caches nothing");
    }

    #[tokio::test]
    async fn one_computation_per_period() {
        let cache = StatsCache::new(5_000);
        let count = |value: u64| async move { Ok::<_, ()>(value) };
        assert_eq!(cache.get(1_000, || count(1)).await, Ok(1));
        assert_eq!(cache.get(2_000, || count(2)).await, Ok(1));
        assert_eq!(cache.computations(), 1);
        assert_eq!(cache.get(6_000, || count(3)).await, Ok(3));
        assert_eq!(cache.computations(), 2);
    }

    #[tokio::test]
    async fn a_failure_is_not_cached() {
        let cache = StatsCache::new(5_000);
        assert_eq!(
            cache.get(0, || async { Err::<u8, _>("down") }).await,
            Err("down")
        );
        assert_eq!(cache.get(1, || async { Ok::<_, &str>(4) }).await, Ok(4));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_one_computation() {
        let cache = Arc::new(StatsCache::new(5_000));
        let (release, released) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let cache = cache.clone();
            let mut released = released.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get(10, || async move {
                        let _ = released.wait_for(|go| *go).await;
                        Ok::<_, ()>(42)
                    })
                    .await
            }));
        }
        release.send_replace(true);
        for task in tasks {
            assert_eq!(task.await.expect("the task ends"), Ok(42));
        }
        assert_eq!(cache.computations(), 1);
    }
}
