//! Use cases: sign-up, login with lockout, token refresh with reuse detection, logout,
//! profile and password changes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tenantry_audit::{SecurityEvent, SecurityEventKind};
use tenantry_kernel::{Clock, Email, Origin, PlatformCipher, Unexpected, UserId};

use crate::error::{
    ChangePasswordError, CreateUserError, InvalidAccessToken, LoginError, RefreshError,
    SessionError, UserError,
};
use crate::model::{
    AccessClaims, DisplayName, FamilyId, NewPassword, RefreshRecord, RefreshSecret, Session,
    SessionInfo, SessionMethod, User, UserStatus,
};
use crate::ports::Rotation;
use crate::ports::{IdentityCrypto, IdentityStore};
use crate::revocation::RevokedSessions;

/// Lifetimes and limits.
#[derive(Clone, Debug)]
pub struct AuthPolicy {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Failed logins of one account within `failure_window` that lock it...
    pub account_failure_limit: u32,
    /// ...and from one address.
    pub address_failure_limit: u32,
    pub failure_window: Duration,
    /// How long a lock lasts after the failure that caused it.
    pub lockout: Duration,
    /// How long the ticket between a right password and the second factor lasts.
    pub mfa_ticket_ttl: Duration,
    /// The issuer authenticator apps show beside the account.
    pub totp_issuer: String,
    /// The longest an impersonation token lasts (30 minutes at most).
    pub impersonation_ttl: Duration,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            account_failure_limit: 5,
            address_failure_limit: 50,
            failure_window: Duration::minutes(15),
            lockout: Duration::minutes(15),
            mfa_ticket_ttl: Duration::minutes(5),
            totp_issuer: "Tenantry".to_owned(),
            impersonation_ttl: Duration::minutes(30),
        }
    }
}

/// Identity use cases. `R` is the store (users, sessions, throttle); `C` the crypto adapter
/// (hasher, token signer, secrets).
#[derive(Clone)]
pub struct AuthService<R, C> {
    pub(crate) repo: R,
    pub(crate) crypto: C,
    clock: Arc<dyn Clock>,
    pub(crate) policy: AuthPolicy,
    /// Shared by every clone: what this process knows of revoked sessions.
    revoked: Arc<RevokedSessions>,
    /// Seals users' TOTP secrets; without one, enrolling fails.
    pub(crate) cipher: Option<Arc<dyn PlatformCipher>>,
}

