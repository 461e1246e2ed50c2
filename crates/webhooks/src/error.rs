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
