//! What the identity domain needs from outside: the store implements the repositories, the
//! crypto adapter the hasher, token signer and secret source.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{Email, Unexpected, UserId};

use crate::error::{CreateUserError, InvalidAccessToken};
use crate::model::{
    AccessClaims, DisplayName, FamilyId, NewPassword, PasswordHash, RefreshRecord, RefreshSecret,
    TokenDigest, User, UserStatus,
};

/// Users are platform records (one person, many tenants).
pub trait UserRepository: Clone + Send + Sync + 'static {
    /// Returns [`CreateUserError::EmailTaken`] when the normalised e-mail exists.
    fn create_user(
        &self,
        user: &User,
        hash: &PasswordHash,
    ) -> impl Future<Output = Result<(), CreateUserError>> + Send;

    /// The user with this e-mail (compared case-insensitively) and their password hash.
    fn credentials(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<(User, PasswordHash)>, Unexpected>> + Send;

    fn user_by_id(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<User>, Unexpected>> + Send;

    fn password_hash(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<PasswordHash>, Unexpected>> + Send;

    fn record_login(
        &self,
        id: UserId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// The updated user, or `None` when it does not exist.
    fn set_display_name(
        &self,
        id: UserId,
        name: &DisplayName,
    ) -> impl Future<Output = Result<Option<User>, Unexpected>> + Send;

    /// Sets the account's status; disabling also revokes, in the same transaction, every
    /// live refresh token of the user, and names the sessions it ended. `None` when the user
    /// does not exist.
    fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<(User, Vec<FamilyId>)>, Unexpected>> + Send;

    /// Replaces the password hash and, in the same transaction, revokes every refresh token
    /// of the user except those of `keep` (the session that changed it); names the sessions
    /// it ended.
    fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<FamilyId>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<FamilyId>, Unexpected>> + Send;
}

/// The outcome of presenting a refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent and `new` replaces it in the same family.
    Rotated { user_id: UserId, family: FamilyId },
    /// The token had been spent or revoked already: its whole family is now revoked.
    Reused { user_id: UserId, family: FamilyId },
    /// Unknown or expired.
    Invalid,
}

pub trait SessionRepository: Clone + Send + Sync + 'static {
    fn insert_refresh(
        &self,
        record: &RefreshRecord,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// In one transaction: spends `old` and stores `new` (whose family and user are taken from
    /// `old`), or revokes the family of a reused token.
    fn rotate_refresh(
        &self,
        old: &TokenDigest,
        new_digest: &TokenDigest,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Rotation, Unexpected>> + Send;

    /// Revokes the token's family (logout) and names its user and the family. Unknown tokens
    /// are ignored (`None`).
    fn revoke_family_of(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<(UserId, FamilyId)>, Unexpected>> + Send;

    /// The sessions (families) revoked since `since`, with when. Every revocation must move
    /// the access counter the instances poll in its own transaction, and stamp its tokens
    /// with the counter's new value, so that `Version(v)` — `v` a value the counter had —
    /// finds every revocation committed after the counter passed `v`.
    fn revoked_sessions(
        &self,
        since: RevokedSince,
    ) -> impl Future<Output = Result<Vec<(FamilyId, DateTime<Utc>)>, Unexpected>> + Send;
}

/// Where a read of the revoked sessions starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokedSince {
    /// Revoked at or after this time (a process's first look).
    Time(DateTime<Utc>),
    /// Revoked by a transaction that moved the access counter beyond this value.
    Version(i64),
}

/// Counts of recent failed logins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub latest: Option<DateTime<Utc>>,
}

/// Failed logins, per account (normalised e-mail, known or not) and per client address.
pub trait LoginThrottle: Clone + Send + Sync + 'static {
    fn account_failures(
        &self,
        email_key: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Failures, Unexpected>> + Send;

    fn address_failures(
        &self,
        ip: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Failures, Unexpected>> + Send;

    fn record_failure(
        &self,
        email_key: &str,
        ip: Option<&str>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// A successful login forgets the account's failures.
    fn clear_failures(
        &self,
        email_key: &str,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;
}

/// Password hashing. Implementations must not block the async executor.
pub trait PasswordHasher: Clone + Send + Sync + 'static {
    fn hash(
        &self,
        password: &NewPassword,
    ) -> impl Future<Output = Result<PasswordHash, Unexpected>> + Send;

    /// False for a wrong password (and for a malformed hash).
    fn verify_password(
        &self,
        password: &str,
        hash: &PasswordHash,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// A valid hash of no one's password, verified against when the e-mail is unknown so both
    /// cases cost the same time.
    fn decoy(&self) -> &PasswordHash;
}

/// Signs and checks access tokens (without the database).
pub trait AccessTokens: Clone + Send + Sync + 'static {
    fn sign_token(&self, claims: &AccessClaims, family: FamilyId) -> Result<String, Unexpected>;

    /// The claims and the session family of a token whose signature, algorithm, issuer and
    /// expiry check out at `now`.
    fn verify_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(AccessClaims, FamilyId), InvalidAccessToken>;
}

/// Fresh random secrets and their stored digests.
pub trait Secrets: Clone + Send + Sync + 'static {
    fn refresh_secret(&self) -> RefreshSecret;
    fn token_id(&self) -> String;
    fn digest(&self, secret: &RefreshSecret) -> TokenDigest;
}

/// Who the operator's staff are.
pub trait PlatformAdmins: Clone + Send + Sync + 'static {
    fn is_platform_admin(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Idempotent.
    fn add_platform_admin(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;
}
