//! Bearer-token authentication of the slave stream.
//!
//! A slave sends `authorization: Bearer <master.secret>` as request metadata
//! on `SlaveGateway.Connect`; the master refuses a stream without the right
//! token. The check compares digests of the presented token and the secret
//! in constant time, so neither the secret's bytes nor its length show in
//! how long a refusal takes.

use subtle::ConstantTimeEq;

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
/// Both tokens are hashed (BLAKE3) and the two 32-byte digests compared in
/// constant time: the time taken depends neither on where the tokens differ
/// nor on their lengths, so a caller learns nothing of the secret from
/// response times. An empty secret never matches.
pub fn verify_bearer(value: &str, secret: &str) -> bool {
    let Some(token) = parse_bearer(value) else {
        return false;
    };
    if secret.is_empty() {
        return false;
    }
    let presented = blake3::hash(token.as_bytes());
    let expected = blake3::hash(secret.as_bytes());
    bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
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
        assert!(!verify_bearer(&bearer("anything"), ""));
    }

    #[test]
    fn tokens_of_any_length_are_compared_without_error() {
        let long = "x".repeat(10_000);
        assert!(!verify_bearer(&bearer(&long), "secret"));
        assert!(verify_bearer(&bearer(&long), &long));
    }
}
