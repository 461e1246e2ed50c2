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
}

impl SecurityEventKind {
    pub const ALL: [Self; 9] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LockedOut,
        Self::Logout,
        Self::RefreshReuseDetected,
        Self::PasswordChanged,
        Self::PasswordCheckFailed,
        Self::AccountDisabled,
        Self::AccountEnabled,
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
        }
    }
}
