//! problem+json for signing up an organisation: each error's status and stable code.

use tenantry_identity::{CreateUserError, LoginError};
use tenantry_onboarding::OnboardError;
use tenantry_tenancy::CreateTenantError;

use super::Problem;

impl From<OnboardError> for Problem {
    fn from(e: OnboardError) -> Self {
        match e {
            OnboardError::SlugTaken { slug } => CreateTenantError::SlugTaken { slug }.into(),
            OnboardError::EmailTaken => CreateUserError::EmailTaken.into(),
            OnboardError::InvalidCredentials => LoginError::InvalidCredentials.into(),
            OnboardError::Throttled(e) => e.into(),
            OnboardError::SecondFactor(e) => e.into(),
            OnboardError::WeakPassword(message) => Self::field("password", message),
            OnboardError::Quota(q) => q.into(),
            OnboardError::Unexpected(u) => Self::internal(u),
        }
    }
}
