//! The tenant context: proof that the caller acts inside exactly one tenant, and who they are.

use std::sync::Arc;

use crate::ids::{ApiKeyId, TenantId, UserId};

/// Who makes a change. Recorded with every change of tenant-owned data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// Tenantry itself (start-up, background work, a CLI command without a user).
    System,
    /// A person signed in with an access token.
    User(UserId),
    /// An API key of the tenant; it acts for the user who created it.
    ApiKey { key: ApiKeyId, user: UserId },
    /// A platform administrator acting across tenants.
    PlatformAdmin(UserId),
    /// A platform administrator acting as `user` (support impersonation): recorded as the
    /// user, with the administrator beside.
    Impersonated { user: UserId, by: UserId },
    /// The operator token (automation of the platform API).
    Operator,
    /// The tenant's directory, provisioning through SCIM with one of the tenant's tokens.
    Directory,
}

impl Actor {
    /// The kind, as stored and reported: `system`, `user`, `api_key`, `platform_admin`,
    /// `operator`, `directory`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User(_) | Self::Impersonated { .. } => "user",
            Self::ApiKey { .. } => "api_key",
            Self::PlatformAdmin(_) => "platform_admin",
            Self::Operator => "operator",
            Self::Directory => "directory",
        }
    }

    /// The person behind the action, when there is one.
    pub const fn user_id(&self) -> Option<UserId> {
        match self {
            Self::User(u)
            | Self::ApiKey { user: u, .. }
            | Self::PlatformAdmin(u)
            | Self::Impersonated { user: u, .. } => Some(*u),
            Self::System | Self::Operator | Self::Directory => None,
        }
    }

    /// The administrator impersonating the user, during an impersonation.
    pub const fn impersonator(&self) -> Option<UserId> {
        match self {
            Self::Impersonated { by, .. } => Some(*by),
            _ => None,
        }
    }

    /// The person at the keyboard: the impersonating administrator during an impersonation,
    /// else the person behind the action. Where the action came from (IP, user agent) is
    /// their personal data.
    pub const fn person(&self) -> Option<UserId> {
        match self.impersonator() {
            Some(by) => Some(by),
            None => self.user_id(),
        }
    }

    pub const fn api_key_id(&self) -> Option<ApiKeyId> {
        match self {
            Self::ApiKey { key, .. } => Some(*key),
            _ => None,
        }
    }
}

/// Where a request came from: recorded with the changes it makes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Carries the tenant a piece of work belongs to, who does it and from where. Every port for
/// tenant-owned data takes one; the adapters derive the tenant predicate (and PostgreSQL's
/// `app.tenant_id`) from it, and the change pipeline records the actor and origin.
///
/// Only the edges build one, each with its named constructor, and each constructor needs the
/// [`Edges`] capability that the composition root claims once per process and hands to the
/// edges it builds: the HTTP adapter (after tenant resolution, the lifecycle gate and the
/// access check), the worker (from a job row), tenant creation (for the tenant it creates)
/// and invitation acceptance (for the tenant the token names). Nothing else can make one:
///
/// ```compile_fail
/// use tenantry_kernel::{TenantCtx, TenantId};
/// let ctx = TenantCtx::new(TenantId::new()); // there is no such constructor
/// ```
///
/// ```compile_fail
/// use tenantry_kernel::{Edges, TenantCtx, TenantId};
/// let forged = Edges(()); // the capability's field is private
/// ```
///
/// ```compile_fail
/// use tenantry_kernel::{Actor, TenantCtx, TenantId};
/// fn impersonate(ctx: TenantCtx) -> TenantCtx {
///     ctx.acting_as(Actor::System) // the actor of a context cannot be changed either
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantCtx {
    tenant_id: TenantId,
    actor: Actor,
    origin: Arc<Origin>,
}

/// The capability to build [`TenantCtx`] values. There is one per process: the composition
/// root claims it at start-up ([`Edges::claim`]) and hands clones to the edges; a second
/// claim gets nothing.
///
/// ```
/// use tenantry_kernel::{Actor, Edges, TenantCtx, TenantId};
/// let edges = Edges::claim().expect("the composition root claims it first");
/// let tenant = TenantId::new();
/// let ctx = TenantCtx::for_request(&edges, tenant, Actor::System, Default::default());
/// assert_eq!(ctx.tenant_id(), tenant);
/// assert!(Edges::claim().is_none(), "one per process");
/// ```
#[derive(Clone, Debug)]
pub struct Edges(());

static CLAIMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Edges {
    /// The process's capability; `None` once it was claimed.
    pub fn claim() -> Option<Self> {
        (!CLAIMED.swap(true, std::sync::atomic::Ordering::SeqCst)).then_some(Self(()))
    }

    /// For tests, which start many apps in one process.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests() -> Self {
        Self(())
    }
}

impl TenantCtx {
    fn build(tenant_id: TenantId, actor: Actor, origin: Arc<Origin>) -> Self {
        Self {
            tenant_id,
            actor,
            origin,
        }
    }

    /// The HTTP edge: a request for `tenant_id`, after resolution and the access check, by
    /// `actor` (the member, their API key, the operator; `System` before any credential, for
    /// public tenant reads).
    pub fn for_request(_: &Edges, tenant_id: TenantId, actor: Actor, origin: Arc<Origin>) -> Self {
        Self::build(tenant_id, actor, origin)
    }

    /// The worker: the context a background job runs in, rebuilt from its row — its tenant,
    /// acting as the system, its origin naming the job (`job:<id>`, where a request would show
    /// its request id).
    pub fn for_job(_: &Edges, tenant_id: TenantId, job: crate::ids::JobId) -> Self {
        Self::build(
            tenant_id,
            Actor::System,
            Arc::new(Origin {
                request_id: Some(format!("job:{job}")),
                ..Origin::default()
            }),
        )
    }

    /// The webhook dispatcher delivering a batch of the tenant's events, acting as the system,
    /// its origin naming the dispatcher (`webhooks:<name>`).
    pub fn for_delivery(_: &Edges, tenant_id: TenantId, dispatcher: &str) -> Self {
        Self::build(
            tenant_id,
            Actor::System,
            Arc::new(Origin {
                request_id: Some(format!("webhooks:{dispatcher}")),
                ..Origin::default()
            }),
        )
    }

    /// Tenant creation (onboarding, platform administration, the CLI): the new tenant's first
    /// records, made by `actor` from `origin`.
    pub fn for_new_tenant(
        _: &Edges,
        tenant_id: TenantId,
        actor: Actor,
        origin: Arc<Origin>,
    ) -> Self {
        Self::build(tenant_id, actor, origin)
    }

    /// For tests: `tenant_id`, acting as the system, with no request behind it.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests(tenant_id: TenantId) -> Self {
        Self::build(tenant_id, Actor::System, Arc::default())
    }

    pub const fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    pub const fn actor(&self) -> Actor {
        self.actor
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}
