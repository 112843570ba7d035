//! The profiling server in-process, over real HTTP on 127.0.0.1: every
//! endpoint answers, the CPU and task profiles decode as pprof protobuf, one
//! CPU profile runs at a time, and the heap endpoint says plainly that this
//! test binary (system allocator) has no jemalloc profiling. The real
//! binaries with jemalloc are tested in `master/tests/profiling.rs` and
//! `slave/tests/profiling.rs`.

#[path = "shared/pprof_probe.rs"]
mod pprof_probe;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tos_pool_common::config::ProfilingConfig;
use tos_pool_common::http::HttpLimits;
use tos_pool_common::pow;
use tos_pool_common::profiling::{self, ProfilingServer};

use pprof_probe::{decode, function_names, get, request, sample_types, string};

/// A server on an ephemeral port with its runtime and shutdown trigger.
struct Running {
    runtime: tokio::runtime::Runtime,
    server: Option<ProfilingServer>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    fn start() -> Running {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = ProfilingConfig {
            enabled: true,
            bind: "127.0.0.1:0".parse().expect("address"),
            allow_remote: false,
        };
        let server = runtime
            .block_on(profiling::serve(
                &config,
                HttpLimits::default(),
                async move {
                    let _ = stopped.await;
                },
            ))
            .expect("bind an ephemeral loopback port");
        Running {
            runtime,
            server: Some(server),
            stop: Some(stop),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("running").local_addr
    }

    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = self.server.take().expect("running");
        self.runtime
            .block_on(server.stopped())
            .expect("clean shutdown");
    }
}

#[test]
fn index_and_text_endpoints_answer() {
    let running = Running::start();
    let addr = running.addr();

    let index = get(addr, "/debug/pprof/");
    assert_eq!(index.status, 200);
    let html = index.text();
    for link in [
        "profile?seconds=30",
        "flamegraph?seconds=30",
        "heap",
        "allocs",
        "goroutine?debug=1",
        "threadcreate?debug=1",
        "block",
        "mutex",
        "trace",
        "cmdline",
        "symbol",
    ] {
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "{link} in {html}"
        );
    }
    assert!(html.contains("NOT active"), "{html}");

    for name in ["block", "mutex", "trace"] {
        let reply = get(addr, &format!("/debug/pprof/{name}"));
        assert_eq!(reply.status, 501, "{name}");
        assert!(reply.text().contains("Use"), "{name}: {}", reply.text());
    }

    let cmdline = get(addr, "/debug/pprof/cmdline");
    assert_eq!(cmdline.status, 200);
    assert!(!cmdline.body.is_empty());

    let symbol = get(addr, "/debug/pprof/symbol");
    assert_eq!(symbol.text(), "num_symbols: 1\n");
    // resolve() looks up the byte before the address, as for a return address.
    let address = index_and_text_endpoints_answer as fn() as usize + 1;
    let lookup = request(
        addr,
        "POST",
        "/debug/pprof/symbol",
        format!("{address:#x}").as_bytes(),
    );
    assert!(
        lookup.text().contains("index_and_text_endpoints_answer"),
        "{}",
        lookup.text()
    );

    let threads = get(addr, "/debug/pprof/threadcreate?debug=1");
    assert!(
        threads.text().starts_with("threads: "),
        "{}",
        threads.text()
    );
    let threads = decode(&get(addr, "/debug/pprof/threadcreate"));
    let total: i64 = threads.sample.iter().map(|s| s.value[0]).sum();
    assert!(total >= 3, "the test thread and two workers: {total}");

    running.stop();
}

#[test]
fn heap_says_jemalloc_profiling_is_not_active_here() {
    let running = Running::start();
    for name in ["heap", "allocs"] {
        let reply = get(running.addr(), &format!("/debug/pprof/{name}"));
        assert_eq!(reply.status, 501, "{name}");
        assert!(
            reply
                .text()
                .contains("jemalloc heap profiling is not active"),
            "{}",
            reply.text()
        );
    }
    running.stop();
}

