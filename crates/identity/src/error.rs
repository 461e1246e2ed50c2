//! One error enum per operation; the HTTP adapter maps each to a problem in one place.

use tenantry_kernel::Unexpected;
use thiserror::Error;

use crate::model::InvalidValue;

#[derive(Debug, Error)]
pub enum CreateUserError {
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum LoginError {
    /// Unknown e-mail, wrong password or disabled account: deliberately indistinguishable.
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    #[error("too many failed logins from this address; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// The password was right and the account has MFA on: the login goes on at
    /// `/auth/mfa/verify` with this ticket and a code.
    #[error("a second factor is required")]
    MfaRequired {
        ticket: String,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum MfaError {
    #[error("a TOTP authenticator is already enabled")]
    AlreadyEnabled,
    #[error("no TOTP enrolment is waiting for confirmation; start one first")]
    NoEnrolment,
    #[error("MFA is not enabled for this account")]
    NotEnabled,
    /// The account has MFA on and no code came with the password.
    #[error("this account has MFA on: a code is required")]
    Required,
    /// Wrong, replayed or outside its window; or a recovery code unknown or spent.
    #[error("the code is not valid")]
    InvalidCode,
    #[error("the MFA ticket is unknown, expired or spent; log in again")]
    InvalidTicket,
    #[error("the password is wrong")]
    WrongPassword,
    /// [`LoginError::Locked`] or [`LoginError::TooManyAttempts`].
    #[error(transparent)]
    Throttled(LoginError),
    #[error("user not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<LoginError> for MfaError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Unexpected(u) => Self::Unexpected(u),
            throttled => Self::Throttled(throttled),
        }
    }
}

#[derive(Debug, Error)]
pub enum SessionError {
    #[error("no live session of yours has this id")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum RefreshError {
    /// Unknown, expired, revoked or already used (which revokes its whole family).
    #[error("the refresh token is not valid")]
    InvalidToken,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("the access token is not valid")]
pub struct InvalidAccessToken;

#[derive(Debug, Error)]
pub enum UserError {
    #[error("user not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum ChangePasswordError {
    #[error("the current password is wrong")]
    WrongPassword,
    /// Too many wrong passwords for the account or from the address, counted with failed
    /// logins: [`LoginError::Locked`] or [`LoginError::TooManyAttempts`].
    #[error(transparent)]
    Throttled(LoginError),
    #[error("{0}")]
    Invalid(InvalidValue),
    #[error("user not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
