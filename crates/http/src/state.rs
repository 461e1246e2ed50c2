//! What every handler can reach.

use std::sync::Arc;

use tenantry_audit::{AuditService, EventService};
use tenantry_crypto::{Crypto, Jwks};
use tenantry_identity::{ApiKeyService, AuthPolicy, AuthService, InvitationService};
use tenantry_kernel::{Clock, Edges, Unlimited};
use tenantry_mail::MailSender;
use tenantry_onboarding::OnboardingService;
use tenantry_products::ProductService;
use tenantry_projects::ProjectService;
use tenantry_rbac::RbacService;
use tenantry_store::Db;
use tenantry_tenancy::{BaseDomain, SettingsService, TenantService};

use crate::guard::MemberCache;
use crate::resolve::Resolver;

/// HTTP-side configuration.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Tenants are served at `<slug>.<base_domain>`.
    pub base_domain: BaseDomain,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Bearer token of the operator API (`/api/v1/platform/...`); `None` disables it.
    pub operator_token: Option<String>,
    /// Where people reach the product (invitation links start with it).
    pub public_url: String,
}

/// Services and adapters, built once and shared by every worker.
pub struct AppState {
    pub db: Db,
    pub tenants: TenantService<Db>,
    pub settings: SettingsService<Db>,
    pub resolver: Resolver,
    pub auth: AuthService<Db, Crypto>,
    pub rbac: RbacService<Db>,
    pub onboarding: OnboardingService<Db, Crypto>,
    pub invitations: InvitationService<Db, Crypto, MailSender>,
    pub api_keys: ApiKeyService<Db, Crypto>,
    pub products: ProductService<Db, Unlimited>,
    pub projects: ProjectService<Db, Unlimited>,
    pub audit: AuditService<Db>,
    pub events: EventService<Db>,
    /// Memberships and their roles, cached per (tenant, user) for the guard.
    pub members: MemberCache,
    /// Access tokens whose signature was checked.
    pub tokens: crate::authn::TokenCache,
    /// Refusals recorded in the last minute (see `guard::DenialWindow`).
    pub denials: crate::guard::DenialWindow,
    /// The public half of the token-signing key, served at `/.well-known/jwks.json`.
    pub jwks: Jwks,
    pub config: HttpConfig,
    /// The HTTP adapter is an edge: it builds each request's `TenantCtx` after the access
    /// check (and platform administration inside the tenant it targets).
    pub edges: Edges,
}

impl AppState {
    pub fn new(
        db: Db,
        config: HttpConfig,
        clock: Arc<dyn Clock>,
        crypto: Crypto,
        mailer: MailSender,
        edges: Edges,
    ) -> Self {
        let resolver = Resolver::new(db.clone(), config.base_domain.clone());
        let tenants = TenantService::new(
            db.clone(),
            clock.clone(),
            config.base_domain.clone(),
            Arc::new(resolver.clone()),
            edges.clone(),
        );
        let settings = SettingsService::new(db.clone(), clock.clone());
        let jwks = crypto.tokens.jwks();
        let auth = AuthService::new(
            db.clone(),
            crypto.clone(),
            clock.clone(),
            AuthPolicy::default(),
        );
        let invitations = InvitationService::new(
            db.clone(),
            auth.clone(),
            crypto.clone(),
            mailer,
            config.public_url.clone(),
            edges.clone(),
        );
        let rbac = RbacService::new(db.clone(), clock.clone());
        let api_keys = ApiKeyService::new(db.clone(), crypto.clone(), clock.clone());
        let onboarding =
            OnboardingService::new(db.clone(), tenants.clone(), auth.clone(), edges.clone());
        let products = ProductService::new(db.clone(), Unlimited, clock.clone());
        let audit = AuditService::new(db.clone());
        let events = EventService::new(db.clone());
        let projects = ProjectService::new(db.clone(), Unlimited, clock.clone());
        Self {
            db,
            tenants,
            settings,
            resolver,
            auth,
            rbac,
            onboarding,
            invitations,
            api_keys,
            products,
            projects,
            audit,
            events,
            members: MemberCache::new(),
            tokens: crate::authn::TokenCache::new(),
            denials: crate::guard::DenialWindow::new(),
            jwks,
            config,
            edges,
        }
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
