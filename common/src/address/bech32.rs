//! Classic bech32 (BIP 173, checksum constant 1), the text form of TOS addresses.
//!
//! Own code rather than the `bech32` crate so that every way a miner can mistype
//! an address gets its own precise error. The crate is used in the tests as an
//! independent check of this encoder.

use super::AddressError;

/// The 32 data characters; a character's index is its 5-bit value.
const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Generator of the BCH code behind the checksum.
const GENERATOR: [u32; 5] = [
    0x3b6a_57b2,
    0x2650_8e6d,
    0x1ea1_19fa,
    0x3d42_33dd,
    0x2a14_62b3,
];

/// Classic bech32 checksums end in 1 (bech32m would use 0x2bc830a3).
const BECH32_CONSTANT: u32 = 1;

/// Number of checksum characters at the end of the data part.
const CHECKSUM_LENGTH: usize = 6;

/// Longest address text accepted. A normal address has 63 characters and an
/// integrated one (at most 128 bytes of data) stays well under this.
pub(crate) const MAX_LENGTH: usize = 512;

/// The running BCH checksum over 5-bit values.
struct Polymod(u32);

impl Polymod {
    /// Starts a checksum over the expanded human-readable prefix.
    fn with_prefix(prefix: &str) -> Polymod {
        let mut polymod = Polymod(1);
        for byte in prefix.bytes() {
            polymod.feed(byte >> 5);
        }
        polymod.feed(0);
        for byte in prefix.bytes() {
            polymod.feed(byte & 31);
        }
        polymod
    }

    fn feed(&mut self, value: u8) {
        let top = self.0 >> 25;
        self.0 = ((self.0 & 0x01ff_ffff) << 5) ^ u32::from(value);
        for (bit, generator) in GENERATOR.iter().enumerate() {
            if (top >> bit) & 1 == 1 {
                self.0 ^= generator;
            }
        }
    }
}

/// Encodes `payload` bytes under `prefix` (lower case) as bech32 text.
pub(crate) fn encode(prefix: &str, payload: &[u8]) -> String {
    encode_values(prefix, &bytes_to_values(payload))
}

/// Encodes already 5-bit `values` under `prefix`, appending the checksum.
pub(crate) fn encode_values(prefix: &str, values: &[u8]) -> String {
    let mut text = String::with_capacity(prefix.len() + 1 + values.len() + CHECKSUM_LENGTH);
    text.push_str(prefix);
    text.push('1');
    let mut polymod = Polymod::with_prefix(prefix);
    for &value in values {
        polymod.feed(value);
        text.push(char::from(CHARSET[usize::from(value & 31)]));
    }
    for _ in 0..CHECKSUM_LENGTH {
        polymod.feed(0);
    }
    let checksum = polymod.0 ^ BECH32_CONSTANT;
    for index in 0..CHECKSUM_LENGTH {
        let value = (checksum >> (5 * (CHECKSUM_LENGTH - 1 - index))) & 31;
        text.push(char::from(CHARSET[value as usize]));
    }
    text
}

/// Decodes bech32 `text` into its lower-case prefix and payload bytes.
pub(crate) fn decode(text: &str) -> Result<(String, Vec<u8>), AddressError> {
    if text.is_empty() {
        return Err(AddressError::Empty);
    }
    let length = text.chars().count();
    if length > MAX_LENGTH {
        return Err(AddressError::TooLong { length });
    }
    let (mut has_lower, mut has_upper) = (false, false);
    for (index, character) in text.chars().enumerate() {
        if !(character.is_ascii() && (33..=126).contains(&(character as u32))) {
            return Err(AddressError::InvalidCharacter {
                character,
                position: index + 1,
            });
        }
        has_lower |= character.is_ascii_lowercase();
        has_upper |= character.is_ascii_uppercase();
    }
    if has_lower && has_upper {
        return Err(AddressError::MixedCase);
    }
    // All characters are ASCII from here on: byte and character positions agree.
    let lower = text.to_ascii_lowercase();
    let separator = lower.rfind('1').ok_or(AddressError::MissingSeparator)?;
    let (prefix, data) = (&lower[..separator], &lower[separator + 1..]);
    if prefix.is_empty() {
        return Err(AddressError::MissingPrefix);
    }
    if data.len() < CHECKSUM_LENGTH {
        return Err(AddressError::TooShort { length });
    }
    let mut polymod = Polymod::with_prefix(prefix);
    let mut values = Vec::with_capacity(data.len());
    for (offset, byte) in data.bytes().enumerate() {
        let value = CHARSET
            .iter()
            .position(|&candidate| candidate == byte)
            .ok_or(AddressError::InvalidCharacter {
                character: char::from(text.as_bytes()[separator + 1 + offset]),
                position: separator + 2 + offset,
            })?;
        // `position` of a 32-entry table always fits in a u8.
        let value = value as u8;
        polymod.feed(value);
        values.push(value);
    }
    if polymod.0 != BECH32_CONSTANT {
        return Err(AddressError::BadChecksum);
    }
    values.truncate(values.len() - CHECKSUM_LENGTH);
    let payload = values_to_bytes(&values)?;
    Ok((prefix.to_string(), payload))
}

/// 8-bit bytes to 5-bit values, zero-padding the last value.
fn bytes_to_values(bytes: &[u8]) -> Vec<u8> {
    let mut values = Vec::with_capacity((bytes.len() * 8).div_ceil(5));
    let (mut accumulator, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        accumulator = (accumulator << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            values.push(((accumulator >> bits) & 31) as u8);
        }
        accumulator &= (1 << bits) - 1;
    }
    if bits > 0 {
        values.push(((accumulator << (5 - bits)) & 31) as u8);
    }
    values
}

/// 5-bit values back to bytes; the padding must be shorter than 5 bits and zero.
fn values_to_bytes(values: &[u8]) -> Result<Vec<u8>, AddressError> {
    let mut bytes = Vec::with_capacity(values.len() * 5 / 8);
    let (mut accumulator, mut bits) = (0u32, 0u32);
    for &value in values {
        accumulator = (accumulator << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push(((accumulator >> bits) & 0xff) as u8);
        }
        accumulator &= (1 << bits) - 1;
    }
    if bits >= 5 || accumulator != 0 {
        return Err(AddressError::InvalidPadding);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bip173_valid_strings_decode() {
        for text in [
            "A12UEL5L",
            "a12uel5l",
            "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
            "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        ] {
            assert!(decode(text).is_ok(), "{text} must decode");
        }
    }

    #[test]
    fn bech32m_checksum_is_refused() {
        // BIP 350's bech32m vector: valid bech32m, therefore not classic bech32.
        assert_eq!(decode("a1lqfn3a"), Err(AddressError::BadChecksum));
    }

    #[test]
    fn reports_the_position_of_a_bad_data_character() {
        let error = decode("tos1qsl6sj2b0gp37").expect_err("b is not a bech32 character");
        assert_eq!(
            error,
            AddressError::InvalidCharacter {
                character: 'b',
                position: 12
            }
        );
    }

    proptest! {
        #[test]
        fn matches_the_bech32_crate(payload in proptest::collection::vec(any::<u8>(), 0..160)) {
            let ours = encode("tos", &payload);
            let hrp = ::bech32::Hrp::parse("tos").expect("tos is a valid prefix");
            let theirs = ::bech32::encode::<::bech32::Bech32>(hrp, &payload)
                .expect("payload is within bech32's length limit");
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(decode(&ours), Ok(("tos".to_string(), payload)));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,120}") {
            let _ = decode(&text);
        }
    }
}
