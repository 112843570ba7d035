//! Bearer-token authentication of the slave stream.
//!
//! A slave sends `authorization: Bearer <master.secret>` as request metadata
//! on `SlaveGateway.Connect`; the master refuses a stream without the right
//! token.

/// Metadata key that carries the slave's token (gRPC metadata keys are
/// lower case).
pub const AUTHORIZATION_HEADER: &str = "authorization";

/// Authentication scheme in front of the token.
const SCHEME: &str = "Bearer";

/// Builds the `authorization` metadata value for `token`: `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("{SCHEME} {token}")
}

/// Extracts the token from an `authorization` value of the form
/// `Bearer <token>`.
///
/// The scheme is matched case-insensitively and surrounding spaces are
/// ignored. Returns `None` for another scheme, a missing or empty token, or a
/// token containing whitespace.
pub fn parse_bearer(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, token) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let token = token.trim_start();
    if token.is_empty() || token.contains(|c: char| c.is_whitespace()) {
        return None;
    }
    Some(token)
}

/// True when `value` is `Bearer <secret>` for exactly this `secret`.
///
/// The comparison takes the same time wherever the tokens differ, so a
/// caller cannot learn the secret byte by byte from response times. An empty
/// secret never matches.
pub fn verify_bearer(value: &str, secret: &str) -> bool {
    let Some(token) = parse_bearer(value) else {
        return false;
    };
    if secret.is_empty() || token.len() != secret.len() {
        return false;
    }
    token
        .bytes()
        .zip(secret.bytes())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_round_trips_through_parse() {
        let value = bearer("s3cr3t-token");
        assert_eq!(value, "Bearer s3cr3t-token");
        assert_eq!(parse_bearer(&value), Some("s3cr3t-token"));
    }

    #[test]
    fn parse_accepts_any_case_and_extra_spaces() {
        assert_eq!(parse_bearer("bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("BEARER abc"), Some("abc"));
        assert_eq!(parse_bearer("  Bearer   abc  "), Some("abc"));
        assert_eq!(parse_bearer("Bearer\tabc"), Some("abc"));
    }

    #[test]
    fn parse_refuses_other_schemes_and_bad_tokens() {
        assert_eq!(parse_bearer(""), None);
        assert_eq!(parse_bearer("Bearer"), None);
        assert_eq!(parse_bearer("Bearer "), None);
        assert_eq!(parse_bearer("Basic abc"), None);
        assert_eq!(parse_bearer("Bearerabc"), None);
        assert_eq!(parse_bearer("abc"), None);
        assert_eq!(parse_bearer("Bearer a b"), None);
    }

    #[test]
    fn verify_matches_only_the_exact_secret() {
        assert!(verify_bearer(&bearer("secret"), "secret"));
        assert!(!verify_bearer(&bearer("secreT"), "secret"));
        assert!(!verify_bearer(&bearer("secret1"), "secret"));
        assert!(!verify_bearer(&bearer("secre"), "secret"));
        assert!(!verify_bearer("secret", "secret"));
        assert!(!verify_bearer("Bearer ", ""));
    }
}
