//! An endpoint as the API returns it and as its events carry it. Never a secret.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{DisabledReason, Webhook};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: uuid::Uuid,
    #[schema(example = "https://hooks.example.com/tenantry")]
    pub url: String,
    pub description: String,
    /// Event types delivered: exact (`product.created`) or a family (`product.*`); empty
    /// means every event.
    #[schema(example = json!(["product.*", "member.created"]))]
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why it is disabled: `manual` (turned off), `gone` (the receiver answered 410) or
    /// `failing` (every delivery failed for days); null while enabled.
    pub disabled_reason: Option<DisabledReason>,
    /// Extra headers sent with every delivery (names in lower case).
    pub headers: BTreeMap<String, String>,
    /// At most this many deliveries per second; null: no limit.
    pub rate_limit: Option<u32>,
    /// When the signing secret was last rotated (null: never).
    pub secret_rotated_at: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation is sent beside the current one (past:
    /// no longer; null: never rotated).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Since when every delivery has failed (null after a success).
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        Self {
            id: *w.id.as_uuid(),
            url: w.url.as_str().to_owned(),
            description: w.description.as_str().to_owned(),
            event_types: w.event_types.to_strings(),
            enabled: w.enabled(),
            disabled_reason: w.disabled,
            headers: w.headers.as_map().clone(),
            rate_limit: w.rate_limit.map(|r| r.per_second()),
            secret_rotated_at: w.secret_rotated_at,
            previous_secret_expires_at: w.secrets.previous.as_ref().map(|(_, at)| *at),
            failing_since: w.failing_since,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}
