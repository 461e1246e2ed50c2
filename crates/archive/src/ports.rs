//! What the archive service needs from the database and the key vault.

use std::future::Future;

use tenantry_kernel::{TenantCtx, TenantId, Unexpected};
use tokio::sync::mpsc;

use crate::error::ImportError;
use crate::format::{ArchiveKind, TenantRef};

/// Rows of one entity as JSON lines (each ending in `\n`); `rows == 0` only names the entity.
#[derive(Debug)]
pub struct RowPart {
    pub entity: String,
    pub lines: Vec<u8>,
    pub rows: u64,
}

/// What an import needs checked before it writes anything, gathered from the archive.
#[derive(Clone, Debug, Default)]
pub struct ImportCheck {
    /// A restore over this tenant: its own slug, domains and id are no conflict.
    pub replacing: Option<TenantId>,
    pub tenant: Option<TenantId>,
    pub slug: String,
    /// Every hostname of the tenant's domains (after the subdomain is re-derived).
    pub hostnames: Vec<String>,
    /// `(id, email_normalized)` of every account the archive carries.
    pub users: Vec<(String, String)>,
    pub plans: Vec<String>,
}

/// A tenant's data key as the target instance stores it (wrapped under its master key).
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub kek_id: String,
    pub wrapped: Vec<u8>,
}

/// What the import transaction writes besides the rows.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub data_key: Option<StoredKey>,
    /// A restore: the tenant's rows are deleted first (its tenant record and the accounts
    /// stay), in the same transaction.
    pub replace: bool,
    /// The audit action appended (`imported`, `restored`).
    pub action: &'static str,
    /// Recorded with the `tenant imported` audit entry.
    pub details: Vec<(&'static str, serde_json::Value)>,
}

/// One message to [`ArchiveStore::load`]: rows, then `End` once the archive checked out
/// (without `End` the transaction rolls back).
#[derive(Debug)]
pub enum Incoming {
    Rows(RowPart),
    End,
}

/// Rows written per entity.
pub type LoadReport = Vec<(String, u64)>;

/// The database side of archives. Entities are tables: the adapter's catalogue says which
/// columns each carries, in which archive kind, and the order that satisfies foreign keys.
pub trait ArchiveStore: Clone + Send + Sync + 'static {
    /// The tenant whose id or slug is `key`.
    fn archived_tenant(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<TenantRef>, Unexpected>> + Send;

    /// Every row of `tenant` an archive of `kind` carries, from one snapshot, sent to `out`
    /// entity by entity in import order (each entity named first by an empty part).
    fn dump(
        &self,
        tenant: TenantId,
        kind: ArchiveKind,
        out: mpsc::Sender<RowPart>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Why the import could not go ahead (nothing when it can).
    fn import_conflicts(
        &self,
        check: &ImportCheck,
    ) -> impl Future<Output = Result<Vec<ImportError>, Unexpected>> + Send;

    /// Inserts every row from `rows` into `ctx`'s tenant in one transaction with `plan`'s
    /// key and an audit entry `tenant imported`; commits only after [`Incoming::End`].
    fn load(
        &self,
        ctx: &TenantCtx,
        plan: &LoadPlan,
        rows: mpsc::Receiver<Incoming>,
    ) -> impl Future<Output = Result<LoadReport, ImportError>> + Send;
}

/// The tenant's data key, out of one instance and into another.
pub trait KeyEscrow: Send + Sync + 'static {
    /// The tenant's data key in the clear (`None`: it never sealed anything).
    fn export_key(
        &self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, Unexpected>> + Send;

    /// `key` wrapped under this instance's current master key.
    fn wrap_key(&self, key: &[u8]) -> Result<StoredKey, Unexpected>;

    /// Forgets what this process holds of the tenant's data key (its stored copy went with
    /// the tenant's purge).
    fn forget_key(&self, tenant: TenantId);
}
