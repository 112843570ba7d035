//! The `tos-pool-slave` binary. Placeholder: being written.
fn main() {}
