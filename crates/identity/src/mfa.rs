//! The second factor: TOTP authenticators (RFC 6238) with one-time recovery codes, and the
//! login step between a right password and a code.
//!
//! - Enrolling stores a new secret sealed with the platform's data key, pending until a first
//!   code confirms it; confirming returns ten recovery codes (stored as digests) and ends the
//!   user's other sessions.
//! - A password login of an account with MFA on gets a short-lived ticket instead of a
//!   session; the ticket and a code (or a recovery code) open the session.
//! - A code is accepted once: its time step must be later than every step accepted before
//!   (one conditional update, so two concurrent uses of a code cannot both pass).
//! - Every code check is counted with the password checks under the login lockout.

use chrono::{DateTime, Utc};
use tenantry_audit::SecurityEventKind;
use tenantry_kernel::{Origin, SecretSlot, Unexpected, UserId};

use crate::error::{LoginError, MfaError};
use crate::model::{FamilyId, RefreshSecret, Session, SessionMethod, TokenDigest, User};
use crate::ports::TotpProvisioning;
use crate::ports::{IdentityCrypto, IdentityStore};
use crate::service::AuthService;

/// How many recovery codes a confirmation (or a regeneration) hands out.
pub const RECOVERY_CODES: usize = 10;

/// A second factor as presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecondFactor {
    /// A six-digit TOTP code.
    Code(String),
    /// One of the recovery codes (dashes, spaces and case do not matter).
    RecoveryCode(String),
}

/// The caller's MFA state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp_enabled: bool,
    /// An enrolment waits for its first code.
    pub totp_pending: bool,
    pub enabled_at: Option<DateTime<Utc>>,
    pub recovery_codes_left: u32,
}

fn secret_slot(user: &str) -> SecretSlot<'_> {
    SecretSlot {
        table: "user_totp",
        column: "secret",
        row: user,
    }
}

