//! TOS Hash V3 on a bounded pool of OS threads, so hashing never stalls the
//! async runtime.
//!
//! Each worker owns a [`Hasher`] (its 64 KiB scratchpad is allocated once).
//! Work waits in one bounded queue. When the queue is full:
//! - [`ValidationPool::hash`] waits for room. The wait is bounded by the
//!   workers' speed, and it slows exactly the connections that submit faster
//!   than the slave can check, through TCP back-pressure, without refusing a
//!   valid share.
//! - [`ValidationPool::try_hash`] refuses at once with
//!   [`ValidationError::Busy`], for optional hashing (trust mode) that should
//!   only use spare capacity.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tos_pool_common::header::MINER_WORK_LENGTH;
use tos_pool_common::metrics::Metrics;
use tos_pool_common::pow::Hasher;

/// Why a hash was not computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The queue is full (only from `try_hash`).
    #[error("all {workers} validation workers are busy and {queue} shares are queued")]
    Busy {
        /// Worker threads.
        workers: usize,
        /// Queue capacity.
        queue: usize,
    },
    /// The workers are gone (the pool was shut down or a worker died).
    #[error("the validation workers stopped; restart the slave")]
    Stopped,
    /// A worker thread could not be started.
    #[error("could not start validation worker thread: {0}; lower validation.workers")]
    Spawn(String),
}

struct HashJob {
    work: [u8; MINER_WORK_LENGTH],
    reply: oneshot::Sender<[u8; 32]>,
}

/// A handle to the hashing threads; cheap to clone. The threads exit when the
/// last handle is dropped.
#[derive(Clone, Debug)]
pub struct ValidationPool {
    queue: mpsc::Sender<HashJob>,
    workers: usize,
    capacity: usize,
}

impl ValidationPool {
    /// Starts `workers` hashing threads (0 = one per core) sharing a queue of
    /// `queue` waiting shares (0 = 64 per worker).
    pub fn new(workers: usize, queue: usize) -> Result<ValidationPool, ValidationError> {
        ValidationPool::with_metrics(workers, queue, Metrics::new())
    }

    /// Like [`ValidationPool::new`], recording the time of every hash (the
    /// hashing itself, not the wait in the queue) in `metrics`' share
    /// validation histogram.
    pub fn with_metrics(
        workers: usize,
        queue: usize,
        metrics: Metrics,
    ) -> Result<ValidationPool, ValidationError> {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let capacity = match queue {
            0 => workers * 64,
            n => n,
        };
        let (sender, receiver) = mpsc::channel::<HashJob>(capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let receiver = receiver.clone();
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name(format!("pow-{index}"))
                .spawn(move || work(&receiver, &metrics))
                .map_err(|error| ValidationError::Spawn(error.to_string()))?;
        }
        tracing::info!(workers, queue = capacity, "validation workers started");
        Ok(ValidationPool {
            queue: sender,
            workers,
            capacity,
        })
    }

    /// The worker count of `validation.workers`, else
    /// `slave.validation_threads`, else (both 0) one per core; hash times go
    /// to `metrics`.
    pub fn from_config(
        config: &tos_pool_common::config::Config,
        metrics: Metrics,
    ) -> Result<Self, ValidationError> {
        let workers = match config.validation.workers {
            0 => config.slave.validation_threads,
            n => n,
        };
        ValidationPool::with_metrics(workers as usize, 0, metrics)
    }

    /// Hashing threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Shares the queue holds at most.
    pub fn queue_capacity(&self) -> usize {
        self.capacity
    }

    /// Shares waiting in the queue now.
    pub fn queued(&self) -> usize {
        self.capacity - self.queue.capacity()
    }

    /// TOS Hash V3 of a 112-byte MinerWork; waits for room in the queue.
    pub async fn hash(&self, work: [u8; MINER_WORK_LENGTH]) -> Result<[u8; 32], ValidationError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(HashJob { work, reply })
            .await
            .map_err(|_| ValidationError::Stopped)?;
        answer.await.map_err(|_| ValidationError::Stopped)
    }

    /// Like [`ValidationPool::hash`] but refuses with
    /// [`ValidationError::Busy`] instead of waiting for room.
    pub async fn try_hash(
        &self,
        work: [u8; MINER_WORK_LENGTH],
    ) -> Result<[u8; 32], ValidationError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(HashJob { work, reply })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => ValidationError::Busy {
                    workers: self.workers,
                    queue: self.capacity,
                },
                mpsc::error::TrySendError::Closed(_) => ValidationError::Stopped,
            })?;
        answer.await.map_err(|_| ValidationError::Stopped)
    }
}

