//! problem+json for accounts, sessions, API keys and invitations: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_identity::{
    ApiKeyError, ChangePasswordError, CreateUserError, EraseError, InvitationError, LoginError,
    MfaError, RefreshError, SessionError, UserError,
};

use super::Problem;

impl From<LoginError> for Problem {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            )
            .detail("The e-mail address or the password is wrong"),
            LoginError::Locked { retry_after_secs } => {
                let mut p = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "account_locked",
                    "Account locked",
                )
                .detail("Too many failed logins for this account; try again later");
                p.retry_after = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
                p
            }
            LoginError::TooManyAttempts { retry_after_secs } => {
                let mut p = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "Too many attempts",
                )
                .detail("Too many failed logins from this address; try again later");
                p.retry_after = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
                p
            }
            LoginError::MfaRequired { ticket, expires_at } => {
                let mut p = Self::mfa_required().detail(
                    "The password is right and this account has MFA on: send the ticket and a \
                     code to /api/v1/auth/mfa/verify",
                );
                let extra = p.extra_mut();
                extra.mfa_ticket = Some(ticket);
                extra.mfa_ticket_expires_at = Some(expires_at);
                p
            }
            LoginError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl Problem {
    /// A password alone is not enough for this account.
    pub fn mfa_required() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "mfa_required", "MFA required")
    }
}

impl From<MfaError> for Problem {
    fn from(e: MfaError) -> Self {
        let detail = e.to_string();
        match e {
            MfaError::AlreadyEnabled => Self::new(
                StatusCode::CONFLICT,
                "mfa_already_enabled",
                "MFA already enabled",
            )
            .detail(detail),
            MfaError::NoEnrolment => Self::new(
                StatusCode::CONFLICT,
                "mfa_enrollment_not_started",
                "No enrolment to confirm",
            )
            .detail(detail),
            MfaError::NotEnabled => {
                Self::new(StatusCode::CONFLICT, "mfa_not_enabled", "MFA not enabled").detail(detail)
            }
            MfaError::Required => Self::mfa_required()
                .detail("This account has MFA on: send a code from its authenticator as mfa_code"),
            MfaError::InvalidCode => {
                Self::new(StatusCode::FORBIDDEN, "invalid_mfa_code", "Invalid code")
                    .detail("The code is wrong, already used or outside its time window")
            }
            MfaError::InvalidTicket => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_mfa_ticket",
                "Invalid MFA ticket",
            )
            .detail(detail),
            MfaError::WrongPassword => {
                Self::new(StatusCode::FORBIDDEN, "wrong_password", "Wrong password")
                    .detail("The password is wrong")
            }
            MfaError::Throttled(e) => e.into(),
            MfaError::NotFound => Self::unauthorized("The account no longer exists"),
            MfaError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<EraseError> for Problem {
    fn from(e: EraseError) -> Self {
        let detail = e.to_string();
        match e {
            EraseError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "user_not_found", "User not found")
                    .detail("No user has this id")
            }
            EraseError::LastOwner(slugs) => {
                let mut p =
                    Self::new(StatusCode::CONFLICT, "last_owner", "Last owner").detail(format!(
                        "{detail}: give each organisation another owner (or delete it), then \
                         delete the account"
                    ));
                p.extra_mut().owned_tenants = Some(slugs);
                p
            }
            EraseError::Identity(e) => e.into(),
            EraseError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<SessionError> for Problem {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "Session not found",
            )
            .detail(e.to_string()),
            SessionError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<RefreshError> for Problem {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::InvalidToken => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "Invalid refresh token",
            )
            .detail("The refresh token is unknown, expired, revoked or already used; log in again"),
            RefreshError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<UserError> for Problem {
    fn from(e: UserError) -> Self {
        match e {
            // A valid token for a user that no longer exists.
            UserError::NotFound => Self::unauthorized("The account no longer exists"),
            UserError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<ChangePasswordError> for Problem {
    fn from(e: ChangePasswordError) -> Self {
        match e {
            ChangePasswordError::WrongPassword => {
                Self::new(StatusCode::FORBIDDEN, "wrong_password", "Wrong password")
                    .detail("The current password is wrong")
            }
            ChangePasswordError::Throttled(e) => e.into(),
            ChangePasswordError::Invalid(v) => Self::field("new_password", v.0),
            ChangePasswordError::NotFound => Self::unauthorized("The account no longer exists"),
            ChangePasswordError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<CreateUserError> for Problem {
    fn from(e: CreateUserError) -> Self {
        match e {
            CreateUserError::EmailTaken => {
                Self::new(StatusCode::CONFLICT, "email_taken", "E-mail taken")
                    .detail("An account with this e-mail address already exists")
            }
            CreateUserError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<ApiKeyError> for Problem {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::NotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "api_key_not_found",
                "API key not found",
            )
            .detail(e.to_string()),
            ApiKeyError::Quota(q) => q.into(),
            ApiKeyError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<InvitationError> for Problem {
    fn from(e: InvitationError) -> Self {
        let detail = e.to_string();
        match e {
            InvitationError::NotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "invitation_not_found",
                "Invitation not found",
            )
            .detail(detail),
            InvitationError::Gone => {
                Problem::new(StatusCode::GONE, "invitation_gone", "Invitation gone").detail(detail)
            }
            InvitationError::EmailMismatch => Problem::new(
                StatusCode::FORBIDDEN,
                "invitation_email_mismatch",
                "Another e-mail",
            )
            .detail(detail),
            InvitationError::EmailTaken => {
                Problem::new(StatusCode::CONFLICT, "email_taken", "E-mail taken").detail(detail)
            }
            InvitationError::AlreadyMember => {
                Problem::new(StatusCode::CONFLICT, "already_member", "Already a member")
                    .detail(detail)
            }
            InvitationError::WeakPassword(message) => Problem::field("password", message),
            InvitationError::Quota(q) => q.into(),
            InvitationError::Unexpected(u) => Problem::internal(u),
        }
    }
}
