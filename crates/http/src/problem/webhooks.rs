//! problem+json for webhook endpoints: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_webhooks::{CreateWebhookError, ManualDeliveryError, WebhookError};

use super::Problem;

pub(crate) fn webhook_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "webhook_not_found",
        "Webhook endpoint not found",
    )
    .detail("No webhook endpoint with this id exists in this tenant")
}

fn event_not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "event_not_found", "Event not found")
        .detail("No event with this id is kept for this tenant")
}

impl From<WebhookError> for Problem {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NotFound => webhook_not_found(),
            WebhookError::EventNotFound => event_not_found(),
            WebhookError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<CreateWebhookError> for Problem {
    fn from(e: CreateWebhookError) -> Self {
        match e {
            CreateWebhookError::Quota(q) => q.into(),
            CreateWebhookError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<ManualDeliveryError> for Problem {
    fn from(e: ManualDeliveryError) -> Self {
        match e {
            ManualDeliveryError::NotFound => webhook_not_found(),
            ManualDeliveryError::Disabled => Problem::new(
                StatusCode::CONFLICT,
                "webhook_disabled",
                "Webhook endpoint disabled",
            )
            .detail("Enable the endpoint first (PATCH it with {\"enabled\": true})"),
            ManualDeliveryError::EventNotFound => event_not_found(),
            ManualDeliveryError::NotSubscribed => Problem::new(
                StatusCode::CONFLICT,
                "event_not_subscribed",
                "Event not subscribed",
            )
            .detail("The endpoint does not subscribe to this event's type"),
            ManualDeliveryError::Unexpected(u) => Problem::internal(u),
        }
    }
}
