//! `/debug/pprof/profile` and `/debug/pprof/flamegraph`: CPU profiles taken
//! with pprof-rs's `SIGPROF` sampler while the request waits, one at a time.
//!
//! Nothing samples until a request arrives: the timer runs only for the
//! requested window.
// Off Linux only the refusal path is compiled in.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Mutex, watch};

use super::pprof_format::{Profile, ProfileBuilder, encode_gzip};

/// Samples per second while a CPU profile runs (99, as Go's default of 100
/// but off the beat of periodic work).
pub const SAMPLE_HZ: i32 = 99;

/// The longest CPU profile a request may ask for, in seconds.
pub const MAX_SECONDS: u64 = 300;

/// Why a CPU profile could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum CpuProfileError {
    /// Another CPU profile or flamegraph is running.
    #[error(
        "another CPU profile is running; wait for it to finish (one at a time, at most {MAX_SECONDS}s)"
    )]
    Busy,
    /// This platform has no sampler.
    #[error("CPU profiling is only built on Linux")]
    Unsupported,
    /// The sampler failed to start or to build its report.
    #[error("the CPU profiler failed: {0}")]
    Profiler(String),
}

/// What to render the samples as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuOutput {
    /// gzip-compressed pprof protobuf.
    Pprof,
    /// An SVG flame graph.
    Flamegraph,
}

/// Runs CPU profiles one at a time.
#[derive(Debug, Default)]
pub struct CpuProfiler {
    running: Mutex<()>,
}

impl CpuProfiler {
    /// Samples every thread for `window` (cut short when `shutdown` turns
    /// true) and renders the result; refuses with
    /// [`CpuProfileError::Busy`] while another profile runs.
    pub async fn collect(
        &self,
        window: Duration,
        output: CpuOutput,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Vec<u8>, CpuProfileError> {
        let _running = self.running.try_lock().map_err(|_| CpuProfileError::Busy)?;
        sample(window, output, shutdown).await
    }
}

#[cfg(target_os = "linux")]
async fn sample(
    window: Duration,
    output: CpuOutput,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Vec<u8>, CpuProfileError> {
    let runtime = tokio::runtime::Handle::current();
    // The profiler guard is not `Send` and symbolising is CPU-heavy, so the
    // whole profile runs on a blocking thread.
    let job = tokio::task::spawn_blocking(move || {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(SAMPLE_HZ)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|err| CpuProfileError::Profiler(err.to_string()))?;
        let started = SystemTime::now();
        runtime.block_on(async {
            tokio::select! {
                () = tokio::time::sleep(window) => {}
                _ = shutdown.wait_for(|stopping| *stopping) => {}
            }
        });
        let report = guard
            .report()
            .build()
            .map_err(|err| CpuProfileError::Profiler(err.to_string()))?;
        drop(guard);
        let elapsed = started.elapsed().unwrap_or(window);
        match output {
            CpuOutput::Pprof => Ok(encode_gzip(&to_profile(&report, started, elapsed))),
            CpuOutput::Flamegraph if report.data.is_empty() => Ok(idle_svg(elapsed)),
            CpuOutput::Flamegraph => {
                let mut svg = Vec::new();
                report
                    .flamegraph(&mut svg)
                    .map_err(|err| CpuProfileError::Profiler(err.to_string()))?;
                Ok(svg)
            }
        }
    });
    job.await
        .map_err(|err| CpuProfileError::Profiler(format!("profiling thread failed: {err}")))?
}

#[cfg(not(target_os = "linux"))]
async fn sample(
    _window: Duration,
    _output: CpuOutput,
    _shutdown: watch::Receiver<bool>,
) -> Result<Vec<u8>, CpuProfileError> {
    Err(CpuProfileError::Unsupported)
}

/// The flame graph of a window without samples (the renderer draws nothing
/// for an empty profile).
fn idle_svg(elapsed: Duration) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" standalone=\"no\"?>\n\
         <svg version=\"1.1\" width=\"800\" height=\"60\" xmlns=\"http://www.w3.org/2000/svg\">\
         <text x=\"10\" y=\"35\" font-family=\"Verdana\" font-size=\"16\">\
         No CPU samples in {:.1}s: the process was idle.</text></svg>\n",
        elapsed.as_secs_f64()
    )
    .into_bytes()
}

