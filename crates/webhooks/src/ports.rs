//! What webhooks need from storage. Every method takes the tenant context; the store adds
//! the tenant predicate and records each change through the mutation pipeline.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{Page, PageRequest, TenantCtx, Unexpected, WebhookId};

use crate::error::WebhookError;
use crate::model::{SealedSecrets, Webhook, WebhookPatch};

pub trait WebhookRepository: Clone + Send + Sync + 'static {
    fn create_webhook(
        &self,
        ctx: &TenantCtx,
        webhook: &Webhook,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    fn webhook(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
    ) -> impl Future<Output = Result<Option<Webhook>, Unexpected>> + Send;

    /// Oldest first (by id).
    fn list_webhooks(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Webhook>, Unexpected>> + Send;

    /// Reads, patches and writes in one transaction; `NotFound` for an unknown id.
    fn update_webhook(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
        patch: &WebhookPatch,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Webhook, WebhookError>> + Send;

    /// Deletes it with its pending deliveries and its attempt log.
    fn delete_webhook(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
    ) -> impl Future<Output = Result<(), WebhookError>> + Send;

    /// Replaces the secrets if they are still `expected` (two rotations at once: one wins,
    /// the other gets `Ok(None)`).
    fn replace_secrets(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
        expected: &SealedSecrets,
        secrets: &SealedSecrets,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Webhook>, WebhookError>> + Send;
}
