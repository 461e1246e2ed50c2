//! Background jobs: what runs after a commit, exactly once in effect, in the right tenant.
//!
//! - [`Job`]: every kind of job, one serde-tagged enum. A job names ids, never data or
//!   secrets: whoever runs it reads the current state in the job's tenant.
//! - [`JobQueue`]: the queue port. Tenant jobs are written by the mutation pipeline in the
//!   transaction of the change that asks for them; platform jobs (schedules, probes) through
//!   [`JobQueue::enqueue`]. Claims carry a lease: a worker that dies loses its jobs when the
//!   lease ends and another worker runs them again (at-least-once).
//! - [`RetryPolicy`]: exponential backoff with jitter, then `dead`.

mod model;
mod ports;
mod retry;

pub use model::{
    ClaimedJob, Job, JobFilter, JobInfo, JobPayload, JobState, KindCount, NewJob, QueueSummary,
};
pub use ports::{JobQueue, OperatorError};
pub use retry::RetryPolicy;
