//! Invitations: a member asks someone (by e-mail) to join the tenant with a role. The token
//! is 256 random bits, stored as a digest, valid 7 days, usable once.
//!
//! The e-mail goes out from a job queued in the invitation's transaction, never inside the
//! request. The job mints the link's token when it sends (so no token is ever stored, not
//! even in the queue): each attempt that fails leaves no working link behind, and a resend
//! or a retry replaces the previous link.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use tenantry_kernel::{
    Email, InvitationId, Page, PageRequest, RoleId, TenantCtx, TenantId, Unexpected, UserId,
};
use thiserror::Error;

use crate::model::{
    DisplayName, NewPassword, PasswordHash, RefreshSecret, Session, TokenDigest, User,
};
use crate::ports::{IdentityCrypto, IdentityStore};
use crate::service::AuthService;

pub const INVITATION_TTL_DAYS: i64 = 7;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub tenant_id: TenantId,
    pub email: Email,
    pub role_id: RoleId,
    /// The member who invited (none: the platform, provisioning the tenant).
    pub invited_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub delivery: Delivery,
}

/// Where an invitation's e-mail stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Queued, or being retried.
    Pending,
    Sent,
    /// Every attempt failed; `resend` tries again.
    Failed,
}

impl Delivery {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Actions recorded for an invitation's changes besides `created` (event types
/// `invitation.revoked`, `invitation.resent`, `invitation.accepted`).
pub mod invitation_actions {
    pub const REVOKED: &str = "revoked";
    pub const RESENT: &str = "resent";
    pub const ACCEPTED: &str = "accepted";
}

/// The job that mails an invitation.
pub const fn mail_job(id: InvitationId) -> tenantry_jobs::Job {
    tenantry_jobs::Job::InvitationMail { invitation_id: id }
}

/// What the invitee may see before accepting: nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationPreview {
    pub invitation: Invitation,
    pub tenant_name: String,
    /// The inviting member's name (none: the platform invited).
    pub inviter_name: Option<String>,
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
    Quota(#[from] tenantry_kernel::QuotaError),
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

/// Sends e-mail on a tenant's behalf (through its own server when it has one; SMTP in
/// production, files when no server is configured).
pub trait Mailer: Clone + Send + Sync + 'static {
    fn send(
        &self,
        ctx: &TenantCtx,
        mail: &OutgoingMail,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;
}

pub trait InvitationRepository: Clone + Send + Sync + 'static {
    /// Stores the invitation with a placeholder digest (no link works until the mail job
    /// mints one) and queues its [`mail_job`]; earlier pending invitations of the same
    /// e-mail to this tenant are revoked in the same transaction.
    fn create_invitation(
        &self,
        ctx: &TenantCtx,
        invitation: &Invitation,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// One page of the pending invitations (not accepted, not revoked, not expired at
    /// `now`), newest first (by id).
    fn pending_invitations(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Invitation>, Unexpected>> + Send;

    /// Gives a pending invitation a new (placeholder) digest and expiry, so the old link stops
    /// working, sets its delivery pending and queues its [`mail_job`].
    fn renew_invitation(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        digest: &TokenDigest,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Invitation>, Unexpected>> + Send;

    /// For the mail job: gives the invitation the digest of the link about to be mailed and
    /// returns it with the names the mail shows — `None` when it is no longer pending
    /// (accepted, revoked or expired at `now`). Not a change anyone audits.
    fn invitation_for_mail(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<InvitationPreview>, Unexpected>> + Send;

    /// Records where the invitation's e-mail stands.
    fn set_invitation_delivery(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        delivery: Delivery,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

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
    /// `ctx` is the invitation's tenant (known from the lookup), acting as the invitee; a
    /// token of another tenant is [`InvitationError::Gone`].
    fn accept_invitation(
        &self,
        ctx: &TenantCtx,
        digest: &TokenDigest,
        acceptor: &Acceptor,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Invitation, InvitationError>> + Send;
}

/// Invitations, and the delivery of their e-mail (run by the mail job).
#[derive(Clone)]
pub struct InvitationService<R, C, M> {
    repo: R,
    auth: AuthService<R, C>,
    secrets: C,
    mailer: M,
    public_url: String,
    /// Accepting is an edge: the token names the tenant, and the invitee acts in it.
    edges: tenantry_kernel::Edges,
}

impl<R, C, M> InvitationService<R, C, M> {
    /// The mail sender, for the other notices Tenantry sends.
    pub fn mailer(&self) -> &M {
        &self.mailer
    }
}

impl<R, C, M> InvitationService<R, C, M>
where
    R: InvitationRepository + IdentityStore,
    C: IdentityCrypto,
    M: Mailer,
{
    pub fn new(
        repo: R,
        auth: AuthService<R, C>,
        secrets: C,
        mailer: M,
        public_url: impl Into<String>,
        edges: tenantry_kernel::Edges,
    ) -> Self {
        Self {
            repo,
            auth,
            secrets,
            mailer,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            edges,
        }
    }

    /// The link the invitee follows.
    pub fn accept_link(&self, token: &RefreshSecret) -> String {
        format!("{}/accept-invitation?token={}", self.public_url, token.0)
    }

    /// Stores the invitation and queues its e-mail (delivery `pending`).
    pub async fn invite(
        &self,
        ctx: &TenantCtx,
        inviter: &User,
        email: Email,
        role: RoleId,
    ) -> Result<Invitation, InvitationError> {
        let now = self.auth.now();
        let invitation = Invitation {
            id: InvitationId::new(),
            tenant_id: ctx.tenant_id(),
            email,
            role_id: role,
            invited_by: Some(inviter.id),
            created_at: now,
            expires_at: now + Duration::days(INVITATION_TTL_DAYS),
            accepted_at: None,
            revoked_at: None,
            delivery: Delivery::Pending,
        };
        self.repo
            .create_invitation(ctx, &invitation, &self.unusable_digest())
            .await?;
        Ok(invitation)
    }

    /// A digest no token has: what an invitation holds until its mail job mints the link.
    fn unusable_digest(&self) -> TokenDigest {
        self.secrets.digest(&self.secrets.refresh_secret())
    }

    /// The mail job: mints the link, mails it, records the delivery. Nothing to do (`Ok`)
    /// when the invitation is no longer pending. A failed send is an error (the job is
    /// retried); after the `last_attempt` the delivery is recorded as failed.
    pub async fn deliver(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        last_attempt: bool,
    ) -> Result<(), Unexpected> {
        let now = self.auth.now();
        let token = self.secrets.refresh_secret();
        let Some(preview) = self
            .repo
            .invitation_for_mail(ctx, id, &self.secrets.digest(&token), now)
            .await?
        else {
            return Ok(());
        };
        let inv = &preview.invitation;
        let tenant = &preview.tenant_name;
        let (subject, opening) = match &preview.inviter_name {
            Some(inviter) => (
                format!("{inviter} invited you to {tenant}"),
                format!("{inviter} invited you to join {tenant}"),
            ),
            None => (
                format!("You are invited to {tenant}"),
                format!("You are invited to join {tenant}"),
            ),
        };
        let mail = OutgoingMail {
            to: inv.email.clone(),
            subject,
            text: format!(
                "{opening} as {}.\n\nAccept the invitation:\n{}\n\nThe link works once and expires on {}.\n",
                preview.role_name,
                self.accept_link(&token),
                inv.expires_at.format("%Y-%m-%d %H:%M UTC"),
            ),
        };
        match self.mailer.send(ctx, &mail).await {
            Ok(()) => {
                self.repo
                    .set_invitation_delivery(ctx, id, Delivery::Sent)
                    .await
            }
            Err(e) => {
                if last_attempt {
                    self.repo
                        .set_invitation_delivery(ctx, id, Delivery::Failed)
                        .await?;
                }
                Err(e)
            }
        }
    }

    pub async fn pending(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, Unexpected> {
        self.repo
            .pending_invitations(ctx, self.auth.now(), page)
            .await
    }

    /// A new expiry for a pending invitation, and its e-mail queued again with a new link
    /// (the previous link stops working at once).
    pub async fn resend(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
    ) -> Result<Invitation, InvitationError> {
        let now = self.auth.now();
        self.repo
            .renew_invitation(
                ctx,
                id,
                &self.unusable_digest(),
                now + Duration::days(INVITATION_TTL_DAYS),
                now,
            )
            .await?
            .ok_or(InvitationError::NotFound)
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
        let ctx = self.invitee_ctx(&preview, &user, origin);
        self.repo
            .accept_invitation(
                &ctx,
                &self.secrets.digest(token),
                &Acceptor::Existing(user),
                self.auth.now(),
            )
            .await
    }

    /// The invitation's tenant, acting as the invitee.
    fn invitee_ctx(
        &self,
        preview: &InvitationPreview,
        user: &User,
        origin: &tenantry_kernel::Origin,
    ) -> TenantCtx {
        TenantCtx::for_request(
            &self.edges,
            preview.invitation.tenant_id,
            tenantry_kernel::Actor::User(user.id),
            std::sync::Arc::new(origin.clone()),
        )
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
        let ctx = self.invitee_ctx(&preview, &user, origin);
        let acceptor = Acceptor::New {
            user: user.clone(),
            hash,
        };
        let invitation = self
            .repo
            .accept_invitation(
                &ctx,
                &self.secrets.digest(token),
                &acceptor,
                self.auth.now(),
            )
            .await?;
        let session = self
            .auth
            .start_session(user, origin, crate::model::SessionMethod::SignUp)
            .await?;
        Ok((invitation, session))
    }
}

impl tenantry_audit::Audited for Invitation {
    const ENTITY: &'static str = "invitation";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        invitation_actions::RESENT,
        invitation_actions::REVOKED,
        invitation_actions::ACCEPTED,
    ];
    type View = crate::view::InvitationView;
    /// The invitee's address is theirs.
    const PERSONAL: &'static [&'static str] = &["email"];

    fn data_subject(&self) -> Option<String> {
        Some(self.email.normalized())
    }

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    /// The token is never part of an `Invitation` (only its digest is stored, and not here);
    /// the e-mail's delivery is no change of the invitation.
    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["id", "created_at", "delivery"])
    }
}
