//! SCIM 2.0 provisioning (RFC 7643/7644), per tenant: the directory's bearer tokens, and the
//! users it describes — each a record of this tenant that provisions a Tenantry account and
//! its membership here.
//!
//! - A token names its tenant (`scim_<tenant>_<secret>`); only the secret's digest is stored,
//!   found inside that tenant's scope. A token of another tenant, or a forged tenant, finds
//!   nothing.
//! - A directory user is kept as the directory wrote it (userName, externalId, names, e-mail
//!   addresses, `active`). Its person is the account of its primary e-mail address (or of
//!   the userName, when that is an address): found by address, or created without a usable
//!   password (they sign in through SSO, or set one with a reset). Until an address is known
//!   the record provisions nobody. The link, once made, stays: the account's e-mail is the
//!   person's, shared with their other tenants, never the directory's to change.
//! - `active` is the membership: an active record with a person makes them a member (the
//!   token's default role when new; an existing membership keeps its role); deactivating or
//!   deleting the record removes the membership and ends the sessions this tenant's identity
//!   provider opened for them. Their account and other tenants are never touched.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{Email, ScimTokenId, ScimUserId, TenantCtx, TenantId, Unexpected, UserId};
use thiserror::Error;

use crate::model::{DisplayName, FamilyId, PasswordHash, TokenDigest, User};
use crate::ports::{IdentityCrypto, IdentityStore};
use crate::service::AuthService;

/// A tenant's directory token (its secret is shown once; only the digest is kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimToken {
    pub id: ScimTokenId,
    pub tenant_id: TenantId,
    pub name: String,
    /// The role of a member the directory provisions.
    pub default_role: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl tenantry_audit::Audited for ScimToken {
    const ENTITY: &'static str = "scim_token";
    type View = crate::view::ScimTokenView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["id", "created_at", "last_used_at"])
    }
}

/// One of a directory user's e-mail addresses.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScimEmail {
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub primary: bool,
}

/// A user as the tenant's directory describes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimUser {
    pub id: ScimUserId,
    pub tenant_id: TenantId,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub formatted_name: Option<String>,
    pub emails: Vec<ScimEmail>,
    /// Unset: the directory did not say, which counts as active.
    pub active: Option<bool>,
    /// The account this record provisions, once an e-mail address named it.
    pub user_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ScimUser {
    /// Whether the person should be a member (an unset `active` counts as active).
    pub fn is_active(&self) -> bool {
        self.active.unwrap_or(true)
    }

    /// The address that names the person: the primary one, else the first, else the
    /// userName when it is an address.
    pub fn person_email(&self) -> Option<Email> {
        let listed = self
            .emails
            .iter()
            .find(|e| e.primary)
            .or_else(|| self.emails.first())
            .map(|e| e.value.as_str());
        listed
            .or(Some(self.user_name.as_str()))
            .and_then(|e| Email::parse(e).ok())
    }

    /// A display name for a new account: the directory's, the given and family names, or
    /// the address's local part.
    fn person_name(&self, email: &Email) -> Option<DisplayName> {
        let joined = [self.given_name.as_deref(), self.family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        [
            self.display_name.as_deref(),
            self.formatted_name.as_deref(),
            Some(joined.as_str()),
            email.as_str().split('@').next(),
        ]
        .into_iter()
        .flatten()
        .find_map(|n| DisplayName::parse(n).ok())
    }
}

impl tenantry_audit::Audited for ScimUser {
    const ENTITY: &'static str = "scim_user";
    type View = crate::view::ScimUserView;
    /// What the directory says of the person.
    const PERSONAL: &'static [&'static str] = &[
        "user_name",
        "external_id",
        "display_name",
        "given_name",
        "family_name",
        "formatted_name",
        "emails",
    ];

    /// The person's address, else their userName.
    fn data_subject(&self) -> Option<String> {
        Some(
            self.person_email()
                .map_or_else(|| user_name_key(&self.user_name), |e| e.normalized()),
        )
    }

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["id", "created_at", "updated_at"])
    }
}

/// What the directory sends for a user (a creation or a full replacement), checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScimUserDraft {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub formatted_name: Option<String>,
    pub emails: Vec<ScimEmail>,
    pub active: Option<bool>,
}

/// Why a value was refused (SCIM `invalidValue`).
fn invalid(msg: impl Into<String>) -> ScimError {
    ScimError::InvalidValue(msg.into())
}

fn text(raw: Option<&str>, what: &str, max: usize) -> Result<Option<String>, ScimError> {
    raw.map(|s| tenantry_kernel::bounded_text(s, what, max, tenantry_kernel::TextShape::Line))
        .transpose()
        .map_err(invalid)
}

