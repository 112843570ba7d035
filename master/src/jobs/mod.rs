//! Jobs: the active upstream's block template made into work for the slaves.
//!
//! Templates arrive by the daemon's `new_block_template` push (when
//! `node.use_websocket`), by polling every `mining.job_refresh_interval`, and
//! by a forced fetch once the current job is `mining.job_refresh` old. A new
//! [`Job`] is published only when the template changed or the refresh is due
//! (see `freshness`); subscribers get it at once and the last
//! `mining.job_backlog` jobs stay reachable by id for late shares.
//!
//! [`Job`] building, ids, the backlog and the publish decision are pure; the
//! [`JobManager`] task only moves templates and time.

mod backlog;
mod freshness;
mod id;
mod job;
mod manager;
mod push;

pub use backlog::Backlog;
pub use freshness::{Reason, TemplateKey, decide};
pub use id::JobIds;
pub use job::{ALGORITHM, Job, JobParts, TemplateError, template_header};
pub use manager::{JobError, JobManager, JobSettings};
