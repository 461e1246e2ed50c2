//! The event outbox (a sink of the mutation pipeline) and the tenant's event reads.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_audit::{Event, EventFilter, EventRepository, EventTypePattern};
use tenantry_kernel::{EventId, Page, PageRequest, TenantCtx, Unexpected};

use crate::db::{Db, SqliteConn, load_first, load_rows};
use crate::error::StoreError;
use crate::pipeline::{Change, Sink};
use crate::types::DbUuid;

/// The event outbox sink: every record that is an event becomes a row, in the change's
/// transaction.
pub(crate) struct EventOutbox;

/// One body for both backends' [`EventOutbox`].
macro_rules! outbox_body {
    ($conn:ident, $change:ident, $rows:ident) => {{
        let events: Vec<(&Event, String)> = $change
            .events
            .iter()
            .map(|e| {
                let json =
                    serde_json::to_string(e).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((e, json))
            })
            .collect::<Result<_, StoreError>>()?;
        insert_rows!(
            $rows,
            events,
            $change.ctx,
            events,
            |(e, json)| (
                events::id.eq(DbUuid::from(e.id)),
                events::event_type.eq(&e.event_type),
                events::occurred_at.eq(e.occurred_at),
                events::payload.eq(json),
            ),
            $conn
        );
        Ok(0)
    }};
}

impl<'c> Sink<&'c diesel_async::AsyncPgConnection> for EventOutbox {
    async fn accept(
        conn: &mut &'c diesel_async::AsyncPgConnection,
        change: &Change<'_>,
    ) -> Result<usize, StoreError> {
        use crate::schema::pg::*;
        outbox_body!(conn, change, many)
    }
}

impl Sink<SqliteConn> for EventOutbox {
    async fn accept(conn: &mut SqliteConn, change: &Change<'_>) -> Result<usize, StoreError> {
        use crate::schema::sqlite::*;
        outbox_body!(conn, change, each)
    }
}

fn parse(payload: &str) -> Result<Event, StoreError> {
    serde_json::from_str(payload).map_err(|e| StoreError::Corrupt(format!("event payload: {e}")))
}

/// `LIKE` pattern of the types under `prefix.` (`_` escaped: it is a wildcard there).
fn like_prefix(prefix: &str) -> String {
    format!("{}.%", prefix.replace('_', "\\_"))
}

impl Db {
    async fn load_events(
        &self,
        ctx: &TenantCtx,
        f: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>, StoreError> {
        let before: Option<DbUuid> = match &page.after {
            None => None,
            Some(c) => Some(DbUuid(
                c.key()
                    .parse()
                    .map_err(|_| StoreError::Corrupt("event cursor".into()))?,
            )),
        };
        let limit = i64::from(page.limit.get()) + 1;
        let rows: Vec<String> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut q = events::of(ctx).select(events::payload).into_boxed();
            if let Some(b) = before {
                q = q.filter(events::id.lt(b));
            }
            match &f.types {
                Some(EventTypePattern::Exact(t)) => q = q.filter(events::event_type.eq(t.clone())),
                Some(EventTypePattern::Prefix(p)) => {
                    q = q.filter(events::event_type.like(like_prefix(p)).escape('\\'));
                }
                None => {}
            }
            if let Some(since) = f.since {
                q = q.filter(events::occurred_at.ge(since));
            }
            if let Some(until) = f.until {
                q = q.filter(events::occurred_at.lt(until));
            }
            Ok(load_rows(q.order(events::id.desc()).limit(limit), conn).await?)
        })?;
        let events = rows
            .iter()
            .map(|p| parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(events, page.limit, |e| e.id.to_string()))
    }

    async fn load_event(&self, ctx: &TenantCtx, id: EventId) -> Result<Option<Event>, StoreError> {
        let row: Option<String> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(load_first(
                events::of(ctx)
                    .filter(events::id.eq(DbUuid::from(id)))
                    .select(events::payload),
                conn,
            )
            .await?)
        })?;
        row.as_deref().map(parse).transpose()
    }

    async fn delete_events_before(
        &self,
        ctx: &TenantCtx,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // Retention is not a change of data: nothing is logged.
        mutate!(self, ctx, |conn, _log| {
            let n = diesel::delete(events::of(ctx).filter(events::occurred_at.lt(before)))
                .execute(conn)
                .await?;
            Ok(n as u64)
        })
    }
}

impl EventRepository for Db {
    async fn list_events(
        &self,
        ctx: &TenantCtx,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>, Unexpected> {
        Ok(self.load_events(ctx, filter, page).await?)
    }

    async fn event(&self, ctx: &TenantCtx, id: EventId) -> Result<Option<Event>, Unexpected> {
        Ok(self.load_event(ctx, id).await?)
    }

    async fn prune_events(
        &self,
        ctx: &TenantCtx,
        before: DateTime<Utc>,
    ) -> Result<u64, Unexpected> {
        Ok(self.delete_events_before(ctx, before).await?)
    }
}
