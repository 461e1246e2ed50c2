//! The job queue: the pipeline's job sink (tenant jobs, written in the transaction that asks
//! for them) and the [`JobQueue`] adapter workers run.
//!
//! Claiming differs per backend, as an explicit two-arm part ([`PickJobs`]): PostgreSQL picks
//! with `FOR UPDATE SKIP LOCKED` (concurrent workers skip each other's rows instead of
//! waiting), SQLite inside its `BEGIN IMMEDIATE` write transaction (one writer at a time).
//! Workers wait on PostgreSQL `LISTEN tenantry_jobs` (one listener connection per process,
//! reconnecting with backoff) and on commits of this process; polling is only a backstop.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_jobs::{
    ClaimedJob, JobFilter, JobInfo, JobPayload, JobQueue, JobState, KindCount, NewJob,
    OperatorError, QueueSummary,
};
use tenantry_kernel::{JobId, TenantId, Unexpected};

use crate::db::{Db, SqliteConn};
use crate::error::StoreError;
use crate::pipeline::{Change, Sink};
use crate::types::DbInstant;
use crate::types::DbUuid;

/// The PostgreSQL notification channel of the queue.
const CHANNEL: &str = "tenantry_jobs";

/// The job sink: the jobs a change asks for, in its tenant, queued in its transaction.
pub(crate) struct JobOutbox;

macro_rules! insert_job {
    ($conn:ident, $job:expr, $tenant:expr, $now:expr) => {{
        let job: &NewJob = $job;
        diesel::insert_into(jobs::table)
            .values((
                jobs::id.eq(DbUuid::from(job.id)),
                jobs::kind.eq(job.job.kind()),
                jobs::tenant_id.eq($tenant.map(DbUuid::from)),
                jobs::payload.eq(job.payload_json()),
                jobs::state.eq(JobState::Queued.as_str()),
                jobs::attempts.eq(0),
                jobs::max_attempts.eq(i32::try_from(job.job.max_attempts()).unwrap_or(i32::MAX)),
                jobs::run_at.eq(job.run_at),
                jobs::dedupe_key.eq(&job.dedupe_key),
                jobs::created_at.eq($now),
            ))
            .on_conflict_do_nothing()
            .execute($conn)
            .await?
    }};
}

impl<'c> Sink<&'c diesel_async::AsyncPgConnection> for JobOutbox {
    async fn accept(
        conn: &mut &'c diesel_async::AsyncPgConnection,
        change: &Change<'_>,
    ) -> Result<usize, StoreError> {
        use crate::schema::pg::*;
        if change.jobs.is_empty() {
            return Ok(0);
        }
        // Every insert and the NOTIFY pipelined (NOTIFY is delivered at commit whatever its
        // place in the transaction).
        let tenant = Some(change.ctx.tenant_id());
        let inserts = change.jobs.iter().map(|job| {
            let mut shared = *conn;
            async move {
                let conn = &mut shared;
                let new = logged_job(tenant, job, change.at);
                insert_job!(conn, &new, tenant, change.at);
                Ok::<_, StoreError>(())
            }
        });
        futures_util::future::try_join(futures_util::future::try_join_all(inserts), notify(conn))
            .await?;
        Ok(0)
    }
}

impl Sink<SqliteConn> for JobOutbox {
    async fn accept(conn: &mut SqliteConn, change: &Change<'_>) -> Result<usize, StoreError> {
        use crate::schema::sqlite::*;
        let tenant = Some(change.ctx.tenant_id());
        for job in &change.jobs {
            let new = logged_job(tenant, job, change.at);
            insert_job!(conn, &new, tenant, change.at);
        }
        Ok(0)
    }
}

/// The queue's row for a job a change asked for.
fn logged_job(
    tenant: Option<TenantId>,
    logged: &tenantry_audit::LoggedJob,
    at: DateTime<Utc>,
) -> NewJob {
    let mut new = NewJob::now(tenant, logged.job.clone(), at);
    if let Some(later) = logged.not_before {
        new.run_at = later.max(at);
    }
    new
}

