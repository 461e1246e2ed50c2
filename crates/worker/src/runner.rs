//! The claim loop.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tenantry_jobs::{ClaimedJob, JobPayload, JobQueue, NewJob, RetryPolicy};
use tenantry_kernel::{Clock, Edges, JobId, TenantCtx};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::handlers::{JobError, JobHandler};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// This worker's name in the queue (`locked_by`): unique per process.
    pub name: String,
    /// Jobs run at once (`TENANTRY_WORKER_CONCURRENCY`).
    pub concurrency: usize,
    /// How long a claim holds a job before another worker may take it.
    pub lease: Duration,
    /// The longest wait between claims without a notification.
    pub backstop: Duration,
    pub retry: RetryPolicy,
    /// How long running jobs may finish after shutdown was asked for.
    pub grace: Duration,
}

impl WorkerConfig {
    /// Defaults for a worker named after this process.
    pub fn new(concurrency: usize) -> Self {
        Self {
            name: format!("{}-{}", std::process::id(), tenantry_kernel::JobId::new()),
            concurrency: concurrency.max(1),
            lease: Duration::from_secs(60),
            backstop: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            grace: Duration::from_secs(20),
        }
    }
}

/// A job's tenant context, rebuilt from its row: the worker is an edge (see `TenantCtx`).
pub(crate) fn job_ctx(edges: &Edges, job: &ClaimedJob) -> Option<TenantCtx> {
    job.tenant_id.map(|t| TenantCtx::for_job(edges, t, job.id))
}

/// A worker: a queue, what runs each job, and the schedules it keeps queued.
pub struct Worker<Q, H> {
    queue: Q,
    handler: H,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    /// The capability to rebuild each job's tenant context.
    edges: Edges,
    /// Jobs this worker holds, to hand back on shutdown.
    held: Arc<Mutex<HashSet<JobId>>>,
}

impl<Q: JobQueue, H: JobHandler> Worker<Q, H> {
    pub fn new(
        queue: Q,
        handler: H,
        clock: Arc<dyn Clock>,
        config: WorkerConfig,
        edges: Edges,
    ) -> Self {
        Self {
            queue,
            handler,
            clock,
            config,
            edges,
            held: Arc::default(),
        }
    }

    /// Runs until `shutdown` resolves, then drains (see the crate docs).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        let mut running = JoinSet::new();
        let mut failures = 0u32;
        let mut next_schedule = tokio::time::Instant::now();
        tracing::info!(worker = %self.config.name, concurrency = self.config.concurrency, "worker started");
        loop {
            while running.try_join_next().is_some() {}
            if tokio::time::Instant::now() >= next_schedule {
                self.keep_schedules().await;
                next_schedule = tokio::time::Instant::now() + Duration::from_secs(3600);
            }
            let free = permits.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = running.join_next() => continue,
                }
            }
            let claimed = self
                .queue
                .claim(
                    &self.config.name,
                    u32::try_from(free).unwrap_or(u32::MAX),
                    self.config.lease,
                    self.clock.now(),
                )
                .await;
            let claimed = match claimed {
                Ok(c) => {
                    failures = 0;
                    c
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "worker: cannot claim jobs");
                    let wait = Duration::from_millis(100 * 2u64.pow(failures.min(7)));
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = self.queue.wait_for_work(self.config.backstop) => continue,
                }
            }
            for job in claimed {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                if let Ok(mut held) = self.held.lock() {
                    held.insert(job.id);
                }
                let (queue, handler, clock) =
                    (self.queue.clone(), self.handler.clone(), self.clock.clone());
                let (retry, name, held) = (
                    self.config.retry,
                    self.config.name.clone(),
                    self.held.clone(),
                );
                let ctx = job_ctx(&self.edges, &job);
                running.spawn(async move {
                    let id = job.id;
                    run_one(&queue, &handler, clock.as_ref(), retry, &name, job, ctx).await;
                    held.lock().map(|mut h| h.remove(&id)).ok();
                    drop(permit);
                });
            }
        }
        self.drain(running).await;
    }

    /// Keeps the platform's recurring jobs queued (one per period, by dedupe key).
    async fn keep_schedules(&self) {
        let now = self.clock.now();
        let mut prune = NewJob::now(None, tenantry_jobs::Job::PruneEvents, now);
        prune.dedupe_key = Some(format!("prune_events:{}", now.format("%Y-%m-%d")));
        if let Err(e) = self.queue.enqueue(&prune).await {
            tracing::warn!(error = %e, "worker: cannot queue the daily event pruning");
        }
    }

    /// Lets running jobs finish for the grace period, then hands back the rest.
    async fn drain(self, mut running: JoinSet<()>) {
        let grace = tokio::time::sleep(self.config.grace);
        tokio::pin!(grace);
        while !running.is_empty() {
            tokio::select! {
                _ = &mut grace => {
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                }
                _ = running.join_next() => {}
            }
        }
        let left: Vec<JobId> = self
            .held
            .lock()
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        for id in left {
            if let Err(e) = self.queue.release(id, &self.config.name).await {
                tracing::warn!(job = %id, error = %e, "worker: cannot hand a job back; it runs again after its lease");
            }
        }
        tracing::info!(worker = %self.config.name, "worker stopped");
    }
}

async fn run_one<Q: JobQueue, H: JobHandler>(
    queue: &Q,
    handler: &H,
    clock: &dyn Clock,
    retry: RetryPolicy,
    worker: &str,
    job: ClaimedJob,
    ctx: Option<TenantCtx>,
) {
    let outcome = match &job.payload {
        JobPayload::Unknown { kind, error } => Err(JobError::Permanent(format!(
            "cannot run a job of kind {kind:?} here: {error}"
        ))),
        JobPayload::Known(kind) => {
            std::panic::AssertUnwindSafe(handler.run(kind, ctx.as_ref(), &job))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(JobError::Retry("the job panicked".to_owned())))
        }
    };
    let recorded = match outcome {
        Ok(()) => queue.complete(job.id, worker).await,
        Err(JobError::Retry(e)) if !job.is_last_attempt() => {
            let at = clock.now()
                + chrono::Duration::from_std(retry.delay(job.id, job.attempt))
                    .unwrap_or(chrono::Duration::MAX);
            tracing::info!(job = %job.id, attempt = job.attempt, error = %e, retry_at = %at, "job failed; will retry");
            queue.fail(job.id, worker, &e, Some(at)).await
        }
        Err(JobError::Retry(e) | JobError::Permanent(e)) => {
            tracing::warn!(job = %job.id, attempt = job.attempt, error = %e, "job is dead");
            queue.fail(job.id, worker, &e, None).await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(job = %job.id, error = %e, "worker: cannot record a job's outcome; it runs again after its lease");
    }
}
