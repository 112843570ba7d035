//! Value conversions between the Go pool's forms and ours: durations,
//! seconds, `host:port` addresses.

use std::time::Duration;

use serde_yaml::Value;

use crate::config::duration::format_duration;

/// Parses a Go `time.Duration` text (`10s`, `1h30m`, `500ms`, `1.5h`).
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err("empty duration".to_string());
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?} has a number without a unit (ns, us, ms, s, m, h)"))?;
        let number: f64 = rest[..number_end]
            .parse()
            .map_err(|_| format!("{text:?} is not a Go duration"))?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => return Err(format!("{text:?} has an unknown unit {unit:?}")),
        };
        total += number * nanos_per_unit;
        rest = &rest[unit_end..];
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("{text:?} is too long"));
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// A Go duration value (text, or a bare integer of nanoseconds as Go's
/// config loader reads it) in our form; sub-millisecond parts round up to
/// 1ms so a positive duration stays positive.
pub(super) fn go_duration(value: &Value) -> Result<String, String> {
    let duration = match value {
        Value::String(text) => parse_go_duration(text)?,
        Value::Number(number) => {
            let nanos = number
                .as_u64()
                .ok_or_else(|| format!("{number} is not a whole number of nanoseconds"))?;
            Duration::from_nanos(nanos)
        }
        other => return Err(format!("{other:?} is not a duration")),
    };
    Ok(format_duration(at_least_a_millisecond(duration)))
}

/// A number of seconds (the Go pool's float vardiff times) in our form.
pub(super) fn seconds(value: &Value) -> Result<String, String> {
    let seconds = number(value)?;
    if !(0.0..1e12).contains(&seconds) {
        return Err(format!("{seconds} is not a number of seconds"));
    }
    let duration = Duration::from_secs_f64(seconds);
    Ok(format_duration(at_least_a_millisecond(duration)))
}

fn at_least_a_millisecond(duration: Duration) -> Duration {
    if !duration.is_zero() && duration < Duration::from_millis(1) {
        Duration::from_millis(1)
    } else {
        duration
    }
}

/// A YAML number (or numeric text) as f64.
pub(super) fn number(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(number) => number
            .as_f64()
            .ok_or_else(|| format!("{number} is not a number")),
        Value::String(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a number")),
        other => Err(format!("{other:?} is not a number")),
    }
}

/// A YAML value as trimmed text; `None` for null and empty strings (the Go
/// pool wrote `""` for "not set").
pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Whether `text` already names a scheme (`redis://`, `http://`).
pub(super) fn has_scheme(text: &str) -> bool {
    text.contains("://")
}

/// The host of a `host:port` or URL text, brackets of IPv6 removed.
pub(super) fn host_of(address: &str) -> &str {
    let without_scheme = address.split_once("://").map_or(address, |(_, rest)| rest);
    let authority = without_scheme.split('/').next().unwrap_or(without_scheme);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Whether `host` is loopback (127.0.0.0/8, ::1, localhost).
pub(super) fn is_loopback(host: &str) -> bool {
    crate::config::is_loopback_host(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("10d").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn duration_values_take_our_form() {
        assert_eq!(go_duration(&Value::from("1h30m")), Ok("90m".to_string()));
        assert_eq!(
            go_duration(&Value::from(2_000_000_000u64)),
            Ok("2s".to_string())
        );
        assert_eq!(go_duration(&Value::from("10us")), Ok("1ms".to_string()));
        assert_eq!(seconds(&Value::from(4.0)), Ok("4s".to_string()));
        assert_eq!(seconds(&Value::from(0.5)), Ok("500ms".to_string()));
        assert!(seconds(&Value::from(-1.0)).is_err());
    }

    #[test]
    fn hosts_are_found() {
        assert_eq!(host_of("127.0.0.1:6379"), "127.0.0.1");
        assert_eq!(
            host_of("http://user:pw@node.example:8545/x"),
            "node.example"
        );
        assert_eq!(host_of("[::1]:3221"), "::1");
        assert!(is_loopback(host_of("localhost:1")));
        assert!(!is_loopback(host_of("10.0.0.1:1")));
    }
}
