//! The `tos-pool-master` binary. Placeholder: being written.
fn main() {}
