//! The end of the mutation pipeline (sealing a transaction's change log into the tenant's
//! audit chain), the audit trail's reads, and the platform security log.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_audit::{
    AuditEntry, AuditFilter, AuditRepository, ChainHead, ChangeLog, SecurityEvent,
    SecurityEventFilter, SecurityEventKind, SecurityLog,
};
use tenantry_kernel::{
    ApiKeyId, AuditEntryId, Page, PageRequest, SecurityEventId, TenantCtx, TenantId, Unexpected,
    UserId,
};

use crate::db::{Db, SqliteConn, load_first, load_rows};
use crate::error::StoreError;
use crate::personal::field;
use crate::pipeline::{Change, Sink};
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
struct EntryRow {
    tenant_id: DbUuid,
    seq: i64,
    id: DbUuid,
    #[diesel(deserialize_as = DbInstant)]
    at: DateTime<Utc>,
    actor_type: String,
    actor_id: Option<DbUuid>,
    api_key_id: Option<DbUuid>,
    entity_type: String,
    entity_id: String,
    action: String,
    changes: String,
    request_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    prev_hash: String,
    hash: String,
    impersonator_id: Option<DbUuid>,
}

impl From<EntryRow> for AuditEntry {
    fn from(r: EntryRow) -> Self {
        AuditEntry {
            id: AuditEntryId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            seq: r.seq,
            at: r.at,
            actor_type: r.actor_type,
            actor_id: r.actor_id.map(|u| UserId::from_uuid(u.0)),
            api_key_id: r.api_key_id.map(|k| ApiKeyId::from_uuid(k.0)),
            impersonator_id: r.impersonator_id.map(|u| UserId::from_uuid(u.0)),
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            action: r.action,
            changes: r.changes,
            request_id: r.request_id,
            ip: r.ip,
            user_agent: r.user_agent,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// The audit chain sink: seals a change's records into the tenant's chain.
pub(crate) struct AuditChain;

/// One body for both backends' [`lock_head_pg`] and [`lock_head_sqlite`].
macro_rules! lock_head_body {
    ($conn:ident, $ctx:ident) => {{
        let head = || {
            $crate::db::Cached::new(
                diesel::update(audit_heads::of($ctx))
                    .set(audit_heads::seq.eq(audit_heads::seq))
                    .returning((audit_heads::seq, audit_heads::hash)),
            )
        };
        let mut found: Option<(i64, String)> = head().get_result($conn).await.optional()?;
        if found.is_none() {
            audit_heads::insert($ctx, (audit_heads::seq.eq(0_i64), audit_heads::hash.eq("")))
                .on_conflict_do_nothing()
                .execute($conn)
                .await?;
            found = Some(head().get_result($conn).await?);
        }
        let (seq, hash) = found.unwrap_or_default();
        Ok(ChainHead { seq, hash })
    }};
}

/// Takes the tenant's chain head for the rest of the transaction: a row lock on PostgreSQL,
/// which every other write of the tenant waits for (see `pipeline::seal`).
///
/// The tenant's writers first queue for a transaction-level advisory lock of the tenant's own
/// (decision 0062), sent in the same round trip ahead of the head's `UPDATE`. Its waiters are
/// woken one at a time, in order, as each holder commits. Waiters on the row lock alone were
/// all woken by each commit (they wait on the holder's transaction id, a lock every one of
/// them shares), raced for the row again, and all but one went back to wait on the next
/// holder: with 32 of a tenant's writes at once, most of the database's CPU.
pub(crate) async fn lock_head_pg(
    conn: &mut diesel_async::AsyncPgConnection,
    ctx: &TenantCtx,
) -> Result<ChainHead, StoreError> {
    use crate::schema::pg::*;
    use diesel_async::SimpleAsyncConnection;
    let shared: &diesel_async::AsyncPgConnection = conn;
    let (mut queue_conn, mut head_conn) = (shared, shared);
    let queue = write_queue_lock(ctx);
    let mut queued = std::pin::pin!(queue_conn.batch_execute(&queue));
    // A simple query goes out on its first poll, so the queue's lock is always asked for
    // before the row's (the head's statement may still need preparing): taken the other way
    // round, two writers could each hold what the other waits for.
    let queued_at_once = crate::db::poll_once(queued.as_mut()).await;
    let head = async {
        let conn = &mut head_conn;
        lock_head_body!(conn, ctx)
    };
    let (queued, head) =
        futures_util::future::join(crate::db::ready_or(queued_at_once, queued), head).await;
    queued?;
    head
}

/// The statement that takes `ctx`'s write queue until the end of the transaction.
pub(crate) fn write_queue_lock(ctx: &TenantCtx) -> String {
    format!(
        "SELECT pg_advisory_xact_lock({CHAIN_QUEUE}, {})",
        chain_queue_key(ctx)
    )
}

/// The advisory locks' first key for the tenants' write queues; the second is
/// [`chain_queue_key`]. (The single-key locks of migrations and tests are another key space.)
const CHAIN_QUEUE: i32 = 7_470_120;

/// The second key of a tenant's write queue: 32 bits of the tenant id's random part. Two
/// tenants sharing one only share a queue (their writes are serialised together); the chain
/// itself stays guarded by its own row.
fn chain_queue_key(ctx: &TenantCtx) -> i32 {
    let tenant = ctx.tenant_id();
    let bytes = tenant.as_uuid().as_bytes();
    i32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]])
}

