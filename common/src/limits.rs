//! The open-files limit: every miner session, slave stream and load
//! generator session is a socket, so both roles and the load generator
//! raise the soft limit to the hard one (which only root can raise further)
//! at start. Container runtimes often give a soft limit of 1024 under a far
//! higher hard one.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises this process's soft open-files limit to its hard limit; returns
/// `(before, after)` soft limits (`None` = unlimited).
pub fn raise_open_files_limit() -> std::io::Result<(Option<u64>, Option<u64>)> {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )?;
    }
    Ok((before, getrlimit(Resource::Nofile).current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let (before, after) =
            raise_open_files_limit().expect("raising to the hard limit is allowed");
        let hard = getrlimit(Resource::Nofile).maximum;
        assert_eq!(after, hard);
        assert!(before <= after || after.is_none());
    }
}
