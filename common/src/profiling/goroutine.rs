//! `/debug/pprof/goroutine`: the named tasks and the runtime's counters, as
//! text (`?debug=1`) or as a pprof profile with one sample per (task, stage).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::pprof_format::{Profile, ProfileBuilder};
use super::tasks::TaskSnapshot;

/// The tokio runtime's own counters at the time of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeCounters {
    /// Worker threads.
    pub workers: usize,
    /// Tasks alive in the runtime, named or not.
    pub alive_tasks: usize,
    /// Tasks waiting in the global run queue.
    pub global_queue_depth: usize,
}

impl RuntimeCounters {
    /// Reads the counters of the runtime this code runs on.
    pub fn current() -> Option<RuntimeCounters> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let metrics = handle.metrics();
        Some(RuntimeCounters {
            workers: metrics.num_workers(),
            alive_tasks: metrics.num_alive_tasks(),
            global_queue_depth: metrics.global_queue_depth(),
        })
    }
}

/// The text form: runtime counters, then one line per named task.
pub fn text(tasks: &[TaskSnapshot], runtime: Option<RuntimeCounters>) -> String {
    let mut out = String::new();
    match runtime {
        Some(counters) => {
            let _ = writeln!(
                out,
                "tokio runtime: {} workers, {} alive tasks, global queue depth {}",
                counters.workers, counters.alive_tasks, counters.global_queue_depth
            );
        }
        None => out.push_str("tokio runtime: not available\n"),
    }
    let _ = writeln!(
        out,
        "named tasks: {} (tasks spawned without a name are counted above, not listed)\n",
        tasks.len()
    );
    for task in tasks {
        let _ = writeln!(
            out,
            "task {} [{}] stage \"{}\" for {}",
            task.id,
            task.name,
            task.stage,
            age(task.age)
        );
    }
    out
}

fn age(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{}.{:03}s", secs, duration.subsec_millis()),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// The pprof form: sample type `goroutine/count`, one sample per distinct
/// (name, stage) with the stage as the leaf frame and the name as the root.
pub fn profile(tasks: &[TaskSnapshot], now: SystemTime) -> Profile {
    let mut builder = ProfileBuilder::new(&[("goroutine", "count")], ("goroutine", "count"), 1);
    let now_nanos = now.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
    });
    builder.timing(now_nanos, 0);
    builder.comment(
        "named async tasks (tos-pool task registry): root frame = task name, leaf = stage",
    );
    let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for task in tasks {
        *counts.entry((task.name.as_str(), task.stage)).or_default() += 1;
    }
    for ((name, stage), count) in counts {
        let leaf = builder.named_frame(&format!("stage: {stage}"));
        let root = builder.named_frame(&format!("task: {name}"));
        builder.sample(vec![leaf, root], vec![count], &[]);
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: u64, name: &str, stage: &'static str, secs: u64) -> TaskSnapshot {
        TaskSnapshot {
            id,
            name: name.to_owned(),
            stage,
            age: Duration::from_secs(secs),
            started_at: UNIX_EPOCH,
        }
    }

    #[test]
    fn text_lists_counters_and_tasks() {
        let tasks = [task(1, "stratum-accept", "accepting", 3725)];
        let counters = RuntimeCounters {
            workers: 2,
            alive_tasks: 9,
            global_queue_depth: 0,
        };
        let out = text(&tasks, Some(counters));
        assert!(
            out.contains("2 workers, 9 alive tasks, global queue depth 0"),
            "{out}"
        );
        assert!(
            out.contains("task 1 [stratum-accept] stage \"accepting\" for 1h2m"),
            "{out}"
        );
    }

    #[test]
    fn profile_groups_tasks_by_name_and_stage() {
        let tasks = [
            task(1, "session", "reading", 1),
            task(2, "session", "reading", 2),
            task(3, "session", "writing", 2),
        ];
        let profile = profile(&tasks, UNIX_EPOCH);
        assert_eq!(profile.sample.len(), 2);
        let mut values: Vec<i64> = profile.sample.iter().map(|s| s.value[0]).collect();
        values.sort_unstable();
        assert_eq!(values, [1, 2]);
        assert!(profile.string_table.iter().any(|s| s == "stage: writing"));
        assert!(profile.string_table.iter().any(|s| s == "task: session"));
    }
}