/// The tenant's chain head (SQLite write transactions already hold the database's one write
/// lock).
pub(crate) async fn lock_head_sqlite(
    conn: &mut SqliteConn,
    ctx: &TenantCtx,
) -> Result<ChainHead, StoreError> {
    use crate::schema::sqlite::*;
    lock_head_body!(conn, ctx)
}

/// One body for both backends' [`AuditChain`]: seal the records onto the head the pipeline
/// locked, insert the entries, advance the head.
macro_rules! append_changes_body {
    ($conn:ident, $change:ident, $rows:ident) => {{
        let Some(head) = &$change.head else {
            return Ok(0);
        };
        let ctx = $change.ctx;
        let mut chain = head.clone();
        let entries = chain.seal(ctx, &$change.origin, $change.at, &$change.records);
        let advance = $crate::db::Cached::new(diesel::update(audit_heads::of(ctx)).set((
            audit_heads::seq.eq(chain.seq),
            audit_heads::hash.eq(&chain.hash),
        )));
        append_changes_body!(@rest $rows, $conn, ctx, entries, advance)
    }};
    // PostgreSQL: the entries and the new head in one pipelined round trip.
    (@rest many, $conn:ident, $ctx:ident, $entries:ident, $advance:ident) => {{
        let (mut rows_conn, mut head_conn) = (*$conn, *$conn);
        let rows = async {
            let conn = &mut rows_conn;
            insert_rows!(many, audit_entries, $ctx, $entries, |e| entry_values!(e), conn);
            Ok::<(), StoreError>(())
        };
        let head = async {
            $advance.execute(&mut head_conn).await?;
            Ok::<(), StoreError>(())
        };
        futures_util::future::try_join(rows, head).await?;
        Ok(0)
    }};
    (@rest each, $conn:ident, $ctx:ident, $entries:ident, $advance:ident) => {{
        insert_rows!(each, audit_entries, $ctx, $entries, |e| entry_values!(e), $conn);
        $advance.execute($conn).await?;
        Ok(0)
    }};
}

/// One audit entry's columns.
macro_rules! entry_values {
    ($e:ident) => {
        (
            audit_entries::seq.eq($e.seq),
            audit_entries::id.eq(DbUuid::from($e.id)),
            audit_entries::at.eq($e.at),
            audit_entries::actor_type.eq(&$e.actor_type),
            audit_entries::actor_id.eq($e.actor_id.map(DbUuid::from)),
            audit_entries::api_key_id.eq($e.api_key_id.map(DbUuid::from)),
            audit_entries::impersonator_id.eq($e.impersonator_id.map(DbUuid::from)),
            audit_entries::entity_type.eq(&$e.entity_type),
            audit_entries::entity_id.eq(&$e.entity_id),
            audit_entries::action.eq(&$e.action),
            audit_entries::changes.eq(&$e.changes),
            audit_entries::request_id.eq(&$e.request_id),
            audit_entries::ip.eq(&$e.ip),
            audit_entries::user_agent.eq(&$e.user_agent),
            audit_entries::prev_hash.eq(&$e.prev_hash),
            audit_entries::hash.eq(&$e.hash),
        )
    };
}