impl ScimUserDraft {
    /// Checks lengths and characters, and that every e-mail value is an address (at most 20,
    /// one primary).
    pub fn checked(self) -> Result<Self, ScimError> {
        let user_name = text(Some(&self.user_name), "userName", 255)?.unwrap_or_default();
        if self.emails.len() > 20 {
            return Err(invalid("at most 20 emails"));
        }
        if self.emails.iter().filter(|e| e.primary).count() > 1 {
            return Err(invalid("at most one primary e-mail address"));
        }
        let mut emails = Vec::with_capacity(self.emails.len());
        for e in self.emails {
            let value = Email::parse(&e.value)
                .map_err(|_| invalid(format!("{:?} is not an e-mail address", e.value)))?;
            emails.push(ScimEmail {
                value: value.as_str().to_owned(),
                kind: text(e.kind.as_deref(), "emails.type", 50)?,
                primary: e.primary,
            });
        }
        Ok(Self {
            user_name,
            external_id: text(self.external_id.as_deref(), "externalId", 255)?,
            display_name: text(self.display_name.as_deref(), "displayName", 200)?,
            given_name: text(self.given_name.as_deref(), "name.givenName", 200)?,
            family_name: text(self.family_name.as_deref(), "name.familyName", 200)?,
            formatted_name: text(self.formatted_name.as_deref(), "name.formatted", 200)?,
            emails,
            active: self.active,
        })
    }
}

/// Which users a list returns (`filter=userName eq "…"` or `externalId eq "…"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScimFilter {
    All,
    /// Compared lower-cased (userName is case-insensitive).
    UserName(String),
    ExternalId(String),
}

/// The `userName` key that is unique and filtered on.
pub fn user_name_key(user_name: &str) -> String {
    user_name.to_lowercase()
}

/// One page of a list (`startIndex` is 1-based, as SCIM counts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimPage {
    pub total: u64,
    pub start_index: u64,
    pub users: Vec<ScimUser>,
}

