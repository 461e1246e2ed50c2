//! In-memory fakes of the tenancy ports, with the same uniqueness rules as the database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tenantry_kernel::{DomainId, Page, PageRequest, TenantCtx, TenantId, Unexpected};

use crate::error::{AddDomainError, CreateTenantError};
use crate::model::{BrandingPatch, Domain, DomainStatus, Hostname, Slug, Tenant, TenantSettings};
use crate::ports::{
    DomainRepository, NewTenant, SettingsRepository, TenantChangeListener, TenantFilter,
    TenantRepository,
};

#[derive(Default)]
struct State {
    tenants: BTreeMap<TenantId, Tenant>,
    domains: Vec<Domain>,
    settings: BTreeMap<TenantId, TenantSettings>,
}

/// Implements every tenancy repository port in memory.
#[derive(Clone, Default)]
pub struct InMemoryTenancy {
    state: Arc<Mutex<State>>,
}

impl InMemoryTenancy {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn domains_snapshot(&self) -> Vec<Domain> {
        self.lock().domains.clone()
    }
}

impl TenantRepository for InMemoryTenancy {
    async fn create_tenant(
        &self,
        _ctx: &tenantry_kernel::TenantCtx,
        new: &NewTenant,
    ) -> Result<(), CreateTenantError> {
        let mut s = self.lock();
        let taken = s.tenants.values().any(|t| t.slug == new.tenant.slug)
            || s.domains
                .iter()
                .any(|d| d.hostname == new.subdomain.hostname);
        if taken {
            return Err(CreateTenantError::SlugTaken {
                slug: new.tenant.slug.to_string(),
            });
        }
        s.tenants.insert(new.tenant.id, new.tenant.clone());
        s.domains.push(new.subdomain.clone());
        s.settings.insert(new.tenant.id, new.settings.clone());
        Ok(())
    }

    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, Unexpected> {
        Ok(self.lock().tenants.get(&id).cloned())
    }

    async fn tenant_by_slug(&self, slug: &Slug) -> Result<Option<Tenant>, Unexpected> {
        Ok(self
            .lock()
            .tenants
            .values()
            .find(|t| &t.slug == slug)
            .cloned())
    }

    async fn list_tenants(
        &self,
        filter: &TenantFilter,
        page: &PageRequest,
    ) -> Result<Page<Tenant>, Unexpected> {
        let after = page.after.as_ref().map(|c| c.key());
        let rows: Vec<Tenant> = self
            .lock()
            .tenants
            .values()
            .filter(|t| filter.status.is_none_or(|s| t.status == s))
            .filter(|t| after.as_ref().is_none_or(|a| t.id.to_string() > *a))
            .take(page.limit.get() as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_rows(rows, page.limit, |t| t.id.to_string()))
    }

    async fn save_tenant(&self, tenant: &Tenant) -> Result<bool, Unexpected> {
        let mut s = self.lock();
        match s.tenants.get_mut(&tenant.id) {
            Some(existing) if existing.revision == tenant.revision => {
                *existing = Tenant {
                    revision: tenant.revision + 1,
                    ..tenant.clone()
                };
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl DomainRepository for InMemoryTenancy {
    async fn add_domain(&self, domain: &Domain) -> Result<(), AddDomainError> {
        let mut s = self.lock();
        if s.domains.iter().any(|d| d.hostname == domain.hostname) {
            return Err(AddDomainError::HostnameTaken {
                hostname: domain.hostname.to_string(),
            });
        }
        if domain.is_primary
            && s.domains
                .iter()
                .any(|d| d.tenant_id == domain.tenant_id && d.is_primary)
        {
            return Err(Unexpected::msg("a second primary domain").into());
        }
        s.domains.push(domain.clone());
        Ok(())
    }

    async fn domains_of(&self, tenant: TenantId) -> Result<Vec<Domain>, Unexpected> {
        let mut v: Vec<Domain> = self
            .lock()
            .domains
            .iter()
            .filter(|d| d.tenant_id == tenant)
            .cloned()
            .collect();
        v.sort_by_key(|d| (!d.is_primary, d.id));
        Ok(v)
    }

    async fn mark_domain_verified(
        &self,
        id: DomainId,
        at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        let mut s = self.lock();
        if let Some(d) = s.domains.iter_mut().find(|d| d.id == id) {
            d.status = DomainStatus::Verified;
            d.verified_at = Some(at);
        }
        Ok(())
    }

    async fn set_primary_domain(&self, tenant: TenantId, id: DomainId) -> Result<(), Unexpected> {
        let mut s = self.lock();
        for d in s.domains.iter_mut().filter(|d| d.tenant_id == tenant) {
            d.is_primary = d.id == id;
        }
        Ok(())
    }

    async fn tenant_by_verified_hostname(
        &self,
        hostname: &Hostname,
    ) -> Result<Option<Tenant>, Unexpected> {
        let s = self.lock();
        let tenant_id = s
            .domains
            .iter()
            .find(|d| &d.hostname == hostname && d.status == DomainStatus::Verified)
            .map(|d| d.tenant_id);
        Ok(tenant_id.and_then(|id| s.tenants.get(&id).cloned()))
    }
}

impl SettingsRepository for InMemoryTenancy {
    async fn settings(&self, ctx: &TenantCtx) -> Result<TenantSettings, Unexpected> {
        self.lock()
            .settings
            .get(&ctx.tenant_id())
            .cloned()
            .ok_or_else(|| Unexpected::msg("tenant has no settings row"))
    }

    async fn update_branding(
        &self,
        ctx: &TenantCtx,
        patch: &BrandingPatch,
        at: DateTime<Utc>,
    ) -> Result<TenantSettings, Unexpected> {
        let mut s = self.lock();
        let row = s
            .settings
            .get_mut(&ctx.tenant_id())
            .ok_or_else(|| Unexpected::msg("tenant has no settings row"))?;
        row.branding.apply(patch.clone());
        row.updated_at = at;
        Ok(row.clone())
    }
}

/// Records which tenants were reported changed.
#[derive(Clone, Default)]
pub struct RecordingListener {
    changed: Arc<Mutex<Vec<TenantId>>>,
}

impl RecordingListener {
    pub fn changed(&self) -> Vec<TenantId> {
        self.changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl TenantChangeListener for RecordingListener {
    fn tenant_changed(&self, id: TenantId) {
        self.changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(id);
    }
}
