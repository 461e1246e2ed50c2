//! The background worker: a driving adapter like the HTTP one. It claims jobs from the
//! [`JobQueue`], rebuilds each tenant job's [`TenantCtx`] from the job row, and runs the job
//! through the services; a failure is retried with backoff, then the job is dead.
//!
//! - At-least-once: a claim carries a lease; if this process dies, another worker runs the
//!   job again once the lease ends. Handlers are idempotent or de-duplicated downstream.
//! - Bounded: at most `concurrency` jobs run at once (a semaphore), and only that many are
//!   claimed, so no job waits in this process while another could run it.
//! - Quiet at idle: between claims it waits for a notification (PostgreSQL `LISTEN`, a
//!   commit of this process), polling only as a slow backstop.
//! - On shutdown it stops claiming, lets running jobs finish for a grace period, then hands
//!   back (releases) what it still holds.

mod dispatcher;
mod handlers;
mod runner;

pub use dispatcher::{Dispatcher, DispatcherConfig};
pub use handlers::{JobError, JobHandler, JobServices, Retention, TenantryJobs};
pub use runner::{Worker, WorkerConfig};
