//! Invitations: a member asks someone (by e-mail) to join the tenant with a role. The token
//! is 256 random bits, stored as a digest, valid 7 days, usable once.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use tenantry_kernel::{Email, InvitationId, RoleId, TenantCtx, TenantId, Unexpected, UserId};
use thiserror::Error;

use crate::model::{
    DisplayName, NewPassword, PasswordHash, RefreshSecret, Session, TokenDigest, User,
};
use crate::ports::{
    AccessTokens, LoginThrottle, PasswordHasher, Secrets, SessionRepository, UserRepository,
};
use crate::service::AuthService;

pub const INVITATION_TTL_DAYS: i64 = 7;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub tenant_id: TenantId,
    pub email: Email,
    pub role_id: RoleId,
    pub invited_by: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What the invitee may see before accepting: nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationPreview {
    pub invitation: Invitation,
    pub tenant_name: String,
    pub inviter_name: String,
    pub role_name: String,
}

/// Who accepts.
pub enum Acceptor {
    /// A signed-in user (their e-mail must be the invited one).
    Existing(User),
    /// Someone signing up in the same call.
    New { user: User, hash: PasswordHash },
}

#[derive(Debug, Error)]
pub enum InvitationError {
    #[error("invitation not found")]
    NotFound,
    /// Used, revoked or expired (or never issued).
    #[error("this invitation has been used, revoked or has expired")]
    Gone,
    #[error("the invitation is for another e-mail address")]
    EmailMismatch,
    #[error("an account with this e-mail address exists; log in to accept")]
    EmailTaken,
    #[error("you are already a member of this tenant")]
    AlreadyMember,
    #[error("{0}")]
    WeakPassword(String),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// An e-mail to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: Email,
    pub subject: String,
    pub text: String,
}

/// Sends e-mail (SMTP in production, files when no server is configured).
pub trait Mailer: Clone + Send + Sync + 'static {
    fn send(&self, mail: &OutgoingMail) -> impl Future<Output = Result<(), Unexpected>> + Send;
}

