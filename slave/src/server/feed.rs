//! What every connection watches, published once per slave: the current job
//! (the link's, with each publication timed for the fan-out probe), and the
//! session settings with the master's pool-wide settings applied.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::job::Job;
use crate::link::LinkHandle;
use crate::session::{PoolSettings, SessionConfig};

use super::fanout::FanoutProbe;

/// Starts the task that republishes the link's jobs for the connections; it
/// ends with the link. Each publication starts a tally in `fanout`.
pub fn jobs(link: &LinkHandle, fanout: Arc<FanoutProbe>) -> watch::Receiver<Option<Arc<Job>>> {
    let mut source = link.jobs();
    let first = source.borrow_and_update().clone();
    let (sender, receiver) = watch::channel(first);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = source.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let job = source.borrow_and_update().clone();
                    if let Some(job) = job {
                        tracing::debug!(job = %job.job_id, height = job.height, "new job for miners");
                        if let Some(tally) = fanout.publish(Instant::now()) {
                            tracing::debug!(
                                sessions = tally.sessions,
                                last_write_us = u64::try_from(tally.last_write.as_micros()).unwrap_or(u64::MAX),
                                "previous job's fan-out: from publishing to the last session's write"
                            );
                        }
                        sender.send_replace(Some(job));
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
    let apply = |base: &SessionConfig, settings: &watch::Receiver<Option<Arc<PoolSettings>>>| {
        let current = Option::clone(&settings.borrow());
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
