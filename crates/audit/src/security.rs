//! Account-level security events: they belong to a person (or an e-mail address), not to a
//! tenant, so they go to the platform security log rather than a tenant's audit trail.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_kernel::{SecurityEventId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityEventKind {
    LoginSucceeded,
    LoginFailed,
    /// A login refused because the account is locked after repeated failures.
    LockedOut,
    Logout,
    /// A spent refresh token was presented again: its whole family was revoked.
    RefreshReuseDetected,
    PasswordChanged,
    /// A wrong current password on a route that checks one (changing the password): counted
    /// with failed logins toward the lock.
    PasswordCheckFailed,
    /// The operator disabled the account: its sessions ended, it cannot log in.
    AccountDisabled,
    /// The operator enabled the account again.
    AccountEnabled,
    /// The user confirmed a TOTP authenticator: their other sessions ended.
    MfaEnabled,
    /// The user turned TOTP off (password and a code): their other sessions ended.
    MfaDisabled,
    /// A wrong, replayed or expired second factor (a TOTP or a recovery code), or an unknown
    /// or spent MFA ticket: counted with failed logins toward the lock.
    MfaFailed,
    /// A one-time recovery code was spent instead of a TOTP code.
    RecoveryCodeUsed,
    /// The user asked for a new set of recovery codes (the old ones stopped working).
    RecoveryCodesRegenerated,
    /// The user ended one of their sessions from the session list.
    SessionRevoked,
    /// A platform administrator started acting as the user (support impersonation); the
    /// detail names them and their reason.
    Impersonated,
    /// A sign-in through a tenant's identity provider (the detail names the tenant).
    SsoLoginSucceeded,
    /// A refused SSO step: the detail names the refusal's code and why.
    SsoLoginFailed,
    /// An account was deleted (by its owner or the operator): the detail names it by id only.
    AccountErased,
}

impl SecurityEventKind {
    pub const ALL: [Self; 19] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LockedOut,
        Self::Logout,
        Self::RefreshReuseDetected,
        Self::PasswordChanged,
        Self::PasswordCheckFailed,
        Self::AccountDisabled,
        Self::AccountEnabled,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::MfaFailed,
        Self::RecoveryCodeUsed,
        Self::RecoveryCodesRegenerated,
        Self::SessionRevoked,
        Self::Impersonated,
        Self::SsoLoginSucceeded,
        Self::SsoLoginFailed,
        Self::AccountErased,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LockedOut => "locked_out",
            Self::Logout => "logout",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::PasswordChanged => "password_changed",
            Self::PasswordCheckFailed => "password_check_failed",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaFailed => "mfa_failed",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::SessionRevoked => "session_revoked",
            Self::Impersonated => "impersonated",
            Self::SsoLoginSucceeded => "sso_login_succeeded",
            Self::SsoLoginFailed => "sso_login_failed",
            Self::AccountErased => "account_erased",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One event of the platform security log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    pub id: SecurityEventId,
    pub at: DateTime<Utc>,
    pub kind: SecurityEventKind,
    /// The account, when known (a failed login for an unknown e-mail has none).
    pub user_id: Option<UserId>,
    /// The normalised e-mail the attempt named (failed logins).
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// What else the event says, in words (who impersonated the user, and why).
    pub detail: Option<String>,
}

impl SecurityEvent {
    pub fn new(kind: SecurityEventKind, at: DateTime<Utc>) -> Self {
        Self {
            id: SecurityEventId::new(),
            at,
            kind,
            user_id: None,
            email: None,
            ip: None,
            user_agent: None,
            detail: None,
        }
    }
}
