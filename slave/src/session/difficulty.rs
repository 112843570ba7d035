//! A difficulty the miner asks for: a `d=NUMBER` password or a number sent
//! with `mining.suggest_difficulty` / `mining.set_difficulty`. Pure parsing;
//! the session holds the result within the pool's bounds
//! ([`Vardiff::fix`](crate::vardiff::Vardiff::fix)).

/// The whole difficulty a miner's number asks for: rounded to the nearest
/// whole number, at least 1; `None` for a number that is not finite and
/// positive. Numbers past `u64::MAX` saturate (the bounds clamp them anyway).
pub fn requested_difficulty(number: f64) -> Option<u64> {
    if !number.is_finite() || number <= 0.0 {
        return None;
    }
    // `as` saturates for floats past u64::MAX.
    Some((number.round() as u64).max(1))
}

/// The fixed difficulty a password asks for: `d=NUMBER` alone or as one
/// part of a comma- or semicolon-separated password (`x,d=5000`).
/// `Ok(None)`: no `d=` part. `Err`: a `d=` part whose value is no positive
/// number, with what to send instead.
pub fn password_difficulty(password: &str) -> Result<Option<u64>, String> {
    let Some(value) = password
        .split([',', ';'])
        .map(str::trim)
        .find_map(|part| part.strip_prefix("d="))
    else {
        return Ok(None);
    };
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(requested_difficulty)
        .map(Some)
        .ok_or_else(|| {
            format!(
                "password difficulty {:?} is not a positive number: send d=NUMBER, e.g. d=5000",
                crate::stratum::truncated(value)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_to_a_whole_difficulty_of_at_least_one() {
        assert_eq!(requested_difficulty(1024.0), Some(1024));
        assert_eq!(requested_difficulty(1024.6), Some(1025));
        assert_eq!(requested_difficulty(0.25), Some(1));
        assert_eq!(requested_difficulty(1e30), Some(u64::MAX));
        assert_eq!(requested_difficulty(0.0), None);
        assert_eq!(requested_difficulty(-5.0), None);
        assert_eq!(requested_difficulty(f64::NAN), None);
        assert_eq!(requested_difficulty(f64::INFINITY), None);
    }

    #[test]
    fn a_password_may_carry_a_difficulty() {
        assert_eq!(password_difficulty("d=5000"), Ok(Some(5000)));
        assert_eq!(password_difficulty("x,d=5000"), Ok(Some(5000)));
        assert_eq!(password_difficulty("d=2.5e3; x"), Ok(Some(2500)));
        assert_eq!(password_difficulty(" d=7 "), Ok(Some(7)));
        assert_eq!(password_difficulty("x"), Ok(None));
        assert_eq!(password_difficulty(""), Ok(None));
        assert_eq!(
            password_difficulty("pd=5"),
            Ok(None),
            "only a d= part counts"
        );
        for bad in ["d=", "d=abc", "d=0", "d=-3", "x,d=inf"] {
            let error = password_difficulty(bad).expect_err(bad);
            assert!(error.contains("d=NUMBER"), "{error}");
        }
    }
}
