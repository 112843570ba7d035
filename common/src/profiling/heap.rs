//! `/debug/pprof/heap` and `/debug/pprof/allocs`: jemalloc's sampling heap
//! profile, converted to pprof by the `jemalloc_pprof` crate.
//!
//! The binaries use jemalloc as the global allocator on Linux and export
//! [`JEMALLOC_MALLOC_CONF`] so that sampling is on from the first allocation:
//! on average one sample every 2^19 bytes (512 KiB) allocated, cheap enough
//! to leave on. A process without that (a test binary, another OS) answers
//! with [`HeapProfileError::NotActive`].

/// jemalloc's startup options for the binaries (exported by them as the
/// `_rjem_malloc_conf` symbol): heap profiling compiled in, active, sampling
/// every 512 KiB on average. `_RJEM_MALLOC_CONF` in the environment overrides
/// single options, e.g. `lg_prof_sample:12` for finer samples.
pub const JEMALLOC_MALLOC_CONF: &[u8; 45] = b"prof:true,prof_active:true,lg_prof_sample:19\0";

/// jemalloc as the global allocator, for the binaries'
/// `#[global_allocator]` on Linux.
#[cfg(target_os = "linux")]
pub use tikv_jemallocator::Jemalloc;

/// Why no heap profile could be served.
#[derive(Debug, thiserror::Error)]
pub enum HeapProfileError {
    /// jemalloc profiling was not switched on at startup in this process.
    #[error(
        "jemalloc heap profiling is not active in this process: run tos-pool-master or \
         tos-pool-slave on Linux (they use jemalloc with prof:true), or start them with \
         _RJEM_MALLOC_CONF=prof:true,prof_active:true; use the CPU profile meanwhile"
    )]
    NotActive,
    /// jemalloc could not dump or the dump could not be converted.
    #[error("jemalloc heap profile dump failed: {0}; check that the temp directory is writable")]
    Dump(String),
}

/// Whether jemalloc heap profiling is on in this process.
pub fn is_active() -> bool {
    #[cfg(target_os = "linux")]
    {
        jemalloc_pprof::PROF_CTL
            .as_ref()
            .is_some_and(|ctl| ctl.try_lock().map_or(true, |ctl| ctl.activated()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The live sampled allocations as a gzip-compressed pprof profile (sample
/// type `inuse_space/bytes`, addresses with the process's mappings so
/// `go tool pprof` symbolises them). Dumps to a temp file on a blocking thread.
pub async fn profile() -> Result<Vec<u8>, HeapProfileError> {
    #[cfg(target_os = "linux")]
    {
        let job = tokio::task::spawn_blocking(|| {
            let ctl = jemalloc_pprof::PROF_CTL
                .as_ref()
                .ok_or(HeapProfileError::NotActive)?;
            let mut ctl = ctl.blocking_lock();
            if !ctl.activated() {
                return Err(HeapProfileError::NotActive);
            }
            ctl.dump_pprof()
                .map_err(|err| HeapProfileError::Dump(format!("{err:#}")))
        });
        job.await
            .map_err(|err| HeapProfileError::Dump(format!("dump thread failed: {err}")))?
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(HeapProfileError::NotActive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malloc_conf_is_one_nul_terminated_option_list() {
        let (last, options) = JEMALLOC_MALLOC_CONF.split_last().expect("not empty");
        assert_eq!(*last, 0);
        assert!(!options.contains(&0));
        let text = std::str::from_utf8(options).expect("ascii");
        assert!(text.split(',').all(|option| option.contains(':')), "{text}");
        assert!(text.contains("prof:true"));
    }

    #[tokio::test]
    async fn a_test_binary_without_jemalloc_says_profiling_is_not_active() {
        // This test binary keeps the system allocator and exports no
        // malloc_conf, so jemalloc's opt.prof is false.
        assert!(!is_active());
        let err = profile().await.expect_err("not active");
        assert!(matches!(err, HeapProfileError::NotActive), "{err}");
    }
}
