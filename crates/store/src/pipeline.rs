//! The mutation pipeline: the one way to change tenant-owned data.
//!
//! [`mutate!`] opens a write transaction in the context's tenant and hands the body an empty
//! [`ChangeLog`]. What the body records there becomes one [`Change`], built once and handed
//! to every [`Sink`] in the same transaction, before the commit: the audit chain, the event
//! outbox and the job queue. A rolled-back change leaves no entry, no event and no job; a
//! committed one always has them. A new consumer of changes (metering, a search index) is
//! one more sink, not a call to remember in each resource.
//!
//! `tx!` has no tenant-scoped write form: a tenant write compiles only through here.

use std::future::Future;

use chrono::{DateTime, SubsecRound, Utc};
use diesel_async::AsyncPgConnection;
use tenantry_audit::{ChangeLog, ChangeRecord};
use tenantry_jobs::Job;
use tenantry_kernel::TenantCtx;

use crate::db::SqliteConn;
use crate::error::StoreError;

/// What one transaction changed in one tenant, and the jobs it asks for.
pub(crate) struct Change<'a> {
    pub ctx: &'a TenantCtx,
    /// When, to the microsecond (what both backends store).
    pub at: DateTime<Utc>,
    pub records: Vec<ChangeRecord>,
    pub jobs: Vec<Job>,
}

/// A consumer of every change, inside the change's transaction on connection type `C`:
/// `&AsyncPgConnection` on PostgreSQL (statements of several sinks may be in flight together
/// on the one connection), `SqliteConn` on SQLite.
pub(crate) trait Sink<C> {
    fn accept(
        conn: &mut C,
        change: &Change<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The audit chain, the event outbox, the job queue.
pub(crate) type Sinks = (
    crate::audit::AuditChain,
    crate::events::EventOutbox,
    crate::jobs::JobOutbox,
);

/// PostgreSQL: the sinks' statements are pipelined — sent together on the transaction's
/// connection, executed by the server in the order sent: the outbox and the jobs first, then
/// the audit chain, whose first statement takes the tenant's chain-head lock. Every write of
/// the tenant waits for that lock, so it is taken last and held for two round trips (the
/// chain's rows with the new head, then COMMIT), not for every sink's.
impl<'c, A, E, J> Sink<&'c AsyncPgConnection> for (A, E, J)
where
    A: Sink<&'c AsyncPgConnection>,
    E: Sink<&'c AsyncPgConnection>,
    J: Sink<&'c AsyncPgConnection>,
{
    async fn accept(
        conn: &mut &'c AsyncPgConnection,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let (mut events, mut jobs, mut audit) = (*conn, *conn, *conn);
        futures_util::future::try_join3(
            E::accept(&mut events, change),
            J::accept(&mut jobs, change),
            A::accept(&mut audit, change),
        )
        .await?;
        Ok(())
    }
}

/// SQLite: one sink after the other (in process, and the write transaction already holds the
/// database's one write lock).
impl<A, E, J> Sink<SqliteConn> for (A, E, J)
where
    A: Sink<SqliteConn>,
    E: Sink<SqliteConn>,
    J: Sink<SqliteConn>,
{
    async fn accept(conn: &mut SqliteConn, change: &Change<'_>) -> Result<(), StoreError> {
        A::accept(conn, change).await?;
        E::accept(conn, change).await?;
        J::accept(conn, change).await
    }
}

/// A write transaction's connection, as the sinks take it.
pub(crate) trait SinkConn: Send {
    fn sink(&mut self, change: &Change<'_>) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl SinkConn for AsyncPgConnection {
    async fn sink(&mut self, change: &Change<'_>) -> Result<(), StoreError> {
        let mut shared: &AsyncPgConnection = self;
        <Sinks as Sink<&AsyncPgConnection>>::accept(&mut shared, change).await
    }
}

impl SinkConn for SqliteConn {
    async fn sink(&mut self, change: &Change<'_>) -> Result<(), StoreError> {
        <Sinks as Sink<SqliteConn>>::accept(self, change).await
    }
}

/// Hands `log` to every sink; how many jobs it queued.
pub(crate) async fn seal<C: SinkConn>(
    conn: &mut C,
    ctx: &TenantCtx,
    log: ChangeLog,
) -> Result<usize, StoreError> {
    if log.is_empty() {
        return Ok(0);
    }
    let (records, jobs) = log.into_parts();
    let change = Change {
        ctx,
        at: Utc::now().trunc_subsecs(6),
        records,
        jobs,
    };
    conn.sink(&change).await?;
    Ok(change.jobs.len())
}

/// Runs `$body` in a write transaction of the context's tenant with an empty
/// [`tenantry_audit::ChangeLog`] `$log`; whatever the body records there is sealed into every
/// sink in the same transaction, after the body and before the commit (an early `return` in
/// the body still seals what was logged). Workers are woken after the commit when it queued
/// jobs.
macro_rules! mutate {
    ($db:expr, $ctx:expr, |$conn:ident, $log:ident| $body:expr) => {{
        let ctx: &tenantry_kernel::TenantCtx = $ctx;
        let db: &$crate::db::Db = &$db;
        let sealed: Result<(_, usize), $crate::error::StoreError> = tx!(
            @scoped db, write, $crate::db::Scope::Tenant(ctx.tenant_id()), |$conn| {
                audited!($conn, ctx, |$log| $body)
            }
        );
        sealed.map(|(out, jobs)| {
            db.jobs_committed(jobs);
            out
        })
    }};
}

/// The pipeline's part inside a transaction: `$body` with an empty ChangeLog `$log`, sealed
/// into `$ctx`'s sinks after it; gives `(body's value, jobs queued)`. For the one write that
/// learns its tenant inside the transaction (accepting an invitation); everything else uses
/// [`mutate!`].
macro_rules! audited {
    ($conn:ident, $ctx:expr, |$log:ident| $body:expr) => {{
        let mut $log = tenantry_audit::ChangeLog::new();
        let out: Result<_, $crate::error::StoreError> = async { $body }.await;
        let out = out?;
        let jobs = $crate::pipeline::seal($conn, $ctx, $log).await?;
        Ok((out, jobs))
    }};
}
