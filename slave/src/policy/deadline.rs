//! When a quiet connection is closed: `security.first_message_timeout` until
//! its first request, then `security.idle_timeout` after each request.

use std::time::Duration;

/// The instant (ms since the Unix epoch) after which a connection that
/// connected at `connected_ms` and last spoke at `last_request_ms` (None:
/// never) is closed.
pub fn read_deadline_ms(
    connected_ms: u64,
    last_request_ms: Option<u64>,
    first_message_timeout: Duration,
    idle_timeout: Duration,
) -> u64 {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match last_request_ms {
        None => connected_ms.saturating_add(millis(first_message_timeout)),
        Some(last) => last.saturating_add(millis(idle_timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_message_has_its_own_deadline() {
        let first = Duration::from_secs(10);
        let idle = Duration::from_secs(600);
        assert_eq!(read_deadline_ms(1_000, None, first, idle), 11_000);
        assert_eq!(read_deadline_ms(1_000, Some(5_000), first, idle), 605_000);
        assert_eq!(
            read_deadline_ms(u64::MAX - 1, None, first, idle),
            u64::MAX,
            "saturates instead of wrapping"
        );
    }
}
