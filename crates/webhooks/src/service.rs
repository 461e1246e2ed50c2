//! The endpoints' use cases.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenantry_kernel::{
    Clock, EventId, Page, PageRequest, SecretCipher, SecretSlot, TenantCtx, Unexpected, WebhookId,
};

use crate::delivery::Attempt;
use crate::error::{CreateWebhookError, ManualDeliveryError, WebhookError};
use crate::log::{AttemptFilter, Recovered, Resend, TestSent, WebhookStats};
use crate::model::{NewWebhook, SealedSecrets, TargetRules, Webhook, WebhookPatch};
use crate::ports::WebhookRepository;
use crate::signature::WebhookSecret;

/// Where signing secrets are sealed: their table, and a column each.
const TABLE: &str = "webhook_endpoints";
const CURRENT: &str = "secret";
const PREVIOUS: &str = "previous_secret";

fn slot<'a>(column: &'static str, row: &'a str) -> SecretSlot<'a> {
    SecretSlot {
        table: TABLE,
        column,
        row,
    }
}

/// How long the secret before a rotation is still sent beside the new one.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

#[derive(Clone)]
pub struct WebhookService<R, C> {
    repo: R,
    cipher: C,
    clock: Arc<dyn Clock>,
    rules: TargetRules,
}

impl<R: WebhookRepository, C: SecretCipher> WebhookService<R, C> {
    pub fn new(repo: R, cipher: C, clock: Arc<dyn Clock>, rules: TargetRules) -> Self {
        Self {
            repo,
            cipher,
            clock,
            rules,
        }
    }

    /// What targets may be registered.
    pub fn rules(&self) -> &TargetRules {
        &self.rules
    }

    /// Creates the endpoint with a new signing secret, returned here and never again.
    pub async fn create(
        &self,
        ctx: &TenantCtx,
        new: NewWebhook,
    ) -> Result<(Webhook, WebhookSecret), CreateWebhookError> {
        let id = WebhookId::new();
        let row = id.to_string();
        let secret = WebhookSecret::generate()?;
        let sealed = self
            .cipher
            .seal(ctx, slot(CURRENT, &row), secret.expose().as_bytes())
            .await?;
        let now = self.clock.now();
        let webhook = Webhook {
            id,
            tenant_id: ctx.tenant_id(),
            url: new.url,
            description: new.description,
            event_types: new.event_types,
            disabled: (!new.enabled).then_some(crate::model::DisabledReason::Manual),
            headers: new.headers,
            rate_limit: new.rate_limit,
            secrets: SealedSecrets {
                current: sealed,
                previous: None,
            },
            secret_rotated_at: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        self.repo.create_webhook(ctx, &webhook).await?;
        Ok((webhook, secret))
    }

    pub async fn get(&self, ctx: &TenantCtx, id: WebhookId) -> Result<Webhook, WebhookError> {
        self.repo
            .webhook(ctx, id)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    pub async fn list(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Webhook>, Unexpected> {
        self.repo.list_webhooks(ctx, page).await
    }

    pub async fn update(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
        patch: &WebhookPatch,
    ) -> Result<Webhook, WebhookError> {
        self.repo
            .update_webhook(ctx, id, patch, self.clock.now())
            .await
    }

    pub async fn delete(&self, ctx: &TenantCtx, id: WebhookId) -> Result<(), WebhookError> {
        self.repo.delete_webhook(ctx, id).await
    }

    /// A new signing secret, returned here and never again; the current one stays valid
    /// (signatures with both are sent) for [`ROTATION_OVERLAP`].
    pub async fn rotate_secret(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
    ) -> Result<(Webhook, WebhookSecret), WebhookError> {
        // Two rotations at once: the loser reads the winner's secrets and rotates again.
        for _ in 0..3 {
            let old = self.get(ctx, id).await?;
            let row = id.to_string();
            let current = self
                .cipher
                .open(ctx, slot(CURRENT, &row), &old.secrets.current)
                .await?;
            let now = self.clock.now();
            let previous = self
                .cipher
                .seal(ctx, slot(PREVIOUS, &row), &current)
                .await?;
            let secret = WebhookSecret::generate()?;
            let sealed = self
                .cipher
                .seal(ctx, slot(CURRENT, &row), secret.expose().as_bytes())
                .await?;
            let secrets = SealedSecrets {
                current: sealed,
                previous: Some((previous, now + ROTATION_OVERLAP)),
            };
            if let Some(w) = self
                .repo
                .replace_secrets(ctx, id, &old.secrets, &secrets, now)
                .await?
            {
                return Ok((w, secret));
            }
        }
        Err(WebhookError::Unexpected(Unexpected::msg(
            "the secret kept changing while it was being rotated",
        )))
    }
}

impl<R: WebhookRepository, C> WebhookService<R, C> {
    /// The attempts of one endpoint, or of one event to every endpoint (empty for an event
    /// never sent), newest first.
    pub async fn attempts(
        &self,
        ctx: &TenantCtx,
        filter: AttemptFilter,
        page: &PageRequest,
    ) -> Result<Page<Attempt>, WebhookError> {
        self.repo
            .attempts(ctx, filter, page)
            .await?
            .ok_or(match filter {
                AttemptFilter::Endpoint(..) => WebhookError::NotFound,
                AttemptFilter::Event(..) => WebhookError::EventNotFound,
            })
    }

    /// How the endpoint fared over the last 24 hours.
    pub async fn stats(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
    ) -> Result<WebhookStats, WebhookError> {
        self.exists(ctx, id).await?;
        let since = self.clock.now() - chrono::Duration::hours(24);
        let counts = self.repo.attempt_counts(ctx, id, since).await?;
        Ok(WebhookStats::of(&counts, since))
    }

    pub async fn resend(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
        event: EventId,
    ) -> Result<Resend, ManualDeliveryError> {
        self.repo.resend(ctx, id, event, self.clock.now()).await
    }

    pub async fn recover(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
        since: DateTime<Utc>,
    ) -> Result<Recovered, ManualDeliveryError> {
        self.repo.recover(ctx, id, since, self.clock.now()).await
    }

    pub async fn send_test(
        &self,
        ctx: &TenantCtx,
        id: WebhookId,
    ) -> Result<TestSent, ManualDeliveryError> {
        self.repo.send_test(ctx, id).await
    }

    async fn exists(&self, ctx: &TenantCtx, id: WebhookId) -> Result<(), WebhookError> {
        match self.repo.webhook(ctx, id).await? {
            Some(_) => Ok(()),
            None => Err(WebhookError::NotFound),
        }
    }
}

/// The secrets deliveries to `webhook` are signed with at `now`: the current one, then the
/// previous one while it is still valid.
pub(crate) async fn open_secrets<C: SecretCipher>(
    cipher: &C,
    ctx: &TenantCtx,
    webhook: &Webhook,
    now: DateTime<Utc>,
) -> Result<Vec<WebhookSecret>, Unexpected> {
    let row = webhook.id.to_string();
    let mut sealed = vec![(CURRENT, webhook.secrets.current.as_str())];
    if let Some((previous, until)) = &webhook.secrets.previous
        && *until > now
    {
        sealed.push((PREVIOUS, previous.as_str()));
    }
    let mut out = Vec::with_capacity(sealed.len());
    for (column, value) in sealed {
        let bytes = cipher.open(ctx, slot(column, &row), value).await?;
        let text = String::from_utf8(bytes).map_err(Unexpected::new)?;
        out.push(WebhookSecret::parse(&text).map_err(Unexpected::new)?);
    }
    Ok(out)
}