/// Delivered to every listener when the transaction commits (and never if it rolls back).
async fn notify(mut conn: &diesel_async::AsyncPgConnection) -> Result<(), StoreError> {
    crate::db::Cached::new(diesel::sql_query(format!("NOTIFY {CHANNEL}")))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Ids of up to `$max` jobs queued and due, oldest first (index `jobs_due`).
macro_rules! due_ids {
    ($now:expr, $max:expr) => {
        jobs::table
            .select(jobs::id)
            .filter(jobs::state.eq(JobState::Queued.as_str()))
            .filter(jobs::run_at.le($now))
            .order(jobs::run_at.asc())
            .limit($max)
    };
}

/// Ids of up to `$max` running jobs whose lease ended (their worker died), longest ended
/// first (index `jobs_lease_end`).
macro_rules! expired_ids {
    ($now:expr, $max:expr) => {
        jobs::table
            .select(jobs::id)
            .filter(jobs::state.eq(JobState::Running.as_str()))
            .filter(jobs::locked_until.lt($now))
            .order(jobs::locked_until.asc())
            .limit($max)
    };
}

/// The two-arm part of claiming: ids of up to `max` runnable jobs — jobs whose worker died
/// first, then due ones, oldest first. Two statements, each on its own index (one `OR`
/// across both states sorted the whole queue on every claim).
trait PickJobs {
    fn pick(
        &mut self,
        now: DateTime<Utc>,
        max: i64,
    ) -> impl std::future::Future<Output = Result<Vec<DbUuid>, StoreError>> + Send;

    /// The queue's own bookkeeping (claims, outcomes, hand-backs) commits without waiting for
    /// the disk. A crash may lose the last few of those commits, and each loss only runs a
    /// job again — what at-least-once already promises. Enqueueing is never relaxed: it
    /// commits with the change that asked for the job.
    fn bookkeeping(&mut self) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

impl PickJobs for diesel_async::AsyncPgConnection {
    async fn bookkeeping(&mut self) -> Result<(), StoreError> {
        diesel::sql_query("SET LOCAL synchronous_commit = off")
            .execute(self)
            .await?;
        Ok(())
    }

    /// Rows another worker has locked are skipped, not waited for.
    async fn pick(&mut self, now: DateTime<Utc>, max: i64) -> Result<Vec<DbUuid>, StoreError> {
        use crate::schema::pg::*;
        let mut ids: Vec<DbUuid> = expired_ids!(now, max)
            .for_update()
            .skip_locked()
            .load(self)
            .await?;
        let left = max - ids.len() as i64;
        if left > 0 {
            ids.extend(
                due_ids!(now, left)
                    .for_update()
                    .skip_locked()
                    .load::<DbUuid>(self)
                    .await?,
            );
        }
        Ok(ids)
    }
}

impl PickJobs for SqliteConn {
    /// SQLite's commits already follow the connection's `synchronous` setting.
    async fn bookkeeping(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The write transaction already excludes every other writer.
    async fn pick(&mut self, now: DateTime<Utc>, max: i64) -> Result<Vec<DbUuid>, StoreError> {
        use crate::schema::sqlite::*;
        let mut ids: Vec<DbUuid> = expired_ids!(now, max).load(self).await?;
        let left = max - ids.len() as i64;
        if left > 0 {
            ids.extend(due_ids!(now, left).load::<DbUuid>(self).await?);
        }
        Ok(ids)
    }
}

#[derive(Queryable)]
struct ClaimRow {
    id: DbUuid,
    tenant_id: Option<DbUuid>,
    kind: String,
    payload: String,
    attempts: i32,
    max_attempts: i32,
    locked_until: Option<DateTime<Utc>>,
}

impl From<ClaimRow> for ClaimedJob {
    fn from(r: ClaimRow) -> Self {
        ClaimedJob {
            id: JobId::from_uuid(r.id.0),
            tenant_id: r.tenant_id.map(|t| TenantId::from_uuid(t.0)),
            payload: JobPayload::parse(&r.kind, &r.payload),
            attempt: u32::try_from(r.attempts).unwrap_or(0),
            max_attempts: u32::try_from(r.max_attempts).unwrap_or(1),
            lease_until: r.locked_until.unwrap_or_default(),
        }
    }
}

#[derive(Queryable)]
struct JobRow {
    id: DbUuid,
    kind: String,
    tenant_id: Option<DbUuid>,
    payload: String,
    state: String,
    attempts: i32,
    max_attempts: i32,
    #[diesel(deserialize_as = DbInstant)]
    run_at: DateTime<Utc>,
    _locked_by: Option<String>,
    _locked_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    _dedupe_key: Option<String>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
}

impl TryFrom<JobRow> for JobInfo {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(JobInfo {
            id: JobId::from_uuid(r.id.0),
            state: JobState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("job state {:?}", r.state)))?,
            kind: r.kind,
            tenant_id: r.tenant_id.map(|t| TenantId::from_uuid(t.0)),
            payload: r.payload,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            max_attempts: u32::try_from(r.max_attempts).unwrap_or(1),
            run_at: r.run_at,
            created_at: r.created_at,
            last_error: r.last_error,
        })
    }
}

