//! API keys: machine credentials bound to one tenant and a set of permissions. Shown once as
//! `tnt_<prefix>_<secret>`; only a digest of the secret is stored, found by its prefix.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{ApiKeyId, Page, PageRequest, TenantCtx, TenantId, Unexpected, UserId};
use thiserror::Error;

use crate::model::TokenDigest;

/// An API key's record (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    /// Public part, unique: how a presented key is found.
    pub prefix: String,
    /// Permission names from the catalogue.
    pub permissions: Vec<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// A presented key split into its parts; `None` for anything not shaped like one of ours.
pub fn parse_presented(raw: &str) -> Option<(&str, &str)> {
    let rest = raw.trim().strip_prefix("tnt_")?;
    let (prefix, secret) = rest.split_once('_')?;
    let ok = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (ok(prefix, 8..=32) && ok(secret, 20..=128)).then_some((prefix, secret))
}

#[derive(Debug, Error)]
pub enum ApiKeyError {
    #[error("API key not found")]
    NotFound,
    #[error(transparent)]
    Quota(#[from] tenantry_kernel::QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

pub trait ApiKeyRepository: Clone + Send + Sync + 'static {
    fn create_api_key(
        &self,
        ctx: &TenantCtx,
        key: &ApiKey,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<(), ApiKeyError>> + Send;

    /// Live and revoked keys, newest first.
    /// One page of the tenant's keys, newest first (by id).
    fn api_keys(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<ApiKey>, Unexpected>> + Send;

    /// False when no live key has this id here.
    fn revoke_api_key(
        &self,
        ctx: &TenantCtx,
        id: ApiKeyId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// The key with this prefix, its secret's digest and whether its creator's account is
    /// active: a read that precedes any tenant and sees exactly that key.
    fn api_key_by_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Option<(ApiKey, TokenDigest, bool)>, Unexpected>> + Send;

    /// Sets the key's `last_used_at`.
    fn record_api_key_use(
        &self,
        ctx: &TenantCtx,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("the API key is not valid")]
pub struct InvalidApiKey {
    /// The key the prefix named, when it exists: its tenant may want to know it was
    /// presented and refused.
    pub known: Option<RefusedKey>,
}

/// A real key that was refused, and why (`wrong_secret`, `revoked`, `expired`,
/// `creator_disabled`, `other_tenant`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub reason: &'static str,
    /// The user who created the key, when the caller proved to hold its secret (a live key
    /// presented to another tenant): the refusal is then that key's doing.
    pub holder: Option<UserId>,
}

/// API keys: issued inside a tenant, checked on every request that presents one.
#[derive(Clone)]
pub struct ApiKeyService<R, C> {
    repo: R,
    secrets: C,
    clock: std::sync::Arc<dyn tenantry_kernel::Clock>,
}

impl<R, C> ApiKeyService<R, C>
where
    R: ApiKeyRepository,
    C: crate::ports::Secrets,
{
    pub fn new(repo: R, secrets: C, clock: std::sync::Arc<dyn tenantry_kernel::Clock>) -> Self {
        Self {
            repo,
            secrets,
            clock,
        }
    }

    /// Issues a key with already-checked permissions; returns it and the full secret, which
    /// is shown once and never stored.
    pub async fn create(
        &self,
        ctx: &TenantCtx,
        creator: UserId,
        name: String,
        permissions: Vec<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(ApiKey, String), ApiKeyError> {
        let prefix: String = self
            .secrets
            .refresh_secret()
            .0
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let secret = self.secrets.refresh_secret();
        let key = ApiKey {
            id: ApiKeyId::new(),
            tenant_id: ctx.tenant_id(),
            name,
            prefix: prefix.clone(),
            permissions,
            created_by: creator,
            created_at: self.clock.now(),
            last_used_at: None,
            expires_at,
            revoked_at: None,
        };
        self.repo
            .create_api_key(ctx, &key, &self.secrets.digest(&secret))
            .await?;
        Ok((key, format!("tnt_{prefix}_{}", secret.0)))
    }

    pub async fn list(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, Unexpected> {
        self.repo.api_keys(ctx, page).await
    }

    pub async fn revoke(&self, ctx: &TenantCtx, id: ApiKeyId) -> Result<(), ApiKeyError> {
        if self.repo.revoke_api_key(ctx, id, self.clock.now()).await? {
            Ok(())
        } else {
            Err(ApiKeyError::NotFound)
        }
    }

    /// The live key of tenant `on` a presented secret belongs to. Only an accepted key is
    /// then marked as used ([`ApiKeyService::note_use`]), never a refused one.
    pub async fn authenticate(
        &self,
        presented: &str,
        on: TenantId,
    ) -> Result<Result<ApiKey, InvalidApiKey>, Unexpected> {
        let Some((prefix, secret)) = parse_presented(presented) else {
            return Ok(Err(InvalidApiKey { known: None }));
        };
        let now = self.clock.now();
        let Some((key, digest, creator_active)) = self.repo.api_key_by_prefix(prefix).await? else {
            return Ok(Err(InvalidApiKey { known: None }));
        };
        let presented_digest = self
            .secrets
            .digest(&crate::model::RefreshSecret(secret.to_owned()));
        let refused = if presented_digest != digest {
            Some("wrong_secret")
        } else if key.revoked_at.is_some() {
            Some("revoked")
        } else if !key.is_live(now) {
            Some("expired")
        } else if !creator_active {
            // The account that made it was disabled: its keys stop with its sessions.
            Some("creator_disabled")
        } else if key.tenant_id != on {
            Some("other_tenant")
        } else {
            None
        };
        if let Some(reason) = refused {
            return Ok(Err(InvalidApiKey {
                known: Some(RefusedKey {
                    id: key.id,
                    tenant_id: key.tenant_id,
                    reason,
                    holder: (reason == "other_tenant").then_some(key.created_by),
                }),
            }));
        }
        Ok(Ok(key))
    }

    /// Records that `key`, accepted for a request in `ctx` (its tenant), was used: at most
    /// once a minute, since a write per request would serialise every API call on SQLite.
    pub async fn note_use(&self, ctx: &TenantCtx, key: &ApiKey) -> Result<(), Unexpected> {
        let now = self.clock.now();
        if key.tenant_id == ctx.tenant_id()
            && key
                .last_used_at
                .is_none_or(|t| now - t >= chrono::Duration::minutes(1))
        {
            self.repo.record_api_key_use(ctx, key.id, now).await?;
        }
        Ok(())
    }
}

/// A key was revoked (`api_key.revoked`).
pub const REVOKED: &str = "revoked";

impl tenantry_audit::Audited for ApiKey {
    const QUOTA: Option<&'static str> = Some("api_keys");
    const ENTITY: &'static str = "api_key";
    const EVENT_ACTIONS: &'static [&'static str] = &[tenantry_audit::actions::CREATED, REVOKED];
    /// A revoked key no longer takes up the quota.
    fn counted(&self) -> bool {
        self.revoked_at.is_none()
    }
    type View = crate::view::ApiKeyView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    /// The record only: the secret is never part of an `ApiKey`, and `last_used_at` is use,
    /// not a change.
    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["id", "created_at", "last_used_at"])
    }
}
