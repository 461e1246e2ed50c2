//! The delivery log as a tenant reads it, and what a tenant asks of the queue by hand
//! (resend, recover, test). Every write here locks the endpoint row first, so it runs in turn
//! with changes of the endpoint (a resend never slips past a disable).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use diesel_async::RunQueryDsl;
use serde_json::json;
use tenantry_audit::Audited;
use tenantry_kernel::{EventId, Page, PageRequest, TenantCtx, WebhookAttemptId, WebhookId};
use tenantry_webhooks::{
    Attempt, AttemptCounts, AttemptFilter, AttemptStatus, LATENCY_BUCKETS_MS, ManualDeliveryError,
    Recovered, Resend, TEST_EVENT_TYPE, TestSent, Trigger, Webhook,
};

use crate::db::Db;
use crate::error::StoreError;
use crate::types::DbInstant;
use crate::types::DbUuid;

/// Locks endpoint `$id` of `$ctx` for the rest of the transaction (a no-op UPDATE that reads
/// it): `Option<WebhookRow>`.
macro_rules! lock_endpoint {
    ($conn:ident, $ctx:expr, $id:expr) => {{
        let row: Option<$crate::webhooks::WebhookRow> = diesel::update(
            webhook_endpoints::of($ctx).filter(webhook_endpoints::id.eq(DbUuid::from($id))),
        )
        .set(webhook_endpoints::updated_at.eq(webhook_endpoints::updated_at))
        .get_result($conn)
        .await
        .optional()?;
        row
    }};
}

#[derive(Queryable)]
struct AttemptRow {
    _tenant_id: DbUuid,
    id: DbUuid,
    endpoint_id: DbUuid,
    event_id: DbUuid,
    event_type: String,
    attempt: i32,
    trigger: String,
    succeeded: bool,
    status_code: Option<i32>,
    duration_ms: i32,
    response_body: Option<String>,
    error: Option<String>,
    #[diesel(deserialize_as = DbInstant)]
    attempted_at: DateTime<Utc>,
}

impl TryFrom<AttemptRow> for Attempt {
    type Error = StoreError;

    fn try_from(r: AttemptRow) -> Result<Self, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("webhook attempt {what}"));
        Ok(Attempt {
            id: WebhookAttemptId::from_uuid(r.id.0),
            endpoint_id: WebhookId::from_uuid(r.endpoint_id.0),
            event_id: EventId::from_uuid(r.event_id.0),
            event_type: r.event_type,
            attempt: u32::try_from(r.attempt).map_err(|_| bad("attempt"))?,
            trigger: Trigger::parse(&r.trigger).ok_or_else(|| bad("trigger"))?,
            succeeded: r.succeeded,
            status_code: r
                .status_code
                .map(|s| u16::try_from(s).map_err(|_| bad("status_code")))
                .transpose()?,
            duration_ms: u32::try_from(r.duration_ms).map_err(|_| bad("duration_ms"))?,
            response_body: r.response_body,
            error: r.error,
            attempted_at: r.attempted_at,
        })
    }
}

/// One bucket of an endpoint's attempts: the latency bucket (-1: no response), with how
/// many, how many succeeded, their total and longest duration.
#[derive(QueryableByName)]
struct BucketRow {
    #[diesel(sql_type = Integer)]
    bucket: i32,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    ok: i64,
    #[diesel(sql_type = BigInt)]
    total_ms: i64,
    #[diesel(sql_type = Integer)]
    max_ms: i32,
}

/// An endpoint's attempts since a time, counted per latency bucket (the same SQL on both
/// backends; `CASE WHEN succeeded` reads a boolean and SQLite's 0/1 alike).
fn buckets_sql() -> String {
    let mut case = String::from("CASE WHEN status_code IS NULL THEN -1");
    for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
        case.push_str(&format!(" WHEN duration_ms <= {bound} THEN {i}"));
    }
    case.push_str(&format!(" ELSE {} END", LATENCY_BUCKETS_MS.len()));
    format!(
        "SELECT {case} AS bucket, COUNT(*) AS n, \
           SUM(CASE WHEN succeeded THEN 1 ELSE 0 END) AS ok, \
           SUM(duration_ms) AS total_ms, MAX(duration_ms) AS max_ms \
         FROM webhook_attempts \
         WHERE tenant_id = ? AND endpoint_id = ? AND attempted_at >= ? \
         GROUP BY 1"
    )
}

