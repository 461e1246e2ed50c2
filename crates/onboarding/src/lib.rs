//! Onboarding: an organisation signs up and gets, in one transaction, its tenant, subdomain
//! and settings, its owner (a new user, or an existing one who proved their password), the
//! default roles and the owner's membership. Any failure leaves nothing behind.

pub mod bulk;

use std::future::Future;

use tenantry_identity::{
    AuthService, DisplayName, IdentityCrypto, IdentityStore, MfaError, NewPassword, PasswordHash,
    SecondFactor, Session, SessionMethod, User,
};
use tenantry_kernel::{Actor, Edges, Email, TenantCtx, Unexpected};
use tenantry_rbac::{Membership, MembershipStatus, Role};
use tenantry_tenancy::{
    DomainRepository, NewTenant, Slug, Tenant, TenantName, TenantRepository, TenantService,
};
use thiserror::Error;

/// What an organisation signs up with (already parsed; the password is checked here, since
/// its policy depends on the e-mail and on whether the account exists).
pub struct Onboard {
    pub organisation: TenantName,
    pub slug: Slug,
    pub owner_email: Email,
    pub owner_name: DisplayName,
    pub password: String,
    /// A TOTP code, when the e-mail's account has MFA on.
    pub second_factor: Option<SecondFactor>,
    /// Where the request came from: the login throttle and the security log when the
    /// e-mail has an account.
    pub origin: tenantry_kernel::Origin,
}

/// The owner: someone new, or an existing account.
pub enum NewOwner {
    Existing(User),
    New { user: User, hash: PasswordHash },
}

impl NewOwner {
    pub fn user(&self) -> &User {
        match self {
            Self::Existing(u) | Self::New { user: u, .. } => u,
        }
    }
}

#[derive(Debug, Error)]
pub enum OnboardError {
    #[error("slug '{slug}' is already taken")]
    SlugTaken { slug: String },
    /// Someone registered the e-mail while this sign-up ran.
    #[error("an account with this e-mail address already exists")]
    EmailTaken,
    /// The e-mail belongs to an account and the password is not its password.
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    #[error("{0}")]
    WeakPassword(String),
    /// Too many failed attempts on the existing account (or from this address).
    #[error(transparent)]
    Throttled(tenantry_identity::LoginError),
    /// The existing account has MFA on: its code is missing, wrong or used
    /// ([`MfaError::InvalidCode`]), or checking it was throttled.
    #[error(transparent)]
    SecondFactor(MfaError),
    #[error(transparent)]
    Quota(#[from] tenantry_kernel::QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

pub trait OnboardingRepository: Clone + Send + Sync + 'static {
    /// Writes everything in one transaction of `ctx` (the new tenant, its owner acting).
    /// Returns [`OnboardError::SlugTaken`] or [`OnboardError::EmailTaken`] on the matching
    /// unique violation; nothing is written then.
    fn onboard(
        &self,
        ctx: &TenantCtx,
        tenant: &NewTenant,
        owner: &NewOwner,
        roles: &[Role],
        membership: &Membership,
    ) -> impl Future<Output = Result<(), OnboardError>> + Send;
}

/// A signed-up organisation and its owner's first session.
#[derive(Debug)]
pub struct Onboarded {
    pub tenant: Tenant,
    pub session: Session,
    pub owner_created: bool,
}

#[derive(Clone)]
pub struct OnboardingService<R, C> {
    repo: R,
    tenants: TenantService<R>,
    auth: AuthService<R, C>,
    /// Onboarding is an edge: it builds the context of the tenant it creates.
    edges: Edges,
}

impl<R, C> OnboardingService<R, C>
where
    R: OnboardingRepository + TenantRepository + DomainRepository + IdentityStore,
    C: IdentityCrypto,
{
    pub fn new(repo: R, tenants: TenantService<R>, auth: AuthService<R, C>, edges: Edges) -> Self {
        Self {
            repo,
            tenants,
            auth,
            edges,
        }
    }

    pub async fn onboard(&self, req: Onboard) -> Result<Onboarded, OnboardError> {
        let now = self.auth.now();
        // Every account's password passed this policy, so a password that fails it is refused
        // the same way whether or not the e-mail has an account.
        let password = NewPassword::parse(&req.password, &req.owner_email)
            .map_err(|e| OnboardError::WeakPassword(e.0))?;
        // A taken slug is refused before the e-mail is looked at: the answer (and its time:
        // no password is hashed or checked) is then the same whether or not the e-mail has an
        // account (see docs/decisions/0016). A slug taken meanwhile is still caught by the
        // insert, after the same work on either path.
        if self.repo.tenant_by_slug(&req.slug).await?.is_some() {
            return Err(OnboardError::SlugTaken {
                slug: req.slug.as_str().to_owned(),
            });
        }
        let owner = match self.repo.credentials(&req.owner_email).await? {
            Some(_) => {
                // An existing account proves its password under the login throttle.
                let user = self
                    .auth
                    .verify_credentials(req.owner_email.as_str(), &req.password, &req.origin)
                    .await
                    .map_err(|e| match e {
                        tenantry_identity::LoginError::InvalidCredentials => {
                            OnboardError::InvalidCredentials
                        }
                        tenantry_identity::LoginError::Unexpected(u) => OnboardError::Unexpected(u),
                        throttled => OnboardError::Throttled(throttled),
                    })?;
                self.auth
                    .require_second_factor(&user, req.second_factor.as_ref(), &req.origin)
                    .await
                    .map_err(|e| match e {
                        MfaError::Unexpected(u) => OnboardError::Unexpected(u),
                        other => OnboardError::SecondFactor(other),
                    })?;
                NewOwner::Existing(user)
            }
            None => {
                let hash = self.auth.hash_password(&password).await?;
                NewOwner::New {
                    user: User::new(req.owner_email, req.owner_name, now),
                    hash,
                }
            }
        };
        let new = NewTenant::build(req.slug, req.organisation, self.tenants.base_domain(), now);
        let roles = Role::defaults(new.tenant.id, now);
        let owner_role = roles
            .iter()
            .find(|r| r.is_owner())
            .ok_or_else(|| Unexpected::msg("default roles lack an owner"))?;
        let membership = Membership {
            tenant_id: new.tenant.id,
            user_id: owner.user().id,
            role_id: owner_role.id,
            status: MembershipStatus::Active,
            created_at: now,
        };
        // The new owner creates the tenant.
        let origin = std::sync::Arc::new(req.origin);
        let ctx = TenantCtx::for_new_tenant(
            &self.edges,
            new.tenant.id,
            Actor::User(membership.user_id),
            origin.clone(),
        );
        self.repo
            .onboard(&ctx, &new, &owner, &roles, &membership)
            .await?;
        self.tenants.announce_change(new.tenant.id);
        let owner_created = matches!(owner, NewOwner::New { .. });
        let user = match owner {
            NewOwner::Existing(u) | NewOwner::New { user: u, .. } => u,
        };
        let method = if owner_created {
            SessionMethod::SignUp
        } else if self.auth.mfa_status(user.id).await?.totp_enabled {
            SessionMethod::Mfa
        } else {
            SessionMethod::Password
        };
        let session = self.auth.start_session(user, &origin, method).await?;
        Ok(Onboarded {
            tenant: new.tenant,
            session,
            owner_created,
        })
    }
}
