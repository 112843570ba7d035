//! Admin authentication: `Authorization: Bearer <password>` or HTTP Basic
//! with any user name and the password, checked against `api.admin_password`
//! in constant time (digests of equal length are compared, so neither the
//! content nor the length of the password leaks through timing).
//!
//! Failed logins are counted per address ([`LoginThrottle`]): after
//! `api.admin_max_failures` of them an address is refused with 429 and
//! `Retry-After` for `api.admin_lockout`, without its password being
//! checked, so guessing is slow and a flood of guesses does not flood the
//! log.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine as _;
use subtle::ConstantTimeEq;

/// The admin password, kept only as a digest.
#[derive(Clone)]
pub struct AdminPassword {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminPassword(..)")
    }
}

/// Why a request is not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No `Authorization` header.
    #[error(
        "the admin endpoints need credentials: send Authorization: Bearer <api.admin_password> or HTTP Basic with it as the password"
    )]
    Missing,
    /// A header that is neither Basic nor Bearer, or malformed.
    #[error(
        "the Authorization header is malformed: use Bearer <password> or Basic base64(user:password)"
    )]
    Malformed,
    /// The password does not match.
    #[error("wrong admin password")]
    Wrong,
}

impl AdminPassword {
    /// Keeps `password`'s digest.
    pub fn new(password: &str) -> Self {
        AdminPassword {
            digest: *blake3::hash(password.as_bytes()).as_bytes(),
        }
    }

    /// Checks the value of a request's `Authorization` header.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), AuthFailure> {
        let header = authorization.ok_or(AuthFailure::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthFailure::Malformed)?;
        let candidate = presented_password(header)?;
        let digest = blake3::hash(&candidate);
        if bool::from(digest.as_bytes().ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(AuthFailure::Wrong)
        }
    }
}

/// Addresses whose failures are remembered at most; when full, those whose
/// failures are forgotten anyway go first, then the quietest.
pub const MAX_THROTTLED_ADDRESSES: usize = 10_000;

/// What a failed login did to its address's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// The first failure from this address in a while.
    First,
    /// Another failure, `count` so far, below the limit.
    Counted {
        /// Failures counted so far.
        count: u32,
    },
    /// The failure that reached the limit: the address is refused from now
    /// until the lockout ends.
    LockedOut,
}

/// Failed admin logins per address: plain data, no clock of its own (times
/// come in as ms). IPv6 addresses count per /64, the block one site gets.
#[derive(Debug)]
pub struct LoginThrottle {
    max_failures: u32,
    lockout_ms: u64,
    strikes: HashMap<IpAddr, Strikes>,
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    last_ms: u64,
}

impl LoginThrottle {
    /// Refuses an address after `max_failures` failures (at least 1) for
    /// `lockout_ms` after its last one.
    pub fn new(max_failures: u32, lockout_ms: u64) -> LoginThrottle {
        LoginThrottle {
            max_failures: max_failures.max(1),
            lockout_ms,
            strikes: HashMap::new(),
        }
    }

