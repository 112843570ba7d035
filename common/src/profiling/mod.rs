//! pprof-compatible profiling endpoints under `/debug/pprof/`, served by
//! both binaries when `profiling.enabled` is true, so operators can use
//! `go tool pprof` on a running pool.
//!
//! - CPU: [`cpu`] samples on request only (pprof-rs, 99 Hz).
//! - Heap: [`heap`] reads jemalloc's always-on sampling heap profiler.
//! - Tasks: [`tasks`] is a registry of named async tasks and their stages,
//!   reported as the `goroutine` profile.
//! - Threads, the command line and symbol lookup as Go serves them.
//!
//! With profiling off nothing here runs: no listener, no timer; only the
//! heap sampler inside jemalloc stays on.

pub mod cpu;
pub mod goroutine;
pub mod heap;
pub mod index;
pub mod pprof_format;
mod server;
pub mod symbol;
pub mod tasks;
pub mod threads;

use std::net::SocketAddr;

pub use heap::JEMALLOC_MALLOC_CONF;
#[cfg(target_os = "linux")]
pub use heap::Jemalloc;
pub use server::{ProfilingServer, serve};
pub use tasks::{TaskRegistry, set_stage, spawn_named};

/// Why the profiling server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProfilingError {
    /// The listen address could not be bound.
    #[error(
        "cannot listen for profiling on {bind}: {source}; change profiling.bind \
         (TOS_POOL_PROFILING_BIND) to a free address or set profiling.enabled: false"
    )]
    Bind {
        /// The configured address.
        bind: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("the profiling server failed: {0}")]
    Serve(#[source] std::io::Error),
}
