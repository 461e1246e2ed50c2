//! The queue port.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tenantry_kernel::{JobId, Unexpected};
use thiserror::Error;

use crate::model::{ClaimedJob, JobFilter, JobInfo, NewJob, QueueSummary};

/// Why an operator's action on a job was refused.
#[derive(Debug, Error)]
pub enum OperatorError {
    #[error("no such job")]
    NotFound,
    /// Retrying needs a dead job; cancelling one that is not running.
    #[error("the job is {0}")]
    WrongState(&'static str),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// A durable queue shared by every worker of every instance. Tenant jobs are written by the
/// store's mutation pipeline in the transaction that asks for them; this port writes the
/// others and runs the queue.
pub trait JobQueue: Clone + Send + Sync + 'static {
    /// Queues a job; `false` when its dedupe key is already waiting or running.
    fn enqueue(&self, job: &NewJob) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Queues the job of a period (its dedupe key names the period: `prune_events:2026-12-01`)
    /// unless that period's was queued before — even if it ran and left the queue since;
    /// `false` then. Periods are remembered for a few days.
    fn enqueue_once(&self, job: &NewJob) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Claims up to `max` runnable jobs (queued with `run_at` past, or running with an
    /// ended lease) for `worker` until `now + lease`, oldest first. Two workers never hold
    /// the same job at once. A job whose ended lease was its last attempt is declared dead
    /// instead of being handed out again.
    fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<ClaimedJob>, Unexpected>> + Send;

    /// The jobs succeeded: they leave the queue, in one write (the worker gathers the
    /// successes of a moment). A job `worker` no longer holds is left alone.
    fn complete(
        &self,
        ids: &[JobId],
        worker: &str,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// The attempt failed with `error`: queued again for `retry_at`, or dead with `None`.
    fn fail(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Hands a job back unrun (shutdown): queued again at once, the attempt not counted.
    fn release(
        &self,
        id: JobId,
        worker: &str,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Resolves when a job may have become runnable (a notification from any instance, an
    /// enqueue in this process, the earliest retry or lease coming due) or after `at_most`.
    fn wait_for_work(&self, at_most: Duration) -> impl Future<Output = ()> + Send;

    /// Counts by kind and state, the oldest wait and the dead jobs.
    fn queue_summary(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<QueueSummary, Unexpected>> + Send;

    /// Jobs, oldest first.
    fn list_jobs(
        &self,
        filter: &JobFilter,
    ) -> impl Future<Output = Result<Vec<JobInfo>, Unexpected>> + Send;

    /// Queues a dead job again with fresh attempts.
    fn retry_job(
        &self,
        id: JobId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<JobInfo, OperatorError>> + Send;

    /// Removes a queued or dead job.
    fn cancel_job(&self, id: JobId) -> impl Future<Output = Result<JobInfo, OperatorError>> + Send;
}