/// One worker: takes jobs until every sender is gone.
fn work(receiver: &Mutex<mpsc::Receiver<HashJob>>, metrics: &Metrics) {
    let mut hasher = Hasher::new();
    loop {
        // Only the waiting worker holds the lock; it is released before
        // hashing, so the others take the next jobs meanwhile.
        let job = {
            let mut receiver = receiver
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            receiver.blocking_recv()
        };
        let Some(job) = job else {
            return;
        };
        if job.reply.is_closed() {
            continue;
        }
        let started = Instant::now();
        let hash = hasher.hash(&job.work);
        metrics.observe_validation(started.elapsed());
        // The submitter may have given up (its connection closed).
        let _ = job.reply.send(hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work_with(byte: u8) -> [u8; MINER_WORK_LENGTH] {
        let mut work = [0u8; MINER_WORK_LENGTH];
        work[0] = byte;
        work[47] = byte.wrapping_mul(3);
        work
    }

    #[tokio::test]
    async fn hashes_match_the_reference_vector() {
        let pool = ValidationPool::new(2, 4).unwrap();
        let hash = pool.hash([0u8; MINER_WORK_LENGTH]).await.unwrap();
        assert_eq!(
            hex::encode(hash),
            "b9685f2eaa611ecf95862c8b2fd9376db7891f01d62dff24bc3fdb60d6906c02"
        );
        let hash = pool.hash(work_with(1)).await.unwrap();
        assert_eq!(hash, tos_pool_common::pow::hash(&work_with(1)));
    }

    #[tokio::test]
    async fn every_hash_is_timed() {
        let metrics = Metrics::new();
        let pool = ValidationPool::with_metrics(1, 4, metrics.clone()).unwrap();
        for byte in 0..3 {
            pool.hash(work_with(byte)).await.unwrap();
        }
        assert_eq!(metrics.validation_snapshot().count, 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_each_get_their_own_hash() {
        let pool = ValidationPool::new(2, 3).unwrap();
        let mut tasks = Vec::new();
        for byte in 0..40u8 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                (byte, pool.hash(work_with(byte)).await)
            }));
        }
        for task in tasks {
            let (byte, hash) = task.await.unwrap();
            assert_eq!(hash.unwrap(), tos_pool_common::pow::hash(&work_with(byte)));
        }
    }

    /// A pool with a queue but no workers, and the queue's far end.
    fn idle_pool(queue: usize) -> (ValidationPool, mpsc::Receiver<HashJob>) {
        let (sender, receiver) = mpsc::channel(queue);
        let pool = ValidationPool {
            queue: sender,
            workers: 1,
            capacity: queue,
        };
        (pool, receiver)
    }

    #[tokio::test]
    async fn try_hash_refuses_when_the_queue_is_full() {
        let (pool, mut receiver) = idle_pool(1);
        let first = tokio::spawn({
            let pool = pool.clone();
            async move { pool.try_hash(work_with(1)).await }
        });
        let job = receiver.recv().await.unwrap();
        // The queue is empty again; fill its one place, then overflow it.
        let second = tokio::spawn({
            let pool = pool.clone();
            async move { pool.try_hash(work_with(2)).await }
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while pool.queued() < 1 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        assert_eq!(
            pool.try_hash(work_with(3)).await,
            Err(ValidationError::Busy {
                workers: 1,
                queue: 1
            })
        );
        job.reply.send([7u8; 32]).unwrap();
        assert_eq!(first.await.unwrap(), Ok([7u8; 32]));
        drop(receiver);
        assert_eq!(second.await.unwrap(), Err(ValidationError::Stopped));
    }

    #[tokio::test]
    async fn a_stopped_pool_says_so() {
        let (pool, receiver) = idle_pool(1);
        drop(receiver);
        assert_eq!(pool.hash(work_with(1)).await, Err(ValidationError::Stopped));
    }

    #[test]
    fn zero_means_one_worker_per_core_and_a_default_queue() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let pool = ValidationPool::new(0, 0).unwrap();
        assert!(pool.workers() >= 1);
        assert_eq!(pool.queue_capacity(), pool.workers() * 64);
        assert_eq!(pool.queued(), 0);
    }
}
