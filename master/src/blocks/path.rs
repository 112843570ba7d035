//! The block path's timing: stamps taken where a block candidate passes
//! (the slave reading the share, the slave's link sending it, the master
//! receiving it, the `submit_block` request leaving), turned into the path's
//! parts. Pure: the stamps come in, durations go out.

use std::time::Duration;

/// Wall-clock stamps of one candidate, µs since the Unix epoch; 0 where a
/// stamp was not taken (an older slave, a test).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathStamps {
    /// The slave read the request that carried the share.
    pub read_at_us: u64,
    /// The slave's link handed the candidate to the stream.
    pub sent_at_us: u64,
    /// The master read the candidate from the stream.
    pub received_at_us: u64,
    /// The master's `submit_block` request left for the daemon.
    pub leaving_at_us: u64,
}

/// The path in parts; a part is `None` when one of its stamps is missing or
/// the two clocks disagree (the later stamp is earlier).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathTimes {
    /// From the slave reading the share to `submit_block` leaving: the block
    /// path as a whole.
    pub total: Option<Duration>,
    /// On the slave: read, validation, hand-off to the link, link send.
    pub slave: Option<Duration>,
    /// On the wire: gRPC framing, the network, the master's stream read.
    pub wire: Option<Duration>,
    /// On the master: job lookup, header rebuild, PoW check, request build.
    pub master: Option<Duration>,
}

impl PathStamps {
    /// The parts between the stamps.
    pub fn times(&self) -> PathTimes {
        PathTimes {
            total: between(self.read_at_us, self.leaving_at_us),
            slave: between(self.read_at_us, self.sent_at_us),
            wire: between(self.sent_at_us, self.received_at_us),
            master: between(self.received_at_us, self.leaving_at_us),
        }
    }
}

/// `to − from` when both are stamped and in order.
fn between(from_us: u64, to_us: u64) -> Option<Duration> {
    if from_us == 0 || to_us == 0 {
        return None;
    }
    to_us.checked_sub(from_us).map(Duration::from_micros)
}

impl PathTimes {
    /// A part in whole µs, for logs and span fields (`None` stays `None`).
    pub fn micros(part: Option<Duration>) -> Option<u64> {
        part.map(|elapsed| u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_790_000_000_000_000;

    #[test]
    fn the_parts_add_up_to_the_whole_path() {
        let stamps = PathStamps {
            read_at_us: T,
            sent_at_us: T + 1_250,
            received_at_us: T + 1_400,
            leaving_at_us: T + 1_900,
        };
        let times = stamps.times();
        assert_eq!(times.total, Some(Duration::from_micros(1_900)));
        assert_eq!(times.slave, Some(Duration::from_micros(1_250)));
        assert_eq!(times.wire, Some(Duration::from_micros(150)));
        assert_eq!(times.master, Some(Duration::from_micros(500)));
    }

    #[test]
    fn a_missing_stamp_leaves_only_its_parts_out() {
        // A slave that stamps nothing: only the master's own part is known.
        let stamps = PathStamps {
            received_at_us: T,
            leaving_at_us: T + 300,
            ..PathStamps::default()
        };
        let times = stamps.times();
        assert_eq!(times.total, None);
        assert_eq!(times.slave, None);
        assert_eq!(times.wire, None);
        assert_eq!(times.master, Some(Duration::from_micros(300)));

        // Read stamped but not sent: the whole path is still known.
        let stamps = PathStamps {
            read_at_us: T,
            received_at_us: T + 200,
            leaving_at_us: T + 300,
            ..PathStamps::default()
        };
        assert_eq!(stamps.times().total, Some(Duration::from_micros(300)));
        assert_eq!(stamps.times().slave, None);
    }

    #[test]
    fn clocks_that_disagree_give_no_part_instead_of_a_huge_one() {
        // The slave's clock runs 5 ms ahead of the master's.
        let stamps = PathStamps {
            read_at_us: T + 5_000,
            sent_at_us: T + 5_100,
            received_at_us: T + 200,
            leaving_at_us: T + 400,
        };
        let times = stamps.times();
        assert_eq!(times.total, None);
        assert_eq!(times.wire, None);
        assert_eq!(times.slave, Some(Duration::from_micros(100)));
        assert_eq!(times.master, Some(Duration::from_micros(200)));
        assert_eq!(PathTimes::micros(times.slave), Some(100));
        assert_eq!(PathTimes::micros(times.total), None);
    }
}
