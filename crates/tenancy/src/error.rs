//! One error enum per operation. Adapters return the variants the port docs name; the HTTP
//! adapter maps each to a problem in one place.

use tenantry_kernel::Unexpected;
use thiserror::Error;

use crate::model::TransitionError;

#[derive(Debug, Error)]
pub enum CreateTenantError {
    #[error("slug '{slug}' is already taken")]
    SlugTaken { slug: String },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum FindTenantError {
    #[error("tenant not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum UpdateTenantError {
    #[error("tenant not found")]
    NotFound,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum AddDomainError {
    #[error("tenant not found")]
    TenantNotFound,
    /// Another tenant verified it (a pending claim elsewhere does not block).
    #[error("hostname '{hostname}' is already in use")]
    HostnameTaken { hostname: String },
    #[error("the tenant already has the domain '{hostname}'")]
    AlreadyAdded { hostname: String },
    /// Under the platform's base domain, or a public suffix.
    #[error("{reason}")]
    HostnameReserved { hostname: String, reason: String },
    #[error("a tenant has at most {limit} custom domains")]
    TooMany { limit: usize },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum ChangeDomainError {
    #[error("tenant not found")]
    TenantNotFound,
    #[error("the tenant has no domain '{hostname}'")]
    DomainNotFound { hostname: String },
    #[error("domain '{hostname}' is not verified yet")]
    NotVerified { hostname: String },
    /// The subdomain is the tenant's address on the platform: it cannot be removed.
    #[error("'{hostname}' is the tenant's subdomain; it cannot be removed")]
    SubdomainKept { hostname: String },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<FindTenantError> for UpdateTenantError {
    fn from(e: FindTenantError) -> Self {
        match e {
            FindTenantError::NotFound => Self::NotFound,
            FindTenantError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

impl From<FindTenantError> for AddDomainError {
    fn from(e: FindTenantError) -> Self {
        match e {
            FindTenantError::NotFound => Self::TenantNotFound,
            FindTenantError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

impl From<FindTenantError> for ChangeDomainError {
    fn from(e: FindTenantError) -> Self {
        match e {
            FindTenantError::NotFound => Self::TenantNotFound,
            FindTenantError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}
