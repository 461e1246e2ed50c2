//! In-memory fakes of the tenancy ports, with the same uniqueness rules as the database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tenantry_kernel::{Page, PageRequest, TenantCtx, TenantId, Unexpected};

use crate::domains::{Domain, DomainKind, DomainStatus};
use crate::error::{AddDomainError, CreateTenantError};
use crate::model::{Hostname, SettingsPatch, Slug, Tenant, TenantSettings};
use crate::ports::{
    DomainRepository, NewTenant, SavedDomain, SettingsRepository, TenantChangeListener,
    TenantFilter, TenantRepository,
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
    async fn add_domain(&self, ctx: &TenantCtx, domain: &Domain) -> Result<(), AddDomainError> {
        let mut s = self.lock();
        if s.domains
            .iter()
            .any(|d| d.tenant_id == ctx.tenant_id() && d.hostname == domain.hostname)
        {
            return Err(AddDomainError::AlreadyAdded {
                hostname: domain.hostname.to_string(),
            });
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

    async fn save_domain(
        &self,
        ctx: &TenantCtx,
        before: &Domain,
        after: &Domain,
        _action: Option<&'static str>,
    ) -> Result<SavedDomain, Unexpected> {
        let mut s = self.lock();
        let taken = after.status == DomainStatus::Verified
            && s.domains.iter().any(|d| {
                d.id != after.id
                    && d.hostname == after.hostname
                    && d.status == DomainStatus::Verified
            });
        if taken {
            return Ok(SavedDomain::HostnameTaken);
        }
        let Some(stored) = s
            .domains
            .iter_mut()
            .find(|d| d.id == before.id && d.tenant_id == ctx.tenant_id())
        else {
            return Ok(SavedDomain::Stale);
        };
        if stored.revision != before.revision {
            return Ok(SavedDomain::Stale);
        }
        *stored = Domain {
            revision: before.revision + 1,
            ..after.clone()
        };
        if before.is_primary && !after.is_primary {
            for d in s.domains.iter_mut() {
                if d.tenant_id == ctx.tenant_id() && d.kind == DomainKind::Subdomain {
                    d.is_primary = true;
                }
            }
        }
        Ok(SavedDomain::Saved)
    }

    async fn make_primary(
        &self,
        ctx: &TenantCtx,
        domain: &Domain,
    ) -> Result<SavedDomain, Unexpected> {
        let mut s = self.lock();
        let ok = s.domains.iter().any(|d| {
            d.id == domain.id
                && d.tenant_id == ctx.tenant_id()
                && d.status == DomainStatus::Verified
        });
        if !ok {
            return Ok(SavedDomain::Stale);
        }
        for d in s
            .domains
            .iter_mut()
            .filter(|d| d.tenant_id == ctx.tenant_id())
        {
            let primary = d.id == domain.id;
            if d.is_primary != primary {
                d.is_primary = primary;
                d.revision += 1;
            }
        }
        Ok(SavedDomain::Saved)
    }

    async fn remove_domain(&self, ctx: &TenantCtx, domain: &Domain) -> Result<bool, Unexpected> {
        let mut s = self.lock();
        let before = s.domains.len();
        s.domains
            .retain(|d| !(d.id == domain.id && d.tenant_id == ctx.tenant_id()));
        let removed = s.domains.len() < before;
        if removed && domain.is_primary {
            for d in s.domains.iter_mut() {
                if d.tenant_id == ctx.tenant_id() && d.kind == DomainKind::Subdomain {
                    d.is_primary = true;
                }
            }
        }
        Ok(removed)
    }

    async fn due_domains(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Domain>, Unexpected> {
        let mut due: Vec<Domain> = self
            .lock()
            .domains
            .iter()
            .filter(|d| d.next_check_at.is_some_and(|t| t <= now))
            .cloned()
            .collect();
        due.sort_by_key(|d| d.next_check_at);
        due.truncate(limit as usize);
        Ok(due)
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
        let s = self.lock();
        let mut settings = s
            .settings
            .get(&ctx.tenant_id())
            .cloned()
            .ok_or_else(|| Unexpected::msg("tenant has no settings row"))?;
        if let Some(t) = s.tenants.get(&ctx.tenant_id()) {
            settings.maintenance = crate::model::Maintenance {
                enabled: t.maintenance,
                message: t.maintenance_message.clone(),
            };
        }
        Ok(settings)
    }

    async fn update_settings(
        &self,
        ctx: &TenantCtx,
        patch: &SettingsPatch,
        at: DateTime<Utc>,
    ) -> Result<TenantSettings, Unexpected> {
        let mut s = self.lock();
        let row = s
            .settings
            .get_mut(&ctx.tenant_id())
            .ok_or_else(|| Unexpected::msg("tenant has no settings row"))?;
        patch.clone().apply_to(row);
        row.updated_at = at;
        let saved = row.clone();
        if let Some(t) = s.tenants.get_mut(&ctx.tenant_id()) {
            t.maintenance = saved.maintenance.enabled;
            t.maintenance_message = saved.maintenance.message.clone();
            t.revision += 1;
        }
        Ok(saved)
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
