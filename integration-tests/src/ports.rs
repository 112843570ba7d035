//! Loopback ports for tests that must name a port before its server binds
//! it: a config file, a launcher that prints its endpoints, a proxy's
//! backend list.
//!
//! A port taken from the kernel with port 0 and released is in the
//! ephemeral range (32768 and up on Linux), where every other test's port-0
//! listener and every outgoing connection take theirs, so it can be gone
//! again by the time the server binds it. These come from below that range
//! instead, are checked free when handed out, and are never handed out twice
//! in one test process, so only another process's fixed choice can collide.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, OnceLock};

use rand::Rng as _;

/// Where the ports come from: under the ephemeral range, above the
/// well-known services.
const RANGE: std::ops::Range<u16> = 20_000..32_000;

/// Ports this process has handed out.
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A loopback port that is free now and that this process has not handed
/// out before.
pub fn quiet_port() -> u16 {
    quiet_port_spanning(&[0])
}

/// A loopback port `p` such that `p + offset` is free now and not handed out
/// before for every offset in `offsets`; all of them count as handed out
/// from here on. For a server that binds a family of ports, like the
/// `tos-pool-dev` launcher's second slave on the first's ports + 100.
pub fn quiet_port_spanning(offsets: &[u16]) -> u16 {
    let highest = offsets.iter().copied().max().unwrap_or(0);
    let mut rng = rand::rng();
    loop {
        let candidates =
            std::iter::repeat_with(|| rng.random_range(RANGE.start..RANGE.end - highest)).take(64);
        if let Some(base) = pick(candidates, offsets) {
            return base;
        }
    }
}

/// The first of `candidates` whose family is free and new, marked handed
/// out.
fn pick(candidates: impl IntoIterator<Item = u16>, offsets: &[u16]) -> Option<u16> {
    let mut ports = handed_out()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for base in candidates {
        let wanted: Vec<u16> = offsets.iter().map(|offset| base + offset).collect();
        let new = wanted.iter().all(|port| !ports.contains(port));
        if new
            && wanted
                .iter()
                .all(|&port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok())
        {
            ports.extend(wanted);
            return Some(base);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_never_handed_out_twice_and_its_family_is_free() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let base = quiet_port_spanning(&[0, 100]);
            assert!(RANGE.contains(&base) && RANGE.contains(&(base + 100)));
            assert!(seen.insert(base), "{base} handed out twice");
            assert!(seen.insert(base + 100), "{} handed out twice", base + 100);
            TcpListener::bind((Ipv4Addr::LOCALHOST, base + 100)).expect("the family is free");
        }
        let again = pick(seen.iter().copied(), &[0]);
        assert_eq!(again, None, "a handed-out port came back");
    }

    #[test]
    fn a_port_another_socket_holds_is_skipped() {
        // Held by a listener of this test, never handed out.
        let (held, listener) = (RANGE.start..RANGE.end)
            .rev()
            .find_map(|port| {
                TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                    .ok()
                    .map(|listener| (port, listener))
            })
            .expect("a port to hold");
        assert_eq!(pick([held], &[0]), None);
        assert_eq!(pick([held - 100], &[0, 100]), None, "its family holds it");
        let free = (RANGE.start..held)
            .rev()
            .find(|&port| {
                let new = !handed_out()
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .contains(&port);
                new && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
            })
            .expect("a free port");
        assert_eq!(pick([held, free], &[0]), Some(free));
        drop(listener);
    }
}
