//! TOS Hash V3 benchmark. Placeholder: being written.
fn main() {}