#[test]
fn named_tasks_show_in_the_goroutine_profile() {
    let running = Running::start();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (reached_tx, reached) = std::sync::mpsc::channel();
    let task = running.runtime.spawn(async move {
        profiling::spawn_named("test-job-stream", async move {
            profiling::set_stage("awaiting test release");
            let _ = reached_tx.send(());
            let _ = released.await;
        })
        .await
    });
    reached
        .recv_timeout(Duration::from_secs(10))
        .expect("the named task reached its stage");

    let text = get(running.addr(), "/debug/pprof/goroutine?debug=1").text();
    assert!(text.contains("workers"), "{text}");
    assert!(
        text.contains("[test-job-stream] stage \"awaiting test release\""),
        "{text}"
    );
    assert!(text.contains("[profiling-server]"), "{text}");

    let profile = decode(&get(running.addr(), "/debug/pprof/goroutine"));
    assert_eq!(string(&profile, profile.sample_type[0].r#type), "goroutine");
    let names = function_names(&profile);
    assert!(names.contains(&"task: test-job-stream"), "{names:?}");
    assert!(names.contains(&"stage: awaiting test release"), "{names:?}");

    release.send(()).expect("task waiting");
    running
        .runtime
        .block_on(task)
        .expect("spawned")
        .expect("named task");
    let text = get(running.addr(), "/debug/pprof/goroutine?debug=1").text();
    assert!(!text.contains("test-job-stream"), "{text}");
    running.stop();
}

#[test]
fn cpu_profile_samples_a_busy_thread_and_runs_one_at_a_time() {
    let running = Running::start();
    let addr = running.addr();

    assert_eq!(get(addr, "/debug/pprof/profile?seconds=0").status, 400);
    assert_eq!(get(addr, "/debug/pprof/profile?seconds=301").status, 400);

    let done = Arc::new(AtomicBool::new(false));
    let hasher = {
        let done = done.clone();
        std::thread::Builder::new()
            .name("hasher".into())
            .spawn(move || {
                let mut input = [0u8; 112];
                let mut rounds = 0u64;
                while !done.load(Ordering::Relaxed) {
                    input[..8].copy_from_slice(&rounds.to_le_bytes());
                    let digest = pow::hash(&input);
                    input[8..40].copy_from_slice(&digest);
                    rounds += 1;
                }
                rounds
            })
            .expect("spawn hasher")
    };

    // Two CPU requests at once: one runs, the other is refused with a
    // reason. A round where the second arrived only after the first had
    // finished (a very loaded machine) is tried again.
    let mut refused = None;
    for _ in 0..5 {
        let both = [
            "/debug/pprof/profile?seconds=2",
            "/debug/pprof/flamegraph?seconds=2",
        ]
        .map(|path| std::thread::spawn(move || get(addr, path)));
        let replies = both.map(|request| request.join().expect("CPU request"));
        let statuses = replies.each_ref().map(|reply| reply.status);
        if let Some(busy) = replies.iter().find(|reply| reply.status == 409) {
            assert!(statuses.contains(&200), "one of them runs: {statuses:?}");
            refused = Some(busy.text());
            break;
        }
        assert_eq!(statuses, [200, 200]);
        assert!(replies[1].text().contains("<svg"), "a flame graph SVG");
    }
    let reason = refused.expect("a concurrent CPU profile is refused");
    assert!(
        reason.contains("another CPU profile is running"),
        "{reason}"
    );

    let reply = get(addr, "/debug/pprof/profile?seconds=2");
    done.store(true, Ordering::Relaxed);
    let rounds = hasher.join().expect("hasher");
    assert!(rounds > 0);

    let profile = decode(&reply);
    assert_eq!(
        sample_types(&profile),
        [("samples", "count"), ("cpu", "nanoseconds")]
    );
    assert!(profile.duration_nanos > 0);
    assert!(!profile.sample.is_empty(), "a busy thread was sampled");
    let hasher_samples: i64 = profile
        .sample
        .iter()
        .filter(|s| {
            s.label
                .iter()
                .any(|l| string(&profile, l.key) == "thread" && string(&profile, l.str) == "hasher")
        })
        .map(|s| s.value[0])
        .sum();
    assert!(hasher_samples > 0, "samples of the hasher thread");
    assert!(
        function_names(&profile).iter().any(|name| !name.is_empty()),
        "symbolised frames"
    );
    running.stop();
}

#[test]
fn a_taken_port_names_the_key_to_change() {
    let running = Running::start();
    let config = ProfilingConfig {
        enabled: true,
        bind: running.addr(),
        allow_remote: false,
    };
    let err = running
        .runtime
        .block_on(profiling::serve(
            &config,
            HttpLimits::default(),
            std::future::pending(),
        ))
        .expect_err("the port is taken");
    assert!(err.to_string().contains("profiling.bind"), "{err}");
    running.stop();
}
