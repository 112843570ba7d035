//! `/debug/pprof/symbol`: Go's symbol lookup protocol, which `go tool pprof`
//! uses to name addresses it could not resolve from a local binary (the heap
//! profile carries raw addresses).
//!
//! `GET` answers `num_symbols: 1`; a `POST` body (or a `GET` query) of
//! addresses joined by `+` answers one `0x<address> <name>` line per address
//! that resolves.

use std::ffi::c_void;
use std::fmt::Write;

/// The most addresses one request may ask for.
pub const MAX_ADDRESSES: usize = 100_000;

/// Parses `0x…+0x…` into addresses; tokens that are not hex are skipped.
pub fn parse_addresses(request: &str) -> Vec<u64> {
    request
        .split(|c: char| c == '+' || c.is_whitespace())
        .filter_map(|token| {
            let hex = token
                .strip_prefix("0x")
                .or_else(|| token.strip_prefix("0X"))?;
            u64::from_str_radix(hex, 16).ok()
        })
        .take(MAX_ADDRESSES)
        .collect()
}

/// Answers a lookup: one line per address with a known symbol, naming the
/// outermost function (the one the address's code belongs to).
pub fn lookup(addresses: &[u64], resolve: impl Fn(u64) -> Option<String>) -> String {
    let mut out = String::new();
    for &address in addresses {
        if let Some(name) = resolve(address) {
            let _ = writeln!(out, "{address:#x} {name}");
        }
    }
    out
}

/// Resolves an address of this process with its own debug information
/// (like a return address: the byte before it is looked up).
pub fn resolve_in_process(address: u64) -> Option<String> {
    let address = usize::try_from(address).ok()?;
    let mut name = None;
    // Symbols come innermost-inlined first; the last is the real function.
    backtrace::resolve(address as *mut c_void, |symbol| {
        if let Some(symbol_name) = symbol.name() {
            name = Some(symbol_name.to_string());
        }
    });
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_style_requests() {
        assert_eq!(parse_addresses("0x10+0x2f"), [0x10, 0x2f]);
        assert_eq!(parse_addresses("0x10+junk+12+0XFF\n"), [0x10, 0xff]);
        assert!(parse_addresses("").is_empty());
    }

    #[test]
    fn answers_only_resolved_addresses() {
        let out = lookup(&[1, 2], |a| (a == 2).then(|| "main".to_owned()));
        assert_eq!(out, "0x2 main\n");
    }

    #[test]
    fn resolves_a_function_of_this_process() {
        // resolve() looks up address - 1, as for a return address.
        let address = parses_go_style_requests as fn() as usize as u64 + 1;
        let name = resolve_in_process(address).expect("symbol of a test function");
        assert!(name.contains("parses_go_style_requests"), "{name}");
    }
}
