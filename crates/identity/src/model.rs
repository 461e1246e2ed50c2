//! Identity value types (valid by construction) and entities.

use std::fmt;

use chrono::{DateTime, Utc};
use tenantry_kernel::{Email, UserId};
use thiserror::Error;

/// Why a value was refused; the message is meant for the API client.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A person's display name: 1–100 characters, trimmed, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InvalidValue("name must not be empty".into()));
        }
        if s.chars().count() > 100 {
            return Err(InvalidValue("name must be at most 100 characters".into()));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidValue(
                "name must not contain control characters".into(),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    /// May not log in; existing sessions end at once (their access tokens included).
    Disabled,
}

impl UserStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A person. Platform-wide: one user may belong to many tenants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn new(email: Email, display_name: DisplayName, now: DateTime<Utc>) -> Self {
        Self {
            id: UserId::new(),
            email,
            display_name,
            status: UserStatus::Active,
            created_at: now,
            last_login_at: None,
        }
    }
}

/// A password that passed the policy: 10–128 characters, not a commonly used password,
/// not the account's e-mail address. Never logged or serialised.
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str, email: &Email) -> Result<Self, InvalidValue> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(InvalidValue(format!(
                "password must be at least {} characters",
                Self::MIN_CHARS
            )));
        }
        if chars > Self::MAX_CHARS {
            return Err(InvalidValue(format!(
                "password must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if passwords::analyzer::is_common_password(raw)
            || passwords::analyzer::is_common_password(raw.to_lowercase())
        {
            return Err(InvalidValue(
                "password is too common; choose another".into(),
            ));
        }
        let lower = raw.to_lowercase();
        if lower == email.normalized()
            || email
                .normalized()
                .split('@')
                .next()
                .is_some_and(|local| lower == local)
        {
            return Err(InvalidValue(
                "password must not be your e-mail address".into(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// A password hash in PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// Groups the refresh tokens descending from one login: reuse of a rotated token revokes
/// the whole family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FamilyId(uuid::Uuid);

impl FamilyId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub const fn from_uuid(id: uuid::Uuid) -> Self {
        Self(id)
    }

    pub const fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }
}

impl Default for FamilyId {
    fn default() -> Self {
        Self::new()
    }
}

/// A refresh token as handed to the client: opaque, 256 random bits. Stored only as a digest.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshSecret(pub String);

impl fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshSecret(***)")
    }
}

/// The stored form of a refresh token: a digest of the secret, never the secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub String);

/// A refresh token's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRecord {
    pub digest: TokenDigest,
    pub user_id: UserId,
    pub family: FamilyId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What a signed access token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The token's own id.
    pub jti: String,
    /// The session passed a second factor (or the user's MFA was on when it was renewed): a
    /// tenant that requires MFA lets it in. Carried as `amr: ["pwd", "otp", "mfa"]`.
    pub mfa: bool,
    /// Set on a token a platform administrator acts with as this user (RFC 8693 `act`).
    pub impersonation: Option<Impersonation>,
    /// The tenant whose identity provider signed this session in (a tenant enforcing SSO
    /// lets it in).
    pub sso_tenant: Option<tenantry_kernel::TenantId>,
}

/// Who acts as the token's user, and where (an impersonation token works in one tenant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Impersonation {
    pub admin: UserId,
    pub tenant: tenantry_kernel::TenantId,
}

/// How a session started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMethod {
    /// E-mail and password.
    Password,
    /// E-mail, password and a second factor.
    Mfa,
    /// Signing up (onboarding a new organisation, accepting an invitation).
    SignUp,
    /// A platform administrator acting as the user: no refresh token, minutes long.
    Impersonation,
    /// Through a tenant's identity provider (OpenID Connect).
    Sso,
}

impl SessionMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Mfa => "mfa",
            Self::SignUp => "sign_up",
            Self::Impersonation => "impersonation",
            Self::Sso => "sso",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Password,
            Self::Mfa,
            Self::SignUp,
            Self::Impersonation,
            Self::Sso,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// A session as its owner sees it: one login and the refresh tokens descending from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: FamilyId,
    pub user_id: UserId,
    pub method: SessionMethod,
    pub created_at: DateTime<Utc>,
    /// The last refresh (access tokens are checked without the database).
    pub last_used_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The tenant whose identity provider opened it (an SSO session).
    pub sso_tenant: Option<tenantry_kernel::TenantId>,
}

/// An access token and a refresh token, as login and refresh return them.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub issued_at: DateTime<Utc>,
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: RefreshSecret,
    pub refresh_expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("Ann.Lee@example.com").unwrap()
    }

    #[test]
    fn password_policy() {
        assert!(NewPassword::parse("correct horse battery", &email()).is_ok());
        assert!(NewPassword::parse("short", &email()).is_err(), "too short");
        assert!(
            NewPassword::parse(&"x".repeat(129), &email()).is_err(),
            "too long"
        );
        assert!(
            NewPassword::parse(&"é".repeat(10), &email()).is_ok(),
            "counts characters, not bytes"
        );
        for common in ["password123", "qwertyuiop", "1234567890", "Password123"] {
            assert!(
                NewPassword::parse(common, &email()).is_err(),
                "{common} is common"
            );
        }
        assert!(NewPassword::parse("ann.lee@example.com", &email()).is_err());
        assert!(NewPassword::parse("ANN.LEE@EXAMPLE.COM", &email()).is_err());
        let p = NewPassword::parse("correct horse battery", &email()).unwrap();
        assert_eq!(format!("{p:?}"), "NewPassword(***)", "never printed");
    }

    #[test]
    fn display_names() {
        assert_eq!(
            DisplayName::parse("  Ann Lee ").unwrap().as_str(),
            "Ann Lee"
        );
        assert!(DisplayName::parse("").is_err());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
    }
}
