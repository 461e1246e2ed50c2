//! The claim loop.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tenantry_jobs::{ClaimedJob, JobPayload, JobQueue, NewJob, RetryPolicy};
use tenantry_kernel::{Clock, Edges, JobId, TenantCtx};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::Instrument;

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
    /// Whether every tenant is backed up daily.
    pub daily_backups: bool,
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
            daily_backups: true,
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
    ///
    /// Claims are made for every free permit and as many again (the extra jobs wait here,
    /// held, for a permit), and successes are written in batches: under load one claim and
    /// one completion serve many jobs.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let concurrency = self.config.concurrency;
        let permits = Arc::new(Semaphore::new(concurrency));
        let mut running = JoinSet::new();
        let mut ready: VecDeque<ClaimedJob> = VecDeque::new();
        let mut failures = 0u32;
        let mut next_schedule = tokio::time::Instant::now();
        let (done, completions) = mpsc::unbounded_channel();
        let batcher = tokio::spawn(complete_batches(
            self.queue.clone(),
            self.config.name.clone(),
            completions,
        ));
        let outcomes = Outcomes {
            queue: self.queue.clone(),
            clock: self.clock.clone(),
            retry: self.config.retry,
            worker: self.config.name.clone(),
            done,
        };
        tracing::info!(worker = %self.config.name, concurrency, "worker started");
        loop {
            while running.try_join_next().is_some() {}
            if tokio::time::Instant::now() >= next_schedule {
                self.keep_schedules().await;
                // The finest schedule is a minute's (domain checks); a period's job is queued
                // once, by its dedupe key.
                next_schedule = tokio::time::Instant::now() + Duration::from_secs(60);
            }
            // Start what the free permits allow.
            while !ready.is_empty() {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                let Some(job) = ready.pop_front() else { break };
                // A job that waited here for half its lease goes back to the queue rather than
                // start late: another worker may take it once the lease ends.
                let half = chrono::Duration::from_std(self.config.lease / 2).unwrap_or_default();
                if self.clock.now() >= job.lease_until - half {
                    self.hand_back(job.id).await;
                    continue;
                }
                self.start(&mut running, permit, job, &outcomes);
            }
            if !ready.is_empty() {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = running.join_next() => continue,
                }
            }
            let room = (4 * concurrency).saturating_sub(running.len()).max(1);
            let claimed = self
                .queue
                .claim(
                    &self.config.name,
                    u32::try_from(room).unwrap_or(u32::MAX),
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
                    let wait = backoff(failures);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            if claimed.is_empty() {
                // Nothing runnable: wait for news, or for a running job to end.
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = self.queue.wait_for_work(self.config.backstop) => continue,
                    Some(_) = running.join_next(), if !running.is_empty() => continue,
                }
            }
            if let Ok(mut held) = self.held.lock() {
                held.extend(claimed.iter().map(|j| j.id));
            }
            ready.extend(claimed);
        }
        drain(running, self.config.grace).await;
        // Every job has ended: the last successes are written before anything is handed back.
        drop(outcomes);
        batcher.await.ok();
        self.release_held().await;
    }

    /// Runs `job` on its own task, holding `permit` until it ends.
    fn start(
        &self,
        running: &mut JoinSet<()>,
        permit: tokio::sync::OwnedSemaphorePermit,
        job: ClaimedJob,
        outcomes: &Outcomes<Q>,
    ) {
        let (handler, outcomes, held) = (self.handler.clone(), outcomes.clone(), self.held.clone());
        let ctx = job_ctx(&self.edges, &job);
        let kind = kind_of(&job);
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            job_kind = kind,
            attempt = job.attempt,
            tenant_id = tracing::field::Empty,
            otel.name = kind,
            otel.kind = "consumer",
        );
        if let Some(ctx) = &ctx {
            span.record("tenant_id", tracing::field::display(ctx.tenant_id()));
        }
        running.spawn(
            async move {
                let id = job.id;
                run_one(&outcomes, &handler, job, ctx).await;
                held.lock().map(|mut h| h.remove(&id)).ok();
                drop(permit);
            }
            .instrument(span),
        );
    }

    /// Keeps the platform's recurring jobs queued (one per period, by dedupe key).
    async fn keep_schedules(&self) {
        let now = self.clock.now();
        let backups = self
            .config
            .daily_backups
            .then_some(tenantry_jobs::Job::BackupTenants);
        for job in [
            tenantry_jobs::Job::PruneEvents,
            tenantry_jobs::Job::PruneDeliveryLog,
        ]
        .into_iter()
        .chain(backups)
        {
            let mut daily = NewJob::now(None, job, now);
            daily.dedupe_key = Some(format!("{}:{}", daily.job.kind(), now.format("%Y-%m-%d")));
            if let Err(e) = self.queue.enqueue_once(&daily).await {
                tracing::warn!(error = %e, kind = daily.job.kind(), "worker: cannot queue a daily job");
            }
        }
        let mut hourly = NewJob::now(None, tenantry_jobs::Job::AdvanceSubscriptions, now);
        hourly.dedupe_key = Some(format!(
            "{}:{}",
            hourly.job.kind(),
            now.format("%Y-%m-%dT%H")
        ));
        if let Err(e) = self.queue.enqueue_once(&hourly).await {
            tracing::warn!(error = %e, kind = hourly.job.kind(), "worker: cannot queue an hourly job");
        }
        let mut minutely = NewJob::now(None, tenantry_jobs::Job::CheckDomains, now);
        minutely.dedupe_key = Some(format!(
            "{}:{}",
            minutely.job.kind(),
            now.format("%Y-%m-%dT%H:%M")
        ));
        if let Err(e) = self.queue.enqueue(&minutely).await {
            tracing::warn!(error = %e, kind = minutely.job.kind(), "worker: cannot queue a job");
        }
    }

    /// Hands back every job still held (stopped, or claimed and not started).
    async fn release_held(self) {
        let left: Vec<JobId> = self
            .held
            .lock()
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        for id in left {
            self.hand_back(id).await;
        }
        tracing::info!(worker = %self.config.name, "worker stopped");
    }

    /// Releases a held job unrun (its attempt not counted).
    async fn hand_back(&self, id: JobId) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&id);
        }
        if let Err(e) = self.queue.release(id, &self.config.name).await {
            tracing::warn!(job = %id, error = %e, "worker: cannot hand a job back; it runs again after its lease");
        }
    }
}

