//! Per-tenant backups: operator's archives written on a schedule into the platform's store,
//! encrypted by default to an age identity made for each backup and sealed under the tenant's
//! data key (shredding that key makes every copy unreadable), kept as long as the tenant's
//! plan says; and the restore, which replaces the tenant's data with a backup's.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{BackupId, SecretSlot, TenantCtx, TenantId, Unexpected};

/// Days a backup is kept when the tenant's plan does not say (`backup_retention_days`).
pub const DEFAULT_RETENTION_DAYS: u32 = 7;

/// One backup of a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    pub id: BackupId,
    pub tenant_id: TenantId,
    pub created_at: DateTime<Utc>,
    pub size: u64,
    pub sha256: String,
    pub rows: u64,
    pub files: u64,
    /// The age identity that opens it, sealed under the tenant's data key (`None`: written
    /// unencrypted, as the operator chose).
    pub identity: Option<String>,
}

/// Where a backup's archive is, in the platform's store.
pub fn backup_key(tenant: TenantId, id: BackupId) -> String {
    format!("backups/{tenant}/{id}")
}

impl Backup {
    /// Where its archive is, in the platform's store.
    pub fn object_key(&self) -> String {
        backup_key(self.tenant_id, self.id)
    }

    pub fn encrypted(&self) -> bool {
        self.identity.is_some()
    }
}

/// Where a backup's identity is sealed (bound to the backup, like any tenant secret).
pub(crate) fn identity_slot(id: &str) -> SecretSlot<'_> {
    SecretSlot {
        table: "backups",
        column: "identity",
        row: id,
    }
}

/// Backups as the database keeps them.
pub trait BackupRepository: Clone + Send + Sync + 'static {
    fn record_backup(
        &self,
        ctx: &TenantCtx,
        backup: &Backup,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Newest first.
    fn backups(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Vec<Backup>, Unexpected>> + Send;

    fn forget_backup(
        &self,
        ctx: &TenantCtx,
        id: BackupId,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// The tenant's plan's `backup_retention_days`, if it says.
    fn backup_retention_days(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Option<u32>, Unexpected>> + Send;

    /// Every tenant the schedule backs up.
    fn tenants_to_back_up(&self) -> impl Future<Output = Result<Vec<TenantId>, Unexpected>> + Send;

    /// The tenant's files now: id and location (`None`: the platform's store).
    fn file_locations(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Vec<(String, Option<String>)>, Unexpected>> + Send;
}
