//! One error enum per operation.

use tenantry_kernel::{QuotaError, Unexpected};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CreateWebhookError {
    #[error(transparent)]
    Quota(#[from] QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum WebhookError {
    #[error("webhook endpoint not found")]
    NotFound,
    #[error("event not found")]
    EventNotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// A resend, a recovery or a test.
#[derive(Debug, Error)]
pub enum ManualDeliveryError {
    #[error("webhook endpoint not found")]
    NotFound,
    #[error("the webhook endpoint is disabled")]
    Disabled,
    #[error("event not found")]
    EventNotFound,
    #[error("the webhook endpoint does not subscribe to this event's type")]
    NotSubscribed,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<getrandom::Error> for CreateWebhookError {
    fn from(e: getrandom::Error) -> Self {
        Self::Unexpected(Unexpected::new(e))
    }
}

impl From<getrandom::Error> for WebhookError {
    fn from(e: getrandom::Error) -> Self {
        Self::Unexpected(Unexpected::new(e))
    }
}
