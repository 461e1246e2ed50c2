//! The tenant context: proof that the caller acts inside exactly one tenant.

use crate::ids::TenantId;

/// Carries the tenant a piece of work belongs to. Every port for tenant-owned data takes one,
/// and the adapters derive the tenant predicate (and PostgreSQL's `app.tenant_id`) from it.
///
/// Only the edges build one: the HTTP adapter after tenant resolution and the lifecycle gate,
/// the CLI from an explicit `--tenant`, platform administration for the tenant it targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantCtx {
    tenant_id: TenantId,
}

impl TenantCtx {
    pub const fn new(tenant_id: TenantId) -> Self {
        Self { tenant_id }
    }

    pub const fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }
}
