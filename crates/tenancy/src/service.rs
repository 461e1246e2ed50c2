//! Use cases. Services decide what changes; the repositories own the transactions.

use std::sync::Arc;

use tenantry_kernel::{Clock, Edges, Page, PageRequest, TenantCtx, Unexpected};

use crate::error::{
    AddDomainError, ChangeDomainError, CreateTenantError, FindTenantError, UpdateTenantError,
};
use crate::model::{
    BaseDomain, BrandingPatch, Domain, DomainStatus, Hostname, MaintenanceMessage, Slug, Tenant,
    TenantName, TenantSettings,
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

    /// Attaches a custom domain, pending until verified. Hosts under the base domain are
    /// refused: those are tenants' subdomains, given by slug.
    pub async fn add_domain(
        &self,
        r: &TenantRef,
        hostname: Hostname,
    ) -> Result<Domain, AddDomainError> {
        if hostname.is_within(&self.base_domain) {
            return Err(AddDomainError::HostnameReserved {
                hostname: hostname.to_string(),
            });
        }
        let tenant = self.find(r).await?;
        let domain = Domain::custom(tenant.id, hostname, self.clock.now());
        self.repo.add_domain(&domain).await?;
        self.listener.tenant_changed(tenant.id);
        Ok(domain)
    }

    /// Marks a domain verified (an operator's override until DNS verification exists).
    /// Verifying a verified domain changes nothing.
    pub async fn verify_domain(
        &self,
        r: &TenantRef,
        hostname: &Hostname,
    ) -> Result<Domain, ChangeDomainError> {
        let mut domain = self.domain_of(r, hostname).await?;
        if domain.status == DomainStatus::Pending {
            let now = self.clock.now();
            self.repo.mark_domain_verified(domain.id, now).await?;
            domain.status = DomainStatus::Verified;
            domain.verified_at = Some(now);
            self.listener.tenant_changed(domain.tenant_id);
        }
        Ok(domain)
    }

    /// Makes a verified domain the tenant's primary one; the previous primary stays attached.
    pub async fn set_primary(
        &self,
        r: &TenantRef,
        hostname: &Hostname,
    ) -> Result<Domain, ChangeDomainError> {
        let mut domain = self.domain_of(r, hostname).await?;
        if domain.status != DomainStatus::Verified {
            return Err(ChangeDomainError::NotVerified {
                hostname: hostname.to_string(),
            });
        }
        if !domain.is_primary {
            self.repo
                .set_primary_domain(domain.tenant_id, domain.id)
                .await?;
            domain.is_primary = true;
            self.listener.tenant_changed(domain.tenant_id);
        }
        Ok(domain)
    }

    async fn domain_of(
        &self,
        r: &TenantRef,
        hostname: &Hostname,
    ) -> Result<Domain, ChangeDomainError> {
        let tenant = self.find(r).await?;
        self.repo
            .domains_of(tenant.id)
            .await?
            .into_iter()
            .find(|d| &d.hostname == hostname)
            .ok_or_else(|| ChangeDomainError::DomainNotFound {
                hostname: hostname.to_string(),
            })
    }
}

/// Tenant settings, always inside one tenant's context.
#[derive(Clone)]
pub struct SettingsService<S> {
    repo: S,
    clock: Arc<dyn Clock>,
}

impl<S: SettingsRepository> SettingsService<S> {
    pub fn new(repo: S, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    pub async fn get(&self, ctx: &TenantCtx) -> Result<TenantSettings, Unexpected> {
        self.repo.settings(ctx).await
    }

    pub async fn update_branding(
        &self,
        ctx: &TenantCtx,
        patch: BrandingPatch,
    ) -> Result<TenantSettings, Unexpected> {
        self.repo
            .update_branding(ctx, &patch, self.clock.now())
            .await
    }
}
