//! The pool's test bench: emulators of the TOS daemon (`devnet`) and wallet
//! (`wallet`) that follow TOS.md field for field, a private Redis server per test
//! (`redis_server`), and test miners that speak every miner protocol over real
//! sockets (`miners`).

pub mod devnet;
pub mod miners;
pub mod redis_server;
pub mod wallet;
