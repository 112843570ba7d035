//! The wall clock as integers since the Unix epoch: what the ledger, the
//! wire and the block path's timestamps are written in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Microseconds since the Unix epoch (0 if the clock is before it): for
/// stamps compared across processes, such as a block candidate's path from
/// the slave reading it to the master submitting it.
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_read_the_same_clock() {
        let ms = unix_ms();
        let us = unix_us();
        // Read one after the other: the µs stamp is the later one, and both
        // are well past 2020-01-01.
        assert!(us / 1000 >= ms);
        assert!(ms > 1_577_836_800_000);
    }
}
