//! A whole organisation forgotten (GDPR): an owner asks for the tenant's deletion, the tenant
//! is suspended at once and purged when the grace period ends — every row it owns, its files,
//! backups and exports, its data key — unless the owner or the operator cancels first. What
//! stays is a certificate at platform level, signed with the platform's key.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_kernel::{
    BackupId, BucketId, ExportId, FileId, Page, PageRequest, PurgeId, TenantCtx, TenantId,
    Unexpected, UserId,
};

/// The audit action and event of a deletion asked for.
pub const REQUESTED: &str = "requested";
/// The audit action and event of a deletion called off.
pub const CANCELLED: &str = "cancelled";
/// The default grace period between the request and the purge.
pub const DEFAULT_GRACE_DAYS: i64 = 7;
/// The `typ` of a purge certificate's JWS header.
pub const CERTIFICATE_TYPE: &str = "tenantry-purge-certificate+jwt";

/// A tenant's pending deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantDeletion {
    pub tenant_id: TenantId,
    /// The owner who asked (none once their account is gone).
    pub requested_by: Option<UserId>,
    pub requested_at: DateTime<Utc>,
    /// The purge runs from then on.
    pub purge_after: DateTime<Utc>,
    /// When the purge began deleting (from then on it cannot be cancelled).
    pub purge_started_at: Option<DateTime<Utc>>,
}

/// A pending deletion as the API returns it and its events carry it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DeletionView {
    pub tenant_id: uuid::Uuid,
    pub requested_by: Option<uuid::Uuid>,
    pub requested_at: DateTime<Utc>,
    /// When everything the tenant owns is destroyed, unless cancelled before.
    pub purge_after: DateTime<Utc>,
    /// When the purge began: it can no longer be cancelled.
    pub purge_started_at: Option<DateTime<Utc>>,
}

impl From<&TenantDeletion> for DeletionView {
    fn from(d: &TenantDeletion) -> Self {
        Self {
            tenant_id: *d.tenant_id.as_uuid(),
            requested_by: d.requested_by.map(|u| *u.as_uuid()),
            requested_at: d.requested_at,
            purge_after: d.purge_after,
            purge_started_at: d.purge_started_at,
        }
    }
}

impl tenantry_audit::Audited for TenantDeletion {
    const ENTITY: &'static str = "deletion";
    const EVENT_ACTIONS: &'static [&'static str] = &[REQUESTED, CANCELLED];
    type View = DeletionView;

    fn audit_id(&self) -> String {
        self.tenant_id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["tenant_id"])
    }
}

/// What stays of a purged tenant: who asked, when it went, how many rows of each table, and
/// the signed statement of it all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purge {
    pub id: PurgeId,
    pub tenant_id: TenantId,
    pub slug: String,
    pub requested_by: Option<UserId>,
    pub requested_at: DateTime<Utc>,
    pub purged_at: DateTime<Utc>,
    /// Rows deleted per table (every table that had a row of the tenant).
    pub rows: BTreeMap<String, u64>,
    /// Objects deleted from storage (files' content, backups, exports).
    pub objects: u64,
    /// Accounts deleted because they belonged to no other tenant.
    pub accounts: u64,
    /// The certificate: a compact JWS (EdDSA) of [`Purge::claims`] under the platform's key.
    pub certificate: String,
}

impl Purge {
    /// What the certificate states: the tenant (`sub`), the purge (`jti`), when (`iat`) and
    /// what went.
    pub fn claims(&self) -> serde_json::Value {
        serde_json::json!({
            "jti": self.id.to_string(),
            "sub": self.tenant_id.to_string(),
            "iat": self.purged_at.timestamp(),
            "slug": self.slug,
            "requested_by": self.requested_by.map(|u| u.to_string()),
            "requested_at": self.requested_at,
            "purged_at": self.purged_at,
            "rows": self.rows,
            "objects": self.objects,
            "accounts": self.accounts,
        })
    }
}