/// Whether `webhook` may be sent `event_type` by hand: its own subscriptions, and tests.
fn subscribed(webhook: &Webhook, event_type: &str) -> bool {
    event_type == TEST_EVENT_TYPE || webhook.event_types.matches(event_type)
}

/// The endpoint a manual delivery goes to: it must exist and be enabled.
fn usable(row: Option<crate::webhooks::WebhookRow>) -> Result<Webhook, ManualDeliveryError> {
    let webhook = Webhook::try_from(row.ok_or(ManualDeliveryError::NotFound)?)
        .map_err(tenantry_kernel::Unexpected::from)?;
    if !webhook.enabled() {
        return Err(ManualDeliveryError::Disabled);
    }
    Ok(webhook)
}

fn manual<T>(
    r: Result<Result<T, ManualDeliveryError>, StoreError>,
) -> Result<T, ManualDeliveryError> {
    r.map_err(|e| ManualDeliveryError::Unexpected(e.into()))?
}

impl Db {
    pub(crate) async fn load_attempts(
        &self,
        ctx: &TenantCtx,
        filter: AttemptFilter,
        page: &PageRequest,
    ) -> Result<Option<Page<Attempt>>, StoreError> {
        let before = crate::paging::after_id(page)?;
        let rows: Option<Vec<AttemptRow>> =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                let mut q = webhook_attempts::of(ctx).into_boxed();
                // The endpoint or event must be there (an unknown id is not an empty log).
                let known: Option<DbUuid> = match filter {
                    AttemptFilter::Endpoint(id, _) => {
                        q = q.filter(webhook_attempts::endpoint_id.eq(DbUuid::from(id)));
                        webhook_endpoints::of(ctx)
                            .filter(webhook_endpoints::id.eq(DbUuid::from(id)))
                            .select(webhook_endpoints::id)
                            .first(conn)
                            .await
                            .optional()?
                    }
                    AttemptFilter::Event(id, _) => {
                        q = q.filter(webhook_attempts::event_id.eq(DbUuid::from(id)));
                        events::of(ctx)
                            .filter(events::id.eq(DbUuid::from(id)))
                            .select(events::id)
                            .first(conn)
                            .await
                            .optional()?
                    }
                };
                if known.is_none() {
                    return Ok(None);
                }
                if let Some(status) = filter.status() {
                    q = q
                        .filter(webhook_attempts::succeeded.eq(status == AttemptStatus::Succeeded));
                }
                if let Some(before) = before {
                    q = q.filter(webhook_attempts::id.lt(before));
                }
                Ok(Some(
                    q.order(webhook_attempts::id.desc())
                        .limit(crate::paging::fetch(page))
                        .load(conn)
                        .await?,
                ))
            })?;
        let Some(rows) = rows else { return Ok(None) };
        let items = rows
            .into_iter()
            .map(Attempt::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Page::from_rows(items, page.limit, |a| {
            a.id.to_string()
        })))
    }

    pub(crate) async fn count_attempts(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
        since: DateTime<Utc>,
    ) -> Result<AttemptCounts, StoreError> {
        let sql = crate::deliveries::for_backend(&buckets_sql(), self.backend());
        let tenant = DbUuid::from(ctx.tenant_id());
        let (buckets, states): (Vec<BucketRow>, Vec<(String, i64)>) =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                // The deliveries' states first: on PostgreSQL each statement of a read
                // committed transaction sees its own snapshot, and an attempt is recorded in
                // the transaction that settles its delivery — read in this order, a delivery
                // counted as failed always has its last attempt counted too.
                let states = webhook_deliveries::table
                    .filter(webhook_deliveries::tenant_id.eq(tenant))
                    .filter(webhook_deliveries::endpoint_id.eq(DbUuid::from(endpoint)))
                    .group_by(webhook_deliveries::state)
                    .select((webhook_deliveries::state, diesel::dsl::count_star()))
                    .load(conn)
                    .await?;
                let buckets = diesel::sql_query(&sql)
                    .bind::<DbId, _>(tenant)
                    .bind::<DbId, _>(DbUuid::from(endpoint))
                    .bind::<DbTime, _>(since)
                    .load(conn)
                    .await?;
                Ok((buckets, states))
            })?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut counts = AttemptCounts::default();
        for b in buckets {
            counts.attempts += n(b.n);
            counts.succeeded += n(b.ok);
            if let Some(slot) = usize::try_from(b.bucket)
                .ok()
                .and_then(|i| counts.latency_buckets.get_mut(i))
            {
                *slot += n(b.n);
                counts.latency_total_ms += n(b.total_ms);
                counts.latency_max_ms = counts
                    .latency_max_ms
                    .max(u32::try_from(b.max_ms).unwrap_or(0));
            }
        }
        for (state, count) in states {
            match state.as_str() {
                "failed" => counts.failed += n(count),
                _ => counts.pending += n(count),
            }
        }
        Ok(counts)
    }

    pub(crate) async fn queue_resend(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
        event: EventId,
        now: DateTime<Utc>,
    ) -> Result<Resend, ManualDeliveryError> {
        let tenant = DbUuid::from(ctx.tenant_id());
        let outcome = manual(mutate!(self, ctx, |conn, log| {
            let webhook = match usable(lock_endpoint!(conn, ctx, endpoint)) {
                Ok(w) => w,
                Err(e) => return Ok(Err(e)),
            };
            let event_type: Option<String> = events::of(ctx)
                .filter(events::id.eq(DbUuid::from(event)))
                .select(events::event_type)
                .first(conn)
                .await
                .optional()?;
            let Some(event_type) = event_type else {
                return Ok(Err(ManualDeliveryError::EventNotFound));
            };
            if !subscribed(&webhook, &event_type) {
                return Ok(Err(ManualDeliveryError::NotSubscribed));
            }
            let row = webhook_deliveries::table
                .filter(webhook_deliveries::tenant_id.eq(tenant))
                .filter(webhook_deliveries::endpoint_id.eq(DbUuid::from(endpoint)))
                .filter(webhook_deliveries::event_id.eq(DbUuid::from(event)));
            let state: Option<String> = row
                .select(webhook_deliveries::state)
                .first(conn)
                .await
                .optional()?;
            // A dispatcher may claim a pending row meanwhile: each step is conditional on the
            // state read, and a row that moved on is being sent.
            let outcome = match state.as_deref() {
                Some("pending") => {
                    let n = diesel::update(row.filter(webhook_deliveries::state.eq("pending")))
                        .set((
                            webhook_deliveries::next_attempt_at.eq(now),
                            webhook_deliveries::updated_at.eq(now),
                        ))
                        .execute(conn)
                        .await?;
                    if n == 1 {
                        Resend::Hurried
                    } else {
                        Resend::InFlight
                    }
                }
                Some("failed") => {
                    diesel::update(row.filter(webhook_deliveries::state.eq("failed")))
                        .set((
                            webhook_deliveries::state.eq("pending"),
                            webhook_deliveries::trigger.eq(Trigger::Manual.as_str()),
                            webhook_deliveries::next_attempt_at.eq(now),
                            webhook_deliveries::updated_at.eq(now),
                        ))
                        .execute(conn)
                        .await?;
                    Resend::Queued
                }
                Some(_) => Resend::InFlight,
                None => {
                    diesel::insert_into(webhook_deliveries::table)
                        .values((
                            webhook_deliveries::tenant_id.eq(tenant),
                            webhook_deliveries::endpoint_id.eq(DbUuid::from(endpoint)),
                            webhook_deliveries::event_id.eq(DbUuid::from(event)),
                            webhook_deliveries::state.eq("pending"),
                            webhook_deliveries::trigger.eq(Trigger::Manual.as_str()),
                            webhook_deliveries::attempts.eq(0),
                            webhook_deliveries::next_attempt_at.eq(now),
                            webhook_deliveries::created_at.eq(now),
                            webhook_deliveries::updated_at.eq(now),
                        ))
                        .execute(conn)
                        .await?;
                    Resend::Queued
                }
            };
            if outcome != Resend::InFlight {
                log.note(
                    Webhook::ENTITY,
                    endpoint.to_string(),
                    "event_resent",
                    [("event_id", json!(event.to_string()))],
                );
            }
            Ok(Ok(outcome))
        }))?;
        if outcome != Resend::InFlight {
            self.deliveries_committed(1);
        }
        Ok(outcome)
    }

    pub(crate) async fn queue_recovery(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Recovered, ManualDeliveryError> {
        let tenant = DbUuid::from(ctx.tenant_id());
        let out = manual(mutate!(self, ctx, |conn, log| {
            if let Err(e) = usable(lock_endpoint!(conn, ctx, endpoint)) {
                return Ok(Err(e));
            }
            let queued = diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::tenant_id.eq(tenant))
                    .filter(webhook_deliveries::endpoint_id.eq(DbUuid::from(endpoint)))
                    .filter(webhook_deliveries::state.eq("failed"))
                    .filter(webhook_deliveries::created_at.ge(since)),
            )
            .set((
                webhook_deliveries::state.eq("pending"),
                webhook_deliveries::trigger.eq(Trigger::Manual.as_str()),
                webhook_deliveries::next_attempt_at.eq(now),
                webhook_deliveries::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
            let queued = queued as u64;
            log.note(
                Webhook::ENTITY,
                endpoint.to_string(),
                "recovered",
                [("since", json!(since)), ("queued", json!(queued))],
            );
            Ok(Ok(Recovered { queued }))
        }))?;
        if out.queued > 0 {
            self.deliveries_committed(1);
        }
        Ok(out)
    }

    pub(crate) async fn queue_test(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
    ) -> Result<TestSent, ManualDeliveryError> {
        let (refused, events) = mutate!(@events self, ctx, |conn, log| {
            let webhook = match usable(lock_endpoint!(conn, ctx, endpoint)) {
                Ok(w) => w,
                Err(e) => return Ok(Err(e)),
            };
            log.announce(
                (Webhook::ENTITY, endpoint.to_string(), "test_sent"),
                [],
                TEST_EVENT_TYPE,
                json!({
                    "webhook_endpoint_id": endpoint,
                    "url": webhook.url.as_str(),
                    "message": "A test event from Tenantry: this endpoint receives events.",
                }),
                endpoint,
            );
            Ok(Ok(()))
        })
        .map_err(|e| ManualDeliveryError::Unexpected(e.into()))?;
        refused?;
        let event_id = <[_]>::first(&events).copied().ok_or_else(|| {
            ManualDeliveryError::Unexpected(tenantry_kernel::Unexpected::msg(
                "the test event was not recorded",
            ))
        })?;
        Ok(TestSent { event_id })
    }

    pub(crate) async fn delete_delivery_log(
        &self,
        ctx: &TenantCtx,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let tenant = DbUuid::from(ctx.tenant_id());
        // Retention is not a change of data: nothing is logged.
        mutate!(self, ctx, |conn, _log| {
            let attempts = diesel::delete(
                webhook_attempts::of(ctx).filter(webhook_attempts::attempted_at.lt(before)),
            )
            .execute(conn)
            .await?;
            let failed = diesel::delete(
                webhook_deliveries::table
                    .filter(webhook_deliveries::tenant_id.eq(tenant))
                    .filter(webhook_deliveries::state.eq("failed"))
                    .filter(webhook_deliveries::updated_at.lt(before)),
            )
            .execute(conn)
            .await?;
            Ok((attempts + failed) as u64)
        })
    }
}
