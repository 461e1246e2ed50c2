//! The webhook delivery queue: the pipeline's fan-out sink (one row per event and endpoint
//! that wants it, written in the change's transaction) and what dispatchers claim and record.
//!
//! The fan-out is one statement per change whatever the number of endpoints: the change's
//! events joined to the tenant's enabled endpoints whose `match_keys` hold the event's type
//! or its family (`' product.created product.* '`; empty for every event). On PostgreSQL it is
//! pipelined with the other sinks' statements and notifies `tenantry_webhooks` when it queued
//! anything (delivered at commit, never for a rollback).

use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use crate::db::SqliteConn;
use crate::error::StoreError;
use crate::pipeline::{Change, Sink};
use crate::types::DbUuid;

/// The PostgreSQL channel dispatchers listen on.
pub(crate) const CHANNEL: &str = "tenantry_webhooks";

/// Events per fan-out statement: a `UNION ALL` of one `SELECT` each, and SQLite allows at
/// most 500 terms in a compound select.
const EVENTS_PER_STATEMENT: usize = 400;

/// `?` placeholders numbered `$1…` for PostgreSQL.
pub(crate) fn for_backend(sql: &str, backend: crate::db::Backend) -> String {
    if backend != crate::db::Backend::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// The fan-out sink.
pub(crate) struct WebhookFanout;

/// `LIKE` patterns of the `match_keys` holding `event_type` itself, and its family.
fn match_patterns(event_type: &str) -> (String, String) {
    let escaped = event_type.replace('_', "\\_");
    let family = escaped
        .split_once('.')
        .map_or(String::new(), |(e, _)| e.to_owned());
    (format!("% {escaped} %"), format!("% {family}.* %"))
}

/// The fan-out statement for `events` events, with `placeholder(i)` for the i-th parameter
/// (from 1): the time three times, each event's (id, exact, family), the tenant.
fn fanout_sql(events: usize, placeholder: impl Fn(usize) -> String, uuid_cast: &str) -> String {
    let mut i = 0;
    let mut next = || {
        i += 1;
        placeholder(i)
    };
    let (at1, at2, at3) = (next(), next(), next());
    let rows: Vec<String> = (0..events)
        .map(|n| {
            let (id, exact, family) = (next(), next(), next());
            if n == 0 {
                format!("SELECT {id}{uuid_cast} AS event_id, {exact} AS exact, {family} AS family")
            } else {
                format!("SELECT {id}{uuid_cast}, {exact}, {family}")
            }
        })
        .collect();
    let tenant = next();
    format!(
        "INSERT INTO webhook_deliveries \
         (tenant_id, endpoint_id, event_id, state, trigger, attempts, next_attempt_at, created_at, updated_at) \
         SELECT e.tenant_id, e.id, v.event_id, 'pending', 'scheduled', 0, {at1}, {at2}, {at3} \
         FROM webhook_endpoints e JOIN ({}) v \
         ON e.match_keys = '' OR e.match_keys LIKE v.exact ESCAPE '\\' OR e.match_keys LIKE v.family ESCAPE '\\' \
         WHERE e.tenant_id = {tenant} AND e.disabled_reason IS NULL \
         ON CONFLICT DO NOTHING",
        rows.join(" UNION ALL ")
    )
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Binds a fan-out statement's parameters in order, for backend `$db`.
macro_rules! fanout_binds {
    ($query:expr, $db:ty, $change:expr, $chunk:expr) => {{
        let mut q = $query.into_boxed::<$db>();
        for _ in 0..3 {
            q = q.bind::<DbTime, _>($change.at);
        }
        for e in $chunk {
            let (exact, family) = match_patterns(&e.event_type);
            q = q
                .bind::<DbId, _>(DbUuid::from(e.id))
                .bind::<diesel::sql_types::Text, _>(exact)
                .bind::<diesel::sql_types::Text, _>(family);
        }
        q.bind::<DbId, _>(DbUuid::from($change.ctx.tenant_id()))
    }};
}

/// The statement queueing an event meant for one endpoint (a test): a manual delivery there,
/// if it is enabled. Parameters: the event, the time three times, the tenant, the endpoint.
fn direct_sql(placeholder: impl Fn(usize) -> String, uuid_cast: &str) -> String {
    let p = |i| placeholder(i);
    format!(
        "INSERT INTO webhook_deliveries \
         (tenant_id, endpoint_id, event_id, state, trigger, attempts, next_attempt_at, created_at, updated_at) \
         SELECT tenant_id, id, {}{uuid_cast}, 'pending', 'manual', 0, {}, {}, {} \
         FROM webhook_endpoints WHERE tenant_id = {} AND id = {} AND disabled_reason IS NULL \
         ON CONFLICT DO NOTHING",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6)
    )
}

/// Binds a direct statement's parameters, for backend `$db`.
macro_rules! direct_binds {
    ($query:expr, $db:ty, $change:expr, $event:expr, $endpoint:expr) => {{
        $query
            .into_boxed::<$db>()
            .bind::<DbId, _>(DbUuid::from($event.id))
            .bind::<DbTime, _>($change.at)
            .bind::<DbTime, _>($change.at)
            .bind::<DbTime, _>($change.at)
            .bind::<DbId, _>(DbUuid::from($change.ctx.tenant_id()))
            .bind::<DbId, _>(DbUuid::from($endpoint))
    }};
}

/// The change's events for every subscriber, and those for one endpoint each.
fn audiences<'e>(
    change: &'e Change<'_>,
) -> (
    Vec<&'e tenantry_audit::Event>,
    Vec<(&'e tenantry_audit::Event, tenantry_kernel::WebhookId)>,
) {
    let mut broadcast = Vec::with_capacity(change.events.len());
    let mut direct = Vec::new();
    for e in &change.events {
        match e.direct_to {
            None => broadcast.push(e),
            Some(endpoint) => direct.push((e, endpoint)),
        }
    }
    (broadcast, direct)
}

/// PostgreSQL: `insert`, notifying dispatchers for every queued row (delivered once per
/// transaction, at its commit), answering how many it queued.
fn notifying(insert: &str) -> String {
    format!(
        "WITH ins AS ({insert} RETURNING pg_notify('{CHANNEL}', '')) SELECT count(*) AS n FROM ins"
    )
}

impl<'c> Sink<&'c diesel_async::AsyncPgConnection> for WebhookFanout {
    async fn accept(
        conn: &mut &'c diesel_async::AsyncPgConnection,
        change: &Change<'_>,
    ) -> Result<usize, StoreError> {
        use crate::schema::pg::{DbId, DbTime};
        let (broadcast, direct) = audiences(change);
        let mut queued = 0;
        for chunk in broadcast.chunks(EVENTS_PER_STATEMENT) {
            let sql = notifying(&fanout_sql(chunk.len(), |i| format!("${i}"), "::uuid"));
            let q = fanout_binds!(diesel::sql_query(sql), diesel::pg::Pg, change, chunk);
            // A text per event count: cached for a change's few events only.
            let c: Count = crate::db::Cached::rows(chunk.len(), q)
                .get_result(conn)
                .await?;
            queued += usize::try_from(c.n).unwrap_or(0);
        }
        for (event, endpoint) in direct {
            let sql = notifying(&direct_sql(|i| format!("${i}"), "::uuid"));
            let q = direct_binds!(
                diesel::sql_query(sql),
                diesel::pg::Pg,
                change,
                event,
                endpoint
            );
            let c: Count = crate::db::Cached::new(q).get_result(conn).await?;
            queued += usize::try_from(c.n).unwrap_or(0);
        }
        Ok(queued)
    }
}

impl Sink<SqliteConn> for WebhookFanout {
    async fn accept(conn: &mut SqliteConn, change: &Change<'_>) -> Result<usize, StoreError> {
        use crate::schema::sqlite::{DbId, DbTime};
        let (broadcast, direct) = audiences(change);
        let mut queued = 0;
        for chunk in broadcast.chunks(EVENTS_PER_STATEMENT) {
            let sql = fanout_sql(chunk.len(), |_| "?".to_owned(), "");
            let q = fanout_binds!(
                diesel::sql_query(sql),
                diesel::sqlite::Sqlite,
                change,
                chunk
            );
            queued += q.execute(conn).await?;
        }
        for (event, endpoint) in direct {
            let sql = direct_sql(|_| "?".to_owned(), "");
            let q = direct_binds!(
                diesel::sql_query(sql),
                diesel::sqlite::Sqlite,
                change,
                event,
                endpoint
            );
            queued += q.execute(conn).await?;
        }
        Ok(queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_like_wildcards() {
        assert_eq!(
            match_patterns("api_key.created"),
            (
                "% api\\_key.created %".to_owned(),
                "% api\\_key.* %".to_owned()
            )
        );
    }

    #[test]
    fn the_statement_numbers_its_parameters_in_order() {
        let sql = fanout_sql(2, |i| format!("${i}"), "::uuid");
        assert!(sql.contains("$1, $2, $3 FROM"), "{sql}");
        assert!(sql.contains("SELECT $4::uuid AS event_id, $5 AS exact, $6 AS family UNION ALL SELECT $7::uuid, $8, $9"), "{sql}");
        assert!(sql.contains("e.tenant_id = $10"), "{sql}");
    }
}

mod queue {
    //! What dispatchers do with the queue.

    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    use tenantry_kernel::{EventId, TenantCtx, Unexpected, WebhookId};
    use tenantry_webhooks::{
        Attempted, ClaimLimits, Delivery, DeliveryQueue, DisablePolicy, DisabledReason, Message,
        Trigger, Verdict, Webhook,
    };

    use super::for_backend;
    use crate::db::Db;
    use crate::error::StoreError;
    use crate::types::DbUuid;
    use crate::webhooks::WebhookRow;

    /// Hands leases that ended back (their dispatcher died mid-attempt; the attempt counts).
    const EXPIRE: &str = "UPDATE webhook_deliveries SET state = 'pending', locked_by = NULL, \
        locked_until = NULL WHERE state = 'sending' AND locked_until < ?";

    /// The endpoints with due deliveries and how many, longest waiting first (at most 1,000
    /// per claim).
    const DUE_ENDPOINTS: &str = "SELECT CAST(tenant_id AS TEXT) AS tenant_id, \
        CAST(endpoint_id AS TEXT) AS endpoint_id, COUNT(*) AS due FROM webhook_deliveries \
        WHERE state = 'pending' AND next_attempt_at <= ? \
        GROUP BY tenant_id, endpoint_id ORDER BY MIN(next_attempt_at) LIMIT 1000";

    /// What each endpoint has in flight (the few rows being sent).
    const IN_FLIGHT: &str = "SELECT CAST(tenant_id AS TEXT) AS tenant_id, \
        CAST(endpoint_id AS TEXT) AS endpoint_id, COUNT(*) AS n FROM webhook_deliveries \
        WHERE state = 'sending' GROUP BY tenant_id, endpoint_id";

    /// One endpoint's oldest due deliveries: the first entries of its index range
    /// (`webhook_deliveries_endpoint_due`, in this order). Picked, then claimed by key in a
    /// second statement: as one `UPDATE … WHERE event_id IN (SELECT … LIMIT n)`, PostgreSQL
    /// planned a nested loop over every queued row of the endpoint whenever its statistics
    /// lagged a burst (240 ms at 10,000 queued, until autovacuum analyzed the table).
    const PICK_ENDPOINT: &str = "SELECT CAST(event_id AS TEXT) AS event_id FROM webhook_deliveries \
        WHERE tenant_id = ? AND endpoint_id = ? AND state = 'pending' AND next_attempt_at <= ? \
        ORDER BY next_attempt_at, event_id LIMIT ?";

    #[derive(QueryableByName)]
    struct DueEndpoint {
        #[diesel(sql_type = Text)]
        tenant_id: String,
        #[diesel(sql_type = Text)]
        endpoint_id: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        due: i64,
    }

    #[derive(QueryableByName)]
    struct Picked {
        #[diesel(sql_type = Text)]
        event_id: String,
    }

    #[derive(QueryableByName)]
    struct InFlight {
        #[diesel(sql_type = Text)]
        tenant_id: String,
        #[diesel(sql_type = Text)]
        endpoint_id: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    /// How many of each endpoint's due deliveries to claim (`endpoints` as (tenant, endpoint),
    /// longest waiting first, `due` of each): one per tenant per round, tenants in turn —
    /// every tenant's first before any tenant's second — and within a tenant its endpoints in
    /// turn; each within what it has due and its room (`per_endpoint` less what it has in
    /// flight), each tenant within `per_tenant`, the claim within `max`. Also whether any
    /// endpoint was left due deliveries it had room for (see [`tenantry_webhooks::Claim`]).
    pub(super) fn allot(
        endpoints: &[(String, String)],
        due: &[i64],
        in_flight: &BTreeMap<(String, String), i64>,
        limits: ClaimLimits,
    ) -> (Vec<u32>, bool) {
        // Each tenant's endpoints (indexes), tenants in order of their longest wait.
        let mut tenants: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, (t, _)) in endpoints.iter().enumerate() {
            match tenants.iter_mut().find(|(name, _)| *name == t.as_str()) {
                Some((_, list)) => list.push(i),
                None => tenants.push((t, vec![i])),
            }
        }
        let room: Vec<u32> = endpoints
            .iter()
            .zip(due)
            .map(|(k, due)| {
                let flying = in_flight.get(k).copied().unwrap_or(0);
                let room = (i64::from(limits.per_endpoint) - flying).clamp(0, *due);
                u32::try_from(room).unwrap_or(0)
            })
            .collect();
        let mut given = vec![0u32; endpoints.len()];
        let mut taken = vec![0u32; tenants.len()];
        let mut next = vec![0usize; tenants.len()];
        let mut total = 0u32;
        loop {
            let before = total;
            for (ti, (_, list)) in tenants.iter().enumerate() {
                if total >= limits.max || taken[ti] >= limits.per_tenant {
                    continue;
                }
                let found = (0..list.len())
                    .map(|step| (next[ti] + step) % list.len())
                    .find(|&at| given[list[at]] < room[list[at]]);
                if let Some(at) = found {
                    given[list[at]] += 1;
                    taken[ti] += 1;
                    total += 1;
                    next[ti] = (at + 1) % list.len();
                }
            }
            if total == before || total >= limits.max {
                let more = given.iter().zip(&room).any(|(given, room)| given < room);
                return (given, more);
            }
        }
    }

    /// A claimed row.
    struct Claimed {
        tenant_id: DbUuid,
        endpoint_id: DbUuid,
        event_id: DbUuid,
        attempts: i32,
        trigger: String,
    }

    impl TryFrom<Claimed> for Delivery {
        type Error = StoreError;

        fn try_from(r: Claimed) -> Result<Self, StoreError> {
            let bad = |what: &str| StoreError::Corrupt(format!("webhook delivery {what}"));
            Ok(Delivery {
                tenant_id: tenantry_kernel::TenantId::from_uuid(r.tenant_id.0),
                endpoint_id: WebhookId::from_uuid(r.endpoint_id.0),
                event_id: EventId::from_uuid(r.event_id.0),
                attempt: u32::try_from(r.attempts).map_err(|_| bad("attempts"))?,
                trigger: Trigger::parse(&r.trigger).ok_or_else(|| bad("trigger"))?,
            })
        }
    }

    fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
        now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
    }

    impl Db {
        async fn claim_due(
            &self,
            worker: &str,
            limits: ClaimLimits,
            lease: Duration,
            now: DateTime<Utc>,
        ) -> Result<tenantry_webhooks::Claim, StoreError> {
            let backend = self.backend();
            let expire = for_backend(EXPIRE, backend);
            let due = for_backend(DUE_ENDPOINTS, backend);
            let pick = for_backend(PICK_ENDPOINT, backend);
            let until = after(now, lease);
            let id = |s: &str| {
                s.parse::<uuid::Uuid>()
                    .map(DbUuid)
                    .map_err(|_| StoreError::Corrupt("webhook delivery key".into()))
            };
            let (rows, more): (Vec<Claimed>, bool) = tx!(self, write, platform, |conn| {
                diesel::sql_query(&expire)
                    .bind::<DbTime, _>(now)
                    .execute(conn)
                    .await?;
                let endpoints: Vec<DueEndpoint> = diesel::sql_query(&due)
                    .bind::<DbTime, _>(now)
                    .load(conn)
                    .await?;
                if endpoints.is_empty() {
                    return Ok((Vec::new(), false));
                }
                let flying: Vec<InFlight> = diesel::sql_query(IN_FLIGHT).load(conn).await?;
                let flying: BTreeMap<(String, String), i64> = flying
                    .into_iter()
                    .map(|f| ((f.tenant_id, f.endpoint_id), f.n))
                    .collect();
                let due: Vec<i64> = endpoints.iter().map(|e| e.due).collect();
                let keys: Vec<(String, String)> = endpoints
                    .into_iter()
                    .map(|e| (e.tenant_id, e.endpoint_id))
                    .collect();
                let (counts, more) = allot(&keys, &due, &flying, limits);
                let mut claimed = Vec::new();
                for ((tenant, endpoint), n) in keys.iter().zip(counts) {
                    if n == 0 {
                        continue;
                    }
                    let (tenant, endpoint) = (id(tenant)?, id(endpoint)?);
                    let picked: Vec<Picked> = diesel::sql_query(&pick)
                        .bind::<DbId, _>(tenant)
                        .bind::<DbId, _>(endpoint)
                        .bind::<DbTime, _>(now)
                        .bind::<diesel::sql_types::BigInt, _>(i64::from(n))
                        .load(conn)
                        .await?;
                    let events = picked
                        .iter()
                        .map(|p| id(&p.event_id))
                        .collect::<Result<Vec<_>, _>>()?;
                    // `state = 'pending'` again: a row another dispatcher claimed meanwhile
                    // (PostgreSQL) is skipped, not claimed twice.
                    let rows: Vec<(DbUuid, i32, String)> = diesel::update(
                        webhook_deliveries::table
                            .filter(webhook_deliveries::tenant_id.eq(tenant))
                            .filter(webhook_deliveries::endpoint_id.eq(endpoint))
                            .filter(webhook_deliveries::state.eq("pending"))
                            .filter(webhook_deliveries::event_id.eq_any(events)),
                    )
                    .set((
                        webhook_deliveries::state.eq("sending"),
                        webhook_deliveries::locked_by.eq(worker),
                        webhook_deliveries::locked_until.eq(until),
                        webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                        webhook_deliveries::updated_at.eq(now),
                    ))
                    .returning((
                        webhook_deliveries::event_id,
                        webhook_deliveries::attempts,
                        webhook_deliveries::trigger,
                    ))
                    .get_results(conn)
                    .await?;
                    claimed.extend(rows.into_iter().map(|(event, attempts, trigger)| Claimed {
                        tenant_id: tenant,
                        endpoint_id: endpoint,
                        event_id: event,
                        attempts,
                        trigger,
                    }));
                }
                Ok((claimed, more))
            })?;
            Ok(tenantry_webhooks::Claim {
                deliveries: rows
                    .into_iter()
                    .map(Delivery::try_from)
                    .collect::<Result<_, _>>()?,
                more,
            })
        }

        /// When the next delivery comes due without anyone queueing one.
        async fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
            let (due, lease): (Option<DateTime<Utc>>, Option<Option<DateTime<Utc>>>) =
                tx!(self, read, tenant = None, |conn| {
                    let due = webhook_deliveries::table
                        .filter(webhook_deliveries::state.eq("pending"))
                        .order(webhook_deliveries::next_attempt_at.asc())
                        .select(webhook_deliveries::next_attempt_at)
                        .first(conn)
                        .await
                        .optional()?;
                    let lease = webhook_deliveries::table
                        .filter(webhook_deliveries::state.eq("sending"))
                        .order(webhook_deliveries::locked_until.asc())
                        .select(webhook_deliveries::locked_until)
                        .first(conn)
                        .await
                        .optional()?;
                    Ok((due, lease))
                })?;
            Ok(match (due, lease.flatten()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            })
        }

        async fn load_material(
            &self,
            ctx: &TenantCtx,
            endpoints: &[WebhookId],
            events: &[EventId],
        ) -> Result<(Vec<Webhook>, Vec<Message>), StoreError> {
            let endpoint_ids: Vec<DbUuid> = endpoints.iter().copied().map(DbUuid::from).collect();
            let event_ids: Vec<DbUuid> = events.iter().copied().map(DbUuid::from).collect();
            let (hooks, messages): (Vec<WebhookRow>, Vec<(DbUuid, String, String)>) =
                tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                    let hooks = webhook_endpoints::of(ctx)
                        .filter(webhook_endpoints::id.eq_any(&endpoint_ids))
                        .load(conn)
                        .await?;
                    let messages = events::of(ctx)
                        .filter(events::id.eq_any(&event_ids))
                        .select((events::id, events::event_type, events::payload))
                        .load(conn)
                        .await?;
                    Ok((hooks, messages))
                })?;
            Ok((
                hooks
                    .into_iter()
                    .map(Webhook::try_from)
                    .collect::<Result<_, _>>()?,
                messages
                    .into_iter()
                    .map(|(id, event_type, payload)| Message {
                        event_id: EventId::from_uuid(id.0),
                        event_type,
                        payload,
                    })
                    .collect(),
            ))
        }

        async fn record(
            &self,
            ctx: &TenantCtx,
            worker: &str,
            attempted: &[Attempted],
            deferred: &[(Delivery, DateTime<Utc>)],
            policy: DisablePolicy,
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            if attempted.is_empty() && deferred.is_empty() {
                return Ok(());
            }
            let tenant = DbUuid::from(ctx.tenant_id());
            // Per endpoint: whether anything got through, and whether a receiver said 410.
            let mut seen: BTreeMap<WebhookId, (bool, bool)> = BTreeMap::new();
            for a in attempted {
                let e = seen.entry(a.delivery.endpoint_id).or_default();
                e.0 |= a.attempt.succeeded;
                e.1 |= a.verdict == Verdict::Gone;
            }
            mutate!(self, ctx, |conn, log| {
                // Sent back unattempted: due later, the claim not counted.
                for (d, at) in deferred {
                    diesel::update(
                        webhook_deliveries::table
                            .filter(webhook_deliveries::tenant_id.eq(tenant))
                            .filter(webhook_deliveries::endpoint_id.eq(DbUuid::from(d.endpoint_id)))
                            .filter(webhook_deliveries::event_id.eq(DbUuid::from(d.event_id)))
                            .filter(webhook_deliveries::locked_by.eq(worker)),
                    )
                    .set((
                        webhook_deliveries::state.eq("pending"),
                        webhook_deliveries::next_attempt_at.eq(*at),
                        webhook_deliveries::attempts.eq(webhook_deliveries::attempts - 1),
                        webhook_deliveries::locked_by.eq(None::<String>),
                        webhook_deliveries::locked_until.eq(None::<DateTime<Utc>>),
                        webhook_deliveries::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
                }
                if attempted.is_empty() {
                    return Ok(());
                }
                // An endpoint deleted while its deliveries were in flight took their queue rows
                // with it: its attempts are not recorded (the rest of the batch is). The
                // endpoints that remain are held until commit.
                let ids: Vec<DbUuid> = seen.keys().map(|id| DbUuid::from(*id)).collect();
                let live = conn.live_endpoints(ctx, ids.clone()).await?;
                let endpoints: BTreeMap<WebhookId, (bool, bool)> = seen
                    .iter()
                    .filter(|(id, _)| live.contains(&DbUuid::from(**id)))
                    .map(|(id, seen)| (*id, *seen))
                    .collect();
                let kept: Vec<Attempted>;
                let attempted: &[Attempted] = if live.len() == ids.len() {
                    attempted
                } else {
                    kept = attempted
                        .iter()
                        .filter(|a| endpoints.contains_key(&a.delivery.endpoint_id))
                        .cloned()
                        .collect();
                    &kept
                };
                conn.insert_attempts(ctx, attempted).await?;
                // The queue: delivered rows leave it (one statement per endpoint).
                let mut delivered: BTreeMap<WebhookId, Vec<DbUuid>> = BTreeMap::new();
                for a in attempted {
                    let d = &a.delivery;
                    let held = webhook_deliveries::table
                        .filter(webhook_deliveries::tenant_id.eq(tenant))
                        .filter(webhook_deliveries::endpoint_id.eq(DbUuid::from(d.endpoint_id)))
                        .filter(webhook_deliveries::event_id.eq(DbUuid::from(d.event_id)))
                        .filter(webhook_deliveries::locked_by.eq(worker));
                    let (state, at) = match &a.verdict {
                        Verdict::Delivered => {
                            delivered
                                .entry(d.endpoint_id)
                                .or_default()
                                .push(DbUuid::from(d.event_id));
                            continue;
                        }
                        Verdict::RetryAt(at) => ("pending", *at),
                        Verdict::Failed | Verdict::Gone => ("failed", now),
                    };
                    diesel::update(held)
                        .set((
                            webhook_deliveries::state.eq(state),
                            webhook_deliveries::next_attempt_at.eq(at),
                            webhook_deliveries::locked_by.eq(None::<String>),
                            webhook_deliveries::locked_until.eq(None::<DateTime<Utc>>),
                            webhook_deliveries::last_error.eq(&a.attempt.error),
                            webhook_deliveries::updated_at.eq(now),
                        ))
                        .execute(conn)
                        .await?;
                }
                for (endpoint, events) in delivered {
                    diesel::delete(
                        webhook_deliveries::table
                            .filter(webhook_deliveries::tenant_id.eq(tenant))
                            .filter(webhook_deliveries::endpoint_id.eq(DbUuid::from(endpoint)))
                            .filter(webhook_deliveries::event_id.eq_any(events))
                            .filter(webhook_deliveries::locked_by.eq(worker)),
                    )
                    .execute(conn)
                    .await?;
                }
                // The endpoints: failing since the first failure after a success; disabled on
                // a 410 or past the policy's stretch.
                let failing: BTreeSet<WebhookId> = endpoints
                    .iter()
                    .filter(|(_, (ok, _))| !ok)
                    .map(|(id, _)| *id)
                    .collect();
                let recovered: Vec<DbUuid> = endpoints
                    .iter()
                    .filter(|(_, (ok, _))| *ok)
                    .map(|(id, _)| DbUuid::from(*id))
                    .collect();
                if !recovered.is_empty() {
                    diesel::update(
                        webhook_endpoints::of(ctx)
                            .filter(webhook_endpoints::id.eq_any(recovered))
                            .filter(webhook_endpoints::failing_since.is_not_null()),
                    )
                    .set(webhook_endpoints::failing_since.eq(None::<DateTime<Utc>>))
                    .execute(conn)
                    .await?;
                }
                for id in failing {
                    let target = webhook_endpoints::of(ctx)
                        .filter(webhook_endpoints::id.eq(DbUuid::from(id)));
                    diesel::update(target.filter(webhook_endpoints::failing_since.is_null()))
                        .set(webhook_endpoints::failing_since.eq(Some(now)))
                        .execute(conn)
                        .await?;
                    let gone = endpoints.get(&id).is_some_and(|(_, gone)| *gone);
                    let row: Option<WebhookRow> = target.first(conn).await.optional()?;
                    let Some(old) = row.map(Webhook::try_from).transpose()? else {
                        continue;
                    };
                    let stale = old
                        .failing_since
                        .is_some_and(|since| now - since >= policy.failing_for);
                    if old.disabled.is_some() || !(gone || stale) {
                        continue;
                    }
                    let new = Webhook {
                        disabled: Some(if gone {
                            DisabledReason::Gone
                        } else {
                            DisabledReason::Failing
                        }),
                        updated_at: now,
                        ..old.clone()
                    };
                    diesel::update(target)
                        .set((
                            webhook_endpoints::disabled_reason
                                .eq(new.disabled.map(DisabledReason::as_str)),
                            webhook_endpoints::updated_at.eq(now),
                        ))
                        .execute(conn)
                        .await?;
                    // What it was still owed fails with it (a recovery can send it later).
                    diesel::update(
                        webhook_deliveries::table
                            .filter(webhook_deliveries::tenant_id.eq(tenant))
                            .filter(webhook_deliveries::endpoint_id.eq(DbUuid::from(id)))
                            .filter(webhook_deliveries::state.eq("pending")),
                    )
                    .set((
                        webhook_deliveries::state.eq("failed"),
                        webhook_deliveries::last_error.eq("endpoint_disabled"),
                        webhook_deliveries::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
                    log.updated_as(tenantry_webhooks::actions::DISABLED, &old, &new);
                    log.enqueue(tenantry_jobs::Job::WebhookDisabledMail { endpoint_id: id });
                }
                Ok(())
            })
        }
    }

    impl DeliveryQueue for Db {
        async fn claim_deliveries(
            &self,
            worker: &str,
            limits: ClaimLimits,
            lease: Duration,
            now: DateTime<Utc>,
        ) -> Result<tenantry_webhooks::Claim, Unexpected> {
            Ok(self.claim_due(worker, limits, lease, now).await?)
        }

        async fn wait_for_deliveries(&self, at_most: Duration) {
            self.listen_for_jobs();
            let db = self.clone();
            let wait = match tokio::spawn(async move { db.next_delivery_due().await }).await {
                // Not a busy loop when what is due cannot be claimed yet (held by another
                // process's deliveries in flight).
                Ok(Ok(Some(due))) => (due - Utc::now()).to_std().unwrap_or_default().clamp(
                    Duration::from_millis(25),
                    at_most.max(Duration::from_millis(25)),
                ),
                Ok(Ok(None)) => at_most,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot read when the next webhook delivery comes due");
                    at_most
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the read of the next due delivery stopped");
                    at_most
                }
            };
            let _ = tokio::time::timeout(wait, self.deliveries_queued().notified()).await;
        }

        async fn delivery_material(
            &self,
            ctx: &TenantCtx,
            endpoints: &[WebhookId],
            events: &[EventId],
        ) -> Result<(Vec<Webhook>, Vec<Message>), Unexpected> {
            Ok(self.load_material(ctx, endpoints, events).await?)
        }

        async fn record_attempts(
            &self,
            ctx: &TenantCtx,
            worker: &str,
            attempts: &[Attempted],
            deferred: &[(Delivery, DateTime<Utc>)],
            policy: DisablePolicy,
            now: DateTime<Utc>,
        ) -> Result<(), Unexpected> {
            Ok(self
                .record(ctx, worker, attempts, deferred, policy, now)
                .await?)
        }
    }

    /// An attempt's columns for INSERT (the tenant comes from the context).
    macro_rules! attempt_values {
        ($a:expr) => {{
            let t = &$a.attempt;
            (
                webhook_attempts::id.eq(DbUuid::from(t.id)),
                webhook_attempts::endpoint_id.eq(DbUuid::from(t.endpoint_id)),
                webhook_attempts::event_id.eq(DbUuid::from(t.event_id)),
                webhook_attempts::event_type.eq(t.event_type.clone()),
                webhook_attempts::attempt.eq(i32::try_from(t.attempt).unwrap_or(i32::MAX)),
                webhook_attempts::trigger.eq(t.trigger.as_str()),
                webhook_attempts::succeeded.eq(t.succeeded),
                webhook_attempts::status_code.eq(t.status_code.map(i32::from)),
                webhook_attempts::duration_ms.eq(i32::try_from(t.duration_ms).unwrap_or(i32::MAX)),
                webhook_attempts::response_body.eq(t.response_body.clone()),
                webhook_attempts::error.eq(t.error.clone()),
                webhook_attempts::attempted_at.eq(t.attempted_at),
            )
        }};
    }

    /// Inserts attempts inside the caller's tenant transaction.
    trait InsertAttempts {
        /// Which of `ids` are still endpoints of the tenant, each held (not deletable) until
        /// the transaction ends.
        fn live_endpoints(
            &mut self,
            ctx: &TenantCtx,
            ids: Vec<DbUuid>,
        ) -> impl std::future::Future<Output = Result<Vec<DbUuid>, StoreError>> + Send;

        fn insert_attempts(
            &mut self,
            ctx: &TenantCtx,
            attempted: &[Attempted],
        ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
    }

    impl InsertAttempts for diesel_async::AsyncPgConnection {
        async fn live_endpoints(
            &mut self,
            ctx: &TenantCtx,
            ids: Vec<DbUuid>,
        ) -> Result<Vec<DbUuid>, StoreError> {
            use crate::schema::pg::*;
            Ok(webhook_endpoints::of(ctx)
                .filter(webhook_endpoints::id.eq_any(ids))
                .select(webhook_endpoints::id)
                .for_key_share()
                .load(self)
                .await?)
        }

        async fn insert_attempts(
            &mut self,
            ctx: &TenantCtx,
            attempted: &[Attempted],
        ) -> Result<(), StoreError> {
            use crate::schema::pg::*;
            let conn = self;
            insert_rows!(
                many,
                webhook_attempts,
                ctx,
                attempted,
                |a| attempt_values!(a),
                conn
            );
            Ok(())
        }
    }

    impl InsertAttempts for crate::db::SqliteConn {
        /// A write transaction holds the whole database already.
        async fn live_endpoints(
            &mut self,
            ctx: &TenantCtx,
            ids: Vec<DbUuid>,
        ) -> Result<Vec<DbUuid>, StoreError> {
            use crate::schema::sqlite::*;
            Ok(webhook_endpoints::of(ctx)
                .filter(webhook_endpoints::id.eq_any(ids))
                .select(webhook_endpoints::id)
                .load(self)
                .await?)
        }

        async fn insert_attempts(
            &mut self,
            ctx: &TenantCtx,
            attempted: &[Attempted],
        ) -> Result<(), StoreError> {
            use crate::schema::sqlite::*;
            let conn = self;
            insert_rows!(
                each,
                webhook_attempts,
                ctx,
                attempted,
                |a| attempt_values!(a),
                conn
            );
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn key(t: &str, e: &str) -> (String, String) {
            (t.to_owned(), e.to_owned())
        }

        #[test]
        fn claims_are_shared_fairly() {
            let limits = ClaimLimits {
                max: 10,
                per_tenant: 6,
                per_endpoint: 4,
            };
            // A flooding tenant with two endpoints (one nearly full), a quiet one after it: all
            // the room is taken, and the flood's rest is held back by it.
            let endpoints = [key("flood", "a"), key("flood", "b"), key("quiet", "c")];
            let due = [100, 100, 100];
            let flying = BTreeMap::from([(key("flood", "a"), 3)]);
            assert_eq!(
                allot(&endpoints, &due, &flying, limits),
                (vec![1, 4, 4], false)
            );
            // The claim's size bounds it; every tenant gets its first before any its second;
            // what had room is left for the next claim.
            let small = ClaimLimits { max: 2, ..limits };
            let none = BTreeMap::new();
            assert_eq!(allot(&endpoints, &due, &none, small), (vec![1, 0, 1], true));
            // A tenant's bound.
            let one = ClaimLimits {
                per_tenant: 1,
                ..limits
            };
            assert_eq!(allot(&endpoints, &due, &none, one), (vec![1, 0, 1], true));
            // Full endpoints get nothing.
            let full = BTreeMap::from([(key("quiet", "c"), 9)]);
            assert_eq!(
                allot(&[key("quiet", "c")], &[5], &full, limits),
                (vec![0], false)
            );
            // An endpoint gets no more than it has due; its slots go to the others.
            let few = [1, 100, 2];
            assert_eq!(
                allot(&endpoints, &few, &none, limits),
                (vec![1, 4, 2], false)
            );
            let wide = ClaimLimits {
                max: 20,
                per_tenant: 20,
                per_endpoint: 20,
            };
            // (The claim's size ran out before b's room: more is there.)
            assert_eq!(allot(&endpoints, &few, &none, wide), (vec![1, 17, 2], true));
        }
    }
}
