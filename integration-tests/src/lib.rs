//! Emulators of the TOS daemon and wallet, the Redis harness and test miners.
//! Placeholder: being written.
