//! `/debug/pprof/threadcreate`: the process's OS threads by name, read from
//! `/proc/self/task/*/comm` (Linux only).

use std::fmt::Write;
use std::io;

use super::pprof_format::{Profile, ProfileBuilder};

/// One OS thread of this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Kernel thread id.
    pub tid: u64,
    /// Its name (`comm`, at most 15 bytes).
    pub name: String,
}

/// Lists the process's threads, sorted by id.
pub fn list() -> io::Result<Vec<ThreadInfo>> {
    let mut threads = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A thread may exit between read_dir and this read: skip it.
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        threads.push(ThreadInfo {
            tid,
            name: comm.trim_end().to_owned(),
        });
    }
    threads.sort_by_key(|thread| thread.tid);
    Ok(threads)
}

/// The text form: a count, then one line per thread.
pub fn text(threads: &[ThreadInfo]) -> String {
    let mut out = format!("threads: {}\n\n", threads.len());
    for thread in threads {
        let _ = writeln!(out, "{} {}", thread.tid, thread.name);
    }
    out
}

/// The pprof form: sample type `threadcreate/count`, one sample per thread
/// name with the name as its only frame.
pub fn profile(threads: &[ThreadInfo]) -> Profile {
    let mut builder =
        ProfileBuilder::new(&[("threadcreate", "count")], ("threadcreate", "count"), 1);
    builder.comment("OS threads by name (/proc/self/task); creation stacks are not recorded");
    let mut names: Vec<&str> = threads.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let count = threads.iter().filter(|t| t.name == name).count();
        let frame = builder.named_frame(name);
        builder.sample(
            vec![frame],
            vec![i64::try_from(count).unwrap_or(i64::MAX)],
            &[],
        );
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn lists_a_thread_this_test_started() {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("prof-probe".into())
            .spawn(move || {
                let _ = started_tx.send(());
                let _ = stop_rx.recv();
            })
            .expect("spawn");
        started_rx.recv().expect("thread started");
        let threads = list().expect("read /proc/self/task");
        let _ = stop_tx.send(());
        thread.join().expect("join");
        assert!(
            threads.iter().any(|t| t.name == "prof-probe"),
            "{threads:?}"
        );
    }

    #[test]
    fn profile_counts_threads_per_name() {
        let threads = [
            ThreadInfo {
                tid: 1,
                name: "main".into(),
            },
            ThreadInfo {
                tid: 2,
                name: "tokio-runtime-w".into(),
            },
            ThreadInfo {
                tid: 3,
                name: "tokio-runtime-w".into(),
            },
        ];
        let profile = profile(&threads);
        assert_eq!(profile.sample.len(), 2);
        let total: i64 = profile.sample.iter().map(|s| s.value[0]).sum();
        assert_eq!(total, 3);
        assert!(text(&threads).starts_with("threads: 3\n"));
    }
}
