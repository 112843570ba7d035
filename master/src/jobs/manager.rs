//! [`JobManager`]: the task that turns templates into published jobs.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tos_pool_common::clock::unix_ms;
use tos_pool_common::config::{Config, ConfigError};

use super::backlog::Backlog;
use super::freshness::{TemplateKey, decide};
use super::id::JobIds;
use super::job::{Job, JobParts, template_header};
use super::push::{Pushed, follow_pushes};
use crate::rpc::BlockTemplate;
use crate::upstream::UpstreamPool;

/// Jobs a slow subscriber may fall behind before it sees `Lagged` (it should
/// then read [`JobManager::current`]).
const SUBSCRIBER_CAPACITY: usize = 64;

/// Shortest polling interval, whatever the config says.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Why the job manager cannot start.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The pool's address or miner key is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What the job manager needs from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// Address templates are asked for (`pool.fee_address`).
    pub address: String,
    /// Public key put in every job's miner field.
    pub miner_key: [u8; 32],
    /// Follow the daemon's `new_block_template` push.
    pub use_websocket: bool,
    /// Deadline of the WebSocket handshake.
    pub websocket_timeout: Duration,
    /// Template polling interval (`mining.job_refresh_interval`).
    pub poll_interval: Duration,
    /// Longest life of a job before a fresh one is made (`mining.job_refresh`).
    pub refresh: Duration,
    /// Jobs kept for late shares (`mining.job_backlog`).
    pub backlog: usize,
}

impl JobSettings {
    /// Reads the settings from `config`.
    pub fn from_config(config: &Config) -> Result<JobSettings, JobError> {
        Ok(JobSettings {
            address: config.fee_address()?.to_string(),
            miner_key: config.miner_public_key()?,
            use_websocket: config.node.use_websocket,
            websocket_timeout: config.node.request_timeout,
            poll_interval: config.mining.job_refresh_interval,
            refresh: config.mining.job_refresh,
            backlog: usize::try_from(config.mining.job_backlog).unwrap_or(usize::MAX),
        })
    }
}

#[derive(Debug)]
struct Shared {
    backlog: Mutex<Backlog>,
    jobs: broadcast::Sender<Arc<Job>>,
}

impl Shared {
    fn backlog(&self) -> MutexGuard<'_, Backlog> {
        // Backlog updates are a single push; a poisoned lock holds a whole one.
        self.backlog
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Makes and publishes jobs while it lives.
#[derive(Debug)]
pub struct JobManager {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for JobManager {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl JobManager {
    /// Starts making jobs from `upstreams` as `config` says. Must run inside
    /// a Tokio runtime.
    pub fn start(config: &Config, upstreams: Arc<UpstreamPool>) -> Result<JobManager, JobError> {
        Ok(JobManager::with_settings(
            JobSettings::from_config(config)?,
            upstreams,
        ))
    }

    /// Starts making jobs with explicit settings.
    pub fn with_settings(settings: JobSettings, upstreams: Arc<UpstreamPool>) -> JobManager {
        let (jobs, _) = broadcast::channel(SUBSCRIBER_CAPACITY);
        let shared = Arc::new(Shared {
            backlog: Mutex::new(Backlog::new(settings.backlog)),
            jobs,
        });
        let mut tasks = Vec::new();
        let pushes = if settings.use_websocket {
            let (sender, receiver) = watch::channel(None);
            tasks.push(tokio::spawn(follow_pushes(
                upstreams.clone(),
                settings.websocket_timeout,
                sender,
            )));
            Some(receiver)
        } else {
            None
        };
        let maker = Maker {
            shared: shared.clone(),
            ids: JobIds::new(),
            last: None,
            refresh_retry_at: None,
            settings,
        };
        tasks.push(tokio::spawn(maker.run(upstreams, pushes)));
        JobManager { shared, tasks }
    }

    /// Every new job from now on. A receiver that falls more than 64 jobs
    /// behind gets `Lagged` and should read [`JobManager::current`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Job>> {
        self.shared.jobs.subscribe()
    }

    /// The newest job, once there is one.
    pub fn current(&self) -> Option<Arc<Job>> {
        self.shared.backlog().current()
    }

