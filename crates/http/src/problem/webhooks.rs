//! problem+json for webhook endpoints: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_webhooks::{CreateWebhookError, WebhookError};

use super::Problem;
use super::products::quota;

pub(crate) fn webhook_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "webhook_not_found",
        "Webhook endpoint not found",
    )
    .detail("No webhook endpoint with this id exists in this tenant")
}

impl From<WebhookError> for Problem {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NotFound => webhook_not_found(),
            WebhookError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<CreateWebhookError> for Problem {
    fn from(e: CreateWebhookError) -> Self {
        match e {
            CreateWebhookError::Quota(q) => quota(q),
            CreateWebhookError::Unexpected(u) => Problem::internal(u),
        }
    }
}