/// The sampling period in nanoseconds.
fn period_nanos() -> i64 {
    1_000_000_000 / i64::from(SAMPLE_HZ)
}

/// Converts a pprof-rs report to a pprof profile with sample types
/// `samples/count` and `cpu/nanoseconds` and a `thread` label, as Go's.
#[cfg(target_os = "linux")]
fn to_profile(report: &pprof::Report, started: SystemTime, elapsed: Duration) -> Profile {
    let stacks = report.data.iter().map(|(frames, &count)| {
        let stack = frames
            .frames
            .iter()
            .map(|inlined| {
                inlined
                    .iter()
                    .map(|symbol| FrameLine {
                        name: symbol.name(),
                        system_name: symbol.sys_name().into_owned(),
                        file: symbol.filename().into_owned(),
                        line: i64::from(symbol.lineno()),
                    })
                    .collect()
            })
            .collect();
        (stack, frames.thread_name_or_id(), count)
    });
    build_cpu_profile(stacks, started, elapsed)
}

/// One source line of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FrameLine {
    name: String,
    system_name: String,
    file: String,
    line: i64,
}

/// Builds the profile from stacks (frames leaf first, each frame's inlined
/// lines callee first), thread names and sample counts.
fn build_cpu_profile(
    stacks: impl Iterator<Item = (Vec<Vec<FrameLine>>, String, isize)>,
    started: SystemTime,
    elapsed: Duration,
) -> Profile {
    let period = period_nanos();
    let mut builder = ProfileBuilder::new(
        &[("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        period,
    );
    let start_nanos = started.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
    });
    builder.timing(
        start_nanos,
        i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX),
    );
    for (frames, thread, count) in stacks {
        let mut stack = Vec::with_capacity(frames.len());
        for inlined in frames {
            let lines: Vec<(u64, i64)> = inlined
                .iter()
                .map(|l| (builder.function(&l.name, &l.system_name, &l.file), l.line))
                .collect();
            if !lines.is_empty() {
                stack.push(builder.location(&lines));
            }
        }
        let count = i64::try_from(count).unwrap_or(0);
        builder.sample(
            stack,
            vec![count, count.saturating_mul(period)],
            &[("thread", &thread)],
        );
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, line: i64) -> FrameLine {
        FrameLine {
            name: name.to_owned(),
            system_name: format!("_ZN{name}"),
            file: "src/lib.rs".to_owned(),
            line,
        }
    }

    #[test]
    fn cpu_profile_keeps_stacks_inlining_and_time() {
        let stacks = vec![
            (
                vec![
                    vec![line("hash", 10), line("mine", 20)],
                    vec![line("main", 5)],
                ],
                "worker".to_owned(),
                3,
            ),
            (vec![vec![line("main", 6)]], "main".to_owned(), 1),
        ];
        let profile = build_cpu_profile(stacks.into_iter(), UNIX_EPOCH, Duration::from_secs(2));
        assert_eq!(profile.sample.len(), 2);
        assert_eq!(profile.function.len(), 3);
        let first = &profile.sample[0];
        assert_eq!(first.location_id.len(), 2);
        assert_eq!(first.value, [3, 3 * period_nanos()]);
        let leaf = &profile.location[first.location_id[0] as usize - 1];
        assert_eq!(leaf.line.len(), 2, "inlined frame keeps both lines");
        assert_eq!(profile.duration_nanos, 2_000_000_000);
        let sample_type = &profile.sample_type[1];
        assert_eq!(profile.string_table[sample_type.r#type as usize], "cpu");
    }

    #[test]
    fn an_idle_window_still_renders_an_svg() {
        let svg = String::from_utf8(idle_svg(Duration::from_secs(2))).expect("utf-8");
        assert!(
            svg.contains("<svg") && svg.contains("No CPU samples in 2.0s"),
            "{svg}"
        );
    }

    #[tokio::test]
    async fn a_second_profile_is_refused_while_one_runs() {
        let profiler = CpuProfiler::default();
        let _held = profiler.running.try_lock().expect("free");
        let (_tx, rx) = watch::channel(false);
        let refused = profiler
            .collect(Duration::from_secs(1), CpuOutput::Pprof, rx)
            .await;
        assert!(matches!(refused, Err(CpuProfileError::Busy)), "{refused:?}");
    }
}
