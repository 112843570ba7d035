//! Each session's own record of the jobs it was sent ([`SentJobs`]): the
//! shared [`Job`], the share difficulty it was sent at and the nonces
//! already submitted for it.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tos_pool_common::difficulty::{Difficulty, Target};
use tos_pool_common::header::MinerWork;

use crate::job::Job;

/// Job ids remembered after they leave the backlog, to tell "stale share"
/// from "job not found".
const EXPIRED_MEMORY: usize = 64;

/// A job as one session was sent it.
#[derive(Debug, Clone)]
pub(super) struct SessionJob {
    pub(super) template: Arc<Job>,
    /// Share difficulty in force when the job was sent. The session's
    /// header and the share target are derived from it and the template
    /// when needed, not kept: every idle session holds a backlog of these.
    pub(super) difficulty: u64,
    /// Nonces already submitted for this job (bounded); made at the first
    /// share, so sending a job to an idle session builds no hash set, and
    /// boxed, so an entry is three words: a push scans the backlog's
    /// entries, and every idle session holds a backlog of them.
    #[allow(clippy::box_collection)]
    pub(super) nonces: Option<Box<HashSet<u64>>>,
}

impl SessionJob {
    /// Whether `nonce` was already submitted for this job.
    pub(super) fn has_nonce(&self, nonce: u64) -> bool {
        self.nonces
            .as_ref()
            .is_some_and(|nonces| nonces.contains(&nonce))
    }

    /// How many nonces were submitted for this job.
    pub(super) fn nonce_count(&self) -> usize {
        self.nonces.as_ref().map_or(0, |nonces| nonces.len())
    }

    /// Notes `nonce` as submitted.
    pub(super) fn add_nonce(&mut self, nonce: u64) {
        self.nonces.get_or_insert_default().insert(nonce);
    }

    /// The template's MinerWork with the session's `extra_nonce`.
    pub(super) fn header(&self, extra_nonce: &[u8; 32]) -> MinerWork {
        let mut header = self.template.miner_work;
        header.set_extra_nonce(extra_nonce);
        header
    }

    /// The target a share for this job must meet.
    pub(super) fn target(&self) -> Target {
        share_target(self.difficulty)
    }
}

/// The target a share at `difficulty` must meet.
pub(super) fn share_target(difficulty: u64) -> Target {
    Difficulty::from_u64(difficulty)
        .unwrap_or(Difficulty::ONE)
        .target()
}

/// What the backlog knows about a job id.
pub(super) enum Lookup<'a> {
    /// Sent and still accepting shares.
    Live(&'a mut SessionJob),
    /// Sent, but older than the backlog: the job as it was.
    Expired(Arc<Job>),
    /// Never sent to this session.
    Unknown,
}

/// The last `capacity` jobs sent to a session, newest last.
#[derive(Debug, Clone)]
pub(super) struct SentJobs {
    jobs: VecDeque<SessionJob>,
    /// Shared templates, not copies of their ids: every session of a slave
    /// remembers the same jobs, so this costs each session only pointers.
    expired: VecDeque<Arc<Job>>,
    capacity: usize,
}

impl SentJobs {
    pub(super) fn new(capacity: usize) -> SentJobs {
        SentJobs {
            jobs: VecDeque::new(),
            expired: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub(super) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        self.trim();
    }

    pub(super) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The backlog's entry for `job`, newest first: a job just sent is
    /// found by its pointer before any id is compared.
    pub(super) fn get(&self, job: &Arc<Job>) -> Option<&SessionJob> {
        self.jobs.iter().rev().find(|sent| sent.template.is(job))
    }

    pub(super) fn lookup(&mut self, job_id: &str) -> Lookup<'_> {
        if let Some(job) = self
            .jobs
            .iter_mut()
            .find(|job| job.template.job_id == job_id)
        {
            return Lookup::Live(job);
        }
        match self.expired.iter().find(|job| job.job_id == job_id) {
            Some(job) => Lookup::Expired(Arc::clone(job)),
            None => Lookup::Unknown,
        }
    }

    /// The id of the job, live or expired, whose header for a session with
    /// `extra_nonce` is `header`, nonce field aside (a miner may send the
    /// header back as it was sent or with its nonce in place).
    pub(super) fn job_of_header(
        &self,
        extra_nonce: &[u8; 32],
        header: &MinerWork,
    ) -> Option<String> {
        let mut wanted = *header;
        wanted.set_nonce(0);
        let matches = |template: &Job| {
            let mut sent = template.miner_work;
            sent.set_extra_nonce(extra_nonce);
            sent.set_nonce(0);
            sent == wanted
        };
        self.jobs
            .iter()
            .rev()
            .map(|job| &job.template)
            .chain(self.expired.iter().rev())
            .find(|template| matches(template))
            .map(|template| template.job_id.clone())
    }

