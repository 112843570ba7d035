//! What every connection watches, published once per slave: the current job
//! as the session core takes it, and the session settings with the master's
//! pool-wide settings applied.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::link::{JobInfo, LinkHandle};
use crate::session::{JobTemplate, SessionConfig};

use super::fanout::FanoutProbe;

/// The session core's view of a job from the link.
pub fn job_template(job: &JobInfo) -> JobTemplate {
    JobTemplate {
        job_id: job.job_id.clone(),
        height: job.height,
        miner_work: job.miner_work,
        network_difficulty: job.network_difficulty,
        network_target: job.network_target,
        clean: job.clean,
    }
}

/// Starts the task that turns the link's jobs into [`JobTemplate`]s; it ends
/// with the link. Each publication starts a tally in `fanout`.
pub fn jobs(
    link: &LinkHandle,
    fanout: Arc<FanoutProbe>,
) -> watch::Receiver<Option<Arc<JobTemplate>>> {
    let mut source = link.jobs();
    let first = source
        .borrow_and_update()
        .as_deref()
        .map(|job| Arc::new(job_template(job)));
    let (sender, receiver) = watch::channel(first);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = source.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let job = source.borrow_and_update().as_deref().map(job_template);
                    if let Some(job) = job {
                        tracing::debug!(job = %job.job_id, height = job.height, "new job for miners");
                        if let Some(tally) = fanout.publish(Instant::now()) {
                            tracing::debug!(
                                sessions = tally.sessions,
                                last_write_us = u64::try_from(tally.last_write.as_micros()).unwrap_or(u64::MAX),
                                "previous job's fan-out: from publishing to the last session's write"
                            );
                        }
                        sender.send_replace(Some(Arc::new(job)));
                    }
                }
                () = sender.closed() => break,
            }
        }
    });
    receiver
}

/// Starts the task that applies the master's settings to `base`.
pub fn sessions(link: &LinkHandle, base: SessionConfig) -> watch::Receiver<Arc<SessionConfig>> {
    let mut settings = link.settings();
    let apply = |base: &SessionConfig, settings: &watch::Receiver<_>| {
        let current: Option<Arc<tos_pool_proto::v1::Settings>> = Option::clone(&settings.borrow());
        Arc::new(match current {
            Some(settings) => base.with_settings(&settings),
            None => base.clone(),
        })
    };
    settings.borrow_and_update();
    let (sender, receiver) = watch::channel(apply(&base, &settings));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = settings.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    settings.borrow_and_update();
                    sender.send_replace(apply(&base, &settings));
                }
                () = sender.closed() => break,
            }
        }
    });
    receiver
}
