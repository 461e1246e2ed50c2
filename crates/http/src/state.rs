//! What every handler can reach.

use std::sync::Arc;

use tenantry_crypto::Jwks;
use tenantry_kernel::Edges;
use tenantry_tenancy::BaseDomain;

use crate::guard::MemberCache;
use crate::ports::{
    ApiKeys, Audit, Auth, Billing, Buckets, Deletions, Domains, Erasure, Events, Exports, Files,
    Imports, Invitations, Metering, Onboarding, PlatformReads, Products, Projects, Provisioning,
    Rbac, Scim, Settings, Smtp, Sso, Tenants, Webhooks,
};
use crate::resolve::Resolver;

/// HTTP-side configuration.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Tenants are served at `<slug>.<base_domain>`.
    pub base_domain: BaseDomain,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How long a request body may take to arrive (408 after that).
    pub body_timeout: std::time::Duration,
    /// Bearer token of the operator API (`/api/v1/platform/...`); `None` disables it.
    pub operator_token: Option<String>,
    /// Where people reach the product (invitation links start with it).
    pub public_url: String,
    /// How requests are limited.
    pub rate_limits: crate::rate_limit::RateLimitConfig,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` headers name the client.
    pub trusted_proxies: crate::client::TrustedProxies,
    /// Whether the operator's staff pass a tenant's IP allowlist.
    pub allowlist_admin_bypass: bool,
    /// Signing secrets of the Stripe webhook endpoint (several during a rotation; none: the
    /// route answers 404).
    pub stripe_webhook_secrets: Vec<String>,
    /// The largest file a tenant may upload when its plan does not say (`max_file_bytes`).
    pub max_file_bytes: u64,
    /// The largest archive `POST /api/v1/platform/tenants/import` takes.
    pub max_import_bytes: u64,
}

/// The services the HTTP adapter drives, as ports (see [`crate::ports`]): the composition
/// root builds them once over its store.
pub struct Services {
    pub tenants: Arc<dyn Tenants>,
    pub settings: Arc<dyn Settings>,
    pub domains: Arc<dyn Domains>,
    pub auth: Arc<dyn Auth>,
    /// Deleting one person's account (GDPR erasure).
    pub erasure: Arc<dyn Erasure>,
    pub sso: Arc<dyn Sso>,
    pub scim: Arc<dyn Scim>,
    pub smtp: Arc<dyn Smtp>,
    pub rbac: Arc<dyn Rbac>,
    pub onboarding: Arc<dyn Onboarding>,
    pub invitations: Arc<dyn Invitations>,
    pub api_keys: Arc<dyn ApiKeys>,
    pub products: Arc<dyn Products>,
    pub files: Arc<dyn Files>,
    pub exports: Arc<dyn Exports>,
    /// Tenants' deletions and the certificates of purged ones.
    pub deletions: Arc<dyn Deletions>,
    /// Operators' archives imported through the platform API.
    pub imports: Arc<dyn Imports>,
    /// Tenants created from a CSV file.
    pub provisioning: Arc<dyn Provisioning>,
    pub buckets: Arc<dyn Buckets>,
    pub projects: Arc<dyn Projects>,
    pub audit: Arc<dyn Audit>,
    pub events: Arc<dyn Events>,
    pub webhooks: Arc<dyn Webhooks>,
    pub billing: Arc<dyn Billing>,
    pub metering: Arc<dyn Metering>,
    /// Resolution, readiness, change counters, search, the security log, the queue summary.
    pub reads: Arc<dyn PlatformReads>,
}

/// Services and adapters, built once and shared by every worker: the services (reached
/// through `Deref`, so a handler writes `state.products`) and the adapter's own caches.
pub struct AppState {
    services: Services,
    pub resolver: Resolver,
    /// Memberships and their roles, cached per (tenant, user) for the guard.
    pub members: MemberCache,
    /// Each tenant's subscription and plan, for the guard's entitlement check.
    pub standings: crate::entitlements::StandingCache,
    /// API calls counted in memory until the next flush (the `api_calls` metric).
    pub api_calls: crate::api_calls::ApiCallMeter,
    /// Request limits: in this process unless the composition root gives a shared store.
    pub rate_limits: crate::rate_limit::RateLimits,
    /// Access tokens whose signature was checked.
    pub tokens: crate::authn::TokenCache,
    /// Refusals recorded in the last minute (see `guard::DenialWindow`).
    pub denials: crate::guard::DenialWindow,
    /// The e-mail domains each tenant makes sign in through SSO (see `crate::sso_policy`).
    pub sso_enforced: crate::sso_policy::EnforcedDomains,
    /// The public half of the token-signing key, served at `/.well-known/jwks.json`.
    pub jwks: Jwks,
    pub config: HttpConfig,
    /// The HTTP adapter is an edge: it builds each request's `TenantCtx` after the access
    /// check (and platform administration inside the tenant it targets).
    pub edges: Edges,
}

impl AppState {
    /// `resolver` must be the one the tenant service announces its changes to (see
    /// [`Resolver::new`]).
    pub fn new(
        services: Services,
        resolver: Resolver,
        jwks: Jwks,
        config: HttpConfig,
        edges: Edges,
    ) -> Self {
        Self {
            services,
            resolver,
            members: MemberCache::new(),
            standings: crate::entitlements::StandingCache::default(),
            api_calls: crate::api_calls::ApiCallMeter::default(),
            rate_limits: crate::rate_limit::RateLimits::in_process(config.rate_limits.clone()),
            tokens: crate::authn::TokenCache::new(),
            denials: crate::guard::DenialWindow::new(),
            sso_enforced: crate::sso_policy::EnforcedDomains::default(),
            jwks,
            config,
            edges,
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl AppState {
    /// Checks an access token: its signature once per token, its expiry and whether its
    /// session was revoked every time (both in memory).
    pub fn verify_access_token(
        &self,
        token: &str,
    ) -> Option<(tenantry_identity::AccessClaims, tenantry_identity::FamilyId)> {
        self.tokens
            .verify(token, self.auth.now(), |t| self.auth.authenticate(t).ok())
            .filter(|(_, session)| !self.auth.session_revoked(*session))
    }
}
