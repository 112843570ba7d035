//! Share validation: TOS Hash V3 on a bounded pool of worker threads
//! ([`ValidationPool`]) and the optional trust mode ([`TrustPolicy`]) that
//! samples a trusted miner's shares but always hashes those with a real chance
//! of being a block.

mod pool;
mod trust;

pub use pool::{ValidationError, ValidationPool};
pub use trust::{HashDecision, Required, TrustConfig, TrustPolicy};
