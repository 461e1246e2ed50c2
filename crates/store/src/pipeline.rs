//! The mutation pipeline: the one way to change tenant-owned data.
//!
//! [`mutate!`] opens a write transaction in the context's tenant and hands the body an empty
//! [`ChangeLog`]. What the body records there becomes one [`Change`], built once and handed
//! to every [`Sink`] in the same transaction, before the commit: the quota counters, the audit
//! chain, the event outbox, the job queue and the webhook fan-out. A rolled-back change leaves no entry, no event and no job; a
//! committed one always has them. A new consumer of changes (metering, a search index) is
//! one more sink, not a call to remember in each resource.
//!
//! `tx!` has no tenant-scoped write form: a tenant write compiles only through here.

use std::future::Future;

use chrono::{DateTime, SubsecRound, Utc};
use diesel_async::AsyncPgConnection;
use tenantry_audit::{ChainHead, ChangeLog, ChangeRecord, Event, LoggedJob};
use tenantry_kernel::TenantCtx;

use crate::db::SqliteConn;
use crate::error::StoreError;
pub(crate) use crate::personal::Personal;

/// What one transaction changed in one tenant, and the jobs it asks for.
pub(crate) struct Change<'a> {
    pub ctx: &'a TenantCtx,
    /// Where the change came from, its personal fields sealed under the person's key.
    pub origin: tenantry_kernel::Origin,
    /// When, to the microsecond (what both backends store).
    pub at: DateTime<Utc>,
    pub records: Vec<ChangeRecord>,
    /// The records that are events, made once (ids included) for every sink that needs them.
    pub events: Vec<Event>,
    pub jobs: Vec<LoggedJob>,
    /// What the change adds to (negative: frees from) each quota's usage.
    pub usage: Vec<(&'static str, i64)>,
    /// The tenant's audit chain head, locked by this transaction; `None` when there are no
    /// records (a change of jobs only).
    pub head: Option<ChainHead>,
}