fn chrono_after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Counts by kind and state, the oldest wait, the dead jobs.
type SummaryRows = (
    Vec<(String, String, i64)>,
    Option<DateTime<Utc>>,
    Vec<JobRow>,
);

impl Db {
    async fn claim_jobs(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let until = chrono_after(now, lease);
        let rows: Vec<ClaimRow> = tx!(self, write, platform, |conn| {
            conn.bookkeeping().await?;
            // A lease that ended during the last attempt: the job is dead, not run again.
            diesel::update(
                jobs::table
                    .filter(jobs::state.eq(JobState::Running.as_str()))
                    .filter(jobs::locked_until.lt(now))
                    .filter(jobs::attempts.ge(jobs::max_attempts)),
            )
            .set((
                jobs::state.eq(JobState::Dead.as_str()),
                jobs::last_error.eq("the worker stopped during the last attempt (lease ended)"),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
            let ids = conn.pick(now, i64::from(max)).await?;
            if ids.is_empty() {
                return Ok(vec![]);
            }
            Ok(diesel::update(jobs::table.filter(jobs::id.eq_any(ids)))
                .set((
                    jobs::state.eq(JobState::Running.as_str()),
                    jobs::attempts.eq(jobs::attempts + 1),
                    jobs::locked_by.eq(worker),
                    jobs::locked_until.eq(until),
                ))
                .returning((
                    jobs::id,
                    jobs::tenant_id,
                    jobs::kind,
                    jobs::payload,
                    jobs::attempts,
                    jobs::max_attempts,
                    jobs::locked_until,
                ))
                .get_results(conn)
                .await?)
        })?;
        let mut claimed: Vec<ClaimedJob> = rows.into_iter().map(ClaimedJob::from).collect();
        claimed.sort_by_key(|j| j.id);
        Ok(claimed)
    }

    /// A failed attempt: queued again for `retry_at`, or dead without one.
    async fn fail_job(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            conn.bookkeeping().await?;
            let held = jobs::table
                .filter(jobs::id.eq(DbUuid::from(id)))
                .filter(jobs::state.eq(JobState::Running.as_str()))
                .filter(jobs::locked_by.eq(worker));
            match retry_at {
                Some(at) => {
                    diesel::update(held)
                        .set((
                            jobs::state.eq(JobState::Queued.as_str()),
                            jobs::run_at.eq(at),
                            jobs::last_error.eq(Some(error)),
                            jobs::locked_by.eq(None::<String>),
                            jobs::locked_until.eq(None::<DateTime<Utc>>),
                        ))
                        .execute(conn)
                        .await?
                }
                None => {
                    diesel::update(held)
                        .set((
                            jobs::state.eq(JobState::Dead.as_str()),
                            jobs::last_error.eq(Some(error)),
                            jobs::locked_by.eq(None::<String>),
                            jobs::locked_until.eq(None::<DateTime<Utc>>),
                        ))
                        .execute(conn)
                        .await?
                }
            };
            Ok(())
        })
    }

