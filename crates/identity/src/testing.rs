//! In-memory fakes of the identity ports, with the same rules as the real adapters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tenantry_kernel::{Email, Unexpected, UserId};

use crate::error::{CreateUserError, InvalidAccessToken};
use crate::model::{
    AccessClaims, DisplayName, FamilyId, NewPassword, PasswordHash, RefreshRecord, RefreshSecret,
    SessionInfo, TokenDigest, User, UserStatus,
};
use crate::ports::{
    AccessTokens, Failures, LoginThrottle, MfaRepository, OneTimeCodes, PasswordHasher,
    RevokedSince, Rotation, Secrets, SessionRepository, TotpProvisioning, TotpRecord,
    UserRepository,
};

#[derive(Clone, Debug)]
struct StoredToken {
    record: RefreshRecord,
    spent: bool,
    /// When, and the access counter value its revocation set.
    revoked: Option<(DateTime<Utc>, i64)>,
}

#[derive(Default)]
struct State {
    /// The access counter: moved by every revocation that ends something.
    access_version: i64,
    users: HashMap<UserId, (User, PasswordHash)>,
    tokens: HashMap<TokenDigest, StoredToken>,
    failures: Vec<(String, Option<String>, DateTime<Utc>)>,
    events: Vec<tenantry_audit::SecurityEvent>,
    sessions: HashMap<FamilyId, SessionInfo>,
    totp: HashMap<UserId, (TotpRecord, Option<i64>)>,
    /// (user, digest) → used.
    recovery: HashMap<(UserId, TokenDigest), bool>,
    /// digest → (user, expires, spent).
    tickets: HashMap<TokenDigest, (UserId, DateTime<Utc>, bool)>,
}

impl State {
    /// Revokes the live tokens `which` selects, as the store does: the counter moves once
    /// when something ends, and the sessions ended are named.
    fn revoke(&mut self, at: DateTime<Utc>, which: impl Fn(&StoredToken) -> bool) -> Vec<FamilyId> {
        let version = self.access_version + 1;
        let mut families: Vec<FamilyId> = Vec::new();
        for t in self
            .tokens
            .values_mut()
            .filter(|t| t.revoked.is_none() && which(t))
        {
            t.revoked = Some((at, version));
            if !families.contains(&t.record.family) {
                families.push(t.record.family);
            }
        }
        if !families.is_empty() {
            self.access_version = version;
        }
        families
    }
}

/// Users, sessions and the login throttle, in memory.
#[derive(Clone, Default)]
pub struct InMemoryIdentity {
    state: Arc<Mutex<State>>,
}

impl InMemoryIdentity {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The security events recorded so far, oldest first.
    pub fn security_events(&self) -> Vec<tenantry_audit::SecurityEvent> {
        self.lock().events.clone()
    }

    /// Live (neither spent nor revoked) refresh tokens of a user.
    pub fn live_tokens(&self, user: UserId) -> usize {
        self.lock()
            .tokens
            .values()
            .filter(|t| t.record.user_id == user && !t.spent && t.revoked.is_none())
            .count()
    }
}

impl UserRepository for InMemoryIdentity {
    async fn create_user(&self, user: &User, hash: &PasswordHash) -> Result<(), CreateUserError> {
        let mut s = self.lock();
        if s.users
            .values()
            .any(|(u, _)| u.email.normalized() == user.email.normalized())
        {
            return Err(CreateUserError::EmailTaken);
        }
        s.users.insert(user.id, (user.clone(), hash.clone()));
        Ok(())
    }

