//! A bounded queue between a connection's reader task and the test that
//! consumes what it received. The reader never waits: when the queue is full
//! the oldest item is dropped (and counted), so a miner that never reads its
//! jobs costs a fixed amount of memory and never stalls its responses.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Why waiting on a queue ended without an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueWait {
    /// Nothing arrived in time.
    Timeout,
    /// The connection closed and everything received was consumed.
    Closed,
}

/// A bounded drop-oldest queue with an async wait.
#[derive(Debug)]
pub(crate) struct EventQueue<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    notify: Notify,
    closed: AtomicBool,
    dropped: AtomicU64,
}

impl<T> EventQueue<T> {
    pub(crate) fn new(capacity: usize) -> EventQueue<T> {
        EventQueue {
            items: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    fn items(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        // Poisoning only follows a panicking test thread; the queue stays valid.
        self.items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn push(&self, item: T) {
        {
            let mut items = self.items();
            if items.len() >= self.capacity {
                items.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            items.push_back(item);
        }
        self.notify.notify_one();
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    pub(crate) fn try_next(&self) -> Option<T> {
        self.items().pop_front()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The next item, waiting at most `timeout`.
    pub(crate) async fn next(&self, timeout: Duration) -> Result<T, QueueWait> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(item) = self.try_next() {
                return Ok(item);
            }
            if self.closed.load(Ordering::SeqCst) {
                return Err(QueueWait::Closed);
            }
            // A push between the check above and this wait leaves a permit
            // in `notify`, so no wake-up is lost.
            tokio::time::timeout_at(deadline, self.notify.notified())
                .await
                .map_err(|_| QueueWait::Timeout)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drops_the_oldest_when_full() {
        let queue = EventQueue::new(2);
        for i in 0..3 {
            queue.push(i);
        }
        assert_eq!(queue.dropped(), 1);
        assert_eq!(queue.next(Duration::from_secs(1)).await, Ok(1));
        assert_eq!(queue.next(Duration::from_secs(1)).await, Ok(2));
        assert_eq!(
            queue.next(Duration::from_millis(10)).await,
            Err(QueueWait::Timeout)
        );
    }

    #[tokio::test]
    async fn wakes_a_waiter_and_reports_close_after_draining() {
        let queue = std::sync::Arc::new(EventQueue::new(4));
        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.next(Duration::from_secs(10)).await })
        };
        queue.push("job");
        assert_eq!(waiter.await.expect("task"), Ok("job"));
        queue.push("last");
        queue.close();
        assert_eq!(queue.next(Duration::from_secs(1)).await, Ok("last"));
        assert_eq!(
            queue.next(Duration::from_secs(1)).await,
            Err(QueueWait::Closed)
        );
    }
}
