//! An endpoint as the API returns it and as its events carry it. Never a secret.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::delivery::{Attempt, Trigger};
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
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub secret_rotated_at: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation is sent beside the current one (past:
    /// no longer; null: never rotated).
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Since when every delivery has failed (null after a success).
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
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

/// One delivery attempt, as the delivery log shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub id: uuid::Uuid,
    pub endpoint_id: uuid::Uuid,
    pub event_id: uuid::Uuid,
    #[schema(example = "product.created")]
    pub event_type: String,
    /// 1 for the first attempt of a delivery; manual attempts continue the count.
    pub attempt: u32,
    pub trigger: Trigger,
    /// A 2xx came back in time.
    pub succeeded: bool,
    /// The receiver's status (null: no response).
    pub status_code: Option<u16>,
    pub duration_ms: u32,
    /// The first 4 KiB of the response body.
    pub response_body: Option<String>,
    /// Why no usable response came: `timeout`, `connection_refused`, `ssrf_blocked`, `dns`,
    /// `tls`, `connection`, `endpoint_disabled`, `event_expired` (null for a response,
    /// even a failing one: see `status_code`).
    #[schema(example = "connection_refused")]
    pub error: Option<String>,
    pub error_detail: Option<String>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub attempted_at: DateTime<Utc>,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        let (error, error_detail) = match a.error.as_deref() {
            None => (None, None),
            Some(e) => match e.split_once(": ") {
                Some((code, detail)) => (Some(code.to_owned()), Some(detail.to_owned())),
                None => (Some(e.to_owned()), None),
            },
        };
        Self {
            id: *a.id.as_uuid(),
            endpoint_id: *a.endpoint_id.as_uuid(),
            event_id: *a.event_id.as_uuid(),
            event_type: a.event_type.clone(),
            attempt: a.attempt,
            trigger: a.trigger,
            succeeded: a.succeeded,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            response_body: a.response_body.clone(),
            error,
            error_detail,
            attempted_at: a.attempted_at,
        }
    }
}
