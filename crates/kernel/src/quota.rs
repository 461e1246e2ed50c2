//! The quota hook: asked before tenant-owned records are created in bulk or one by one.

use std::future::Future;

use thiserror::Error;

use crate::context::TenantCtx;
use crate::error::Unexpected;

#[derive(Debug, Error)]
pub enum QuotaError {
    #[error("the {resource} quota allows {remaining} more, {requested} were asked for")]
    Exceeded {
        resource: String,
        remaining: u64,
        requested: u64,
    },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// Whether a tenant may add `count` more of `resource` (e.g. `products`).
pub trait QuotaGate: Clone + Send + Sync + 'static {
    fn allow(
        &self,
        ctx: &TenantCtx,
        resource: &str,
        count: u64,
    ) -> impl Future<Output = Result<(), QuotaError>> + Send;
}

/// Allows everything: the gate until plans and quotas exist.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

impl QuotaGate for Unlimited {
    async fn allow(&self, _: &TenantCtx, _: &str, _: u64) -> Result<(), QuotaError> {
        Ok(())
    }
}