/// Lets running tasks finish for `grace`, then stops the rest (the job worker's jobs, the
/// dispatcher's batches).
pub(crate) async fn drain(mut running: JoinSet<()>, grace: Duration) {
    let grace = tokio::time::sleep(grace);
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
}

/// The wait after `failures` claims in a row failed: 200 ms doubling to 12.8 s.
pub(crate) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100 * 2u64.pow(failures.min(7)))
}

/// What records a job's outcome: failures at once, successes through the batcher.
struct Outcomes<Q> {
    queue: Q,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    worker: String,
    done: mpsc::UnboundedSender<JobId>,
}

impl<Q: Clone> Clone for Outcomes<Q> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            clock: self.clock.clone(),
            retry: self.retry,
            worker: self.worker.clone(),
            done: self.done.clone(),
        }
    }
}

/// Writes successes as they come, each write taking every success that arrived meanwhile.
/// Ends when every sender is gone and the last batch is written.
async fn complete_batches<Q: JobQueue>(
    queue: Q,
    worker: String,
    mut done: mpsc::UnboundedReceiver<JobId>,
) {
    let mut ids = Vec::new();
    while let Some(id) = done.recv().await {
        ids.push(id);
        while ids.len() < 1000 {
            match done.try_recv() {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
        }
        if let Err(e) = queue.complete(&ids, &worker).await {
            tracing::warn!(jobs = ids.len(), error = %e, "worker: cannot record successes; those jobs run again after their lease");
        }
        ids.clear();
    }
}

/// The job's kind as metrics and spans name it.
fn kind_of(job: &ClaimedJob) -> &'static str {
    match &job.payload {
        JobPayload::Known(job) => job.kind(),
        JobPayload::Unknown { .. } => "unknown",
    }
}

async fn run_one<Q: JobQueue, H: JobHandler>(
    outcomes: &Outcomes<Q>,
    handler: &H,
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
    let (queue, worker) = (&outcomes.queue, outcomes.worker.as_str());
    let kind = kind_of(&job);
    let finished = |outcome: &'static str| {
        metrics::counter!("tenantry_jobs_finished_total", "kind" => kind, "outcome" => outcome)
            .increment(1);
    };
    let recorded = match outcome {
        Ok(()) => {
            finished("done");
            // The batcher outlives every job; were it gone, the lease brings the job back.
            let _ = outcomes.done.send(job.id);
            Ok(())
        }
        Err(JobError::Retry(e)) if !job.is_last_attempt() => {
            let at = outcomes.clock.now()
                + chrono::Duration::from_std(outcomes.retry.delay(job.id, job.attempt))
                    .unwrap_or(chrono::Duration::MAX);
            tracing::info!(job = %job.id, attempt = job.attempt, error = %e, retry_at = %at, "job failed; will retry");
            finished("retry");
            queue.fail(job.id, worker, &e, Some(at)).await
        }
        Err(JobError::Retry(e) | JobError::Permanent(e)) => {
            tracing::error!(job = %job.id, attempt = job.attempt, error = %e, "job is dead");
            finished("dead");
            queue.fail(job.id, worker, &e, None).await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(job = %job.id, error = %e, "worker: cannot record a job's outcome; it runs again after its lease");
    }
}