impl<'c> Sink<&'c diesel_async::AsyncPgConnection> for AuditChain {
    async fn accept(
        conn: &mut &'c diesel_async::AsyncPgConnection,
        change: &Change<'_>,
    ) -> Result<usize, StoreError> {
        use crate::schema::pg::*;
        append_changes_body!(conn, change, many)
    }
}

impl Sink<SqliteConn> for AuditChain {
    async fn accept(conn: &mut SqliteConn, change: &Change<'_>) -> Result<usize, StoreError> {
        use crate::schema::sqlite::*;
        append_changes_body!(conn, change, each)
    }
}

impl Db {
    async fn load_audit(
        &self,
        ctx: &TenantCtx,
        f: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let before: Option<i64> = match &page.after {
            None => None,
            Some(c) => Some(
                c.key()
                    .parse()
                    .map_err(|_| StoreError::Corrupt("audit cursor".into()))?,
            ),
        };
        let limit = i64::from(page.limit.get()) + 1;
        let rows: Vec<EntryRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut q = audit_entries::of(ctx).into_boxed();
            if let Some(s) = before {
                q = q.filter(audit_entries::seq.lt(s));
            }
            if let Some(a) = f.actor_id {
                q = q.filter(audit_entries::actor_id.eq(DbUuid::from(a)));
            }
            if let Some(t) = &f.entity_type {
                q = q.filter(audit_entries::entity_type.eq(t.clone()));
            }
            if let Some(i) = &f.entity_id {
                q = q.filter(audit_entries::entity_id.eq(i.clone()));
            }
            if let Some(a) = &f.action {
                q = q.filter(audit_entries::action.eq(a.clone()));
            }
            if let Some(from) = f.from {
                q = q.filter(audit_entries::at.ge(from));
            }
            if let Some(to) = f.to {
                q = q.filter(audit_entries::at.lt(to));
            }
            Ok(load_rows(q.order(audit_entries::seq.desc()).limit(limit), conn).await?)
        })?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            entries.push(self.readable_entry(AuditEntry::from(row)).await?);
        }
        Ok(Page::from_rows(entries, page.limit, |e| e.seq.to_string()))
    }

    /// The entry as the trail shows it: its person's fields open, or `erased` (the chain is
    /// verified on the entries as stored, [`AuditRepository::chain_segment`]).
    async fn readable_entry(&self, mut e: AuditEntry) -> Result<AuditEntry, StoreError> {
        let tenant = Some(e.tenant_id);
        e.changes = self
            .read_changes(std::mem::take(&mut e.changes), e.tenant_id)
            .await?;
        e.ip = self
            .read_personal(e.ip.take(), &field("audit_entries.ip", tenant))
            .await?;
        e.user_agent = self
            .read_personal(
                e.user_agent.take(),
                &field("audit_entries.user_agent", tenant),
            )
            .await?;
        Ok(e)
    }
}

impl AuditRepository for Db {
    async fn list(
        &self,
        ctx: &TenantCtx,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, Unexpected> {
        Ok(self.load_audit(ctx, filter, page).await?)
    }

    async fn chain_segment(
        &self,
        ctx: &TenantCtx,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, Unexpected> {
        let rows: Vec<EntryRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(load_rows(
                audit_entries::of(ctx)
                    .filter(audit_entries::seq.gt(after_seq))
                    .order(audit_entries::seq.asc())
                    .limit(i64::from(limit)),
                conn,
            )
            .await?)
        })?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    async fn head(&self, ctx: &TenantCtx) -> Result<ChainHead, Unexpected> {
        let found: Option<(i64, String)> =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                Ok(load_first(
                    audit_heads::of(ctx).select((audit_heads::seq, audit_heads::hash)),
                    conn,
                )
                .await?)
            })?;
        Ok(found.map_or_else(ChainHead::default, |(seq, hash)| ChainHead { seq, hash }))
    }

    async fn record(&self, ctx: &TenantCtx, log: ChangeLog) -> Result<(), Unexpected> {
        let events = log;
        mutate!(self, ctx, |_conn, log| {
            log.extend(events);
            Ok(())
        })?;
        Ok(())
    }
}