impl<R, C> AuthService<R, C>
where
    R: IdentityStore,
    C: IdentityCrypto,
{
    pub fn new(repo: R, crypto: C, clock: Arc<dyn Clock>, policy: AuthPolicy) -> Self {
        Self {
            repo,
            crypto,
            clock,
            policy,
            revoked: Arc::default(),
            cipher: None,
        }
    }

    /// Seals the users' TOTP secrets with `cipher` (the platform's data key).
    #[must_use]
    pub fn with_platform_cipher(mut self, cipher: Arc<dyn PlatformCipher>) -> Self {
        self.cipher = Some(cipher);
        self
    }

    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    /// Creates an active user with a password.
    pub async fn create_user(
        &self,
        email: Email,
        display_name: DisplayName,
        password: &NewPassword,
    ) -> Result<User, CreateUserError> {
        let hash = self.crypto.hash(password).await?;
        let user = User::new(email, display_name, self.clock.now());
        self.repo.create_user(&user, &hash).await?;
        Ok(user)
    }

    /// Checks the password and opens a session. Unknown e-mail, wrong password and disabled
    /// account give the same error after the same work (one hash verification).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        origin: &Origin,
    ) -> Result<Session, LoginError> {
        let user = self.verify_credentials(email, password, origin).await?;
        if self.repo.mfa_enabled(user.id).await? {
            let (ticket, expires_at) = self.mfa_ticket(&user).await?;
            return Err(LoginError::MfaRequired { ticket, expires_at });
        }
        Ok(self
            .start_session(user, origin, SessionMethod::Password)
            .await?)
    }

    /// Appends an event to the platform security log as it is.
    pub(crate) async fn log_event(&self, event: SecurityEvent) -> Result<(), Unexpected> {
        self.repo.record(event).await
    }

    /// The stored digest of a secret handed out (states, one-time codes).
    pub(crate) fn digest(&self, secret: &str) -> crate::model::TokenDigest {
        self.crypto.digest(&RefreshSecret(secret.to_owned()))
    }

    /// 256 random bits, for a secret handed out once.
    pub(crate) fn fresh_secret(&self) -> String {
        self.crypto.refresh_secret().0
    }

    /// Appends to the platform security log.
    pub(crate) async fn record(
        &self,
        kind: SecurityEventKind,
        user: Option<UserId>,
        email: Option<String>,
        origin: &Origin,
    ) -> Result<(), Unexpected> {
        let mut event = SecurityEvent::new(kind, self.clock.now());
        event.user_id = user;
        event.email = email;
        event.ip.clone_from(&origin.ip);
        event.user_agent.clone_from(&origin.user_agent);
        self.repo.record(event).await
    }

    /// Checks e-mail and password under the lockout rules, without opening a session (login,
    /// and onboarding an existing account).
    ///
    /// Each attempt is recorded before the password is checked and counted with the others,
    /// so a burst of concurrent guesses gets no more tries than a sequence would.
    pub async fn verify_credentials(
        &self,
        email: &str,
        password: &str,
        origin: &Origin,
    ) -> Result<User, LoginError> {
        let parsed = Email::parse(email).ok();
        let mut account = None;
        let result = self
            .check_credentials(parsed.as_ref(), email, password, origin, &mut account)
            .await;
        // Only a real e-mail address is logged: what people type into the field by mistake
        // (a password, say) is not kept.
        let email_key = parsed.as_ref().map(Email::normalized);
        match &result {
            Ok(user) => {
                let kind = SecurityEventKind::LoginSucceeded;
                self.record(kind, Some(user.id), email_key, origin).await?;
            }
            Err(LoginError::Unexpected(_)) => {}
            Err(e) => {
                let kind = match e {
                    LoginError::Locked { .. } | LoginError::TooManyAttempts { .. } => {
                        SecurityEventKind::LockedOut
                    }
                    _ => SecurityEventKind::LoginFailed,
                };
                // A refusal before the password check has not read the account yet.
                let user = match (&account, &parsed) {
                    (Some(looked_up), _) => *looked_up,
                    (None, Some(e)) => self.repo.credentials(e).await?.map(|(u, _)| u.id),
                    (None, None) => None,
                };
                self.record(kind, user, email_key, origin).await?;
            }
        }
        result
    }

    /// Checks the throttle, then the password. `account` is set once the account has been
    /// looked up (to the user's id, or to none for an unknown address).
    async fn check_credentials(
        &self,
        parsed: Option<&Email>,
        email: &str,
        password: &str,
        origin: &Origin,
        account: &mut Option<Option<UserId>>,
    ) -> Result<User, LoginError> {
        let email_key = parsed.map_or_else(|| email.trim().to_lowercase(), Email::normalized);
        self.begin_password_attempt(&email_key, origin).await?;

        let found = match parsed {
            Some(e) => self.repo.credentials(e).await?,
            None => None,
        };
        *account = Some(found.as_ref().map(|(u, _)| u.id));
        let (user, ok) = match found {
            Some((user, hash)) => {
                let ok = self.crypto.verify_password(password, &hash).await?;
                (Some(user), ok)
            }
            None => {
                self.crypto
                    .verify_password(password, self.crypto.decoy())
                    .await?;
                (None, false)
            }
        };
        match user {
            Some(u) if ok && u.status == UserStatus::Active => {
                self.password_attempt_succeeded(&email_key).await?;
                Ok(u)
            }
            // The recorded attempt stays as a failure.
            _ => Err(LoginError::InvalidCredentials),
        }
    }

    /// Admits one password check under the lockout rules, recording it as a failure until
    /// [`Self::password_attempt_succeeded`] says otherwise. Every route that verifies a
    /// password goes through here, so guesses count together whatever the route.
    pub(crate) async fn begin_password_attempt(
        &self,
        email_key: &str,
        origin: &Origin,
    ) -> Result<(), LoginError> {
        let client_ip = origin.ip.as_deref();
        let now = self.clock.now();
        // Locked already: refuse without recording (a lock is not extended by waiting it out).
        self.check_throttle(email_key, client_ip, now, 0).await?;
        self.repo.record_failure(email_key, client_ip, now).await?;
        // Counting this attempt too: those beyond the budget in a burst are refused unchecked.
        self.check_throttle(email_key, client_ip, now, 1).await
    }

    /// A right password forgets the account's failures.
    pub(crate) async fn password_attempt_succeeded(
        &self,
        email_key: &str,
    ) -> Result<(), Unexpected> {
        self.repo.clear_failures(email_key).await
    }

    /// Opens a session for a user whose credentials were already checked (login, onboarding,
    /// accepting an invitation), from `origin`.
    pub async fn start_session(
        &self,
        user: User,
        origin: &Origin,
        method: SessionMethod,
    ) -> Result<Session, Unexpected> {
        self.open(user, origin, method, None).await
    }

    /// Opens a session for a user `tenant`'s identity provider vouched for.
    pub async fn start_sso_session(
        &self,
        user: User,
        origin: &Origin,
        tenant: tenantry_kernel::TenantId,
    ) -> Result<Session, Unexpected> {
        self.open(user, origin, SessionMethod::Sso, Some(tenant))
            .await
    }

    async fn open(
        &self,
        user: User,
        origin: &Origin,
        method: SessionMethod,
        sso_tenant: Option<tenantry_kernel::TenantId>,
    ) -> Result<Session, Unexpected> {
        let now = self.clock.now();
        self.repo.record_login(user.id, now).await?;
        let family = FamilyId::new();
        let info = SessionInfo {
            id: family,
            user_id: user.id,
            method,
            created_at: now,
            last_used_at: now,
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            sso_tenant,
        };
        let (refresh_token, refresh_expires_at) = self.new_refresh(&info, now).await?;
        let mfa = method == SessionMethod::Mfa;
        let (access_token, access_expires_at) =
            self.new_access(user.id, family, now, mfa, sso_tenant)?;
        Ok(Session {
            user: User {
                last_login_at: Some(now),
                ..user
            },
            issued_at: now,
            access_token,
            access_expires_at,
            refresh_token,
            refresh_expires_at,
        })
    }

    /// Hashes a password that passed the policy.
    pub async fn hash_password(
        &self,
        password: &NewPassword,
    ) -> Result<crate::model::PasswordHash, Unexpected> {
        self.crypto.hash(password).await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `own` is how many of the counted rows are this attempt's (0 before recording it, 1
    /// after): the limit applies to the attempts before it.
    async fn check_throttle(
        &self,
        email_key: &str,
        client_ip: Option<&str>,
        now: DateTime<Utc>,
        own: u32,
    ) -> Result<(), LoginError> {
        let since = now - self.policy.failure_window;
        let account = self.repo.account_failures(email_key, since).await?;
        if let Some(secs) = self.locked_for(
            account.count.saturating_sub(own),
            account.latest,
            self.policy.account_failure_limit,
            now,
        ) {
            return Err(LoginError::Locked {
                retry_after_secs: secs,
            });
        }
        if let Some(ip) = client_ip {
            let address = self.repo.address_failures(ip, since).await?;
            if let Some(secs) = self.locked_for(
                address.count.saturating_sub(own),
                address.latest,
                self.policy.address_failure_limit,
                now,
            ) {
                return Err(LoginError::TooManyAttempts {
                    retry_after_secs: secs,
                });
            }
        }
        Ok(())
    }

    /// Seconds left of a lock, when `count` failures reached `limit`.
    fn locked_for(
        &self,
        count: u32,
        latest: Option<DateTime<Utc>>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let until = latest? + self.policy.lockout;
        (count >= limit && until > now).then(|| (until - now).num_seconds().max(1).unsigned_abs())
    }

    async fn new_refresh(
        &self,
        session: &SessionInfo,
        now: DateTime<Utc>,
    ) -> Result<(RefreshSecret, DateTime<Utc>), Unexpected> {
        let secret = self.crypto.refresh_secret();
        let expires_at = now + self.policy.refresh_ttl;
        let first = RefreshRecord {
            digest: self.crypto.digest(&secret),
            user_id: session.user_id,
            family: session.id,
            issued_at: now,
            expires_at,
        };
        self.repo.open_session(session, Some(&first)).await?;
        Ok((secret, expires_at))
    }

    fn new_access(
        &self,
        user_id: UserId,
        family: FamilyId,
        now: DateTime<Utc>,
        mfa: bool,
        sso_tenant: Option<tenantry_kernel::TenantId>,
    ) -> Result<(String, DateTime<Utc>), Unexpected> {
        let claims = AccessClaims {
            user_id,
            issued_at: now,
            expires_at: now + self.policy.access_ttl,
            jti: self.crypto.token_id(),
            mfa,
            impersonation: None,
            sso_tenant,
        };
        Ok((self.crypto.sign_token(&claims, family)?, claims.expires_at))
    }

    /// Spends a refresh token for a new pair. Presenting a spent token again revokes every
    /// token of its family: whoever holds the newer one must log in again.
    pub async fn refresh(
        &self,
        secret: &RefreshSecret,
        origin: &Origin,
    ) -> Result<Session, RefreshError> {
        let now = self.clock.now();
        let new_secret = self.crypto.refresh_secret();
        let new_expires_at = now + self.policy.refresh_ttl;
        let rotation = self
            .repo
            .rotate_refresh(
                &self.crypto.digest(secret),
                &self.crypto.digest(&new_secret),
                new_expires_at,
                now,
                origin,
            )
            .await?;
        let (user_id, family, sso_tenant) = match rotation {
            Rotation::Rotated {
                user_id,
                family,
                sso_tenant,
            } => (user_id, family, sso_tenant),
            Rotation::Reused { user_id, family } => {
                self.ended([family], now);
                let kind = SecurityEventKind::RefreshReuseDetected;
                self.record(kind, Some(user_id), None, origin).await?;
                return Err(RefreshError::InvalidToken);
            }
            Rotation::Invalid => return Err(RefreshError::InvalidToken),
        };
        let user = match self.repo.user_by_id(user_id).await? {
            Some(u) if u.status == UserStatus::Active => u,
            _ => {
                if let Some((_, family)) = self
                    .repo
                    .revoke_family_of(&self.crypto.digest(&new_secret), now)
                    .await?
                {
                    self.ended([family], now);
                }
                return Err(RefreshError::InvalidToken);
            }
        };
        // A session renewed while the user has MFA on counts as passed: the sessions that
        // predate the enrolment ended with it, except the one that proved a code.
        let mfa = self.repo.mfa_enabled(user_id).await?;
        let (access_token, access_expires_at) =
            self.new_access(user_id, family, now, mfa, sso_tenant)?;
        Ok(Session {
            user,
            issued_at: now,
            access_token,
            access_expires_at,
            refresh_token: new_secret,
            refresh_expires_at: new_expires_at,
        })
    }

    /// Ends the session the refresh token belongs to.
    pub async fn logout(&self, secret: &RefreshSecret, origin: &Origin) -> Result<(), Unexpected> {
        let now = self.clock.now();
        let ended = self
            .repo
            .revoke_family_of(&self.crypto.digest(secret), now)
            .await?;
        if let Some((user, family)) = ended {
            self.ended([family], now);
            self.record(SecurityEventKind::Logout, Some(user), None, origin)
                .await?;
        }
        Ok(())
    }

    /// Checks an access token's signature and expiry, without the database. Whether its
    /// session was revoked since is [`Self::session_revoked`]'s answer.
    pub fn authenticate(
        &self,
        token: &str,
    ) -> Result<(AccessClaims, FamilyId), InvalidAccessToken> {
        self.crypto.verify_token(token, self.clock.now())
    }

    /// True when the session was ended (logout, password change, refresh-token reuse) while
    /// its access tokens may still be unexpired. In memory: no database read.
    pub fn session_revoked(&self, session: FamilyId) -> bool {
        self.revoked.contains(session)
    }

    /// Learns the sessions other processes revoked, up to `counter`: a value of the shared
    /// access counter read before this call (on a process's first look, and whenever the
    /// counter moved).
    pub async fn learn_revocations(&self, counter: i64) -> Result<(), Unexpected> {
        let now = self.clock.now();
        let keep = self.policy.access_ttl;
        let revoked = self
            .repo
            .revoked_sessions(self.revoked.read_from(now, keep))
            .await?;
        self.revoked.merge(revoked, Some(counter), now, keep);
        Ok(())
    }

    /// An access token for `admin` to act as `user` inside `tenant` (support impersonation):
    /// at most `policy.impersonation_ttl` long, without a refresh token, carrying the
    /// administrator (`act`). The user's security events say who and why. Whether the user may
    /// be impersonated there (membership, the tenant's policy) is the caller's to check.
    pub async fn impersonate(
        &self,
        user_id: UserId,
        target: crate::model::Impersonation,
        ttl: Duration,
        detail: String,
        origin: &Origin,
    ) -> Result<(User, String, DateTime<Utc>), UserError> {
        let user = match self.repo.user_by_id(user_id).await? {
            Some(u) if u.status == UserStatus::Active => u,
            _ => return Err(UserError::NotFound),
        };
        let now = self.clock.now();
        let family = FamilyId::new();
        let info = SessionInfo {
            id: family,
            user_id,
            method: SessionMethod::Impersonation,
            created_at: now,
            last_used_at: now,
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            sso_tenant: None,
        };
        self.repo.open_session(&info, None).await?;
        let claims = AccessClaims {
            user_id,
            issued_at: now,
            expires_at: now + ttl.min(self.policy.impersonation_ttl),
            jti: self.crypto.token_id(),
            mfa: false,
            impersonation: Some(target),
            sso_tenant: None,
        };
        let token = self.crypto.sign_token(&claims, family)?;
        let mut event = SecurityEvent::new(SecurityEventKind::Impersonated, now);
        event.user_id = Some(user_id);
        event.ip.clone_from(&origin.ip);
        event.user_agent.clone_from(&origin.user_agent);
        event.detail = Some(detail);
        self.repo.record(event).await?;
        Ok((user, token, claims.expires_at))
    }

    /// The user's live sessions, oldest first.
    pub async fn sessions(&self, user: UserId) -> Result<Vec<SessionInfo>, Unexpected> {
        self.repo.live_sessions(user, self.clock.now()).await
    }

    /// Ends one of the user's sessions (the current one included: that is a logout).
    pub async fn end_session(
        &self,
        user: UserId,
        session: FamilyId,
        origin: &Origin,
    ) -> Result<(), SessionError> {
        let now = self.clock.now();
        if !self.repo.revoke_session(user, session, now).await? {
            return Err(SessionError::NotFound);
        }
        self.ended([session], now);
        self.record(SecurityEventKind::SessionRevoked, Some(user), None, origin)
            .await?;
        Ok(())
    }

    /// Sessions this process just revoked: their tokens are refused here at once (other
    /// processes learn of them through the counter).
    pub(crate) fn ended(&self, families: impl IntoIterator<Item = FamilyId>, at: DateTime<Utc>) {
        let keep = self.policy.access_ttl;
        self.revoked
            .merge(families.into_iter().map(|f| (f, at)), None, at, keep);
    }

    pub async fn me(&self, user_id: UserId) -> Result<User, UserError> {
        self.repo
            .user_by_id(user_id)
            .await?
            .ok_or(UserError::NotFound)
    }

    pub async fn rename(&self, user_id: UserId, name: &DisplayName) -> Result<User, UserError> {
        self.repo
            .set_display_name(user_id, name)
            .await?
            .ok_or(UserError::NotFound)
    }

    /// Disables or enables an account (the operator's call). Disabling ends every session of
    /// the user at once, on every instance; a disabled account cannot log in or refresh.
    pub async fn set_status(
        &self,
        user_id: UserId,
        status: UserStatus,
        origin: &Origin,
    ) -> Result<User, UserError> {
        let now = self.clock.now();
        let (user, ended) = self
            .repo
            .set_status(user_id, status, now)
            .await?
            .ok_or(UserError::NotFound)?;
        self.ended(ended, now);
        let kind = match status {
            UserStatus::Disabled => SecurityEventKind::AccountDisabled,
            UserStatus::Active => SecurityEventKind::AccountEnabled,
        };
        self.record(kind, Some(user_id), None, origin).await?;
        Ok(user)
    }

    /// Needs the current password, checked under the login lockout rules (a stolen access
    /// token gives no more guesses than the login form); every other session of the user ends.
    pub async fn change_password(
        &self,
        user_id: UserId,
        current_session: FamilyId,
        current: &str,
        new: &str,
        origin: &Origin,
    ) -> Result<(), ChangePasswordError> {
        let user = self
            .repo
            .user_by_id(user_id)
            .await?
            .ok_or(ChangePasswordError::NotFound)?;
        let hash = self
            .repo
            .password_hash(user_id)
            .await?
            .ok_or(ChangePasswordError::NotFound)?;
        let email_key = user.email.normalized();
        self.begin_password_attempt(&email_key, origin)
            .await
            .map_err(|e| match e {
                LoginError::Unexpected(u) => ChangePasswordError::Unexpected(u),
                throttled => ChangePasswordError::Throttled(throttled),
            })?;
        if !self.crypto.verify_password(current, &hash).await? {
            let kind = SecurityEventKind::PasswordCheckFailed;
            self.record(kind, Some(user_id), Some(email_key), origin)
                .await?;
            return Err(ChangePasswordError::WrongPassword);
        }
        self.password_attempt_succeeded(&email_key).await?;
        let new = NewPassword::parse(new, &user.email).map_err(ChangePasswordError::Invalid)?;
        let new_hash = self.crypto.hash(&new).await?;
        let now = self.clock.now();
        let ended = self
            .repo
            .set_password(user_id, &new_hash, Some(current_session), now)
            .await?;
        self.ended(ended, now);
        let kind = SecurityEventKind::PasswordChanged;
        self.record(kind, Some(user_id), None, origin).await?;
        Ok(())
    }
}
