//! SSO enforcement at the member guard: a tenant whose provider has `enforce` on lets people
//! of that provider's e-mail domains in only with a session its SSO opened (403
//! `sso_required` otherwise — a password session, or another tenant's SSO).
//!
//! Each tenant's enforced domains are cached (dropped at once in this process when a provider
//! changes, and on every instance when the access counter moves: see `crate::changes`); the
//! caller's e-mail domain is read only for tenants that
//! enforce something, and cached for a minute (an account's e-mail does not change through
//! the API).

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use tenantry_kernel::{TenantCtx, TenantId, Unexpected, UserId};

use crate::authn::Authenticated;
use crate::problem::Problem;
use crate::state::AppState;

/// Each tenant's enforced e-mail domains, and the e-mail domains of the people asked about.
#[derive(Clone)]
pub struct EnforcedDomains {
    cache: moka::future::Cache<TenantId, Arc<Vec<String>>>,
    people: moka::future::Cache<UserId, Arc<str>>,
}

impl Default for EnforcedDomains {
    fn default() -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(crate::changes::CACHE_BACKSTOP)
                .build(),
            people: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }
}

impl EnforcedDomains {
    /// After a provider changed here.
    pub async fn invalidate(&self, tenant: TenantId) {
        self.cache.invalidate(&tenant).await;
    }

    /// After a provider changed anywhere (the access counter moved).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }

    async fn of(&self, state: &AppState, ctx: &TenantCtx) -> Result<Arc<Vec<String>>, Unexpected> {
        if let Some(hit) = self.cache.get(&ctx.tenant_id()).await {
            return Ok(hit);
        }
        let found = Arc::new(state.sso.enforced_domains(ctx).await?);
        self.cache.insert(ctx.tenant_id(), found.clone()).await;
        Ok(found)
    }

    /// The domain of the user's e-mail, through the cache.
    async fn domain_of(&self, state: &AppState, user: UserId) -> Result<Arc<str>, Problem> {
        if let Some(hit) = self.people.get(&user).await {
            return Ok(hit);
        }
        let email = state.auth.me(user).await?.email.normalized();
        let domain: Arc<str> = email.rsplit('@').next().unwrap_or_default().into();
        self.people.insert(user, domain.clone()).await;
        Ok(domain)
    }
}

pub fn sso_required() -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "sso_required", "SSO required").detail(
        "This organisation requires people of your e-mail domain to sign in through its \
         identity provider (/api/v1/sso/{provider_id}/authorize)",
    )
}

/// Lets the caller through, or answers `sso_required`.
pub async fn check(state: &AppState, ctx: &TenantCtx, who: &Authenticated) -> Result<(), Problem> {
    if who.sso_tenant == Some(ctx.tenant_id()) || who.impersonation.is_some() {
        return Ok(());
    }
    let domains = state
        .sso_enforced
        .of(state, ctx)
        .await
        .map_err(Problem::internal)?;
    if domains.is_empty() {
        return Ok(());
    }
    let domain = state.sso_enforced.domain_of(state, who.user_id).await?;
    if domains.iter().any(|d| **d == *domain) {
        return Err(sso_required());
    }
    Ok(())
}
