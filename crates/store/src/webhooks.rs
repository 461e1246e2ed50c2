//! Webhook endpoints: tenant-scoped rows, every change through the mutation pipeline.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{EventId, Page, PageRequest, TenantCtx, TenantId, Unexpected, WebhookId};
use tenantry_webhooks::{
    Attempt, AttemptCounts, AttemptFilter, CustomHeaders, Description, DisabledReason, EventTypes,
    ManualDeliveryError, RateLimit, Recovered, Resend, SealedSecrets, TestSent, Webhook,
    WebhookError, WebhookPatch, WebhookRepository, WebhookUrl,
};

use crate::db::{Db, load_first, load_rows};
use crate::error::StoreError;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
pub(crate) struct WebhookRow {
    tenant_id: DbUuid,
    id: DbUuid,
    url: String,
    description: String,
    event_types: String,
    _match_keys: String,
    disabled_reason: Option<String>,
    headers: String,
    rate_limit: Option<i32>,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<DateTime<Utc>>,
    secret_rotated_at: Option<DateTime<Utc>>,
    failing_since: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;

    fn try_from(r: WebhookRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str, e: String| StoreError::Corrupt(format!("webhook {what}: {e}"));
        let types: Vec<String> = serde_json::from_str(&r.event_types)
            .map_err(|e| corrupt("event_types", e.to_string()))?;
        let headers: BTreeMap<String, String> =
            serde_json::from_str(&r.headers).map_err(|e| corrupt("headers", e.to_string()))?;
        Ok(Webhook {
            id: WebhookId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            url: WebhookUrl::stored(&r.url).map_err(|e| corrupt("url", e.0))?,
            description: Description::parse(&r.description)
                .map_err(|e| corrupt("description", e.0))?,
            event_types: EventTypes::parse(&types).map_err(|e| corrupt("event_types", e.0))?,
            disabled: r
                .disabled_reason
                .map(|d| {
                    DisabledReason::parse(&d).ok_or_else(|| corrupt("disabled_reason", d.clone()))
                })
                .transpose()?,
            headers: CustomHeaders::parse(&headers).map_err(|e| corrupt("headers", e.0))?,
            rate_limit: r
                .rate_limit
                .map(|n| RateLimit::parse(i64::from(n)).map_err(|e| corrupt("rate_limit", e.0)))
                .transpose()?,
            secrets: SealedSecrets {
                current: r.secret,
                previous: r.previous_secret.zip(r.previous_secret_expires_at),
            },
            secret_rotated_at: r.secret_rotated_at,
            failing_since: r.failing_since,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The event types as stored: the JSON list shown, and the keys the fan-out matches with
/// `LIKE '% <type> %'` and `LIKE '% <entity>.* %'` (`''`: every event).
fn event_type_columns(types: &EventTypes) -> (String, String) {
    let shown = types.to_strings();
    let keys = if shown.is_empty() {
        String::new()
    } else {
        format!(" {} ", shown.join(" "))
    };
    (
        serde_json::to_string(&shown).unwrap_or_else(|_| "[]".to_owned()),
        keys,
    )
}

fn headers_column(h: &CustomHeaders) -> String {
    serde_json::to_string(h.as_map()).unwrap_or_else(|_| "{}".to_owned())
}

/// The columns a create or an update writes (every one but the keys and the creation time).
macro_rules! webhook_changes {
    ($w:expr) => {{
        let w: &Webhook = $w;
        let (types, keys) = event_type_columns(&w.event_types);
        (
            webhook_endpoints::url.eq(w.url.as_str().to_owned()),
            webhook_endpoints::description.eq(w.description.as_str().to_owned()),
            webhook_endpoints::event_types.eq(types),
            webhook_endpoints::match_keys.eq(keys),
            webhook_endpoints::disabled_reason.eq(w.disabled.map(DisabledReason::as_str)),
            webhook_endpoints::headers.eq(headers_column(&w.headers)),
            webhook_endpoints::rate_limit.eq(w
                .rate_limit
                .map(|r| i32::try_from(r.per_second()).unwrap_or(i32::MAX))),
            (
                webhook_endpoints::secret.eq(w.secrets.current.clone()),
                webhook_endpoints::previous_secret.eq(w
                    .secrets
                    .previous
                    .as_ref()
                    .map(|(s, _)| s.clone())),
                webhook_endpoints::previous_secret_expires_at.eq(w
                    .secrets
                    .previous
                    .as_ref()
                    .map(|(_, at)| *at)),
            ),
            webhook_endpoints::secret_rotated_at.eq(w.secret_rotated_at),
            webhook_endpoints::failing_since.eq(w.failing_since),
            webhook_endpoints::updated_at.eq(w.updated_at),
        )
    }};
}

impl Db {
    async fn insert_webhook(&self, ctx: &TenantCtx, w: &Webhook) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            webhook_endpoints::insert(
                ctx,
                (
                    webhook_endpoints::id.eq(DbUuid::from(w.id)),
                    webhook_endpoints::created_at.eq(w.created_at),
                    webhook_changes!(w),
                ),
            )
            .execute(conn)
            .await?;
            log.created(w);
            Ok(())
        })
    }

    async fn load_webhook(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
    ) -> Result<Option<Webhook>, StoreError> {
        let row: Option<WebhookRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(load_first(
                webhook_endpoints::of(ctx).filter(webhook_endpoints::id.eq(DbUuid::from(id))),
                conn,
            )
            .await?)
        })?;
        row.map(Webhook::try_from).transpose()
    }

    async fn load_webhooks(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Webhook>, StoreError> {
        let after = crate::paging::after_id(page)?;
        let rows: Vec<WebhookRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut q = webhook_endpoints::of(ctx).into_boxed();
            if let Some(after) = after {
                q = q.filter(webhook_endpoints::id.gt(after));
            }
            Ok(load_rows(
                q.order(webhook_endpoints::id.asc())
                    .limit(crate::paging::fetch(page)),
                conn,
            )
            .await?)
        })?;
        let items = rows
            .into_iter()
            .map(Webhook::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |w| w.id.to_string()))
    }

    /// Locks the endpoint, computes its new state with `change`, writes and records it as
    /// `action` (nothing when unchanged). `None` when there is no such endpoint; `Some(None)`
    /// when `change` declined.
    async fn change_webhook(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
        action: &str,
        change: impl FnOnce(&Webhook) -> Option<Webhook> + Send,
    ) -> Result<Option<Option<Webhook>>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let target =
                webhook_endpoints::of(ctx).filter(webhook_endpoints::id.eq(DbUuid::from(id)));
            // Concurrent changes apply in turn.
            let Some(old) = lock_endpoint!(conn, ctx, id) else {
                return Ok(None);
            };
            let old = Webhook::try_from(old)?;
            let Some(new) = change(&old) else {
                return Ok(Some(None));
            };
            if new != old {
                diesel::update(target)
                    .set(webhook_changes!(&new))
                    .execute(conn)
                    .await?;
                log.updated_as(action, &old, &new);
            }
            Ok(Some(Some(new)))
        })
    }

    async fn remove_webhook(&self, ctx: &TenantCtx, id: WebhookId) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            // Its queued deliveries and attempt log go with it (foreign keys, cascading).
            let old: Option<WebhookRow> = diesel::delete(
                webhook_endpoints::of(ctx).filter(webhook_endpoints::id.eq(DbUuid::from(id))),
            )
            .get_result(conn)
            .await
            .optional()?;
            let Some(old) = old else { return Ok(false) };
            log.deleted(&Webhook::try_from(old)?);
            Ok(true)
        })
    }
}

