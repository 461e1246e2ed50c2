//! Erasing one person (GDPR, the right to be forgotten): the person themselves (with their
//! password and, with MFA on, a code) or the operator deletes the account. Its memberships
//! are removed — each recorded in its tenant's audit trail as `member.removed` — its sessions
//! end, and the account goes, in one transaction. A last owner of an organisation must hand
//! it over first: the refusal names every such organisation and writes nothing.
//!
//! What stays in append-only records (the audit trails' IP and user agent of the person's
//! actions, the security log's e-mail, IP and user agent) was sealed under the person's own
//! key from the start; the key goes with the account, so those fields read `erased` from
//! then on while the records, and the audit chains' hashes over them, stay as they were.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenantry_audit::{SecurityEvent, SecurityEventKind};
use tenantry_kernel::{Actor, Edges, Origin, TenantCtx, TenantId, Unexpected, UserId};

use crate::error::MfaError;
use crate::mfa::SecondFactor;
use crate::model::FamilyId;
use crate::ports::{IdentityCrypto, IdentityStore};
use crate::service::AuthService;

/// What the store does for an erasure.
pub trait ErasureRepository: Clone + Send + Sync + 'static {
    /// The tenants `user` is a member of (any status).
    fn memberships_of(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<Vec<TenantId>, Unexpected>> + Send;

    /// In one transaction: removes `user`'s membership in the tenant of each of `ctxs` (each
    /// recorded there, by that context's actor), revokes every session of the user and deletes
    /// the account with everything that is only theirs (their person key among it).
    fn erase_user(
        &self,
        user: UserId,
        ctxs: &[TenantCtx],
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Erased, EraseError>> + Send;
}

/// What [`ErasureRepository::erase_user`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Erased {
    /// Done: the sessions it ended.
    Done(Vec<FamilyId>),
    /// The account's memberships are not those of the contexts any more (it joined or left
    /// an organisation meanwhile): nothing was written.
    Stale,
    /// No such account.
    NotFound,
}

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("user not found")]
    NotFound,
    /// The person is the last active owner of these organisations (their slugs): another
    /// owner must be named, or the organisation deleted, first.
    #[error("the last owner of {}", .0.join(", "))]
    LastOwner(Vec<String>),
    /// The password or the second factor did not check out.
    #[error(transparent)]
    Identity(#[from] MfaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// How many times an erasure starts again when the account's memberships changed under it.
const ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct ErasureService<R, C> {
    repo: R,
    auth: AuthService<R, C>,
    /// The erasure acts in each tenant the person belonged to.
    edges: Edges,
}

impl<R, C> ErasureService<R, C>
where
    R: ErasureRepository + IdentityStore,
    C: IdentityCrypto,
{
    pub fn new(repo: R, auth: AuthService<R, C>, edges: Edges) -> Self {
        Self { repo, auth, edges }
    }

    /// The person deletes their own account: their password and, with MFA on, a code.
    pub async fn erase_self(
        &self,
        user: UserId,
        password: &str,
        factor: Option<&SecondFactor>,
        origin: &Origin,
    ) -> Result<(), EraseError> {
        self.auth
            .confirm_identity(user, password, factor, origin)
            .await?;
        self.erase(user, Actor::User(user), origin).await
    }

    /// The operator (or a platform administrator, `actor`) deletes the account.
    pub async fn erase_account(
        &self,
        user: UserId,
        actor: Actor,
        origin: &Origin,
    ) -> Result<(), EraseError> {
        self.erase(user, actor, origin).await
    }

    async fn erase(&self, user: UserId, actor: Actor, origin: &Origin) -> Result<(), EraseError> {
        let origin = Arc::new(origin.clone());
        for _ in 0..ATTEMPTS {
            let tenants = self.repo.memberships_of(user).await?;
            let ctxs: Vec<TenantCtx> = tenants
                .into_iter()
                .map(|t| TenantCtx::for_request(&self.edges, t, actor, origin.clone()))
                .collect();
            let now = self.auth.now();
            match self.repo.erase_user(user, &ctxs, now).await? {
                Erased::Done(ended) => {
                    self.auth.ended(ended, now);
                    self.record(user, actor, &origin, now).await?;
                    return Ok(());
                }
                Erased::NotFound => return Err(EraseError::NotFound),
                Erased::Stale => {}
            }
        }
        Err(Unexpected::msg(
            "the account's memberships kept changing while it was being erased; try again"
                .to_owned(),
        )
        .into())
    }

    /// The security log keeps that an account was erased, naming it only by its id. Where the
    /// request came from is the person's own data when they erased themselves: not kept.
    async fn record(
        &self,
        user: UserId,
        actor: Actor,
        origin: &Origin,
        at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        let mut event = SecurityEvent::new(SecurityEventKind::AccountErased, at);
        let by_themselves = actor.person() == Some(user);
        event.detail = Some(if by_themselves {
            format!("account {user} erased by its owner")
        } else {
            format!("account {user} erased by the {}", actor.kind())
        });
        if !by_themselves {
            event.user_id = actor.person();
            event.ip.clone_from(&origin.ip);
            event.user_agent.clone_from(&origin.user_agent);
        }
        tenantry_audit::SecurityLog::record(&self.repo, event).await
    }
}
