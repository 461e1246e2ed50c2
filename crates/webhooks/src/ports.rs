//! What webhooks need from storage. Every method takes the tenant context; the store adds
//! the tenant predicate and records each change through the mutation pipeline.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{EventId, Page, PageRequest, TenantCtx, Unexpected, WebhookId};

use crate::delivery::Attempt;
use crate::error::{CreateWebhookError, ManualDeliveryError, WebhookError};
use crate::log::{AttemptCounts, AttemptFilter, Recovered, Resend, TestSent};
use crate::model::{SealedSecrets, Webhook, WebhookPatch};

pub trait WebhookRepository: Clone + Send + Sync + 'static {
    fn create_webhook(
        &self,
        ctx: &TenantCtx,
        webhook: &Webhook,
    ) -> impl Future<Output = Result<(), CreateWebhookError>> + Send;

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

    /// The delivery log, newest first; `None` when the endpoint or the event is not there.
    fn attempts(
        &self,
        ctx: &TenantCtx,
        filter: AttemptFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Option<Page<Attempt>>, Unexpected>> + Send;

    /// Attempts of `endpoint` since `since`, and its deliveries waiting or failed now.
    fn attempt_counts(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<AttemptCounts, Unexpected>> + Send;

    /// Queues `event` for `endpoint` now (see [`Resend`]): an enabled endpoint, an event it
    /// subscribes to (or its own test). Audited.
    fn resend(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
        event: EventId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Resend, ManualDeliveryError>> + Send;

    /// Queues again, one manual attempt each, every failed delivery to `endpoint` of an
    /// event since `since`. Audited.
    fn recover(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Recovered, ManualDeliveryError>> + Send;

    /// Records a [`crate::TEST_EVENT_TYPE`] event for `endpoint` alone and queues it there.
    fn send_test(
        &self,
        ctx: &TenantCtx,
        endpoint: WebhookId,
    ) -> impl Future<Output = Result<TestSent, ManualDeliveryError>> + Send;

    /// Deletes the attempts and the failed deliveries older than `before`.
    fn prune_delivery_log(
        &self,
        ctx: &TenantCtx,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, Unexpected>> + Send;
}