    async fn complete_jobs(&self, ids: &[JobId], worker: &str) -> Result<(), StoreError> {
        let ids: Vec<DbUuid> = ids.iter().copied().map(DbUuid::from).collect();
        tx!(self, write, platform, |conn| {
            conn.bookkeeping().await?;
            diesel::delete(
                jobs::table
                    .filter(jobs::id.eq_any(&ids))
                    .filter(jobs::state.eq(JobState::Running.as_str()))
                    .filter(jobs::locked_by.eq(worker)),
            )
            .execute(conn)
            .await?;
            Ok(())
        })
    }

    async fn release_job(&self, id: JobId, worker: &str) -> Result<(), StoreError> {
        let now = Utc::now();
        tx!(self, write, platform, |conn| {
            conn.bookkeeping().await?;
            diesel::update(
                jobs::table
                    .filter(jobs::id.eq(DbUuid::from(id)))
                    .filter(jobs::state.eq(JobState::Running.as_str()))
                    .filter(jobs::locked_by.eq(worker)),
            )
            .set((
                jobs::state.eq(JobState::Queued.as_str()),
                jobs::attempts.eq(jobs::attempts - 1),
                jobs::run_at.eq(now),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
            Ok(())
        })?;
        self.jobs_committed(1);
        Ok(())
    }

    async fn enqueue_job(&self, job: &NewJob) -> Result<bool, StoreError> {
        let now = Utc::now();
        let inserted = match self.conn().await? {
            crate::db::DbConn::Pg(mut pooled) => {
                use crate::schema::pg::*;
                // One statement, so no transaction (but behind a transaction pooler);
                // NOTIFY after it (a worker that wakes early finds the row already
                // committed).
                let pooled_by_transaction = self.pooled_by_transaction();
                crate::db::pg_statement(&mut pooled, pooled_by_transaction, async |conn| {
                    let n = insert_job!(conn, job, job.tenant_id, now);
                    if n > 0 {
                        notify(conn).await?;
                    }
                    Ok(n)
                })
                .await?
            }
            crate::db::DbConn::Sqlite(mut pooled) => {
                use crate::schema::sqlite::*;
                let conn: &mut SqliteConn = &mut pooled;
                insert_job!(conn, job, job.tenant_id, now)
            }
        };
        self.jobs_committed(inserted);
        Ok(inserted > 0)
    }

    /// Queues `job` unless its period (dedupe key) was queued before: the period is recorded
    /// in the same transaction, and periods older than three days are forgotten.
    async fn enqueue_period(&self, job: &NewJob) -> Result<bool, StoreError> {
        let Some(period) = job.dedupe_key.as_deref() else {
            return self.enqueue_job(job).await;
        };
        let now = Utc::now();
        let inserted = tx!(self, write, platform, |conn| {
            diesel::delete(
                job_periods::table
                    .filter(job_periods::queued_at.lt(now - chrono::Duration::days(3))),
            )
            .execute(conn)
            .await?;
            let new = diesel::insert_into(job_periods::table)
                .values((
                    job_periods::dedupe_key.eq(period),
                    job_periods::queued_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if new == 0 {
                return Ok(0);
            }
            Ok(insert_job!(conn, job, job.tenant_id, now))
        })?;
        self.jobs_committed(inserted);
        Ok(inserted > 0)
    }

    /// When the next job comes due without anyone enqueueing: the earliest scheduled run
    /// (a retry) or the earliest lease to end (a worker that died).
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (run_at, lease_end): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
            tx!(self, read, tenant = None, |conn| {
                let run_at = jobs::table
                    .filter(jobs::state.eq(JobState::Queued.as_str()))
                    .order(jobs::run_at.asc())
                    .select(jobs::run_at)
                    .first(conn)
                    .await
                    .optional()?;
                let lease_end = jobs::table
                    .filter(jobs::state.eq(JobState::Running.as_str()))
                    .filter(jobs::locked_until.is_not_null())
                    .order(jobs::locked_until.asc())
                    .select(jobs::locked_until)
                    .first::<Option<DateTime<Utc>>>(conn)
                    .await
                    .optional()?
                    .flatten();
                Ok((run_at, lease_end))
            })?;
        Ok(match (run_at, lease_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    async fn load_jobs(&self, f: &JobFilter) -> Result<Vec<JobInfo>, StoreError> {
        let rows: Vec<JobRow> = tx!(self, read, tenant = None, |conn| {
            let mut q = jobs::table.into_boxed();
            if let Some(s) = f.state {
                q = q.filter(jobs::state.eq(s.as_str()));
            }
            if let Some(k) = &f.kind {
                q = q.filter(jobs::kind.eq(k.clone()));
            }
            Ok(q.order((jobs::created_at.asc(), jobs::id.asc()))
                .limit(i64::from(f.limit.clamp(1, 1000)))
                .load(conn)
                .await?)
        })?;
        rows.into_iter().map(JobInfo::try_from).collect()
    }

    async fn load_summary(&self, now: DateTime<Utc>) -> Result<QueueSummary, StoreError> {
        let (counts, oldest, dead): SummaryRows = tx!(self, read, tenant = None, |conn| {
            let counts = jobs::table
                .group_by((jobs::kind, jobs::state))
                .select((jobs::kind, jobs::state, diesel::dsl::count_star()))
                .order((jobs::kind.asc(), jobs::state.asc()))
                .load(conn)
                .await?;
            let oldest = jobs::table
                .filter(jobs::state.eq(JobState::Queued.as_str()))
                .filter(jobs::run_at.le(now))
                .select(jobs::run_at)
                .order(jobs::run_at.asc())
                .first(conn)
                .await
                .optional()?;
            let dead = jobs::table
                .filter(jobs::state.eq(JobState::Dead.as_str()))
                .order((jobs::created_at.desc(), jobs::id.desc()))
                .limit(100)
                .load(conn)
                .await?;
            Ok((counts, oldest, dead))
        })?;
        Ok(QueueSummary {
            counts: counts
                .into_iter()
                .filter_map(|(kind, state, n)| {
                    Some(KindCount {
                        kind,
                        state: JobState::parse(&state)?,
                        count: u64::try_from(n).unwrap_or(0),
                    })
                })
                .collect(),
            oldest_waiting_since: oldest,
            dead: dead
                .into_iter()
                .map(JobInfo::try_from)
                .collect::<Result<_, _>>()?,
        })
    }

    /// `retry`: a dead job queued again with fresh attempts; `cancel`: a queued or dead job
    /// removed.
    async fn operate_on_job(
        &self,
        id: JobId,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<Result<JobInfo, OperatorError>, StoreError> {
        let out = tx!(self, write, platform, |conn| {
            let row: Option<JobRow> = jobs::table
                .filter(jobs::id.eq(DbUuid::from(id)))
                .first(conn)
                .await
                .optional()?;
            let Some(row) = row else {
                return Ok(Err(OperatorError::NotFound));
            };
            let mut info = JobInfo::try_from(row)?;
            let target = jobs::table.filter(jobs::id.eq(DbUuid::from(id)));
            match (retry_at, info.state) {
                (Some(at), JobState::Dead) => {
                    diesel::update(target)
                        .set((
                            jobs::state.eq(JobState::Queued.as_str()),
                            jobs::attempts.eq(0),
                            jobs::run_at.eq(at),
                        ))
                        .execute(conn)
                        .await?;
                    info.state = JobState::Queued;
                    info.attempts = 0;
                    info.run_at = at;
                }
                (Some(_), state) => return Ok(Err(OperatorError::WrongState(state.as_str()))),
                (None, JobState::Running) => {
                    return Ok(Err(OperatorError::WrongState(JobState::Running.as_str())));
                }
                (None, _) => {
                    diesel::delete(target).execute(conn).await?;
                }
            }
            Ok(Ok(info))
        })?;
        if retry_at.is_some() && out.is_ok() {
            self.jobs_committed(1);
        }
        Ok(out)
    }

    /// Starts (once per process) the task that turns PostgreSQL notifications on the queue's
    /// channel into wake-ups of this process's workers.
    pub(crate) fn listen_for_jobs(&self) {
        if self.backend() != crate::db::Backend::Postgres
            || self.listener_started().swap(true, Ordering::SeqCst)
        {
            return;
        }
        if self.pooled_by_transaction() {
            // A transaction pooler hands LISTEN's session to other clients: other instances'
            // jobs are found by the worker's polls (docs/scaling.md).
            tracing::info!(
                "behind a transaction pooler: no LISTEN; jobs queued by other instances are found by polling"
            );
            return;
        }
        let db = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match db.listen_once().await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(e) => {
                        tracing::warn!(error = %e, "job listener: connection lost; polling until it is back");
                    }
                }
                // Whatever was notified while we were away is found by the next claim.
                db.jobs_committed(1);
                db.deliveries_committed(1);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        });
    }

    async fn listen_once(&self) -> Result<(), StoreError> {
        use futures_util::StreamExt;
        let mut conn = crate::db::establish_direct(self.url())
            .await
            .map_err(|e| StoreError::Connection(e.to_string()))?;
        let webhooks = crate::deliveries::CHANNEL;
        diesel::sql_query(format!("LISTEN {CHANNEL}"))
            .execute(&mut conn)
            .await?;
        diesel::sql_query(format!("LISTEN {webhooks}"))
            .execute(&mut conn)
            .await?;
        let mut stream = std::pin::pin!(conn.notifications_stream());
        while let Some(n) = stream.next().await {
            if n?.channel == webhooks {
                self.deliveries_committed(1);
            } else {
                self.jobs_committed(1);
            }
        }
        Ok(())
    }
}

impl JobQueue for Db {
    async fn enqueue_once(&self, job: &NewJob) -> Result<bool, Unexpected> {
        Ok(self.enqueue_period(job).await?)
    }

    async fn enqueue(&self, job: &NewJob) -> Result<bool, Unexpected> {
        Ok(self.enqueue_job(job).await?)
    }

    async fn claim(
        &self,
        worker: &str,
        max: u32,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedJob>, Unexpected> {
        Ok(self.claim_jobs(worker, max, lease, now).await?)
    }

    async fn complete(&self, ids: &[JobId], worker: &str) -> Result<(), Unexpected> {
        Ok(self.complete_jobs(ids, worker).await?)
    }

    async fn fail(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), Unexpected> {
        Ok(self.fail_job(id, worker, error, retry_at).await?)
    }

    async fn release(&self, id: JobId, worker: &str) -> Result<(), Unexpected> {
        Ok(self.release_job(id, worker).await?)
    }

    async fn wait_for_work(&self, at_most: Duration) {
        self.listen_for_jobs();
        // A retry or an ended lease makes a job runnable without any notification: wake for
        // the earliest (a failed read leaves the backstop).
        // On its own task: a waiter dropped mid-read (the worker had other news) must not
        // cancel a query in flight.
        let db = self.clone();
        let wait = match tokio::spawn(async move { db.next_due().await }).await {
            // Never a busy loop: at least a few milliseconds.
            Ok(Ok(Some(due))) => (due - Utc::now()).to_std().unwrap_or_default().clamp(
                Duration::from_millis(5),
                at_most.max(Duration::from_millis(5)),
            ),
            Ok(Ok(None)) => at_most,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read when the next job comes due");
                at_most
            }
            Err(e) => {
                tracing::warn!(error = %e, "the read of the next due job stopped");
                at_most
            }
        };
        let _ = tokio::time::timeout(wait, self.jobs_queued().notified()).await;
    }

    async fn queue_summary(&self, now: DateTime<Utc>) -> Result<QueueSummary, Unexpected> {
        Ok(self.load_summary(now).await?)
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobInfo>, Unexpected> {
        Ok(self.load_jobs(filter).await?)
    }

    async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> Result<JobInfo, OperatorError> {
        self.operate_on_job(id, Some(now))
            .await
            .map_err(|e| OperatorError::Unexpected(e.into()))?
    }

    async fn cancel_job(&self, id: JobId) -> Result<JobInfo, OperatorError> {
        self.operate_on_job(id, None)
            .await
            .map_err(|e| OperatorError::Unexpected(e.into()))?
    }
}