/// A consumer of every change, inside the change's transaction on connection type `C`:
/// `&AsyncPgConnection` on PostgreSQL (statements of several sinks may be in flight together
/// on the one connection), `SqliteConn` on SQLite.
pub(crate) trait Sink<C> {
    /// How many webhook deliveries it queued (only the fan-out queues any).
    fn accept(
        conn: &mut C,
        change: &Change<'_>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// The quota counters, the audit chain, the event outbox, the job queue, the webhook
/// deliveries.
pub(crate) type Sinks = (
    crate::billing::QuotaCounters,
    crate::audit::AuditChain,
    crate::events::EventOutbox,
    crate::jobs::JobOutbox,
    crate::deliveries::WebhookFanout,
);

/// What sealing a change queued, for the wake-ups after its commit.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sealed {
    pub jobs: usize,
    /// The change's events, in order.
    pub event_ids: Vec<tenantry_kernel::EventId>,
    /// Webhook deliveries the fan-out queued (on PostgreSQL: whether any was, as 0 or 1).
    pub deliveries: usize,
}

/// PostgreSQL: the sinks' statements are pipelined — sent together on the transaction's
/// connection without waiting for each answer (one round trip for all of them, as each is
/// prepared once per connection: `db::Cached`, decision 0054).
impl<'c, Q, A, E, J, W> Sink<&'c AsyncPgConnection> for (Q, A, E, J, W)
where
    Q: Sink<&'c AsyncPgConnection>,
    A: Sink<&'c AsyncPgConnection>,
    E: Sink<&'c AsyncPgConnection>,
    J: Sink<&'c AsyncPgConnection>,
    W: Sink<&'c AsyncPgConnection>,
{
    async fn accept(
        conn: &mut &'c AsyncPgConnection,
        change: &Change<'_>,
    ) -> Result<usize, StoreError> {
        let (mut quotas, mut audit, mut events, mut jobs, mut hooks) =
            (*conn, *conn, *conn, *conn, *conn);
        let (q, a, e, j, w) = futures_util::future::try_join5(
            Q::accept(&mut quotas, change),
            A::accept(&mut audit, change),
            E::accept(&mut events, change),
            J::accept(&mut jobs, change),
            W::accept(&mut hooks, change),
        )
        .await?;
        Ok(q + a + e + j + w)
    }
}

/// SQLite: one sink after the other (in process, and the write transaction already holds the
/// database's one write lock).
impl<Q, A, E, J, W> Sink<SqliteConn> for (Q, A, E, J, W)
where
    Q: Sink<SqliteConn>,
    A: Sink<SqliteConn>,
    E: Sink<SqliteConn>,
    J: Sink<SqliteConn>,
    W: Sink<SqliteConn>,
{
    async fn accept(conn: &mut SqliteConn, change: &Change<'_>) -> Result<usize, StoreError> {
        // The quotas first: a refused change writes nothing else.
        Ok(Q::accept(conn, change).await?
            + A::accept(conn, change).await?
            + E::accept(conn, change).await?
            + J::accept(conn, change).await?
            + W::accept(conn, change).await?)
    }
}

/// A write transaction's connection, as the pipeline takes it.
pub(crate) trait SinkConn: crate::personal::KeyConn {
    /// Takes the tenant's audit chain head for the rest of the transaction.
    fn lock_head(
        &mut self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<ChainHead, StoreError>> + Send;

    fn sink(
        &mut self,
        change: &Change<'_>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

impl SinkConn for AsyncPgConnection {
    async fn lock_head(&mut self, ctx: &TenantCtx) -> Result<ChainHead, StoreError> {
        crate::audit::lock_head_pg(self, ctx).await
    }

    async fn sink(&mut self, change: &Change<'_>) -> Result<usize, StoreError> {
        let mut shared: &AsyncPgConnection = self;
        <Sinks as Sink<&AsyncPgConnection>>::accept(&mut shared, change).await
    }
}

impl SinkConn for SqliteConn {
    async fn lock_head(&mut self, ctx: &TenantCtx) -> Result<ChainHead, StoreError> {
        crate::audit::lock_head_sqlite(self, ctx).await
    }

    async fn sink(&mut self, change: &Change<'_>) -> Result<usize, StoreError> {
        <Sinks as Sink<SqliteConn>>::accept(self, change).await
    }
}

/// Hands `log` to every sink; what it queued.
///
/// A change with records first takes the tenant's audit chain head, which every write of the
/// tenant waits for until its commit: the change's time, its chain entries and its event ids
/// (UUIDv7, time-ordered) are all made after that lock, so they follow the tenant's commit
/// order and a consumer paging events by id never finds one committed behind its cursor. Then
/// every sink writes (one pipelined round trip on PostgreSQL), then the transaction commits:
/// the lock is held for two round trips.
pub(crate) async fn seal<C: SinkConn>(
    conn: &mut C,
    ctx: &TenantCtx,
    person: &Personal,
    log: ChangeLog,
) -> Result<Sealed, StoreError> {
    if log.is_empty() {
        return Ok(Sealed::default());
    }
    let (mut records, jobs, usage) = log.into_parts();
    let (head, origin) = if records.is_empty() {
        (None, ctx.origin().clone())
    } else {
        let origin = person
            .seal_origin(conn, ctx.origin(), ctx.tenant_id())
            .await?;
        person
            .seal_subjects(conn, &mut records, ctx.tenant_id())
            .await?;
        (Some(conn.lock_head(ctx).await?), origin)
    };
    let at = Utc::now().trunc_subsecs(6);
    let events = records
        .iter()
        .filter_map(|r| Event::of(ctx, at, r))
        .collect();
    let change = Change {
        ctx,
        origin,
        at,
        records,
        events,
        jobs,
        usage,
        head,
    };
    let deliveries = conn.sink(&change).await?;
    Ok(Sealed {
        jobs: change.jobs.len(),
        event_ids: change.events.iter().map(|e| e.id).collect(),
        deliveries,
    })
}

/// Runs `$body` in a write transaction of the context's tenant with an empty
/// [`tenantry_audit::ChangeLog`] `$log`; whatever the body records there is sealed into every
/// sink in the same transaction, after the body and before the commit (an early `return` in
/// the body still seals what was logged). Workers are woken after the commit when it queued
/// jobs. The person key for the change's personal fields is looked up first, outside the
/// transaction.
macro_rules! mutate {
    ($db:expr, $ctx:expr, |$conn:ident, $log:ident| $body:expr) => {
        mutate!(@events $db, $ctx, |$conn, $log| $body).map(|(out, _)| out)
    };
    // The same, giving also the ids of the events the change made, in order.
    (@events $db:expr, $ctx:expr, |$conn:ident, $log:ident| $body:expr) => {{
        let ctx: &tenantry_kernel::TenantCtx = $ctx;
        let db: &$crate::db::Db = &$db;
        let sealed: Result<(_, $crate::pipeline::Sealed), $crate::error::StoreError> = async {
            let person = db.person_of(ctx).await?;
            tx!(
                @scoped db, write, $crate::db::Scope::Tenant(ctx.tenant_id()), |$conn| {
                    audited!($conn, ctx, &person, |$log| $body)
                }
            )
        }.await;
        sealed.map(|(out, mut sealed)| {
            let events = std::mem::take(&mut sealed.event_ids);
            db.committed(sealed);
            (out, events)
        })
    }};
}

/// The pipeline's part inside a transaction: `$body` with an empty ChangeLog `$log`, sealed
/// into `$ctx`'s sinks after it (personal fields under `$person`'s key, from
/// [`crate::db::Db::person_of`]); gives `(body's value, what it queued)`. For the writes that
/// learn their tenant inside the transaction (accepting an invitation) or span several;
/// everything else uses [`mutate!`].
macro_rules! audited {
    ($conn:ident, $ctx:expr, $person:expr, |$log:ident| $body:expr) => {{
        let mut $log = tenantry_audit::ChangeLog::new();
        let out: Result<_, $crate::error::StoreError> = async { $body }.await;
        let out = out?;
        let sealed = $crate::pipeline::seal($conn, $ctx, $person, $log).await?;
        Ok((out, sealed))
    }};
}
