//! The pool of TOS daemons the master talks to (`node.upstreams`): each one
//! health-checked with `get_info` in the background, taken out of rotation
//! after `max_failures` failed checks in a row and put back after
//! `recovery_threshold` good ones. The heaviest healthy upstream is active
//! (ties by config order), so the primary is used again as soon as it is
//! healthy; a request that fails at the transport level moves on to the next
//! upstream.
//!
//! The bookkeeping is the pure [`UpstreamHealth`]; [`UpstreamPool`] only adds
//! clients, a clock and a task.

mod error;
mod health;
mod pool;

pub use error::UpstreamError;
pub use health::{StateChange, UpstreamHealth, active_index, failover_order};
pub use pool::{SubmitOutcome, Upstream, UpstreamPool, UpstreamState};
