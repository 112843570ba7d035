//! The master↔slave contract. Placeholder: being written.
#![forbid(unsafe_code)]
