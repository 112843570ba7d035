//! Logging setup. Placeholder: being written.
