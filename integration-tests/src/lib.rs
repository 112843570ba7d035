//! The pool's test bench: emulators of the TOS daemon (`devnet`) and wallet
//! (`wallet`) that follow TOS.md field for field, a private Redis server per test
//! (`redis_server`), and test miners that speak every miner protocol over real
//! sockets (`miners`), with the TLS certificates they use (`tls`) and a
//! recording TCP proxy (`sniffer`), a local OTLP receiver standing in for
//! New Relic (`otlp_receiver`), fixed loopback ports chosen so they stay free
//! (`ports`), the cluster harness (`cluster`) the
//! end-to-end tests and the `tos-pool-dev` launcher share, and the load
//! generator behind `tos-loadgen` (`loadgen`).

pub mod chaos;
pub mod cluster;
pub mod devnet;
pub mod floor;
pub mod loadgen;
pub mod miners;
pub mod otlp_receiver;
pub mod ports;
pub mod process;
pub mod redis_sentinel;
pub mod redis_server;
pub mod sniffer;
pub mod tls;
pub mod wallet;