    async fn credentials(&self, email: &Email) -> Result<Option<(User, PasswordHash)>, Unexpected> {
        Ok(self
            .lock()
            .users
            .values()
            .find(|(u, _)| u.email.normalized() == email.normalized())
            .cloned())
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, Unexpected> {
        Ok(self.lock().users.get(&id).map(|(u, _)| u.clone()))
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<PasswordHash>, Unexpected> {
        Ok(self.lock().users.get(&id).map(|(_, h)| h.clone()))
    }

    async fn record_login(&self, id: UserId, at: DateTime<Utc>) -> Result<(), Unexpected> {
        if let Some((u, _)) = self.lock().users.get_mut(&id) {
            u.last_login_at = Some(at);
        }
        Ok(())
    }

    async fn set_display_name(
        &self,
        id: UserId,
        name: &DisplayName,
    ) -> Result<Option<User>, Unexpected> {
        Ok(self.lock().users.get_mut(&id).map(|(u, _)| {
            u.display_name = name.clone();
            u.clone()
        }))
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
    ) -> Result<Option<(User, Vec<FamilyId>)>, Unexpected> {
        let mut s = self.lock();
        let Some((user, _)) = s.users.get_mut(&id) else {
            return Ok(None);
        };
        user.status = status;
        let user = user.clone();
        let revoked = match status {
            UserStatus::Disabled => s.revoke(at, |t| t.record.user_id == id),
            UserStatus::Active => Vec::new(),
        };
        Ok(Some((user, revoked)))
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<FamilyId>,
        at: DateTime<Utc>,
    ) -> Result<Vec<FamilyId>, Unexpected> {
        let mut s = self.lock();
        if let Some((_, h)) = s.users.get_mut(&id) {
            *h = hash.clone();
        }
        Ok(s.revoke(at, |t| {
            t.record.user_id == id && Some(t.record.family) != keep
        }))
    }
}

impl SessionRepository for InMemoryIdentity {
    async fn open_session(
        &self,
        session: &SessionInfo,
        record: Option<&RefreshRecord>,
    ) -> Result<(), Unexpected> {
        let mut s = self.lock();
        s.sessions.insert(session.id, session.clone());
        if let Some(record) = record {
            s.tokens.insert(
                record.digest.clone(),
                StoredToken {
                    record: record.clone(),
                    spent: false,
                    revoked: None,
                },
            );
        }
        Ok(())
    }

    async fn live_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, Unexpected> {
        let s = self.lock();
        let mut live: Vec<SessionInfo> = s
            .sessions
            .values()
            .filter(|i| i.user_id == user)
            .filter(|i| {
                s.tokens.values().any(|t| {
                    t.record.family == i.id
                        && !t.spent
                        && t.revoked.is_none()
                        && t.record.expires_at > now
                })
            })
            .cloned()
            .collect();
        live.sort_by_key(|i| *i.id.as_uuid());
        Ok(live)
    }

    async fn revoke_session(
        &self,
        user: UserId,
        session: FamilyId,
        now: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        let mut s = self.lock();
        let ended = s.revoke(now, |t| {
            t.record.user_id == user && t.record.family == session && !t.spent
        });
        Ok(!ended.is_empty())
    }

    async fn rotate_refresh(
        &self,
        old: &TokenDigest,
        new_digest: &TokenDigest,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        origin: &tenantry_kernel::Origin,
    ) -> Result<Rotation, Unexpected> {
        let mut s = self.lock();
        if let Some(family) = s.tokens.get(old).map(|t| t.record.family)
            && let Some(info) = s.sessions.get_mut(&family)
        {
            info.last_used_at = now;
            info.ip.clone_from(&origin.ip);
            info.user_agent.clone_from(&origin.user_agent);
        }
        let Some(token) = s.tokens.get(old).cloned() else {
            return Ok(Rotation::Invalid);
        };
        if token.spent || token.revoked.is_some() {
            let family = token.record.family;
            s.revoke(now, |t| t.record.family == family);
            return Ok(Rotation::Reused {
                user_id: token.record.user_id,
                family,
            });
        }
        if token.record.expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        if let Some(t) = s.tokens.get_mut(old) {
            t.spent = true;
        }
        let record = RefreshRecord {
            digest: new_digest.clone(),
            issued_at: now,
            expires_at: new_expires_at,
            ..token.record.clone()
        };
        s.tokens.insert(
            new_digest.clone(),
            StoredToken {
                record,
                spent: false,
                revoked: None,
            },
        );
        let sso_tenant = s
            .sessions
            .get(&token.record.family)
            .and_then(|i| i.sso_tenant);
        Ok(Rotation::Rotated {
            user_id: token.record.user_id,
            family: token.record.family,
            sso_tenant,
        })
    }

    async fn revoke_family_of(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, FamilyId)>, Unexpected> {
        let mut s = self.lock();
        let Some((family, user)) = s
            .tokens
            .get(digest)
            .map(|t| (t.record.family, t.record.user_id))
        else {
            return Ok(None);
        };
        s.revoke(now, |t| t.record.family == family);
        Ok(Some((user, family)))
    }

    async fn revoked_sessions(
        &self,
        since: RevokedSince,
    ) -> Result<Vec<(FamilyId, DateTime<Utc>)>, Unexpected> {
        let s = self.lock();
        let mut rows: Vec<_> = s
            .tokens
            .values()
            .filter_map(|t| {
                let (at, version) = t.revoked?;
                let after = match since {
                    RevokedSince::Time(since) => at >= since,
                    RevokedSince::Version(v) => version > v,
                };
                after.then_some((t.record.family, at))
            })
            .collect();
        rows.sort_unstable_by_key(|(f, at)| (*f.as_uuid(), *at));
        rows.dedup();
        Ok(rows)
    }
}

impl MfaRepository for InMemoryIdentity {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, Unexpected> {
        Ok(self.lock().totp.get(&user).map(|(r, _)| r.clone()))
    }

    async fn mfa_enabled(&self, user: UserId) -> Result<bool, Unexpected> {
        Ok(self
            .lock()
            .totp
            .get(&user)
            .is_some_and(|(r, _)| r.confirmed_at.is_some()))
    }

    async fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        let mut s = self.lock();
        if s.totp
            .get(&user)
            .is_some_and(|(r, _)| r.confirmed_at.is_some())
        {
            return Ok(false);
        }
        let record = TotpRecord {
            sealed_secret: sealed_secret.to_owned(),
            created_at: at,
            confirmed_at: None,
        };
        s.totp.insert(user, (record, None));
        Ok(true)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_digests: &[TokenDigest],
        keep: FamilyId,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<FamilyId>>, Unexpected> {
        let mut s = self.lock();
        match s.totp.get_mut(&user) {
            Some((r, last)) if r.confirmed_at.is_none() => {
                r.confirmed_at = Some(at);
                *last = Some(step);
            }
            _ => return Ok(None),
        }
        s.recovery.retain(|(u, _), _| *u != user);
        for d in recovery_digests {
            s.recovery.insert((user, d.clone()), false);
        }
        Ok(Some(s.revoke(at, |t| {
            t.record.user_id == user && t.record.family != keep
        })))
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, Unexpected> {
        let mut s = self.lock();
        Ok(match s.totp.get_mut(&user) {
            Some((_, last)) if last.is_none_or(|l| l < step) => {
                *last = Some(step);
                true
            }
            _ => false,
        })
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &TokenDigest,
        _at: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        let mut s = self.lock();
        Ok(match s.recovery.get_mut(&(user, digest.clone())) {
            Some(used) if !*used => {
                *used = true;
                true
            }
            _ => false,
        })
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[TokenDigest],
        _at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        let mut s = self.lock();
        s.recovery.retain(|(u, _), _| *u != user);
        for d in digests {
            s.recovery.insert((user, d.clone()), false);
        }
        Ok(())
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, Unexpected> {
        let s = self.lock();
        let left = s
            .recovery
            .iter()
            .filter(|((u, _), used)| *u == user && !**used)
            .count();
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    async fn remove_totp(
        &self,
        user: UserId,
        keep: FamilyId,
        at: DateTime<Utc>,
    ) -> Result<Vec<FamilyId>, Unexpected> {
        let mut s = self.lock();
        s.totp.remove(&user);
        s.recovery.retain(|(u, _), _| *u != user);
        Ok(s.revoke(at, |t| t.record.user_id == user && t.record.family != keep))
    }

    async fn insert_mfa_ticket(
        &self,
        digest: &TokenDigest,
        user: UserId,
        _at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        self.lock()
            .tickets
            .insert(digest.clone(), (user, expires_at, false));
        Ok(())
    }

    async fn mfa_ticket_user(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, Unexpected> {
        Ok(self
            .lock()
            .tickets
            .get(digest)
            .filter(|(_, exp, spent)| *exp > now && !*spent)
            .map(|(u, _, _)| *u))
    }

    async fn spend_mfa_ticket(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        let mut s = self.lock();
        Ok(match s.tickets.get_mut(digest) {
            Some((_, exp, spent)) if *exp > now && !*spent => {
                *spent = true;
                true
            }
            _ => false,
        })
    }
}

fn failures<'a>(rows: impl Iterator<Item = &'a DateTime<Utc>>) -> Failures {
    rows.fold(Failures::default(), |acc, at| Failures {
        count: acc.count + 1,
        latest: Some(acc.latest.map_or(*at, |l| l.max(*at))),
    })
}

impl LoginThrottle for InMemoryIdentity {
    async fn account_failures(
        &self,
        email_key: &str,
        since: DateTime<Utc>,
    ) -> Result<Failures, Unexpected> {
        let s = self.lock();
        Ok(failures(
            s.failures
                .iter()
                .filter(|(e, _, at)| e == email_key && *at >= since)
                .map(|(_, _, at)| at),
        ))
    }

    async fn address_failures(
        &self,
        ip: &str,
        since: DateTime<Utc>,
    ) -> Result<Failures, Unexpected> {
        let s = self.lock();
        Ok(failures(
            s.failures
                .iter()
                .filter(|(_, i, at)| i.as_deref() == Some(ip) && *at >= since)
                .map(|(_, _, at)| at),
        ))
    }

    async fn record_failure(
        &self,
        email_key: &str,
        ip: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        self.lock()
            .failures
            .push((email_key.to_owned(), ip.map(str::to_owned), at));
        Ok(())
    }

    async fn clear_failures(&self, email_key: &str) -> Result<(), Unexpected> {
        self.lock().failures.retain(|(e, _, _)| e != email_key);
        Ok(())
    }
}

/// Crypto stand-ins: reversible "hashes", unsigned tokens, counting secrets. Only for tests.
#[derive(Clone)]
pub struct FakeCrypto {
    decoy: PasswordHash,
}

impl Default for FakeCrypto {
    fn default() -> Self {
        Self {
            decoy: PasswordHash("fake:".into()),
        }
    }
}

/// Shared by every instance, so two fakes never hand out the same secret.
static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl FakeCrypto {
    fn next(&self) -> u64 {
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }
}

impl PasswordHasher for FakeCrypto {
    async fn hash(&self, password: &NewPassword) -> Result<PasswordHash, Unexpected> {
        Ok(PasswordHash(format!("fake:{}", password.expose())))
    }

    async fn verify_password(
        &self,
        password: &str,
        hash: &PasswordHash,
    ) -> Result<bool, Unexpected> {
        Ok(hash.0 == format!("fake:{password}") && !password.is_empty())
    }

    fn decoy(&self) -> &PasswordHash {
        &self.decoy
    }
}

impl AccessTokens for FakeCrypto {
    fn sign_token(&self, claims: &AccessClaims, family: FamilyId) -> Result<String, Unexpected> {
        Ok(format!(
            "fake.{}.{}.{}.{}",
            claims.user_id,
            family.as_uuid(),
            claims.expires_at.timestamp(),
            claims.jti
        ))
    }

    fn verify_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(AccessClaims, FamilyId), InvalidAccessToken> {
        let parts: Vec<&str> = token.split('.').collect();
        let [_, user, family, exp, jti] = parts[..] else {
            return Err(InvalidAccessToken);
        };
        let user_id: UserId = user.parse().map_err(|_| InvalidAccessToken)?;
        let family = uuid::Uuid::parse_str(family).map_err(|_| InvalidAccessToken)?;
        let exp = exp
            .parse::<i64>()
            .ok()
            .and_then(|e| DateTime::from_timestamp(e, 0))
            .ok_or(InvalidAccessToken)?;
        if exp <= now {
            return Err(InvalidAccessToken);
        }
        Ok((
            AccessClaims {
                user_id,
                issued_at: now,
                expires_at: exp,
                jti: jti.to_owned(),
                mfa: false,
                impersonation: None,
                sso_tenant: None,
            },
            FamilyId::from_uuid(family),
        ))
    }
}

impl Secrets for FakeCrypto {
    fn refresh_secret(&self) -> RefreshSecret {
        RefreshSecret(format!("refresh-{}", self.next()))
    }

    fn token_id(&self) -> String {
        format!("jti-{}", self.next())
    }

    fn digest(&self, secret: &RefreshSecret) -> TokenDigest {
        TokenDigest(format!("digest({})", secret.0))
    }
}

/// The fake authenticator's code for `secret` at time step `step`: what an app would show.
pub fn fake_totp_code(secret: &[u8], step: i64) -> String {
    let seed: i64 = secret.iter().map(|b| i64::from(*b)).sum();
    format!("{:06}", (seed * 7919 + step).rem_euclid(1_000_000))
}

impl OneTimeCodes for FakeCrypto {
    fn totp_secret(&self) -> Vec<u8> {
        self.next().to_be_bytes().to_vec()
    }

    fn totp_provisioning(
        &self,
        secret: &[u8],
        account: &str,
        issuer: &str,
    ) -> Result<TotpProvisioning, Unexpected> {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        Ok(TotpProvisioning {
            secret: hex.clone(),
            uri: format!("otpauth://totp/{issuer}:{account}?secret={hex}&issuer={issuer}"),
            qr_png_data_url: "data:image/png;base64,".to_owned(),
        })
    }

    fn totp_step(&self, secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
        let current = now.timestamp().div_euclid(30);
        (current - 1..=current + 1).find(|s| fake_totp_code(secret, *s) == code)
    }

    fn recovery_code(&self) -> String {
        format!("rc{:014}", self.next())
    }
}

/// A platform cipher that seals by prefixing: only for tests.
pub struct PlainCipher;

impl tenantry_kernel::PlatformCipher for PlainCipher {
    fn seal_platform<'a>(
        &'a self,
        slot: tenantry_kernel::SecretSlot<'a>,
        plaintext: &'a [u8],
    ) -> tenantry_kernel::SealFuture<'a, String> {
        let hex: String = plaintext.iter().map(|b| format!("{b:02x}")).collect();
        let sealed = format!("plain:{}:{hex}", slot.row);
        Box::pin(async move { Ok(sealed) })
    }

    fn open_platform<'a>(
        &'a self,
        slot: tenantry_kernel::SecretSlot<'a>,
        sealed: &'a str,
    ) -> tenantry_kernel::SealFuture<'a, Vec<u8>> {
        let prefix = format!("plain:{}:", slot.row);
        let opened = sealed
            .strip_prefix(&prefix)
            .map(|hex| {
                (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                    .collect()
            })
            .ok_or_else(|| Unexpected::msg("sealed for another slot"));
        Box::pin(async move { opened })
    }
}

impl tenantry_audit::SecurityLog for InMemoryIdentity {
    async fn record(&self, event: tenantry_audit::SecurityEvent) -> Result<(), Unexpected> {
        self.lock().events.push(event);
        Ok(())
    }

    async fn list(
        &self,
        filter: &tenantry_audit::SecurityEventFilter,
        page: &tenantry_kernel::PageRequest,
    ) -> Result<tenantry_kernel::Page<tenantry_audit::SecurityEvent>, Unexpected> {
        let mut events: Vec<_> = self
            .lock()
            .events
            .iter()
            .rev()
            .filter(|e| filter.user_id.is_none_or(|u| e.user_id == Some(u)))
            .filter(|e| filter.kind.is_none_or(|k| e.kind == k))
            .cloned()
            .collect();
        events.truncate(page.limit.get() as usize + 1);
        Ok(tenantry_kernel::Page::from_rows(events, page.limit, |e| {
            e.id.to_string()
        }))
    }
}
