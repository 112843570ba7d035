//! The HTML index at `/debug/pprof/`: every profile with one line on what it
//! really shows in this Rust process.

/// (path with query, what it is) for each endpoint, in display order.
pub const ENDPOINTS: &[(&str, &str)] = &[
    (
        "profile?seconds=30",
        "CPU profile: every thread sampled at 99 Hz for `seconds` (1-300, default 30), pprof protobuf. One at a time.",
    ),
    (
        "flamegraph?seconds=30",
        "The same CPU sampling rendered as an SVG flame graph, for a browser.",
    ),
    (
        "heap",
        "Live heap: jemalloc's sampled allocations still in use (about one sample per 512 KiB allocated), pprof protobuf.",
    ),
    (
        "allocs",
        "The same data as heap (inuse_space): jemalloc keeps no cumulative allocation stacks here, so this is not Go's alloc_space.",
    ),
    (
        "goroutine?debug=1",
        "Async tasks: the named long-lived tasks with their current await stage and age, plus tokio's worker, task and queue counters. Tasks spawned without a name are only counted. Without debug=1: pprof protobuf (task name and stage as frames).",
    ),
    (
        "threadcreate?debug=1",
        "OS threads of the process by name (/proc/self/task). Without debug=1: pprof protobuf. Creation stacks are not recorded.",
    ),
    (
        "block",
        "Not available (501): Rust has no blocking profile; use tokio-console or the CPU profile.",
    ),
    (
        "mutex",
        "Not available (501): no lock contention profile; use the CPU profile or perf.",
    ),
    (
        "trace",
        "Not available (501): no execution tracer; use perf record or tokio-console.",
    ),
    (
        "cmdline",
        "The process's command line, arguments separated by NUL.",
    ),
    (
        "symbol",
        "Address to symbol lookup used by go tool pprof to name heap profile addresses.",
    ),
];

/// Renders the index page; `heap_active` says whether heap profiling is on.
pub fn page(heap_active: bool) -> String {
    let mut rows = String::new();
    for (path, what) in ENDPOINTS {
        let name = path.split('?').next().unwrap_or(path);
        rows.push_str(&format!(
            "<tr><td><a href=\"{path}\">{name}</a></td><td>{what}</td></tr>\n"
        ));
    }
    let heap = if heap_active {
        "jemalloc heap profiling is active."
    } else {
        "jemalloc heap profiling is NOT active in this process: heap and allocs answer 501."
    };
    format!(
        "<!DOCTYPE html>\n<html><head><title>/debug/pprof/</title></head><body>\n\
         <h1>/debug/pprof/</h1>\n\
         <p>Profiles of this TOS Pool process. Open them with \
         <code>go tool pprof -http=: http://HOST:PORT/debug/pprof/NAME</code>.</p>\n\
         <p>{heap}</p>\n\
         <table>\n{rows}</table>\n</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_links_every_endpoint() {
        let html = page(false);
        for (path, _) in ENDPOINTS {
            assert!(html.contains(&format!("href=\"{path}\"")), "{path}");
        }
        assert!(html.contains("NOT active"));
        assert!(!page(true).contains("NOT active"));
    }
}