    /// `Err(ms)` while `ip` is locked out: how long until it may try again.
    pub fn check(&self, ip: IpAddr, now_ms: u64) -> Result<(), u64> {
        match self.strikes.get(&block(ip)) {
            Some(strikes) if strikes.failures >= self.max_failures => {
                let until = strikes.last_ms.saturating_add(self.lockout_ms);
                if now_ms < until {
                    Err(until - now_ms)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed login from `ip`.
    pub fn fail(&mut self, ip: IpAddr, now_ms: u64) -> Strike {
        let key = block(ip);
        if !self.strikes.contains_key(&key) && self.strikes.len() >= MAX_THROTTLED_ADDRESSES {
            self.make_room(now_ms);
        }
        let lockout_ms = self.lockout_ms;
        let strikes = self.strikes.entry(key).or_insert(Strikes {
            failures: 0,
            last_ms: now_ms,
        });
        if now_ms >= strikes.last_ms.saturating_add(lockout_ms) {
            strikes.failures = 0;
        }
        strikes.failures = strikes.failures.saturating_add(1);
        strikes.last_ms = now_ms;
        match strikes.failures {
            count if count >= self.max_failures => Strike::LockedOut,
            1 => Strike::First,
            count => Strike::Counted { count },
        }
    }

    /// A successful login from `ip` forgets its failures.
    pub fn succeed(&mut self, ip: IpAddr) {
        self.strikes.remove(&block(ip));
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.strikes.len()
    }

    /// True when no failure is remembered.
    pub fn is_empty(&self) -> bool {
        self.strikes.is_empty()
    }

    fn make_room(&mut self, now_ms: u64) {
        let lockout_ms = self.lockout_ms;
        self.strikes
            .retain(|_, strikes| now_ms < strikes.last_ms.saturating_add(lockout_ms));
        if self.strikes.len() >= MAX_THROTTLED_ADDRESSES {
            let quietest = self
                .strikes
                .iter()
                .min_by_key(|(_, strikes)| strikes.last_ms)
                .map(|(ip, _)| *ip);
            if let Some(ip) = quietest {
                self.strikes.remove(&ip);
            }
        }
    }
}

/// The key an address is counted under: itself for IPv4, its /64 for IPv6
/// (an IPv4-mapped IPv6 address counts as the IPv4 one).
fn block(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// The password a header presents: the Bearer token, or the part after the
/// first `:` of the decoded Basic credentials.
fn presented_password(header: &str) -> Result<Vec<u8>, AuthFailure> {
    let (scheme, value) = header
        .trim()
        .split_once(' ')
        .ok_or(AuthFailure::Malformed)?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(value.as_bytes().to_vec());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| AuthFailure::Malformed)?;
        let colon = decoded
            .iter()
            .position(|&byte| byte == b':')
            .ok_or(AuthFailure::Malformed)?;
        return Ok(decoded[colon + 1..].to_vec());
    }
    Err(AuthFailure::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP")
    }

    #[test]
    fn an_address_is_locked_out_after_its_failures_until_the_lockout_ends() {
        let mut throttle = LoginThrottle::new(3, 60_000);
        let attacker = ip("203.0.113.7");
        assert_eq!(throttle.fail(attacker, 1_000), Strike::First);
        assert_eq!(throttle.fail(attacker, 2_000), Strike::Counted { count: 2 });
        assert_eq!(throttle.check(attacker, 2_000), Ok(()));
        assert_eq!(throttle.fail(attacker, 3_000), Strike::LockedOut);
        assert_eq!(throttle.check(attacker, 3_000), Err(60_000));
        assert_eq!(throttle.check(attacker, 62_999), Err(1));
        assert_eq!(throttle.check(attacker, 63_000), Ok(()));
        // Another address is not affected.
        assert_eq!(throttle.check(ip("203.0.113.8"), 3_000), Ok(()));
        // After the lockout the count starts over.
        assert_eq!(throttle.fail(attacker, 63_000), Strike::First);
    }

    #[test]
    fn old_failures_are_forgotten_and_a_success_clears_them() {
        let mut throttle = LoginThrottle::new(2, 10_000);
        let admin = ip("198.51.100.1");
        assert_eq!(throttle.fail(admin, 0), Strike::First);
        assert_eq!(throttle.fail(admin, 10_000), Strike::First);
        throttle.succeed(admin);
        assert!(throttle.is_empty());
        assert_eq!(throttle.fail(admin, 10_001), Strike::First);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let mut throttle = LoginThrottle::new(2, 10_000);
        throttle.fail(ip("2001:db8:1:2::1"), 0);
        assert_eq!(
            throttle.fail(ip("2001:db8:1:2:ffff::9"), 0),
            Strike::LockedOut
        );
        assert!(throttle.check(ip("2001:db8:1:2::abcd"), 1).is_err());
        assert!(throttle.check(ip("2001:db8:1:3::1"), 1).is_ok());
        throttle.fail(ip("192.0.2.1"), 0);
        assert_eq!(throttle.fail(ip("::ffff:192.0.2.1"), 0), Strike::LockedOut);
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut throttle = LoginThrottle::new(5, 1_000);
        for i in 0..(MAX_THROTTLED_ADDRESSES as u32 + 50) {
            throttle.fail(IpAddr::from(i.to_be_bytes()), u64::from(i) / 100);
        }
        assert!(throttle.len() <= MAX_THROTTLED_ADDRESSES);
    }

    fn basic(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn bearer_and_basic_with_the_password_pass() {
        let password = AdminPassword::new("correct horse battery");
        assert_eq!(
            password.check(Some(b"Bearer correct horse battery")),
            Ok(())
        );
        assert_eq!(
            password.check(Some(b"bearer correct horse battery")),
            Ok(())
        );
        let header = basic("admin:correct horse battery");
        assert_eq!(password.check(Some(header.as_bytes())), Ok(()));
        let header = basic(":correct horse battery");
        assert_eq!(password.check(Some(header.as_bytes())), Ok(()));
    }

    #[test]
    fn wrong_missing_and_malformed_are_refused() {
        let password = AdminPassword::new("correct horse battery");
        assert_eq!(password.check(None), Err(AuthFailure::Missing));
        assert_eq!(
            password.check(Some(b"Bearer correct horse batter")),
            Err(AuthFailure::Wrong)
        );
        assert_eq!(
            password.check(Some(b"Bearer correct horse battery!")),
            Err(AuthFailure::Wrong)
        );
        let header = basic("correct horse battery");
        assert_eq!(
            password.check(Some(header.as_bytes())),
            Err(AuthFailure::Malformed),
            "Basic without a colon"
        );
        assert_eq!(
            password.check(Some(b"Digest abc")),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            password.check(Some(b"Basic !!!")),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            password.check(Some(&[0xff, 0x20, 0x41])),
            Err(AuthFailure::Malformed)
        );
    }
}