    /// Job `id` if it is one of the last `mining.job_backlog` jobs; `None`
    /// means a share on it is stale.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.shared.backlog().get(id)
    }
}

/// What the last published job was made of.
#[derive(Debug)]
struct Last {
    key: TemplateKey,
    height: u64,
    at: Instant,
}

/// The job-making task's state.
#[derive(Debug)]
struct Maker {
    shared: Arc<Shared>,
    ids: JobIds,
    last: Option<Last>,
    /// After a refresh fetch that published nothing (daemon unreachable), the
    /// next refresh attempt waits one poll interval instead of spinning.
    refresh_retry_at: Option<Instant>,
    settings: JobSettings,
}

impl Maker {
    async fn run(
        mut self,
        upstreams: Arc<UpstreamPool>,
        mut pushes: Option<watch::Receiver<Option<Pushed>>>,
    ) {
        let mut poll = tokio::time::interval(self.poll_interval());
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut active = upstreams.watch_active();
        loop {
            let refresh_at = self.last.as_ref().map(|last| {
                (last.at + self.settings.refresh).max(self.refresh_retry_at.unwrap_or(last.at))
            });
            tokio::select! {
                _ = poll.tick() => self.fetch(&upstreams).await,
                () = sleep_until(refresh_at) => {
                    self.refresh_retry_at = Some(Instant::now() + self.poll_interval());
                    self.fetch(&upstreams).await;
                }
                changed = active.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.fetch(&upstreams).await;
                }
                push = next_push(&mut pushes) => {
                    if let Some(push) = push {
                        self.consider(&push.template, &push.upstream);
                    }
                }
            }
        }
    }

    fn poll_interval(&self) -> Duration {
        self.settings.poll_interval.max(MIN_POLL_INTERVAL)
    }

    async fn fetch(&mut self, upstreams: &UpstreamPool) {
        match upstreams.get_block_template(&self.settings.address).await {
            Ok((template, upstream)) => self.consider(&template, upstream.name()),
            Err(error) => {
                tracing::warn!(%error, "cannot get a block template; the current job stays")
            }
        }
    }

    /// Publishes a job of `template` if it is new work or the refresh is due.
    fn consider(&mut self, template: &BlockTemplate, upstream: &str) {
        let header = match template_header(template) {
            Ok(header) => header,
            Err(error) => {
                tracing::warn!(upstream, height = template.height, %error, "template refused");
                return;
            }
        };
        let key = TemplateKey {
            work_hash: header.work_hash(),
            difficulty: template.difficulty,
            upstream: upstream.to_string(),
        };
        let last = self
            .last
            .as_ref()
            .map(|last| (&last.key, last.at.elapsed()));
        let Some(reason) = decide(last, &key, self.settings.refresh) else {
            return;
        };
        let clean = self
            .last
            .as_ref()
            .is_none_or(|last| last.height != template.height);
        let id = self.ids.next_id();
        let parts = JobParts {
            id: &id,
            miner_key: &self.settings.miner_key,
            clean,
            created_at_ms: unix_ms(),
            upstream,
        };
        let job = match Job::from_template(template, parts) {
            Ok(job) => Arc::new(job),
            Err(error) => {
                tracing::warn!(upstream, height = template.height, %error, "template refused");
                return;
            }
        };
        tracing::info!(
            job = %job.id,
            height = job.height,
            difficulty = %job.difficulty,
            upstream,
            clean,
            reason = reason.as_str(),
            "new job"
        );
        self.last = Some(Last {
            key,
            height: job.height,
            at: Instant::now(),
        });
        self.shared.backlog().push(job.clone());
        // No subscriber yet is fine: they read current() when they come.
        let _ = self.shared.jobs.send(job);
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The next pushed template; never resolves without a push stream, and drops
/// the stream once its task has ended.
async fn next_push(pushes: &mut Option<watch::Receiver<Option<Pushed>>>) -> Option<Pushed> {
    let Some(receiver) = pushes else {
        return std::future::pending().await;
    };
    if receiver.changed().await.is_err() {
        *pushes = None;
        return None;
    }
    receiver.borrow_and_update().clone()
}
