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

/// Makes jemalloc the binary's global allocator with its sampling heap
/// profiler on (Linux only; elsewhere the system allocator stays), so that
/// `/debug/pprof/heap` has data. Invoke once, at the top level of a binary.
///
/// The expansion exports `_rjem_malloc_conf`. Exporting a symbol is `unsafe`
/// because it could clash with another one. It is sound here: jemalloc (built
/// with the `_rjem_` prefix) declares `const char *_rjem_malloc_conf` as a
/// weak symbol for exactly this purpose, nothing else defines it, and jemalloc
/// reads it once at start-up; `&[u8; N]` is a thin pointer to an immutable
/// NUL-terminated `'static` string, the layout of `const char *`.
#[macro_export]
macro_rules! install_jemalloc {
    () => {
        /// Every allocation goes through jemalloc so that its sampling heap
        /// profiler can back `/debug/pprof/heap`.
        #[cfg(target_os = "linux")]
        #[global_allocator]
        static ALLOCATOR: $crate::profiling::Jemalloc = $crate::profiling::Jemalloc;

        /// jemalloc's start-up options: heap profiling on, sampling every 512 KiB.
        #[cfg(target_os = "linux")]
        #[allow(unsafe_code)]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        static MALLOC_CONF: &[u8; 45] = $crate::profiling::JEMALLOC_MALLOC_CONF;
    };
}