#[derive(Debug, Error)]
pub enum ScimError {
    #[error("no such resource")]
    NotFound,
    /// SCIM `uniqueness` (409).
    #[error("{0}")]
    Uniqueness(String),
    /// SCIM `invalidValue` (400).
    #[error("{0}")]
    InvalidValue(String),
    #[error("the tenant's last owner cannot be deactivated or removed")]
    LastOwner,
    /// The member's role grants more than the token's role: the directory may remove only
    /// the people it could have made.
    #[error(
        "this member's role grants more than this directory's token may grant: an administrator removes them"
    )]
    BeyondToken,
    #[error("no role named {0:?} in this tenant")]
    RoleNotFound(String),
    /// The plan's limit on members (or another quota) is reached.
    #[error(transparent)]
    Quota(#[from] tenantry_kernel::QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// What a write of a directory user does, in one transaction of the tenant.
#[derive(Clone, Debug)]
pub struct ScimWrite {
    /// The record as it will be (`user_id` is filled in by `link`).
    pub record: ScimUser,
    /// Replacing this record (`None`: creating).
    pub replacing: Option<ScimUserId>,
    /// Link the record to the account of this address, or create this one.
    pub link: Option<(Email, User, PasswordHash)>,
    /// The role of a membership the write creates.
    pub role: String,
}

/// The store's part of SCIM.
pub trait ScimRepository: Clone + Send + Sync + 'static {
    /// [`ScimError::RoleNotFound`] when the default role does not exist.
    fn insert_scim_token(
        &self,
        ctx: &TenantCtx,
        token: &ScimToken,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<(), ScimError>> + Send;

    /// The tenant's tokens, oldest first.
    fn scim_tokens(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Vec<ScimToken>, Unexpected>> + Send;

    fn delete_scim_token(
        &self,
        ctx: &TenantCtx,
        id: ScimTokenId,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// The tenant's token with this digest.
    fn scim_token_by_digest(
        &self,
        ctx: &TenantCtx,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<ScimToken>, Unexpected>> + Send;

    /// Sets the token's `last_used_at` (use, not a change: not audited).
    fn touch_scim_token(
        &self,
        ctx: &TenantCtx,
        id: ScimTokenId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Users matching the filter, in creation order (by id), from the 0-based `offset`.
    fn scim_users(
        &self,
        ctx: &TenantCtx,
        filter: &ScimFilter,
        offset: u64,
        count: u64,
    ) -> impl Future<Output = Result<(u64, Vec<ScimUser>), Unexpected>> + Send;

    fn scim_user(
        &self,
        ctx: &TenantCtx,
        id: ScimUserId,
    ) -> impl Future<Output = Result<Option<ScimUser>, Unexpected>> + Send;

    /// Writes the record and its consequences (see the module's rules): the record as
    /// stored, and the sessions ended. [`ScimError::NotFound`] (replacing a record that is
    /// gone), [`ScimError::Uniqueness`] (the userName, or the account, is another record's),
    /// [`ScimError::LastOwner`], [`ScimError::BeyondToken`] (deactivating a member whose role
    /// grants more than `write.role`), [`ScimError::RoleNotFound`].
    fn write_scim_user(
        &self,
        ctx: &TenantCtx,
        write: &ScimWrite,
    ) -> impl Future<Output = Result<(ScimUser, Vec<FamilyId>), ScimError>> + Send;

    /// Deletes the record, removing its membership (unless its role grants more than the
    /// role named `token_role`: [`ScimError::BeyondToken`]) and ending its sessions here.
    fn delete_scim_user(
        &self,
        ctx: &TenantCtx,
        id: ScimUserId,
        token_role: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<FamilyId>, ScimError>> + Send;
}

/// The prefix of every SCIM token.
pub const SCIM_TOKEN_PREFIX: &str = "scim_";

/// The tenant a presented token names, and its secret part.
pub fn parse_scim_token(presented: &str) -> Option<(TenantId, &str)> {
    let rest = presented.strip_prefix(SCIM_TOKEN_PREFIX)?;
    let (tenant, secret) = rest.split_once('_')?;
    let tenant = uuid::Uuid::try_parse(tenant).ok()?;
    (!secret.is_empty()).then_some((TenantId::from_uuid(tenant), secret))
}

/// SCIM's use cases.
#[derive(Clone)]
pub struct ScimService<R, C> {
    repo: R,
    auth: AuthService<R, C>,
}

impl<R, C> ScimService<R, C>
where
    R: IdentityStore + ScimRepository,
    C: IdentityCrypto,
{
    pub fn new(repo: R, auth: AuthService<R, C>) -> Self {
        Self { repo, auth }
    }

    /// Issues a token; returns it and its secret (shown once).
    pub async fn create_token(
        &self,
        ctx: &TenantCtx,
        name: String,
        default_role: String,
    ) -> Result<(ScimToken, String), ScimError> {
        let token = ScimToken {
            id: ScimTokenId::new(),
            tenant_id: ctx.tenant_id(),
            name,
            default_role,
            created_by: ctx.actor().user_id(),
            created_at: self.auth.now(),
            last_used_at: None,
        };
        let secret = self.auth.fresh_secret();
        self.repo
            .insert_scim_token(ctx, &token, &self.auth.digest(&secret))
            .await?;
        let presented = format!(
            "{SCIM_TOKEN_PREFIX}{}_{secret}",
            ctx.tenant_id().as_uuid().simple()
        );
        Ok((token, presented))
    }

    pub async fn tokens(&self, ctx: &TenantCtx) -> Result<Vec<ScimToken>, Unexpected> {
        self.repo.scim_tokens(ctx).await
    }

    pub async fn revoke_token(&self, ctx: &TenantCtx, id: ScimTokenId) -> Result<(), ScimError> {
        if self.repo.delete_scim_token(ctx, id).await? {
            Ok(())
        } else {
            Err(ScimError::NotFound)
        }
    }

    /// The token of `ctx`'s tenant whose secret was presented (the tenant came from the
    /// token, see [`parse_scim_token`]); marks it used, at most once a minute.
    pub async fn authenticate(
        &self,
        ctx: &TenantCtx,
        secret: &str,
    ) -> Result<Option<ScimToken>, Unexpected> {
        let Some(token) = self
            .repo
            .scim_token_by_digest(ctx, &self.auth.digest(secret))
            .await?
        else {
            return Ok(None);
        };
        let now = self.auth.now();
        if token
            .last_used_at
            .is_none_or(|t| now - t >= chrono::Duration::minutes(1))
        {
            self.repo.touch_scim_token(ctx, token.id, now).await?;
        }
        Ok(Some(token))
    }

    /// One page: `start_index` is 1-based (less counts as 1), `count` at most `max`.
    pub async fn users(
        &self,
        ctx: &TenantCtx,
        filter: &ScimFilter,
        start_index: u64,
        count: u64,
    ) -> Result<ScimPage, Unexpected> {
        let start_index = start_index.max(1);
        let (total, users) = self
            .repo
            .scim_users(ctx, filter, start_index - 1, count)
            .await?;
        Ok(ScimPage {
            total,
            start_index,
            users,
        })
    }

    pub async fn user(&self, ctx: &TenantCtx, id: ScimUserId) -> Result<ScimUser, ScimError> {
        self.repo
            .scim_user(ctx, id)
            .await?
            .ok_or(ScimError::NotFound)
    }

    pub async fn create(
        &self,
        ctx: &TenantCtx,
        token: &ScimToken,
        draft: ScimUserDraft,
    ) -> Result<ScimUser, ScimError> {
        let now = self.auth.now();
        let record = from_draft(ScimUserId::new(), ctx.tenant_id(), draft, None, now, now);
        self.write(ctx, token, record, None).await
    }

    /// Replaces every attribute the directory writes (PUT, and PATCH once applied).
    pub async fn replace(
        &self,
        ctx: &TenantCtx,
        token: &ScimToken,
        id: ScimUserId,
        draft: ScimUserDraft,
    ) -> Result<ScimUser, ScimError> {
        let old = self.user(ctx, id).await?;
        let record = from_draft(
            id,
            ctx.tenant_id(),
            draft,
            old.user_id,
            old.created_at,
            self.auth.now(),
        );
        self.write(ctx, token, record, Some(id)).await
    }

    async fn write(
        &self,
        ctx: &TenantCtx,
        token: &ScimToken,
        record: ScimUser,
        replacing: Option<ScimUserId>,
    ) -> Result<ScimUser, ScimError> {
        // The first time an address names the person (while active), the account is found
        // or made; the store decides which, inside the transaction.
        let link = match (record.user_id, record.is_active(), record.person_email()) {
            (None, true, Some(email)) => {
                let name = record
                    .person_name(&email)
                    .ok_or_else(|| invalid("no usable name for the account"))?;
                let user = User::new(email.clone(), name, record.updated_at);
                // No password opens this account: no hash verifies against it.
                Some((email, user, PasswordHash("!scim".to_owned())))
            }
            _ => None,
        };
        let (stored, ended) = self
            .repo
            .write_scim_user(
                ctx,
                &ScimWrite {
                    record,
                    replacing,
                    link,
                    role: token.default_role.clone(),
                },
            )
            .await?;
        self.auth.ended(ended, stored.updated_at);
        Ok(stored)
    }

    pub async fn delete(
        &self,
        ctx: &TenantCtx,
        token: &ScimToken,
        id: ScimUserId,
    ) -> Result<(), ScimError> {
        let now = self.auth.now();
        let ended = self
            .repo
            .delete_scim_user(ctx, id, &token.default_role, now)
            .await?;
        self.auth.ended(ended, now);
        Ok(())
    }
}

fn from_draft(
    id: ScimUserId,
    tenant_id: TenantId,
    d: ScimUserDraft,
    user_id: Option<UserId>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> ScimUser {
    ScimUser {
        id,
        tenant_id,
        user_name: d.user_name,
        external_id: d.external_id,
        display_name: d.display_name,
        given_name: d.given_name,
        family_name: d.family_name,
        formatted_name: d.formatted_name,
        emails: d.emails,
        active: d.active,
        user_id,
        created_at,
        updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_tenant() {
        let t = TenantId::new();
        let presented = format!("scim_{}_abc", t.as_uuid().simple());
        assert_eq!(parse_scim_token(&presented), Some((t, "abc")));
        assert_eq!(parse_scim_token("scim_nope_abc"), None);
        assert_eq!(
            parse_scim_token(&format!("scim_{}_", t.as_uuid().simple())),
            None
        );
        assert_eq!(parse_scim_token("tnt_x_y"), None);
    }

    #[test]
    fn the_person_is_the_primary_address_or_the_user_name() {
        let now = Utc::now();
        let mut u = from_draft(
            ScimUserId::new(),
            TenantId::new(),
            ScimUserDraft {
                user_name: "Ann@Acme.com".into(),
                active: Some(true),
                ..Default::default()
            },
            None,
            now,
            now,
        );
        assert_eq!(u.person_email().unwrap().normalized(), "ann@acme.com");
        u.emails = vec![
            ScimEmail {
                value: "a@home.test".into(),
                kind: None,
                primary: false,
            },
            ScimEmail {
                value: "ann.b@acme.com".into(),
                kind: Some("work".into()),
                primary: true,
            },
        ];
        assert_eq!(u.person_email().unwrap().as_str(), "ann.b@acme.com");
        u.emails.clear();
        u.user_name = "e5f1c0de".into();
        assert_eq!(u.person_email(), None);
    }

    #[test]
    fn drafts_are_checked() {
        let bad = ScimUserDraft {
            user_name: " ".into(),
            ..Default::default()
        };
        assert!(matches!(bad.checked(), Err(ScimError::InvalidValue(_))));
        let bad = ScimUserDraft {
            user_name: "ann".into(),
            emails: vec![ScimEmail {
                value: "not an address".into(),
                kind: None,
                primary: true,
            }],
            ..Default::default()
        };
        assert!(matches!(bad.checked(), Err(ScimError::InvalidValue(_))));
    }
}