/// A recovery code as compared: lower case, without separators.
fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl<R, C> AuthService<R, C>
where
    R: IdentityStore,
    C: IdentityCrypto,
{
    fn recovery_digest(&self, code: &str) -> TokenDigest {
        self.crypto
            .digest(&RefreshSecret(normalise_recovery_code(code)))
    }

    /// A ticket for the second step of `user`'s login.
    pub(crate) async fn mfa_ticket(
        &self,
        user: &User,
    ) -> Result<(String, DateTime<Utc>), Unexpected> {
        let ticket = self.crypto.refresh_secret();
        let now = self.now();
        let expires_at = now + self.policy.mfa_ticket_ttl;
        self.repo
            .insert_mfa_ticket(&self.crypto.digest(&ticket), user.id, now, expires_at)
            .await?;
        Ok((ticket.0, expires_at))
    }

    fn cipher(&self) -> Result<&dyn tenantry_kernel::PlatformCipher, Unexpected> {
        self.cipher
            .as_deref()
            .ok_or_else(|| Unexpected::msg("no platform cipher is configured for TOTP secrets"))
    }

    async fn user(&self, id: UserId) -> Result<User, MfaError> {
        self.repo.user_by_id(id).await?.ok_or(MfaError::NotFound)
    }

    pub async fn mfa_status(&self, user: UserId) -> Result<MfaStatus, Unexpected> {
        let totp = self.repo.totp(user).await?;
        let enabled_at = totp.as_ref().and_then(|t| t.confirmed_at);
        Ok(MfaStatus {
            totp_enabled: enabled_at.is_some(),
            totp_pending: totp.is_some() && enabled_at.is_none(),
            enabled_at,
            recovery_codes_left: if enabled_at.is_some() {
                self.repo.recovery_codes_left(user).await?
            } else {
                0
            },
        })
    }

    /// Starts (or restarts) enrolling an authenticator: a new secret, pending until
    /// [`Self::confirm_totp`].
    pub async fn start_totp(&self, user_id: UserId) -> Result<TotpProvisioning, MfaError> {
        let user = self.user(user_id).await?;
        if self.repo.mfa_enabled(user_id).await? {
            return Err(MfaError::AlreadyEnabled);
        }
        let secret = self.crypto.totp_secret();
        let row = user_id.to_string();
        let sealed = self
            .cipher()?
            .seal_platform(secret_slot(&row), &secret)
            .await?;
        if !self.repo.begin_totp(user_id, &sealed, self.now()).await? {
            return Err(MfaError::AlreadyEnabled);
        }
        Ok(self
            .crypto
            .totp_provisioning(&secret, user.email.as_str(), &self.policy.totp_issuer)?)
    }

    /// The user's authenticator secret, opened.
    async fn open_secret(&self, user: UserId, sealed: &str) -> Result<Vec<u8>, Unexpected> {
        let row = user.to_string();
        self.cipher()?
            .open_platform(secret_slot(&row), sealed)
            .await
    }

    /// A code check under the login lockout: the attempt counts as a failure unless the code
    /// is right. A wrong code is recorded as `mfa_failed`.
    async fn guarded<T>(
        &self,
        user: &User,
        origin: &Origin,
        check: impl Future<Output = Result<Option<T>, Unexpected>>,
    ) -> Result<T, MfaError> {
        let email_key = user.email.normalized();
        self.begin_password_attempt(&email_key, origin).await?;
        match check.await? {
            Some(v) => {
                self.password_attempt_succeeded(&email_key).await?;
                Ok(v)
            }
            None => {
                let kind = SecurityEventKind::MfaFailed;
                self.record(kind, Some(user.id), Some(email_key), origin)
                    .await?;
                Err(MfaError::InvalidCode)
            }
        }
    }

    /// Confirms the pending authenticator with a first code: MFA is on, the other sessions
    /// end, and the recovery codes are returned (shown once).
    pub async fn confirm_totp(
        &self,
        user_id: UserId,
        current: FamilyId,
        code: &str,
        origin: &Origin,
    ) -> Result<Vec<String>, MfaError> {
        let user = self.user(user_id).await?;
        let record = self
            .repo
            .totp(user_id)
            .await?
            .ok_or(MfaError::NoEnrolment)?;
        if record.confirmed_at.is_some() {
            return Err(MfaError::AlreadyEnabled);
        }
        let now = self.now();
        let secret = self.open_secret(user_id, &record.sealed_secret).await?;
        let step = self
            .guarded(&user, origin, async {
                Ok(self.crypto.totp_step(&secret, code, now))
            })
            .await?;
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| self.crypto.recovery_code())
            .collect();
        let digests: Vec<TokenDigest> = codes.iter().map(|c| self.recovery_digest(c)).collect();
        let ended = self
            .repo
            .confirm_totp(user_id, step, &digests, current, now)
            .await?
            .ok_or(MfaError::NoEnrolment)?;
        self.ended(ended, now);
        self.record(SecurityEventKind::MfaEnabled, Some(user_id), None, origin)
            .await?;
        Ok(codes)
    }

    /// Checks a second factor of a user with MFA on, spending it: a TOTP code's step, or a
    /// recovery code.
    async fn spend_factor(
        &self,
        user: &User,
        factor: &SecondFactor,
        origin: &Origin,
    ) -> Result<(), MfaError> {
        let now = self.now();
        let record = match self.repo.totp(user.id).await? {
            Some(r) if r.confirmed_at.is_some() => r,
            _ => return Err(MfaError::NotEnabled),
        };
        let used_recovery = self
            .guarded(user, origin, async {
                Ok(match factor {
                    SecondFactor::Code(code) => {
                        let secret = self.open_secret(user.id, &record.sealed_secret).await?;
                        match self.crypto.totp_step(&secret, code, now) {
                            Some(step) if self.repo.use_totp_step(user.id, step).await? => {
                                Some(false)
                            }
                            _ => None,
                        }
                    }
                    SecondFactor::RecoveryCode(code) => self
                        .repo
                        .use_recovery_code(user.id, &self.recovery_digest(code), now)
                        .await?
                        .then_some(true),
                })
            })
            .await?;
        if used_recovery {
            let kind = SecurityEventKind::RecoveryCodeUsed;
            self.record(kind, Some(user.id), None, origin).await?;
        }
        Ok(())
    }

    /// The second step of a login: the ticket from the password step and a factor open the
    /// session.
    pub async fn verify_mfa(
        &self,
        ticket: &str,
        factor: &SecondFactor,
        origin: &Origin,
    ) -> Result<Session, MfaError> {
        let now = self.now();
        let digest = self.crypto.digest(&RefreshSecret(ticket.to_owned()));
        let Some(user_id) = self.repo.mfa_ticket_user(&digest, now).await? else {
            self.record(SecurityEventKind::MfaFailed, None, None, origin)
                .await?;
            return Err(MfaError::InvalidTicket);
        };
        let user = self.user(user_id).await?;
        if user.status != crate::model::UserStatus::Active {
            return Err(MfaError::InvalidTicket);
        }
        self.spend_factor(&user, factor, origin).await?;
        if !self.repo.spend_mfa_ticket(&digest, self.now()).await? {
            return Err(MfaError::InvalidTicket);
        }
        let email_key = user.email.normalized();
        self.record(
            SecurityEventKind::LoginSucceeded,
            Some(user.id),
            Some(email_key),
            origin,
        )
        .await?;
        Ok(self.start_session(user, origin, SessionMethod::Mfa).await?)
    }

    /// A second factor for a route that checks the password itself (onboarding an existing
    /// account): nothing to do when the user has MFA off, else `factor` is required.
    pub async fn require_second_factor(
        &self,
        user: &User,
        factor: Option<&SecondFactor>,
        origin: &Origin,
    ) -> Result<(), MfaError> {
        if !self.repo.mfa_enabled(user.id).await? {
            return Ok(());
        }
        let factor = factor.ok_or(MfaError::Required)?;
        self.spend_factor(user, factor, origin).await
    }

    /// Turns TOTP off: needs the password (under the lockout) and a factor; the other
    /// sessions end.
    pub async fn disable_totp(
        &self,
        user_id: UserId,
        current: FamilyId,
        password: &str,
        factor: &SecondFactor,
        origin: &Origin,
    ) -> Result<(), MfaError> {
        let user = self.user(user_id).await?;
        if !self.repo.mfa_enabled(user_id).await? {
            return Err(MfaError::NotEnabled);
        }
        self.check_password(&user, password, origin).await?;
        self.spend_factor(&user, factor, origin).await?;
        let now = self.now();
        let ended = self.repo.remove_totp(user_id, current, now).await?;
        self.ended(ended, now);
        self.record(SecurityEventKind::MfaDisabled, Some(user_id), None, origin)
            .await?;
        Ok(())
    }

    /// Checks that the caller is the account's owner before something that cannot be undone
    /// (deleting an organisation, or the account): the password, under the lockout rules,
    /// and a second factor when the account has one (`Required` without it).
    pub async fn confirm_identity(
        &self,
        user_id: UserId,
        password: &str,
        factor: Option<&SecondFactor>,
        origin: &Origin,
    ) -> Result<(), MfaError> {
        let user = self.user(user_id).await?;
        self.check_password(&user, password, origin).await?;
        if self.repo.mfa_enabled(user_id).await? {
            let factor = factor.ok_or(MfaError::Required)?;
            self.spend_factor(&user, factor, origin).await?;
        }
        Ok(())
    }

    /// A fresh set of recovery codes for a factor (the old ones stop working).
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: UserId,
        factor: &SecondFactor,
        origin: &Origin,
    ) -> Result<Vec<String>, MfaError> {
        let user = self.user(user_id).await?;
        self.spend_factor(&user, factor, origin).await?;
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| self.crypto.recovery_code())
            .collect();
        let digests: Vec<TokenDigest> = codes.iter().map(|c| self.recovery_digest(c)).collect();
        self.repo
            .replace_recovery_codes(user_id, &digests, self.now())
            .await?;
        let kind = SecurityEventKind::RecoveryCodesRegenerated;
        self.record(kind, Some(user_id), None, origin).await?;
        Ok(codes)
    }

    /// The user's password, checked under the lockout rules; a wrong one is recorded.
    async fn check_password(
        &self,
        user: &User,
        password: &str,
        origin: &Origin,
    ) -> Result<(), MfaError> {
        let hash = self
            .repo
            .password_hash(user.id)
            .await?
            .ok_or(MfaError::NotFound)?;
        let email_key = user.email.normalized();
        self.begin_password_attempt(&email_key, origin)
            .await
            .map_err(|e: LoginError| MfaError::from(e))?;
        if !self.crypto.verify_password(password, &hash).await? {
            let kind = SecurityEventKind::PasswordCheckFailed;
            self.record(kind, Some(user.id), Some(email_key), origin)
                .await?;
            return Err(MfaError::WrongPassword);
        }
        self.password_attempt_succeeded(&email_key).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_recovery_code;

    #[test]
    fn recovery_codes_compare_without_separators_or_case() {
        assert_eq!(normalise_recovery_code("AB12-cd34 EF56"), "ab12cd34ef56");
    }
}
