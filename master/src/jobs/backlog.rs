//! The recent jobs for which shares still count: a bounded list, newest last.

use std::collections::VecDeque;
use std::sync::Arc;

use super::job::Job;

/// At most `capacity` recent jobs; the oldest falls out when a new one comes.
#[derive(Debug)]
pub struct Backlog {
    jobs: VecDeque<Arc<Job>>,
    capacity: usize,
}

impl Backlog {
    /// An empty backlog of `capacity` jobs (at least 1, the current one).
    pub fn new(capacity: usize) -> Backlog {
        let capacity = capacity.max(1);
        Backlog {
            jobs: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds the new current job, dropping the oldest beyond the capacity.
    pub fn push(&mut self, job: Arc<Job>) {
        if self.jobs.len() == self.capacity {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job);
    }

    /// The newest job.
    pub fn current(&self) -> Option<Arc<Job>> {
        self.jobs.back().cloned()
    }

    /// The job `id` if it is still in the backlog (else a share on it is stale).
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs.iter().rev().find(|job| job.id == id).cloned()
    }

    /// Jobs held.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no job was made yet.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use tos_pool_common::difficulty::{Difficulty, target_from_difficulty};
    use tos_pool_common::header::MinerWork;

    use super::*;

    fn job(id: &str) -> Arc<Job> {
        Arc::new(Job {
            id: id.to_string(),
            height: 1,
            topoheight: 1,
            miner_work: MinerWork::from([0; 112]),
            difficulty: Difficulty::ONE,
            target: target_from_difficulty(&Difficulty::ONE),
            clean: false,
            created_at_ms: 0,
            algorithm: "tos/v3".into(),
            template_hex: String::new(),
            upstream: "u".into(),
        })
    }

    #[test]
    fn keeps_only_the_newest_jobs() {
        let mut backlog = Backlog::new(3);
        assert!(backlog.is_empty());
        assert!(backlog.current().is_none());
        for id in ["a", "b", "c", "d"] {
            backlog.push(job(id));
        }
        assert_eq!(backlog.len(), 3);
        assert!(backlog.get("a").is_none(), "the oldest fell out");
        assert_eq!(backlog.get("b").map(|j| j.id.clone()), Some("b".into()));
        assert_eq!(backlog.current().map(|j| j.id.clone()), Some("d".into()));
    }

    #[test]
    fn a_zero_capacity_still_keeps_the_current_job() {
        let mut backlog = Backlog::new(0);
        backlog.push(job("a"));
        backlog.push(job("b"));
        assert_eq!(backlog.len(), 1);
        assert!(backlog.get("a").is_none());
        assert!(backlog.get("b").is_some());
    }
}
