//! Durations as operators write them: `500ms`, `10s`, `2m`, `1h`, `1d`, or a
//! bare integer meaning seconds. Used as `#[serde(with = "duration")]` so the
//! config fields are plain [`std::time::Duration`]s.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Why a duration text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text was empty.
    #[error("duration is empty: write a number and a unit, such as 500ms, 10s, 2m, 1h or 1d")]
    Empty,
    /// The text is not `<integer><unit>`.
    #[error("duration {0:?} is not a number followed by ms, s, m, h or d (for example 10s)")]
    Malformed(String),
    /// The unit is not one of the known ones.
    #[error("duration {text:?} has unknown unit {unit:?}: use ms, s, m, h or d")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit that was not understood.
        unit: String,
    },
    /// The value does not fit in a `Duration`.
    #[error("duration {0:?} is too large")]
    TooLarge(String),
}

/// Parses `500ms`, `10s`, `2m`, `1h`, `1d` or a bare integer (seconds).
/// Surrounding whitespace and a space between number and unit are allowed.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    if number.is_empty() {
        return Err(DurationError::Malformed(text.to_string()));
    }
    let amount: u64 = number
        .parse()
        .map_err(|_| DurationError::TooLarge(text.to_string()))?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other if other.chars().all(|c| c.is_ascii_alphabetic()) => {
            return Err(DurationError::UnknownUnit {
                text: text.to_string(),
                unit: other.to_string(),
            });
        }
        _ => return Err(DurationError::Malformed(text.to_string())),
    };
    amount
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| DurationError::TooLarge(text.to_string()))
}

/// Writes a duration in the largest unit that represents it exactly
/// (`1h`, `90s`, `500ms`); sub-millisecond parts are dropped.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_string();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// Serde form of a duration field: `#[serde(with = "duration")]`.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*duration))
}

/// Serde form of a duration field: accepts `"10s"`-style text or an integer
/// number of seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Seconds(u64),
        Text(String),
    }
    match Form::deserialize(deserializer).map_err(|_| {
        serde::de::Error::custom(
            "expected a duration such as 500ms, 10s, 2m, 1h, 1d or a number of seconds",
        )
    })? {
        Form::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
        Form::Text(text) => parse_duration(&text).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration(" 7 s "), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("42"), Ok(Duration::from_secs(42)));
    }

    #[test]
    fn refuses_bad_text() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("s"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("1.5s"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("-1s"),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("10sec"),
            Err(DurationError::UnknownUnit { unit, .. }) if unit == "sec"
        ));
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::TooLarge(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999999d"),
            Err(DurationError::TooLarge(_))
        ));
    }

    #[test]
    fn formats_in_the_largest_exact_unit_and_round_trips() {
        for (text, expect) in [
            ("1h", "1h"),
            ("90s", "90s"),
            ("120s", "2m"),
            ("500ms", "500ms"),
            ("1500ms", "1500ms"),
            ("0", "0s"),
            ("2d", "2d"),
        ] {
            let parsed = parse_duration(text).expect("test input is valid");
            assert_eq!(format_duration(parsed), expect);
            assert_eq!(parse_duration(expect), Ok(parsed));
        }
    }

    #[test]
    fn serde_accepts_text_and_bare_seconds() {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(with = "super")]
            wait: Duration,
        }
        let text: Holder = serde_yaml::from_str("wait: 250ms").expect("valid yaml");
        assert_eq!(text.wait, Duration::from_millis(250));
        let bare: Holder = serde_yaml::from_str("wait: 3").expect("valid yaml");
        assert_eq!(bare.wait, Duration::from_secs(3));
        assert!(serde_yaml::from_str::<Holder>("wait: 3 parsecs").is_err());
        assert!(serde_yaml::from_str::<Holder>("wait: [1]").is_err());
    }
}