#[derive(Queryable)]
struct SecurityEventRow {
    id: DbUuid,
    #[diesel(deserialize_as = DbInstant)]
    at: DateTime<Utc>,
    kind: String,
    user_id: Option<DbUuid>,
    email: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
}

impl TryFrom<SecurityEventRow> for SecurityEvent {
    type Error = StoreError;

    fn try_from(r: SecurityEventRow) -> Result<Self, StoreError> {
        Ok(SecurityEvent {
            id: SecurityEventId::from_uuid(r.id.0),
            at: r.at,
            kind: SecurityEventKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("security event kind {:?}", r.kind)))?,
            user_id: r.user_id.map(|u| UserId::from_uuid(u.0)),
            email: r.email,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail,
        })
    }
}

impl Db {
    /// Stores the event, its personal fields (e-mail, IP, user agent) sealed under its
    /// account's key when it names one.
    async fn insert_security_event(&self, e: &SecurityEvent) -> Result<(), StoreError> {
        let has_personal_data = e.email.is_some() || e.ip.is_some() || e.user_agent.is_some();
        let person = self.person(e.user_id, has_personal_data).await?;
        let person = &person;
        run!(self, |conn| {
            let sealed = person
                .seal_fields(
                    conn,
                    &[
                        ("security_events.email", &e.email),
                        ("security_events.ip", &e.ip),
                        ("security_events.user_agent", &e.user_agent),
                    ],
                )
                .await?;
            let [email, ip, user_agent] = <[Option<String>; 3]>::try_from(sealed)
                .map_err(|_| StoreError::Corrupt("sealed fields".into()))?;
            diesel::insert_into(security_events::table)
                .values((
                    security_events::id.eq(DbUuid::from(e.id)),
                    security_events::at.eq(e.at),
                    security_events::kind.eq(e.kind.as_str()),
                    security_events::user_id.eq(e.user_id.map(DbUuid::from)),
                    security_events::email.eq(&email),
                    security_events::ip.eq(&ip),
                    security_events::user_agent.eq(&user_agent),
                    security_events::detail.eq(&e.detail),
                ))
                .execute(conn)
                .await?;
        });
        Ok(())
    }

    async fn load_security_events(
        &self,
        f: &SecurityEventFilter,
        page: &PageRequest,
    ) -> Result<Page<SecurityEvent>, StoreError> {
        let before = match &page.after {
            None => None,
            Some(c) => {
                Some(DbUuid(c.key().parse().map_err(|_| {
                    StoreError::Corrupt("security event cursor".into())
                })?))
            }
        };
        let limit = i64::from(page.limit.get()) + 1;
        let rows: Vec<SecurityEventRow> = run!(self, read, |conn| {
            let mut q = security_events::table.into_boxed();
            if let Some(b) = before {
                q = q.filter(security_events::id.lt(b));
            }
            if let Some(u) = f.user_id {
                q = q.filter(security_events::user_id.eq(DbUuid::from(u)));
            }
            if let Some(k) = f.kind {
                q = q.filter(security_events::kind.eq(k.as_str()));
            }
            if let Some(from) = f.from {
                q = q.filter(security_events::at.ge(from));
            }
            if let Some(to) = f.to {
                q = q.filter(security_events::at.lt(to));
            }
            q.order(security_events::id.desc())
                .limit(limit)
                .load(conn)
                .await?
        });
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let mut e = SecurityEvent::try_from(row)?;
            e.email = self
                .read_personal(e.email.take(), "security_events.email")
                .await?;
            e.ip = self
                .read_personal(e.ip.take(), "security_events.ip")
                .await?;
            e.user_agent = self
                .read_personal(e.user_agent.take(), "security_events.user_agent")
                .await?;
            events.push(e);
        }
        Ok(Page::from_rows(events, page.limit, |e| e.id.to_string()))
    }
}

impl SecurityLog for Db {
    async fn record(&self, event: SecurityEvent) -> Result<(), Unexpected> {
        Ok(self.insert_security_event(&event).await?)
    }

    async fn list(
        &self,
        filter: &SecurityEventFilter,
        page: &PageRequest,
    ) -> Result<Page<SecurityEvent>, Unexpected> {
        Ok(self.load_security_events(filter, page).await?)
    }
}