pub trait InvitationRepository: Clone + Send + Sync + 'static {
    /// Stores the invitation and its token digest; earlier pending invitations of the same
    /// e-mail to this tenant are revoked in the same transaction.
    fn create_invitation(
        &self,
        ctx: &TenantCtx,
        invitation: &Invitation,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Pending (not accepted, not revoked, not expired at `now`), newest first.
    fn pending_invitations(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Invitation>, Unexpected>> + Send;

    /// Gives a pending invitation a new token and expiry (the old token stops working).
    fn renew_invitation(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        digest: &TokenDigest,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Invitation>, Unexpected>> + Send;

    /// Revokes a pending invitation; false when there is none with this id here.
    fn revoke_invitation(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// The invitation a token names, whatever its state, with what the invitee may see. A
    /// read that precedes any tenant: it sees exactly the invitation with this digest.
    fn invitation_by_token(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<InvitationPreview>, Unexpected>> + Send;

    /// In one transaction: marks the invitation accepted if it is still pending at `now`,
    /// creates the new user if there is one, and adds the membership. Errors:
    /// [`InvitationError::Gone`], [`InvitationError::EmailTaken`],
    /// [`InvitationError::AlreadyMember`].
    fn accept_invitation(
        &self,
        digest: &TokenDigest,
        acceptor: &Acceptor,
        now: DateTime<Utc>,
        origin: &tenantry_kernel::Origin,
    ) -> impl Future<Output = Result<Invitation, InvitationError>> + Send;
}

/// Invitations, with the e-mail sent after the invitation is stored.
#[derive(Clone)]
pub struct InvitationService<R, C, M> {
    repo: R,
    auth: AuthService<R, C>,
    secrets: C,
    mailer: M,
    public_url: String,
}

/// A created or renewed invitation and whether its e-mail went out.
pub struct Issued {
    pub invitation: Invitation,
    pub mailed: bool,
}

impl<R, C, M> InvitationService<R, C, M>
where
    R: InvitationRepository
        + UserRepository
        + SessionRepository
        + LoginThrottle
        + tenantry_audit::SecurityLog,
    C: PasswordHasher + AccessTokens + Secrets,
    M: Mailer,
{
    pub fn new(
        repo: R,
        auth: AuthService<R, C>,
        secrets: C,
        mailer: M,
        public_url: impl Into<String>,
    ) -> Self {
        Self {
            repo,
            auth,
            secrets,
            mailer,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
        }
    }

    /// The link the invitee follows.
    pub fn accept_link(&self, token: &RefreshSecret) -> String {
        format!("{}/accept-invitation?token={}", self.public_url, token.0)
    }

    pub async fn invite(
        &self,
        ctx: &TenantCtx,
        inviter: &User,
        tenant_name: &str,
        email: Email,
        role: (RoleId, &str),
    ) -> Result<Issued, InvitationError> {
        let now = self.auth.now();
        let token = self.secrets.refresh_secret();
        let invitation = Invitation {
            id: InvitationId::new(),
            tenant_id: ctx.tenant_id(),
            email,
            role_id: role.0,
            invited_by: inviter.id,
            created_at: now,
            expires_at: now + Duration::days(INVITATION_TTL_DAYS),
            accepted_at: None,
            revoked_at: None,
        };
        self.repo
            .create_invitation(ctx, &invitation, &self.secrets.digest(&token))
            .await?;
        let mailed = self
            .mail(
                &invitation,
                &token,
                tenant_name,
                inviter.display_name.as_str(),
                role.1,
            )
            .await;
        Ok(Issued { invitation, mailed })
    }

    async fn mail(
        &self,
        inv: &Invitation,
        token: &RefreshSecret,
        tenant: &str,
        inviter: &str,
        role: &str,
    ) -> bool {
        let mail = OutgoingMail {
            to: inv.email.clone(),
            subject: format!("{inviter} invited you to {tenant}"),
            text: format!(
                "{inviter} invited you to join {tenant} as {role}.\n\nAccept the invitation:\n{}\n\nThe link works once and expires on {}.\n",
                self.accept_link(token),
                inv.expires_at.format("%Y-%m-%d %H:%M UTC"),
            ),
        };
        match self.mailer.send(&mail).await {
            Ok(()) => true,
            Err(e) => {
                // The invitation stands; `resend` tries again with a new link.
                tracing::warn!(error = %e, invitation = %inv.id, "could not send the invitation e-mail");
                false
            }
        }
    }

    pub async fn pending(&self, ctx: &TenantCtx) -> Result<Vec<Invitation>, Unexpected> {
        self.repo.pending_invitations(ctx, self.auth.now()).await
    }

    /// A new token and expiry for a pending invitation, mailed again.
    pub async fn resend(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        tenant_name: &str,
        inviter_name: &str,
        role_name: &str,
    ) -> Result<Issued, InvitationError> {
        let now = self.auth.now();
        let token = self.secrets.refresh_secret();
        let invitation = self
            .repo
            .renew_invitation(
                ctx,
                id,
                &self.secrets.digest(&token),
                now + Duration::days(INVITATION_TTL_DAYS),
                now,
            )
            .await?
            .ok_or(InvitationError::NotFound)?;
        let mailed = self
            .mail(&invitation, &token, tenant_name, inviter_name, role_name)
            .await;
        Ok(Issued { invitation, mailed })
    }

    pub async fn revoke(&self, ctx: &TenantCtx, id: InvitationId) -> Result<(), InvitationError> {
        if self
            .repo
            .revoke_invitation(ctx, id, self.auth.now())
            .await?
        {
            Ok(())
        } else {
            Err(InvitationError::NotFound)
        }
    }

    /// What the token's holder may see; gone once used, revoked or expired.
    pub async fn lookup(
        &self,
        token: &RefreshSecret,
    ) -> Result<InvitationPreview, InvitationError> {
        let preview = self
            .repo
            .invitation_by_token(&self.secrets.digest(token))
            .await?
            .ok_or(InvitationError::Gone)?;
        let inv = &preview.invitation;
        if inv.accepted_at.is_some()
            || inv.revoked_at.is_some()
            || inv.expires_at <= self.auth.now()
        {
            return Err(InvitationError::Gone);
        }
        Ok(preview)
    }

    /// Accepts as the signed-in user, whose e-mail must be the invited one.
    pub async fn accept_as(
        &self,
        token: &RefreshSecret,
        user: User,
        origin: &tenantry_kernel::Origin,
    ) -> Result<Invitation, InvitationError> {
        let preview = self.lookup(token).await?;
        if preview.invitation.email.normalized() != user.email.normalized() {
            return Err(InvitationError::EmailMismatch);
        }
        self.repo
            .accept_invitation(
                &self.secrets.digest(token),
                &Acceptor::Existing(user),
                self.auth.now(),
                origin,
            )
            .await
    }

    /// Signs up with the invited e-mail and accepts, in one transaction; returns a session.
    pub async fn accept_signing_up(
        &self,
        token: &RefreshSecret,
        name: DisplayName,
        password: &str,
        origin: &tenantry_kernel::Origin,
    ) -> Result<(Invitation, Session), InvitationError> {
        let preview = self.lookup(token).await?;
        let email = preview.invitation.email.clone();
        let password =
            NewPassword::parse(password, &email).map_err(|e| InvitationError::WeakPassword(e.0))?;
        let hash = self.auth.hash_password(&password).await?;
        let user = User::new(email, name, self.auth.now());
        let acceptor = Acceptor::New {
            user: user.clone(),
            hash,
        };
        let invitation = self
            .repo
            .accept_invitation(
                &self.secrets.digest(token),
                &acceptor,
                self.auth.now(),
                origin,
            )
            .await?;
        let session = self.auth.start_session(user).await?;
        Ok((invitation, session))
    }
}

impl tenantry_audit::Audited for Invitation {
    const ENTITY: &'static str = "invitation";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    /// The token is never part of an `Invitation` (only its digest is stored, and not here).
    fn audit_fields(&self) -> serde_json::Value {
        serde_json::json!({
            "email": self.email.as_str(),
            "role_id": self.role_id,
            "invited_by": self.invited_by,
            "expires_at": self.expires_at,
            "accepted_at": self.accepted_at,
            "revoked_at": self.revoked_at,
        })
    }
}
