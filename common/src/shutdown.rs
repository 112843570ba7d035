//! How a process stops: one [`ShutdownTrigger`] raises the stop (on SIGTERM
//! or Ctrl-C, or when the process decides to), every task holds a
//! [`Shutdown`] listener and ends when it fires, and tasks that must finish
//! their work (flush a buffer, answer a peer) hold a [`TaskGuard`] so the
//! trigger can wait until the last of them is gone.
//!
//! ```
//! # async fn demo() {
//! use tos_pool_common::shutdown::ShutdownTrigger;
//!
//! let trigger = ShutdownTrigger::new();
//! let shutdown = trigger.listener();
//! let guard = trigger.guard();
//! tokio::spawn(async move {
//!     shutdown.stopped().await;
//!     // ...flush what is buffered, then let the guard go.
//!     drop(guard);
//! });
//! trigger.stop();
//! trigger.tasks_finished().await;
//! # }
//! ```

use std::future::Future;

use tokio::sync::{mpsc, watch};

/// Waits for SIGTERM or Ctrl-C (SIGINT) and names the one that came. If a
/// handler cannot be installed, waits for the other one only.
pub async fn stop_signal() -> &'static str {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => "SIGINT",
        () = terminate => "SIGTERM",
    }
}

/// A task's view of the stop: cheap to clone, one per task.
///
/// It fires once the [`ShutdownTrigger`] it came from raised the stop, or
/// once every trigger is gone (nobody is left to keep the process running).
/// A listener made or cloned after the stop sees it at once.
#[derive(Debug, Clone)]
pub struct Shutdown {
    flag: watch::Receiver<bool>,
}

impl Shutdown {
    /// Resolves once the stop is raised (at once if it already was). The
    /// future owns what it needs, so it can be handed to a server as its
    /// graceful-shutdown signal or raced in a `select!` loop.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut flag = self.flag.clone();
        async move {
            // An error means every trigger is gone: that is a stop too.
            let _ = flag.wait_for(|stop| *stop).await;
        }
    }

    /// Whether the stop has been raised (or every trigger is gone).
    pub fn is_stopped(&self) -> bool {
        *self.flag.borrow() || self.flag.has_changed().is_err()
    }
}

/// Raises the stop and waits for the tasks that must finish: the owner side
/// of [`Shutdown`] and [`TaskGuard`]. One per thing that stops as a whole:
/// the process ([`crate::launch::run`]), or a service started inside it.
#[derive(Debug)]
pub struct ShutdownTrigger {
    flag: watch::Sender<bool>,
    guards: mpsc::Sender<()>,
    all_dropped: mpsc::Receiver<()>,
}

impl Default for ShutdownTrigger {
    fn default() -> Self {
        ShutdownTrigger::new()
    }
}

impl ShutdownTrigger {
    /// A trigger that only [`stop`](Self::stop) raises.
    pub fn new() -> ShutdownTrigger {
        let (flag, _) = watch::channel(false);
        let (guards, all_dropped) = mpsc::channel(1);
        ShutdownTrigger {
            flag,
            guards,
            all_dropped,
        }
    }

    /// A trigger that SIGTERM or Ctrl-C raise too (see [`stop_signal`]).
    /// Must be called inside a Tokio runtime.
    pub fn on_signal() -> ShutdownTrigger {
        let trigger = ShutdownTrigger::new();
        let raise = trigger.flag.clone();
        tokio::spawn(async move {
            let signal = stop_signal().await;
            tracing::info!(signal, "stop signal");
            raise.send_replace(true);
        });
        trigger
    }

    /// A listener for a task to end on.
    pub fn listener(&self) -> Shutdown {
        Shutdown {
            flag: self.flag.subscribe(),
        }
    }

    /// A guard for a task that must finish before
    /// [`tasks_finished`](Self::tasks_finished) returns.
    pub fn guard(&self) -> TaskGuard {
        TaskGuard {
            _alive: self.guards.clone(),
        }
    }

    /// Raises the stop: every listener fires. Raising it again does nothing.
    pub fn stop(&self) {
        self.flag.send_replace(true);
    }

    /// Whether the stop has been raised.
    pub fn is_stopped(&self) -> bool {
        *self.flag.borrow()
    }

    /// Resolves once every [`TaskGuard`] is dropped. It does not raise the
    /// stop: call [`stop`](Self::stop) first to ask the tasks to end.
    pub async fn tasks_finished(self) {
        let ShutdownTrigger {
            flag,
            guards,
            mut all_dropped,
        } = self;
        drop(guards);
        // Nothing is ever sent: `recv` returns `None` once the last guard
        // (the last sender) is gone. Listeners stay stopped meanwhile.
        let _ = all_dropped.recv().await;
        drop(flag);
    }
}

/// Held by a task that must finish before the process exits; dropping it
/// (with the task) tells the trigger this one is done. Clones count apart.
#[derive(Debug, Clone)]
pub struct TaskGuard {
    _alive: mpsc::Sender<()>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// How long a test looks for something that cannot happen.
    const QUIET: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn the_stop_reaches_every_clone() {
        let trigger = ShutdownTrigger::new();
        let first = trigger.listener();
        let second = first.clone();
        let third = trigger.listener();
        let waiters: Vec<_> = [first.clone(), second.clone(), third.clone()]
            .into_iter()
            .map(|listener| tokio::spawn(listener.stopped()))
            .collect();
        tokio::task::yield_now().await;
        assert!(waiters.iter().all(|waiter| !waiter.is_finished()));
        assert!(!first.is_stopped() && !trigger.is_stopped());

        trigger.stop();
        for waiter in waiters {
            waiter
                .await
                .expect("every waiter ends once the stop is raised");
        }
        assert!(first.is_stopped() && second.is_stopped() && third.is_stopped());
        assert!(trigger.is_stopped());
    }

    #[tokio::test]
    async fn a_listener_made_after_the_stop_sees_it() {
        let trigger = ShutdownTrigger::new();
        let before = trigger.listener();
        trigger.stop();
        let after = trigger.listener();
        assert!(after.is_stopped());
        after.stopped().await;
        let cloned_after = before.clone();
        assert!(cloned_after.is_stopped());
        cloned_after.stopped().await;
        // Raising it twice changes nothing.
        trigger.stop();
        before.stopped().await;
    }

    #[tokio::test]
    async fn a_dropped_trigger_counts_as_a_stop() {
        let trigger = ShutdownTrigger::new();
        let listener = trigger.listener();
        assert!(!listener.is_stopped());
        drop(trigger);
        assert!(listener.is_stopped());
        listener.stopped().await;
    }

    #[tokio::test]
    async fn tasks_finished_waits_for_every_guard() {
        let trigger = ShutdownTrigger::new();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let shutdown = trigger.listener();
                let guard = trigger.guard();
                tokio::spawn(async move {
                    shutdown.stopped().await;
                    drop(guard);
                })
            })
            .collect();
        let held = trigger.guard().clone();
        trigger.stop();
        let mut finished = tokio::spawn(trigger.tasks_finished());
        for task in tasks {
            task.await.expect("each task ends on the stop");
        }
        // `held` is still alive, so the wait cannot end whatever the timing.
        assert!(
            tokio::time::timeout(QUIET, &mut finished).await.is_err(),
            "one guard is still held"
        );
        drop(held);
        finished
            .await
            .expect("the wait ends once every guard is gone");
    }

    #[tokio::test]
    async fn tasks_finished_without_guards_returns_at_once() {
        ShutdownTrigger::new().tasks_finished().await;
    }
}