    /// Reads the memory a [`SentJobs::push`] into a full backlog uses (the
    /// newest and oldest entries, the expired list's ends), as a number of
    /// no meaning (see [`Session::warm`]).
    ///
    /// [`Session::warm`]: super::Session::warm
    pub(super) fn warm(&self) -> u64 {
        let entry = |job: Option<&SessionJob>| job.map_or(0, |job| job.difficulty);
        // The list's slots, not the jobs they point to.
        let expired = |job: Option<&Arc<Job>>| {
            job.map_or(0, |job| u64::try_from(Arc::as_ptr(job).addr()).unwrap_or(0))
        };
        entry(self.jobs.back())
            ^ entry(self.jobs.front())
            ^ expired(self.expired.back())
            ^ expired(self.expired.front())
    }

    /// Adds a newly sent job, dropping the oldest (and its nonces) beyond capacity.
    pub(super) fn push(&mut self, job: SessionJob) {
        // Make room first: pushing past capacity would double the queue's
        // allocation (8 jobs kept in room for 16) in every session.
        self.trim_to(self.capacity - 1);
        if self.jobs.capacity() == 0 {
            self.jobs.reserve_exact(self.capacity);
        }
        self.jobs.push_back(job);
    }

    fn trim(&mut self) {
        self.trim_to(self.capacity);
    }

    fn trim_to(&mut self, keep: usize) {
        while self.jobs.len() > keep {
            if let Some(old) = self.jobs.pop_front() {
                if self.expired.len() == EXPIRED_MEMORY {
                    self.expired.pop_front();
                }
                self.expired.push_back(old.template);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u32) -> SessionJob {
        let work = MinerWork::from_bytes(&[0u8; 112]).expect("112 bytes is a MinerWork");
        let difficulty = Difficulty::default();
        let template = Arc::new(Job::new(id.to_string(), u64::from(id), work, difficulty));
        SessionJob {
            template,
            difficulty: 1,
            nonces: None,
        }
    }

    #[test]
    fn the_backlog_keeps_its_capacity_and_no_more_room() {
        let mut backlog = SentJobs::new(8);
        for id in 0..20 {
            backlog.push(job(id));
        }
        assert_eq!(backlog.jobs.len(), 8);
        assert_eq!(backlog.jobs.capacity(), 8);
        assert!(matches!(backlog.lookup("19"), Lookup::Live(_)));
        assert!(matches!(backlog.lookup("12"), Lookup::Live(_)));
        assert!(matches!(backlog.lookup("11"), Lookup::Expired(_)));
        assert!(matches!(backlog.lookup("20"), Lookup::Unknown));
    }

    #[test]
    fn a_header_names_its_job_live_or_expired() {
        let extra_nonce = [7u8; 32];
        let mut backlog = SentJobs::new(2);
        for id in 0..3u8 {
            let mut entry = job(u32::from(id));
            let mut work = entry.template.miner_work;
            work.set_timestamp(u64::from(id) + 100);
            entry.template = Arc::new(Job::new(
                id.to_string(),
                u64::from(id),
                work,
                Difficulty::default(),
            ));
            backlog.push(entry);
        }
        let header_of = |id: usize| {
            let mut header = backlog
                .jobs
                .iter()
                .map(|job| job.template.miner_work)
                .chain(backlog.expired.iter().map(|job| job.miner_work))
                .find(|work| work.timestamp() == id as u64 + 100)
                .expect("a job with that timestamp");
            header.set_extra_nonce(&extra_nonce);
            header
        };
        let mut with_nonce = header_of(2);
        with_nonce.set_nonce(0xdead_beef);
        assert_eq!(
            backlog.job_of_header(&extra_nonce, &with_nonce).as_deref(),
            Some("2")
        );
        assert_eq!(
            backlog
                .job_of_header(&extra_nonce, &header_of(0))
                .as_deref(),
            Some("0")
        );
        // Another session's header (another extra_nonce) names no job here.
        assert_eq!(backlog.job_of_header(&[8u8; 32], &header_of(2)), None);
        assert!(matches!(backlog.lookup("0"), Lookup::Expired(_)));
    }

    #[test]
    fn a_smaller_capacity_expires_the_oldest_jobs() {
        let mut backlog = SentJobs::new(4);
        for id in 0..4 {
            backlog.push(job(id));
        }
        backlog.set_capacity(2);
        assert!(matches!(backlog.lookup("1"), Lookup::Expired(_)));
        assert!(matches!(backlog.lookup("2"), Lookup::Live(_)));
        backlog.push(job(4));
        assert!(matches!(backlog.lookup("2"), Lookup::Expired(_)));
        assert_eq!(backlog.jobs.len(), 2);
    }
}
