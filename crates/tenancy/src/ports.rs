//! What the tenancy domain needs from outside. The store implements the repositories; the
//! HTTP adapter implements [`TenantChangeListener`] to drop its resolution cache.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{Page, PageRequest, TenantCtx, TenantId, Unexpected};

use crate::domains::Domain;
use crate::error::{AddDomainError, CreateTenantError};
use crate::model::{Hostname, SettingsPatch, Slug, Tenant, TenantSettings, TenantStatus};

/// Everything a new tenant starts with, written in one transaction.
#[derive(Clone, Debug)]
pub struct NewTenant {
    pub tenant: Tenant,
    pub subdomain: Domain,
    pub settings: TenantSettings,
}

impl NewTenant {
    /// An active tenant with its verified, primary subdomain and empty branding.
    pub fn build(
        slug: Slug,
        name: crate::model::TenantName,
        base: &crate::model::BaseDomain,
        now: DateTime<Utc>,
    ) -> Self {
        let tenant = Tenant::new(slug, name, now);
        let subdomain = Domain::subdomain(tenant.id, base.subdomain(&tenant.slug), now);
        let settings = TenantSettings::empty(tenant.id, now);
        Self {
            tenant,
            subdomain,
            settings,
        }
    }
}

/// Filters for listing tenants (platform administration).
#[derive(Clone, Debug, Default)]
pub struct TenantFilter {
    pub status: Option<TenantStatus>,
}

/// Tenants are platform records: this port is platform-level and never touches
/// tenant-owned data except to seed it atomically on creation.
pub trait TenantRepository: Clone + Send + Sync + 'static {
    /// Writes the tenant, its subdomain and its settings in one transaction.
    /// Returns [`CreateTenantError::SlugTaken`] when the slug, or the subdomain's hostname, is
    /// already used; nothing is written then.
    /// Stores a new tenant; `ctx` is the new tenant's context, naming who creates it (for the
    /// audit trail of its first records).
    fn create_tenant(
        &self,
        ctx: &tenantry_kernel::TenantCtx,
        new: &NewTenant,
    ) -> impl Future<Output = Result<(), CreateTenantError>> + Send;

    fn tenant_by_id(
        &self,
        id: TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Unexpected>> + Send;

    fn tenant_by_slug(
        &self,
        slug: &Slug,
    ) -> impl Future<Output = Result<Option<Tenant>, Unexpected>> + Send;

    /// Oldest first (ids are time-ordered).
    fn list_tenants(
        &self,
        filter: &TenantFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Tenant>, Unexpected>> + Send;

    /// Saves the mutable fields (name, status, maintenance, updated_at) if the stored tenant
    /// is still at `tenant.revision`, and moves it to the next revision. Returns false when
    /// the tenant changed since it was read, or no longer exists: read it again.
    fn save_tenant(&self, tenant: &Tenant)
    -> impl Future<Output = Result<bool, Unexpected>> + Send;
}

/// How saving a domain went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavedDomain {
    Saved,
    /// It changed (or went) since it was read: nothing was written.
    Stale,
    /// It would be verified, but another tenant verified the hostname first: nothing was
    /// written.
    HostnameTaken,
}

/// Domains: a platform table (resolution reads it before a tenant is known), changed only
/// inside the owning tenant's context, through the change pipeline.
pub trait DomainRepository: Clone + Send + Sync + 'static {
    /// Adds a custom domain to the context's tenant. Returns
    /// [`AddDomainError::AlreadyAdded`] when the tenant already has the hostname.
    fn add_domain(
        &self,
        ctx: &TenantCtx,
        domain: &Domain,
    ) -> impl Future<Output = Result<(), AddDomainError>> + Send;

    /// Primary first, then by creation.
    fn domains_of(
        &self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Vec<Domain>, Unexpected>> + Send;

    /// Saves `after` over `before` (same id) if the stored domain is still at
    /// `before.revision`, recording `action` (`verified`, `failed`, …) in the pipeline, or
    /// nothing when `None` (a check that changed only the schedule). A
    /// domain that stops being primary hands the role back to the tenant's subdomain in the
    /// same transaction.
    fn save_domain(
        &self,
        ctx: &TenantCtx,
        before: &Domain,
        after: &Domain,
        action: Option<&'static str>,
    ) -> impl Future<Output = Result<SavedDomain, Unexpected>> + Send;

    /// Makes `domain` (verified) the tenant's only primary domain, atomically. Returns
    /// [`SavedDomain::Stale`] when it is no longer verified or gone.
    fn make_primary(
        &self,
        ctx: &TenantCtx,
        domain: &Domain,
    ) -> impl Future<Output = Result<SavedDomain, Unexpected>> + Send;

    /// Deletes a custom domain; when it was primary, the subdomain becomes primary again.
    /// False when it was already gone.
    fn remove_domain(
        &self,
        ctx: &TenantCtx,
        domain: &Domain,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Custom domains whose next check is due, oldest due first, across tenants.
    fn due_domains(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Domain>, Unexpected>> + Send;

    /// The tenant a **verified** domain points to; pending domains do not resolve.
    fn tenant_by_verified_hostname(
        &self,
        hostname: &Hostname,
    ) -> impl Future<Output = Result<Option<Tenant>, Unexpected>> + Send;
}

/// Tenant-owned settings: every call is scoped by the context.
pub trait SettingsRepository: Clone + Send + Sync + 'static {
    /// The settings of the context's tenant (created with the tenant, so always present;
    /// a missing row is an `Unexpected`).
    fn settings(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<TenantSettings, Unexpected>> + Send;

    /// Applies the patch to the settings as stored, under the row's lock (maintenance goes
    /// to the tenant's record in the same transaction), and returns them as saved.
    fn update_settings(
        &self,
        ctx: &TenantCtx,
        patch: &SettingsPatch,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<TenantSettings, Unexpected>> + Send;
}

/// Told after a tenant or one of its domains changed, so caches can drop what they hold.
pub trait TenantChangeListener: Send + Sync + 'static {
    fn tenant_changed(&self, id: TenantId);
}

/// For callers with nothing to invalidate (the CLI).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoListener;

impl TenantChangeListener for NoListener {
    fn tenant_changed(&self, _id: TenantId) {}
}
