//! problem+json for tenants, their domains and their lifecycle gate: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_tenancy::{
    AddDomainError, ChangeDomainError, CreateTenantError, FindTenantError, Gate, TransitionError,
    UpdateTenantError,
};

use super::Problem;

impl From<CreateTenantError> for Problem {
    fn from(e: CreateTenantError) -> Self {
        match e {
            CreateTenantError::SlugTaken { slug } => {
                Self::new(StatusCode::CONFLICT, "slug_taken", "Slug already taken")
                    .detail(format!("A tenant with slug '{slug}' already exists"))
            }
            CreateTenantError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<FindTenantError> for Problem {
    fn from(e: FindTenantError) -> Self {
        match e {
            FindTenantError::NotFound => {
                Self::tenant_not_found().detail("No tenant has this id or slug")
            }
            FindTenantError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<UpdateTenantError> for Problem {
    fn from(e: UpdateTenantError) -> Self {
        match e {
            UpdateTenantError::NotFound => FindTenantError::NotFound.into(),
            UpdateTenantError::Transition(t) => {
                let code = match t {
                    TransitionError::AlreadySuspended => "already_suspended",
                    TransitionError::AlreadyActive => "already_active",
                };
                Self::new(StatusCode::CONFLICT, code, "Invalid lifecycle transition")
                    .detail(t.to_string())
            }
            UpdateTenantError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<AddDomainError> for Problem {
    fn from(e: AddDomainError) -> Self {
        match e {
            AddDomainError::TenantNotFound => FindTenantError::NotFound.into(),
            AddDomainError::HostnameTaken { .. } => Self::new(
                StatusCode::CONFLICT,
                "hostname_taken",
                "Hostname already in use",
            )
            .detail(e.to_string()),
            AddDomainError::AlreadyAdded { .. } => Self::new(
                StatusCode::CONFLICT,
                "domain_exists",
                "Domain already added",
            )
            .detail(e.to_string()),
            AddDomainError::HostnameReserved { .. } => {
                let mut p = Self::field("hostname", e.to_string());
                p.code = "hostname_reserved";
                p
            }
            AddDomainError::TooMany { .. } => Self::new(
                StatusCode::CONFLICT,
                "domain_limit_reached",
                "Too many custom domains",
            )
            .detail(e.to_string()),
            AddDomainError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<ChangeDomainError> for Problem {
    fn from(e: ChangeDomainError) -> Self {
        match e {
            ChangeDomainError::TenantNotFound => FindTenantError::NotFound.into(),
            // The same answer whatever was asked: another tenant's hostname and one nobody
            // has are indistinguishable.
            ChangeDomainError::DomainNotFound { .. } => Self::new(
                StatusCode::NOT_FOUND,
                "domain_not_found",
                "Domain not found",
            )
            .detail("The tenant has no such domain"),
            ChangeDomainError::NotVerified { .. } => Self::new(
                StatusCode::CONFLICT,
                "domain_not_verified",
                "Domain not verified",
            )
            .detail(e.to_string()),
            ChangeDomainError::SubdomainKept { .. } => Self::new(
                StatusCode::CONFLICT,
                "subdomain_required",
                "The subdomain stays",
            )
            .detail(e.to_string()),
            ChangeDomainError::Unexpected(u) => Self::internal(u),
        }
    }
}

/// `Retry-After` of a tenant in maintenance (the tenant record has no end time yet).
pub const MAINTENANCE_RETRY_AFTER_SECS: u32 = 300;

impl From<Gate> for Problem {
    fn from(gate: Gate) -> Self {
        match gate {
            Gate::Inactive => {
                Self::new(StatusCode::FORBIDDEN, "tenant_inactive", "Tenant inactive")
                    .detail("This tenant is suspended")
            }
            Gate::Maintenance { message } => {
                let mut p = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tenant_maintenance",
                    "Tenant in maintenance",
                )
                .detail(
                    message
                        .clone()
                        .unwrap_or_else(|| "This tenant is under maintenance".into()),
                );
                p.retry_after = Some(MAINTENANCE_RETRY_AFTER_SECS);
                p.maintenance_message = message;
                p
            }
        }
    }
}
