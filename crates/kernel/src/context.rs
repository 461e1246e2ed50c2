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
    /// The operator token (automation of the platform API).
    Operator,
}

impl Actor {
    /// The kind, as stored and reported: `system`, `user`, `api_key`, `platform_admin`,
    /// `operator`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User(_) => "user",
            Self::ApiKey { .. } => "api_key",
            Self::PlatformAdmin(_) => "platform_admin",
            Self::Operator => "operator",
        }
    }

    /// The person behind the action, when there is one.
    pub const fn user_id(&self) -> Option<UserId> {
        match self {
            Self::User(u) | Self::ApiKey { user: u, .. } | Self::PlatformAdmin(u) => Some(*u),
            Self::System | Self::Operator => None,
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
/// Only the edges build one: the HTTP adapter after tenant resolution and the lifecycle gate,
/// the CLI from an explicit `--tenant`, platform administration for the tenant it targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantCtx {
    tenant_id: TenantId,
    actor: Actor,
    origin: Arc<Origin>,
}

impl TenantCtx {
    /// A context acting as the system with no request behind it.
    pub fn new(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            actor: Actor::System,
            origin: Arc::default(),
        }
    }

    /// The context a background job runs in: its tenant, acting as the system, its origin
    /// naming the job (`job:<id>`, where a request would show its request id).
    pub fn for_job(tenant_id: TenantId, job: crate::ids::JobId) -> Self {
        Self {
            tenant_id,
            actor: Actor::System,
            origin: Arc::new(Origin {
                request_id: Some(format!("job:{job}")),
                ..Origin::default()
            }),
        }
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

    /// The same tenant, acting as `actor`.
    #[must_use]
    pub fn acting_as(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// The same tenant and actor, for a request from `origin`.
    #[must_use]
    pub fn from_origin(mut self, origin: Arc<Origin>) -> Self {
        self.origin = origin;
        self
    }
}
