//! Source addresses: the loopback addresses a load test spreads its sockets
//! over, so the ~28,000 local ports of one address are not the limit.

use std::net::{IpAddr, Ipv4Addr};

use super::LoadError;

/// Most addresses one range may name (a typo guard).
const MAX_SOURCES: u32 = 4096;

/// Parses `127.0.0.1-127.0.0.8` (an inclusive IPv4 range), a single
/// address, or a comma-separated list of either.
pub fn parse_sources(text: &str) -> Result<Vec<IpAddr>, LoadError> {
    let mut sources = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let first = parse_v4(first.trim(), text)?;
                let last = parse_v4(last.trim(), text)?;
                let (from, to) = (u32::from(first), u32::from(last));
                if to < from || to - from >= MAX_SOURCES {
                    return Err(LoadError::Sources {
                        text: text.to_owned(),
                        why: format!(
                            "the range {part} must go upwards and hold at most {MAX_SOURCES} addresses"
                        ),
                    });
                }
                sources.extend((from..=to).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
            }
            None => sources.push(part.parse().map_err(|_| LoadError::Sources {
                text: text.to_owned(),
                why: format!("{part} is not an IP address"),
            })?),
        }
    }
    if sources.is_empty() {
        return Err(LoadError::Sources {
            text: text.to_owned(),
            why: "no address given".to_owned(),
        });
    }
    Ok(sources)
}

fn parse_v4(part: &str, text: &str) -> Result<Ipv4Addr, LoadError> {
    part.parse().map_err(|_| LoadError::Sources {
        text: text.to_owned(),
        why: format!("{part} is not an IPv4 address (ranges are IPv4 only)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_lists_and_single_addresses() {
        let range = parse_sources("127.0.0.1-127.0.0.3").expect("range");
        assert_eq!(
            range,
            vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([127, 0, 0, 2]),
                IpAddr::from([127, 0, 0, 3])
            ]
        );
        let mixed = parse_sources("127.0.0.9, 127.0.1.255-127.0.2.0").expect("list");
        assert_eq!(mixed.len(), 3);
        assert_eq!(mixed[2], IpAddr::from([127, 0, 2, 0]));
        assert_eq!(
            parse_sources("::1").expect("v6"),
            vec!["::1".parse::<IpAddr>().expect("ip")]
        );
    }

    #[test]
    fn refuses_bad_ranges() {
        assert!(parse_sources("127.0.0.5-127.0.0.1").is_err());
        assert!(parse_sources("127.0.0.1-127.1.0.0").is_err());
        assert!(parse_sources("localhost").is_err());
        assert!(parse_sources(" , ").is_err());
        assert!(parse_sources("::1-::2").is_err());
    }
}