impl WebhookRepository for Db {
    async fn create_webhook(
        &self,
        ctx: &TenantCtx,
        webhook: &Webhook,
    ) -> Result<(), tenantry_webhooks::CreateWebhookError> {
        self.insert_webhook(ctx, webhook)
            .await
            .map_err(StoreError::refusal)
    }

    async fn webhook(&self, ctx: &TenantCtx, id: WebhookId) -> Result<Option<Webhook>, Unexpected> {
        Ok(self.load_webhook(ctx, id).await?)
    }

    async fn list_webhooks(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Webhook>, Unexpected> {
        Ok(self.load_webhooks(ctx, page).await?)
    }

    async fn update_webhook(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
        patch: &WebhookPatch,
        now: DateTime<Utc>,
    ) -> Result<Webhook, WebhookError> {
        let changed = self
            .change_webhook(ctx, id, tenantry_audit::actions::UPDATED, |old| {
                Some(patch.apply(old, now))
            })
            .await
            .map_err(Unexpected::from)?;
        changed.flatten().ok_or(WebhookError::NotFound)
    }

    async fn delete_webhook(&self, ctx: &TenantCtx, id: WebhookId) -> Result<(), WebhookError> {
        match self
            .remove_webhook(ctx, id)
            .await
            .map_err(Unexpected::from)?
        {
            true => Ok(()),
            false => Err(WebhookError::NotFound),
        }
    }

    async fn replace_secrets(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
        expected: &SealedSecrets,
        secrets: &SealedSecrets,
        now: DateTime<Utc>,
    ) -> Result<Option<Webhook>, WebhookError> {
        let changed = self
            .change_webhook(ctx, id, tenantry_webhooks::actions::SECRET_ROTATED, |old| {
                (old.secrets == *expected).then(|| Webhook {
                    secrets: secrets.clone(),
                    secret_rotated_at: Some(now),
                    updated_at: now,
                    ..old.clone()
                })
            })
            .await
            .map_err(Unexpected::from)?;
        changed.ok_or(WebhookError::NotFound)
    }

    async fn attempts(
        &self,
        ctx: &TenantCtx,
        filter: AttemptFilter,
        page: &PageRequest,
    ) -> Result<Option<Page<Attempt>>, Unexpected> {
        Ok(self.load_attempts(ctx, filter, page).await?)
    }

    async fn attempt_counts(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
        since: DateTime<Utc>,
    ) -> Result<AttemptCounts, Unexpected> {
        Ok(self.count_attempts(ctx, endpoint, since).await?)
    }

    async fn resend(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
        event: EventId,
        now: DateTime<Utc>,
    ) -> Result<Resend, ManualDeliveryError> {
        self.queue_resend(ctx, endpoint, event, now).await
    }

    async fn recover(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Recovered, ManualDeliveryError> {
        self.queue_recovery(ctx, endpoint, since, now).await
    }

    async fn send_test(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
    ) -> Result<TestSent, ManualDeliveryError> {
        self.queue_test(ctx, endpoint).await
    }

    async fn prune_delivery_log(
        &self,
        ctx: &TenantCtx,
        before: DateTime<Utc>,
    ) -> Result<u64, Unexpected> {
        Ok(self.delete_delivery_log(ctx, before).await?)
    }
}
