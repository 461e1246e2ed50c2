//! Use cases. Services decide what changes; the repositories own the transactions.

use std::sync::Arc;

use tenantry_kernel::{Clock, Edges, Page, PageRequest, TenantCtx, Unexpected};

use crate::domains::Domain;
use crate::error::{CreateTenantError, FindTenantError, UpdateTenantError};
use crate::model::{
    BaseDomain, MaintenanceMessage, SettingsPatch, Slug, Tenant, TenantName, TenantSettings,
};
use crate::ports::{
    DomainRepository, NewTenant, SettingsRepository, TenantChangeListener, TenantFilter,
    TenantRepository,
};
use crate::resolution::TenantRef;

/// Tenant lifecycle and domains: the platform-level use cases behind the CLI and the
/// platform API.
#[derive(Clone)]
pub struct TenantService<R> {
    repo: R,
    clock: Arc<dyn Clock>,
    base_domain: BaseDomain,
    listener: Arc<dyn TenantChangeListener>,
    /// Tenant creation is an edge: it builds the new tenant's first context.
    edges: Edges,
}

impl<R> TenantService<R>
where
    R: TenantRepository + DomainRepository,
{
    pub fn new(
        repo: R,
        clock: Arc<dyn Clock>,
        base_domain: BaseDomain,
        listener: Arc<dyn TenantChangeListener>,
        edges: Edges,
    ) -> Self {
        Self {
            repo,
            clock,
            base_domain,
            listener,
            edges,
        }
    }

    pub fn base_domain(&self) -> &BaseDomain {
        &self.base_domain
    }

    /// Creates an active tenant with its verified, primary subdomain and empty branding.
    pub async fn create(&self, slug: Slug, name: TenantName) -> Result<Tenant, CreateTenantError> {
        self.create_by(
            slug,
            name,
            tenantry_kernel::Actor::System,
            Default::default(),
        )
        .await
    }

    /// Creates a tenant on behalf of `actor` (platform administration), from `origin`.
    pub async fn create_by(
        &self,
        slug: Slug,
        name: TenantName,
        actor: tenantry_kernel::Actor,
        origin: std::sync::Arc<tenantry_kernel::Origin>,
    ) -> Result<Tenant, CreateTenantError> {
        let new = NewTenant::build(slug, name, &self.base_domain, self.clock.now());
        let ctx = TenantCtx::for_new_tenant(&self.edges, new.tenant.id, actor, origin);
        self.repo.create_tenant(&ctx, &new).await?;
        self.listener.tenant_changed(new.tenant.id);
        Ok(new.tenant)
    }

    /// Tells caches that a tenant changed (used by use cases outside this service that create
    /// or change tenants, such as onboarding).
    pub fn announce_change(&self, id: tenantry_kernel::TenantId) {
        self.listener.tenant_changed(id);
    }

    pub async fn find(&self, r: &TenantRef) -> Result<Tenant, FindTenantError> {
        let found = match r {
            TenantRef::Id(id) => self.repo.tenant_by_id(*id).await?,
            TenantRef::Slug(slug) => self.repo.tenant_by_slug(slug).await?,
        };
        found.ok_or(FindTenantError::NotFound)
    }

    pub async fn list(
        &self,
        filter: &TenantFilter,
        page: &PageRequest,
    ) -> Result<Page<Tenant>, Unexpected> {
        self.repo.list_tenants(filter, page).await
    }

    pub async fn rename(
        &self,
        r: &TenantRef,
        name: TenantName,
    ) -> Result<Tenant, UpdateTenantError> {
        self.update(r, |t, now| {
            t.rename(name.clone(), now);
            Ok(())
        })
        .await
    }

    pub async fn suspend(&self, r: &TenantRef) -> Result<Tenant, UpdateTenantError> {
        self.update(r, |t, now| t.suspend(now)).await
    }

    pub async fn resume(&self, r: &TenantRef) -> Result<Tenant, UpdateTenantError> {
        self.update(r, |t, now| t.resume(now)).await
    }

    pub async fn start_maintenance(
        &self,
        r: &TenantRef,
        message: Option<MaintenanceMessage>,
    ) -> Result<Tenant, UpdateTenantError> {
        self.update(r, |t, now| {
            t.start_maintenance(message.clone(), now);
            Ok(())
        })
        .await
    }

    pub async fn end_maintenance(&self, r: &TenantRef) -> Result<Tenant, UpdateTenantError> {
        self.update(r, |t, now| {
            t.end_maintenance(now);
            Ok(())
        })
        .await
    }

    /// Reads, changes and saves, again from a fresh read when a concurrent change got there
    /// first: the change is re-judged against the state it will actually apply to.
    async fn update(
        &self,
        r: &TenantRef,
        change: impl Fn(
            &mut Tenant,
            chrono::DateTime<chrono::Utc>,
        ) -> Result<(), crate::TransitionError>,
    ) -> Result<Tenant, UpdateTenantError> {
        const ATTEMPTS: usize = 10;
        for _ in 0..ATTEMPTS {
            let mut tenant = self.find(r).await?;
            change(&mut tenant, self.clock.now())?;
            if self.repo.save_tenant(&tenant).await? {
                tenant.revision += 1;
                self.listener.tenant_changed(tenant.id);
                return Ok(tenant);
            }
        }
        Err(Unexpected::msg(format!(
            "tenant kept changing during {ATTEMPTS} attempts to update it"
        ))
        .into())
    }

    pub async fn domains(&self, r: &TenantRef) -> Result<Vec<Domain>, FindTenantError> {
        let tenant = self.find(r).await?;
        Ok(self.repo.domains_of(tenant.id).await?)
    }
}

/// Tenant settings, always inside one tenant's context.
#[derive(Clone)]
pub struct SettingsService<S> {
    repo: S,
    clock: Arc<dyn Clock>,
    listener: Arc<dyn TenantChangeListener>,
}

impl<S: SettingsRepository> SettingsService<S> {
    pub fn new(repo: S, clock: Arc<dyn Clock>, listener: Arc<dyn TenantChangeListener>) -> Self {
        Self {
            repo,
            clock,
            listener,
        }
    }

    pub async fn get(&self, ctx: &TenantCtx) -> Result<TenantSettings, Unexpected> {
        self.repo.settings(ctx).await
    }

    /// Applies the patch; the tenant's caches (resolution, edge policy) are dropped.
    pub async fn update(
        &self,
        ctx: &TenantCtx,
        patch: SettingsPatch,
    ) -> Result<TenantSettings, Unexpected> {
        let saved = self
            .repo
            .update_settings(ctx, &patch, self.clock.now())
            .await?;
        self.listener.tenant_changed(ctx.tenant_id());
        Ok(saved)
    }
}
