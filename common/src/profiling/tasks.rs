//! A registry of the process's long-lived async tasks, the pool's answer to
//! Go's goroutine profile.
//!
//! Tokio can dump task backtraces only when built with `--cfg tokio_unstable`
//! and `tokio_taskdump`, which the default build does not use. Instead, tasks
//! that matter (accept loops, the master link, job streams, the unlocker...)
//! are started with [`spawn_named`] and mark where they wait with
//! [`set_stage`]. `/debug/pprof/goroutine` lists them with the runtime's own
//! counters, so an operator sees what each task is waiting on and for how long.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinHandle;

tokio::task_local! {
    static CURRENT: Arc<TaskEntry>;
}

/// One registered task.
#[derive(Debug)]
struct TaskEntry {
    id: u64,
    name: String,
    started: Instant,
    started_at: SystemTime,
    stage: Mutex<&'static str>,
}

/// What one task was doing when the registry was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSnapshot {
    /// Registry id, unique for the process's life.
    pub id: u64,
    /// The name it was spawned with.
    pub name: String,
    /// The stage it last set (`"started"` until it sets one).
    pub stage: &'static str,
    /// How long it has been running.
    pub age: Duration,
    /// When it started, by the wall clock.
    pub started_at: SystemTime,
}

/// The set of live named tasks. [`TaskRegistry::global`] is the one the
/// profiling server reports; tests may make their own.
#[derive(Debug, Default)]
pub struct TaskRegistry {
    next_id: AtomicU64,
    tasks: Mutex<BTreeMap<u64, Arc<TaskEntry>>>,
}

/// Keeps a task registered; dropping it (when the task ends or is aborted)
/// removes the task from its registry.
#[derive(Debug)]
pub struct TaskGuard {
    registry: Arc<TaskRegistry>,
    entry: Arc<TaskEntry>,
}

impl TaskGuard {
    /// Sets the task's current stage, e.g. `"awaiting job"`.
    pub fn set_stage(&self, stage: &'static str) {
        store_stage(&self.entry, stage);
    }

    /// The registry id of the task.
    pub fn id(&self) -> u64 {
        self.entry.id
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut tasks = self
            .registry
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tasks.remove(&self.entry.id);
    }
}

fn store_stage(entry: &TaskEntry, stage: &'static str) {
    *entry
        .stage
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = stage;
}

impl TaskRegistry {
    /// The process-wide registry that `/debug/pprof/goroutine` reports.
    pub fn global() -> Arc<TaskRegistry> {
        static GLOBAL: OnceLock<Arc<TaskRegistry>> = OnceLock::new();
        GLOBAL.get_or_init(Arc::default).clone()
    }

    /// Registers a task called `name`; it stays listed until the guard drops.
    pub fn register(self: &Arc<Self>, name: impl Into<String>) -> TaskGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Arc::new(TaskEntry {
            id,
            name: name.into(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            stage: Mutex::new("started"),
        });
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, entry.clone());
        TaskGuard {
            registry: self.clone(),
            entry,
        }
    }

    /// Spawns `future` on the current tokio runtime as a task called `name`,
    /// registered here while it runs; inside it, [`set_stage`] updates its
    /// stage.
    pub fn spawn_named<F>(
        self: &Arc<Self>,
        name: impl Into<String>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let guard = self.register(name);
        let entry = guard.entry.clone();
        tokio::spawn(CURRENT.scope(entry, async move {
            let _guard = guard;
            future.await
        }))
    }

    /// The live tasks, oldest first.
    pub fn snapshot(&self) -> Vec<TaskSnapshot> {
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tasks
            .values()
            .map(|entry| TaskSnapshot {
                id: entry.id,
                name: entry.name.clone(),
                stage: *entry
                    .stage
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                age: entry.started.elapsed(),
                started_at: entry.started_at,
            })
            .collect()
    }
}

/// Spawns `future` as a named task in the [global](TaskRegistry::global)
/// registry (see [`TaskRegistry::spawn_named`]).
pub fn spawn_named<F>(name: impl Into<String>, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    TaskRegistry::global().spawn_named(name, future)
}

/// Sets the stage of the named task this code runs in (a label for the await
/// point it is about to wait at). Does nothing outside a named task.
pub fn set_stage(stage: &'static str) {
    let _ = CURRENT.try_with(|entry| store_stage(entry, stage));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn named_tasks_report_their_stage_and_leave_when_done() {
        let registry = Arc::new(TaskRegistry::default());
        let (reached_tx, reached_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = registry.spawn_named("job-stream", async move {
            set_stage("awaiting release");
            let _ = reached_tx.send(());
            let _ = release_rx.await;
            7
        });
        reached_rx.await.expect("task reached its stage");

        let tasks = registry.snapshot();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].name, "job-stream");
        assert_eq!(tasks[0].stage, "awaiting release");

        release_tx.send(()).expect("task still waiting");
        assert_eq!(handle.await.expect("task ran"), 7);
        assert!(registry.snapshot().is_empty());
    }

    #[test]
    fn guards_register_until_dropped() {
        let registry = Arc::new(TaskRegistry::default());
        let first = registry.register("unlocker");
        let second = registry.register("payouts");
        second.set_stage("sleeping");
        assert_ne!(first.id(), second.id());
        let names: Vec<_> = registry
            .snapshot()
            .into_iter()
            .map(|task| (task.name, task.stage))
            .collect();
        assert_eq!(
            names,
            [
                ("unlocker".to_owned(), "started"),
                ("payouts".to_owned(), "sleeping")
            ]
        );
        drop(first);
        assert_eq!(registry.snapshot().len(), 1);
    }

    #[test]
    fn set_stage_outside_a_named_task_is_harmless() {
        set_stage("nowhere");
    }
}