/// A purge certificate as the platform API lists it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PurgeView {
    pub id: uuid::Uuid,
    pub tenant_id: uuid::Uuid,
    pub slug: String,
    pub requested_by: Option<uuid::Uuid>,
    pub requested_at: DateTime<Utc>,
    pub purged_at: DateTime<Utc>,
    /// Rows deleted per table.
    #[schema(value_type = Object, example = json!({"products": 3, "audit_entries": 12}))]
    pub rows: BTreeMap<String, u64>,
    /// Objects deleted from storage.
    pub objects: u64,
    /// Accounts deleted (they belonged to no other tenant).
    pub accounts: u64,
    /// The signed statement (JWS, EdDSA): check it with the key of `/.well-known/jwks.json`
    /// its header's `kid` names.
    pub certificate: String,
}

impl From<&Purge> for PurgeView {
    fn from(p: &Purge) -> Self {
        Self {
            id: *p.id.as_uuid(),
            tenant_id: *p.tenant_id.as_uuid(),
            slug: p.slug.clone(),
            requested_by: p.requested_by.map(|u| *u.as_uuid()),
            requested_at: p.requested_at,
            purged_at: p.purged_at,
            rows: p.rows.clone(),
            objects: p.objects,
            accounts: p.accounts,
            certificate: p.certificate.clone(),
        }
    }
}

/// What the tenant has in storage, as the database knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantObjects {
    /// Files, each in one of the tenant's buckets (`Some`) or the platform's store.
    pub files: Vec<(FileId, Option<BucketId>)>,
    pub exports: Vec<ExportId>,
    pub backups: Vec<BackupId>,
}

impl TenantObjects {
    /// Every object: where it is and its key.
    pub fn keys(&self, tenant: TenantId) -> Vec<(Option<BucketId>, String)> {
        let files = self
            .files
            .iter()
            .map(|(id, at)| (*at, tenantry_files::object_key(tenant, *id)));
        let exports = self
            .exports
            .iter()
            .map(|id| (None, crate::exports::export_key(tenant, *id)));
        let backups = self
            .backups
            .iter()
            .map(|id| (None, crate::backups::backup_key(tenant, *id)));
        files.chain(exports).chain(backups).collect()
    }
}

/// Signs a purge's statement (the certificate), inside the purge's transaction.
pub type Certify<'a> = &'a (dyn Fn(&Purge) -> Result<String, Unexpected> + Send + Sync);

/// The database side of deletions and purges.
pub trait DeletionRepository: Clone + Send + Sync + 'static {
    /// Records the deletion, suspends the tenant and queues its purge at `purge_after`, in
    /// one audited transaction; `false` (nothing written) when one is pending already.
    fn request_deletion(
        &self,
        ctx: &TenantCtx,
        deletion: &TenantDeletion,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// The tenant's pending deletion.
    fn deletion(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Option<TenantDeletion>, Unexpected>> + Send;

    /// Marks the deletion's purge as begun, if it is due at `now` (a purge that began before,
    /// and stopped, begins again); `None` when it was cancelled or is not due.
    fn start_purge(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<TenantDeletion>, Unexpected>> + Send;

    /// Removes the pending deletion and resumes the tenant, audited, unless its purge began;
    /// the deletion as it was (`None`: there was none; `purge_started_at` set: it stays).
    fn cancel_deletion(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<TenantDeletion>, Unexpected>> + Send;

    /// Every object the tenant has in storage: files' content, backups, exports.
    fn tenant_objects(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<TenantObjects, Unexpected>> + Send;

    /// In one transaction: counts the tenant's rows in every table, deletes the tenant and
    /// everything it owns (its data key with it), deletes the accounts that belonged to it
    /// and to no other tenant, checks that no row of the tenant is left anywhere, and records
    /// the purge with the certificate `certify` signs. Fails, writing nothing, when a row
    /// would be left.
    fn purge_tenant(
        &self,
        ctx: &TenantCtx,
        deletion: &TenantDeletion,
        objects: u64,
        now: DateTime<Utc>,
        certify: Certify<'_>,
    ) -> impl Future<Output = Result<Purge, Unexpected>> + Send;

    /// The purges' certificates, newest first.
    fn purges(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Purge>, Unexpected>> + Send;
}

/// Why a deletion could not be asked for or cancelled.
#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    /// The slug typed back is not the tenant's.
    #[error("the slug typed does not match this organisation's")]
    SlugMismatch,
    #[error("a deletion of this organisation is already pending")]
    AlreadyPending,
    #[error("no deletion of this organisation is pending")]
    NotPending,
    #[error("the purge has begun and can no longer be cancelled")]
    PurgeUnderWay,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
