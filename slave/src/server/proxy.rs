//! PROXY protocol v1 and v2 (HAProxy's) in front of every miner door
//! (`slave.proxy_protocol`, `slave.trusted_proxies`), read before TLS.
//!
//! From a trusted proxy a header is required, and the miner's address it
//! carries is what limits, bans, events, logs and the API see. From any
//! other address a header is refused and counts as a malformed request.
//! Parsing the header itself is the `ppp` crate's; this module decides how
//! much of a connection's first bytes is the header ([`measure`], pure, over
//! peeked bytes, so the stream is left untouched for TLS and the door) and
//! what address it names ([`client_address`]). A `LOCAL` header (the
//! proxy's own health check) or an unknown address family keeps the proxy's
//! address.

use std::net::{IpAddr, SocketAddr};

use ppp::{v1, v2};

/// The longest v1 header, CRLF included (the specification's 107 bytes).
pub const MAX_V1_HEADER: usize = 107;

/// The longest v2 header taken: the 16 fixed bytes and up to 512 of
/// addresses and TLVs (an IPv6 address block is 36; TLVs are ignored).
pub const MAX_V2_HEADER: usize = 16 + 512;

/// How many bytes to peek at to measure any acceptable header.
pub const PEEK: usize = MAX_V2_HEADER;

const V1_PREFIX: &[u8] = b"PROXY ";
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// Why a connection's PROXY header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// A trusted proxy's connection did not start with a header.
    #[error(
        "no PROXY header from a trusted proxy (slave.trusted_proxies): turn on send-proxy or send-proxy-v2 on the load balancer"
    )]
    Missing,
    /// A connection from an untrusted address sent a header.
    #[error("a PROXY header from an address not in slave.trusted_proxies")]
    Untrusted,
    /// The header is longer than any this slave takes.
    #[error("PROXY header longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The header could not be read.
    #[error("malformed PROXY header: {0}")]
    Malformed(String),
    /// The connection closed or stalled before a whole header arrived.
    #[error("the connection closed or stalled before a whole PROXY header arrived")]
    Truncated,
}

/// What the first bytes of a connection hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Not a PROXY header (a miner's own first bytes).
    NoHeader,
    /// Could still be a header: wait for more bytes.
    Incomplete,
    /// A whole header of this many bytes.
    Header(usize),
    /// A header this slave refuses.
    Refused(ProxyError),
}

/// Measures the PROXY header at the start of `peeked`, the bytes received so
/// far (at most [`PEEK`] of them).
pub fn measure(peeked: &[u8]) -> Start {
    if could_start(peeked, V2_SIGNATURE) {
        if peeked.len() < 16 {
            return Start::Incomplete;
        }
        if peeked[12] >> 4 != 2 {
            return Start::Refused(ProxyError::Malformed(format!(
                "version {} in a v2 signature",
                peeked[12] >> 4
            )));
        }
        let total = 16 + usize::from(u16::from_be_bytes([peeked[14], peeked[15]]));
        if total > MAX_V2_HEADER {
            return Start::Refused(ProxyError::TooLong { max: MAX_V2_HEADER });
        }
        return if peeked.len() >= total {
            Start::Header(total)
        } else {
            Start::Incomplete
        };
    }
    if could_start(peeked, V1_PREFIX) {
        if peeked.len() < V1_PREFIX.len() {
            return Start::Incomplete;
        }
        let window = &peeked[..peeked.len().min(MAX_V1_HEADER)];
        return match window.windows(2).position(|pair| pair == b"\r\n") {
            Some(end) => Start::Header(end + 2),
            None if peeked.len() >= MAX_V1_HEADER => {
                Start::Refused(ProxyError::TooLong { max: MAX_V1_HEADER })
            }
            None => Start::Incomplete,
        };
    }
    Start::NoHeader
}

/// Whether `peeked` is a prefix of `signature` or starts with it.
fn could_start(peeked: &[u8], signature: &[u8]) -> bool {
    let n = peeked.len().min(signature.len());
    n > 0 && peeked[..n] == signature[..n]
}

/// The miner's address in a whole `header` (as [`measure`] cut it): `None`
/// for a `LOCAL` header or an unknown address family, where the proxy's own
/// address stands.
pub fn client_address(header: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    if header.starts_with(V2_SIGNATURE) {
        let parsed = v2::Header::try_from(header)
            .map_err(|error| ProxyError::Malformed(error.to_string()))?;
        if parsed.command == v2::Command::Local {
            return Ok(None);
        }
        return Ok(match parsed.addresses {
            v2::Addresses::IPv4(ip) => Some(SocketAddr::new(
                IpAddr::V4(ip.source_address),
                ip.source_port,
            )),
            v2::Addresses::IPv6(ip) => Some(SocketAddr::new(
                IpAddr::V6(ip.source_address),
                ip.source_port,
            )),
            v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
        });
    }
    let parsed =
        v1::Header::try_from(header).map_err(|error| ProxyError::Malformed(error.to_string()))?;
    Ok(match parsed.addresses {
        v1::Addresses::Tcp4(ip) => Some(SocketAddr::new(
            IpAddr::V4(ip.source_address),
            ip.source_port,
        )),
        v1::Addresses::Tcp6(ip) => Some(SocketAddr::new(
            IpAddr::V6(ip.source_address),
            ip.source_port,
        )),
        v1::Addresses::Unknown => None,
    })
}

/// The load balancers a slave takes PROXY headers from
/// (`slave.trusted_proxies`: IPs and CIDRs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// The entries of `slave.trusted_proxies`; entries that are no IP or CIDR
    /// (refused when the config was validated) are skipped.
    pub fn new(entries: &[String]) -> TrustedProxies {
        let networks = entries
            .iter()
            .filter_map(|entry| {
                let entry = entry.trim();
                let (ip, bits) = match entry.split_once('/') {
                    None => {
                        let ip: IpAddr = entry.parse().ok()?;
                        (ip, if ip.is_ipv4() { 32 } else { 128 })
                    }
                    Some((ip, bits)) => (ip.parse().ok()?, bits.parse().ok()?),
                };
                Some((masked(ip, bits), bits))
            })
            .collect();
        TrustedProxies { networks }
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.networks.iter().any(|(network, bits)| {
            network.is_ipv4() == ip.is_ipv4() && masked(ip, *bits) == *network
        })
    }
}

/// `ip` with all but its first `bits` bits zero.
fn masked(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(bits.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(bits.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests;
