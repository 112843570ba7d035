//! TOS Hash V3 (`tos/v3`), the proof-of-work hash. Placeholder: being written.

/// TOS Hash V3 of `input`.
pub fn hash(input: &[u8]) -> [u8; 32] {
    *blake3::hash(input).as_bytes()
}
