//! problem+json for single sign-on: each refusal's status and stable code.

use actix_web::http::StatusCode;
use tenantry_identity::{OidcError, SsoConfigError, SsoLoginError};

use super::Problem;

impl From<SsoConfigError> for Problem {
    fn from(e: SsoConfigError) -> Self {
        match e {
            SsoConfigError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "sso_provider_not_found",
                "SSO provider not found",
            )
            .detail(e.to_string()),
            SsoConfigError::RoleNotFound(_) => Self::field("default_role", e.to_string()),
            SsoConfigError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<SsoLoginError> for Problem {
    fn from(e: SsoLoginError) -> Self {
        let code = e.code();
        let detail = e.to_string();
        let (status, title) = match &e {
            SsoLoginError::Unexpected(_) => {
                let SsoLoginError::Unexpected(u) = e else {
                    unreachable!()
                };
                return Self::internal(u);
            }
            SsoLoginError::ProviderNotFound => (StatusCode::NOT_FOUND, "SSO provider not found"),
            SsoLoginError::RedirectUriNotAllowed => {
                (StatusCode::BAD_REQUEST, "Redirect URI not allowed")
            }
            SsoLoginError::StateInvalid => (StatusCode::BAD_REQUEST, "Invalid SSO state"),
            SsoLoginError::Oidc(OidcError::Provider(_)) => {
                (StatusCode::BAD_GATEWAY, "Identity provider error")
            }
            SsoLoginError::Oidc(_) => (StatusCode::UNAUTHORIZED, "ID token refused"),
            SsoLoginError::EmailUnverified | SsoLoginError::DomainNotAllowed => {
                (StatusCode::FORBIDDEN, "SSO sign-in refused")
            }
            SsoLoginError::NotProvisioned | SsoLoginError::AccountDisabled => {
                (StatusCode::FORBIDDEN, "SSO sign-in refused")
            }
            SsoLoginError::CodeInvalid => (StatusCode::UNAUTHORIZED, "Invalid SSO code"),
        };
        Self::new(status, code, title).detail(detail)
    }
}
