//! What the identity domain needs from outside: the store implements the repositories, the
//! crypto adapter the hasher, token signer and secret source.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{Email, Origin, Unexpected, UserId};

use crate::error::{CreateUserError, InvalidAccessToken};
use crate::model::{
    AccessClaims, DisplayName, FamilyId, NewPassword, PasswordHash, RefreshRecord, RefreshSecret,
    SessionInfo, TokenDigest, User, UserStatus,
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
    Rotated {
        user_id: UserId,
        family: FamilyId,
        /// The session's SSO tenant, kept by its renewed tokens.
        sso_tenant: Option<tenantry_kernel::TenantId>,
    },
    /// The token had been spent or revoked already: its whole family is now revoked.
    Reused { user_id: UserId, family: FamilyId },
    /// Unknown or expired.
    Invalid,
}

pub trait SessionRepository: Clone + Send + Sync + 'static {
    /// Records a new session and its first refresh token (none for an impersonation), in one
    /// transaction.
    fn open_session(
        &self,
        session: &SessionInfo,
        first: Option<&RefreshRecord>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// In one transaction: spends `old` and stores `new` (whose family and user are taken from
    /// `old`), or revokes the family of a reused token. A rotation stamps the session as used
    /// now from `origin`.
    fn rotate_refresh(
        &self,
        old: &TokenDigest,
        new_digest: &TokenDigest,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        origin: &Origin,
    ) -> impl Future<Output = Result<Rotation, Unexpected>> + Send;

    /// The user's live sessions (a live refresh token in the family), oldest first (by id: a
    /// session id is a UUIDv7).
    fn live_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, Unexpected>> + Send;

    /// Ends one live session of `user`; false when it is not theirs or not live.
    fn revoke_session(
        &self,
        user: UserId,
        session: FamilyId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

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

/// A user's TOTP authenticator as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpRecord {
    /// Sealed with the platform's data key.
    pub sealed_secret: String,
    pub created_at: DateTime<Utc>,
    /// `None` while the enrolment waits for its first code.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// Second factors: TOTP secrets, recovery codes and the tickets between a password and a code.
pub trait MfaRepository: Clone + Send + Sync + 'static {
    fn totp(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<Option<TotpRecord>, Unexpected>> + Send;

    /// True when the user has a confirmed authenticator.
    fn mfa_enabled(&self, user: UserId) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Starts (or restarts) an enrolment with a new sealed secret; false, with nothing
    /// changed, when the user has a confirmed authenticator.
    fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// In one transaction: confirms the pending authenticator with the time step of the code
    /// that proved it, stores the recovery codes' digests (replacing any) and revokes every
    /// other session of the user (naming them). `None` when there was no pending enrolment
    /// (confirmed meanwhile, or never started).
    fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_digests: &[TokenDigest],
        keep: FamilyId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Vec<FamilyId>>, Unexpected>> + Send;

    /// Accepts the time step of a code once: true when it is later than every step accepted
    /// before (one conditional update: two concurrent uses of a code, one wins).
    fn use_totp_step(
        &self,
        user: UserId,
        step: i64,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Spends an unused recovery code; false when there is none with this digest.
    fn use_recovery_code(
        &self,
        user: UserId,
        digest: &TokenDigest,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Replaces the user's recovery codes.
    fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[TokenDigest],
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    fn recovery_codes_left(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<u32, Unexpected>> + Send;

    /// In one transaction: deletes the authenticator and the recovery codes and revokes every
    /// other session of the user (naming them).
    fn remove_totp(
        &self,
        user: UserId,
        keep: FamilyId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<FamilyId>, Unexpected>> + Send;

    fn insert_mfa_ticket(
        &self,
        digest: &TokenDigest,
        user: UserId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// The user of an unexpired, unspent ticket.
    fn mfa_ticket_user(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<UserId>, Unexpected>> + Send;

    /// Spends the ticket (one conditional update); false when it was spent or expired.
    fn spend_mfa_ticket(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;
}

/// What a new TOTP authenticator needs to be added to an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpProvisioning {
    /// The secret in base32, for typing in.
    pub secret: String,
    /// `otpauth://totp/…` (the key URI format authenticator apps read).
    pub uri: String,
    /// The URI as a QR code: a PNG as a `data:image/png;base64,…` URL.
    pub qr_png_data_url: String,
}

/// Time-based one-time passwords (RFC 6238: SHA-1, 6 digits, 30 s) and recovery codes.
pub trait OneTimeCodes: Clone + Send + Sync + 'static {
    /// 160 random bits.
    fn totp_secret(&self) -> Vec<u8>;

    fn totp_provisioning(
        &self,
        secret: &[u8],
        account: &str,
        issuer: &str,
    ) -> Result<TotpProvisioning, Unexpected>;

    /// The time step of `code` when it is valid for `secret` at `now` (the current step or
    /// one either side, for clock drift).
    fn totp_step(&self, secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64>;

    /// A recovery code as shown to the user (80 random bits, `xxxx-xxxx-xxxx-xxxx`).
    fn recovery_code(&self) -> String;
}

/// Everything [`crate::AuthService`] needs from the store, in one bound.
pub trait IdentityStore:
    UserRepository + SessionRepository + LoginThrottle + tenantry_audit::SecurityLog + MfaRepository
{
}

impl<T> IdentityStore for T where
    T: UserRepository
        + SessionRepository
        + LoginThrottle
        + tenantry_audit::SecurityLog
        + MfaRepository
{
}

/// Everything [`crate::AuthService`] needs from the crypto adapter, in one bound.
pub trait IdentityCrypto: PasswordHasher + AccessTokens + Secrets + OneTimeCodes {}

impl<T> IdentityCrypto for T where T: PasswordHasher + AccessTokens + Secrets + OneTimeCodes {}
