//! Cluster-wide job ids: a random prefix chosen at every master start and a
//! counter, so ids never repeat across restarts (short enough for Stratum).

/// Hands out job ids `<8 hex random prefix><hex counter>`.
#[derive(Debug)]
pub struct JobIds {
    prefix: String,
    next: u64,
}

impl JobIds {
    /// Ids with a fresh random prefix.
    pub fn new() -> JobIds {
        JobIds::with_prefix(rand::random::<u32>())
    }

    /// Ids with a given prefix (tests).
    pub fn with_prefix(prefix: u32) -> JobIds {
        JobIds {
            prefix: format!("{prefix:08x}"),
            next: 1,
        }
    }

    /// The next id.
    pub fn next_id(&mut self) -> String {
        let id = format!("{}{:x}", self.prefix, self.next);
        self.next = self.next.wrapping_add(1);
        id
    }
}

impl Default for JobIds {
    fn default() -> Self {
        JobIds::new()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_distinct_and_carry_the_prefix() {
        let mut ids = JobIds::with_prefix(0xdead_beef);
        let all: Vec<String> = (0..1000).map(|_| ids.next_id()).collect();
        assert_eq!(all[0], "deadbeef1");
        assert_eq!(all[15], "deadbeef10");
        assert!(all.iter().all(|id| id.starts_with("deadbeef")));
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
        let mut other = JobIds::with_prefix(0xdead_bee0);
        assert_ne!(other.next_id(), "deadbeef1");
    }
}
