//! What the audit trail and the security log need from storage.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{Page, PageRequest, TenantCtx, Unexpected, UserId};

use crate::chain::AuditEntry;
use crate::change::ChangeLog;
use crate::security::{SecurityEvent, SecurityEventKind};

/// Filters of the audit-log list; all optional, combined with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_id: Option<UserId>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A tenant's audit trail. Entries are appended by the store's mutation pipeline (in the
/// transaction of the change) and are never updated or deleted.
pub trait AuditRepository: Clone + Send + Sync + 'static {
    /// Newest first.
    fn list(
        &self,
        ctx: &TenantCtx,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<AuditEntry>, Unexpected>> + Send;

    /// Up to `limit` entries with `seq > after_seq`, in chain order.
    fn chain_segment(
        &self,
        ctx: &TenantCtx,
        after_seq: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, Unexpected>> + Send;

    /// The end of the tenant's chain as the pipeline last left it (seq 0 and "" when empty).
    fn head(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<crate::ChainHead, Unexpected>> + Send;

    /// Appends changes that are not part of another mutation (tenant security events).
    fn record(
        &self,
        ctx: &TenantCtx,
        log: ChangeLog,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityEventFilter {
    pub user_id: Option<UserId>,
    pub kind: Option<SecurityEventKind>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The platform security log (account events without a tenant). Append-only.
pub trait SecurityLog: Clone + Send + Sync + 'static {
    fn record(&self, event: SecurityEvent) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Newest first.
    fn list(
        &self,
        filter: &SecurityEventFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<SecurityEvent>, Unexpected>> + Send;
}
