//! Admin authentication: `Authorization: Bearer <password>` or HTTP Basic
//! with any user name and the password, checked against `api.admin_password`
//! in constant time (digests of equal length are compared, so neither the
//! content nor the length of the password leaks through timing).

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
