//! Single sign-on: the tenants' providers (tenant-owned, audited), the sign-ins under way and
//! the one-time codes (platform: the callback and the exchange come before any tenant is
//! known), and which provider identity is which person.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_identity::{
    Provisioning, SsoConfigError, SsoLogin, SsoLoginError, SsoProvider, SsoRepository, TokenDigest,
};
use tenantry_kernel::{SsoProviderId, TenantCtx, TenantId, Unexpected, UserId};
use tenantry_rbac::{Membership, MembershipStatus};

use crate::db::Db;
use crate::error::StoreError;
use crate::identity::insert_user_row;
use crate::rbac::insert_membership;
use crate::tenancy::bump_access_version;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
struct ProviderRow {
    tenant_id: DbUuid,
    id: DbUuid,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: String,
    allowed_domains: String,
    redirect_uris: String,
    default_role: String,
    jit: bool,
    enforce: bool,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

impl ProviderRow {
    fn into_parts(self) -> (SsoProvider, String) {
        let provider = SsoProvider {
            id: SsoProviderId::from_uuid(self.id.0),
            tenant_id: TenantId::from_uuid(self.tenant_id.0),
            name: self.name,
            issuer: self.issuer,
            client_id: self.client_id,
            scopes: words(&self.scopes),
            allowed_domains: words(&self.allowed_domains),
            redirect_uris: words(&self.redirect_uris),
            default_role: self.default_role,
            jit: self.jit,
            enforce: self.enforce,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        (provider, self.client_secret)
    }
}

/// The role named `$name` exists in `$ctx`'s tenant (inside its transaction).
macro_rules! role_exists {
    ($conn:ident, $ctx:expr, $name:expr) => {{
        let n: i64 = roles::of($ctx)
            .filter(roles::name.eq($name))
            .count()
            .get_result($conn)
            .await?;
        n > 0
    }};
}

impl Db {
    async fn load_providers(&self, ctx: &TenantCtx) -> Result<Vec<SsoProvider>, StoreError> {
        let rows: Vec<ProviderRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(sso_providers::of(ctx)
                .order(sso_providers::id.asc())
                .load(conn)
                .await?)
        })?;
        Ok(rows.into_iter().map(|r| r.into_parts().0).collect())
    }

    async fn load_provider(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
    ) -> Result<Option<(SsoProvider, String)>, StoreError> {
        let row: Option<ProviderRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(sso_providers::of(ctx)
                .filter(sso_providers::id.eq(DbUuid::from(id)))
                .first(conn)
                .await
                .optional()?)
        })?;
        Ok(row.map(ProviderRow::into_parts))
    }

    async fn insert_provider(
        &self,
        ctx: &TenantCtx,
        p: &SsoProvider,
        sealed: &str,
    ) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            if !role_exists!(conn, ctx, &p.default_role) {
                return Ok(false);
            }
            sso_providers::insert(
                ctx,
                (
                    sso_providers::id.eq(DbUuid::from(p.id)),
                    sso_providers::name.eq(&p.name),
                    sso_providers::issuer.eq(&p.issuer),
                    sso_providers::client_id.eq(&p.client_id),
                    sso_providers::client_secret.eq(sealed),
                    sso_providers::scopes.eq(p.scopes.join(" ")),
                    sso_providers::allowed_domains.eq(p.allowed_domains.join(" ")),
                    sso_providers::redirect_uris.eq(p.redirect_uris.join(" ")),
                    sso_providers::default_role.eq(&p.default_role),
                    sso_providers::jit.eq(p.jit),
                    sso_providers::enforce.eq(p.enforce),
                    sso_providers::created_at.eq(p.created_at),
                    sso_providers::updated_at.eq(p.updated_at),
                ),
            )
            .execute(conn)
            .await?;
            if p.enforce {
                bump_access_version!(conn);
            }
            log.created(p);
            Ok(true)
        })
    }

    /// `None`: no such provider; `Some(false)`: no such role.
    async fn replace_provider(
        &self,
        ctx: &TenantCtx,
        p: &SsoProvider,
        sealed: Option<&str>,
    ) -> Result<Option<bool>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let target = sso_providers::of(ctx).filter(sso_providers::id.eq(DbUuid::from(p.id)));
            let old: Option<ProviderRow> = target.first(conn).await.optional()?;
            let Some(old) = old else { return Ok(None) };
            if !role_exists!(conn, ctx, &p.default_role) {
                return Ok(Some(false));
            }
            let (old, old_secret) = old.into_parts();
            diesel::update(target)
                .set((
                    sso_providers::name.eq(&p.name),
                    sso_providers::issuer.eq(&p.issuer),
                    sso_providers::client_id.eq(&p.client_id),
                    sso_providers::client_secret.eq(sealed.unwrap_or(&old_secret)),
                    sso_providers::scopes.eq(p.scopes.join(" ")),
                    sso_providers::allowed_domains.eq(p.allowed_domains.join(" ")),
                    sso_providers::redirect_uris.eq(p.redirect_uris.join(" ")),
                    sso_providers::default_role.eq(&p.default_role),
                    sso_providers::jit.eq(p.jit),
                    sso_providers::enforce.eq(p.enforce),
                    sso_providers::updated_at.eq(p.updated_at),
                ))
                .execute(conn)
                .await?;
            if old.enforce || p.enforce {
                bump_access_version!(conn);
            }
            log.updated(&old, p);
            Ok(Some(true))
        })
    }

    async fn remove_provider(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
    ) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let row: Option<ProviderRow> = diesel::delete(
                sso_providers::of(ctx).filter(sso_providers::id.eq(DbUuid::from(id))),
            )
            .get_result(conn)
            .await
            .optional()?;
            let Some(row) = row else { return Ok(false) };
            let (removed, _) = row.into_parts();
            if removed.enforce {
                bump_access_version!(conn);
            }
            log.deleted(&removed);
            Ok(true)
        })
    }

    async fn add_login(&self, l: &SsoLogin) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            // Sign-ins live minutes: the expired ones go as new ones arrive.
            diesel::delete(sso_logins::table.filter(sso_logins::expires_at.lt(l.created_at)))
                .execute(conn)
                .await?;
            diesel::insert_into(sso_logins::table)
                .values((
                    sso_logins::state_digest.eq(&l.state_digest.0),
                    sso_logins::tenant_id.eq(DbUuid::from(l.tenant_id)),
                    sso_logins::provider_id.eq(DbUuid::from(l.provider_id)),
                    sso_logins::nonce.eq(&l.nonce),
                    sso_logins::pkce_verifier.eq(&l.pkce_verifier),
                    sso_logins::redirect_uri.eq(&l.redirect_uri),
                    sso_logins::created_at.eq(l.created_at),
                    sso_logins::expires_at.eq(l.expires_at),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn spend_login(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<SsoLogin>, StoreError> {
        type Row = (
            String,
            DbUuid,
            DbUuid,
            String,
            String,
            String,
            DateTime<Utc>,
            DateTime<Utc>,
        );
        let row: Option<Row> = tx!(self, write, platform, |conn| {
            Ok(diesel::update(
                sso_logins::table
                    .find(&digest.0)
                    .filter(sso_logins::used_at.is_null())
                    .filter(sso_logins::expires_at.gt(now)),
            )
            .set(sso_logins::used_at.eq(Some(now)))
            .returning((
                sso_logins::state_digest,
                sso_logins::tenant_id,
                sso_logins::provider_id,
                sso_logins::nonce,
                sso_logins::pkce_verifier,
                sso_logins::redirect_uri,
                sso_logins::created_at,
                sso_logins::expires_at,
            ))
            .get_result(conn)
            .await
            .optional()?)
        })?;
        Ok(row.map(
            |(
                digest,
                tenant,
                provider,
                nonce,
                pkce_verifier,
                redirect_uri,
                created_at,
                expires_at,
            )| {
                SsoLogin {
                    state_digest: TokenDigest(digest),
                    tenant_id: TenantId::from_uuid(tenant.0),
                    provider_id: SsoProviderId::from_uuid(provider.0),
                    nonce,
                    pkce_verifier,
                    redirect_uri,
                    created_at,
                    expires_at,
                }
            },
        ))
    }

    async fn linked_user(&self, issuer: &str, subject: &str) -> Result<Option<UserId>, StoreError> {
        let row: Option<DbUuid> = run!(self, read, |conn| {
            user_identities::table
                .find((issuer, subject))
                .select(user_identities::user_id)
                .first(conn)
                .await
                .optional()?
        });
        Ok(row.map(|u| UserId::from_uuid(u.0)))
    }

    /// `false`: no membership, and none may be created (nothing written).
    async fn provision_member(
        &self,
        ctx: &TenantCtx,
        p: &Provisioning,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let user = DbUuid::from(p.user_id);
        mutate!(self, ctx, |conn, log| {
            let status: Option<String> = memberships::of(ctx)
                .filter(memberships::user_id.eq(user))
                .select(memberships::status)
                .first(conn)
                .await
                .optional()?;
            let role = match (&status, &p.jit_role) {
                (Some(s), _) if s == MembershipStatus::Active.as_str() => None,
                (None, Some(name)) => {
                    let role: Option<DbUuid> = roles::of(ctx)
                        .filter(roles::name.eq(name))
                        .select(roles::id)
                        .first(conn)
                        .await
                        .optional()?;
                    match role {
                        Some(r) => Some(r),
                        None => return Ok(false),
                    }
                }
                _ => return Ok(false),
            };
            if let Some((new, hash)) = &p.new_user {
                insert_user_row!(conn, new, hash);
            }
            if let Some((issuer, subject)) = &p.link {
                diesel::insert_into(user_identities::table)
                    .values((
                        user_identities::issuer.eq(issuer),
                        user_identities::subject.eq(subject),
                        user_identities::user_id.eq(user),
                        user_identities::created_at.eq(at),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
            }
            if let Some(role) = role {
                let membership = Membership {
                    tenant_id: ctx.tenant_id(),
                    user_id: p.user_id,
                    role_id: tenantry_kernel::RoleId::from_uuid(role.0),
                    status: MembershipStatus::Active,
                    created_at: at,
                };
                insert_membership!(conn, log, ctx, &membership);
            }
            Ok(true)
        })
    }

    async fn add_code(
        &self,
        digest: &TokenDigest,
        user: UserId,
        tenant: TenantId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            diesel::delete(sso_codes::table.filter(sso_codes::expires_at.lt(at)))
                .execute(conn)
                .await?;
            diesel::insert_into(sso_codes::table)
                .values((
                    sso_codes::digest.eq(&digest.0),
                    sso_codes::user_id.eq(DbUuid::from(user)),
                    sso_codes::tenant_id.eq(DbUuid::from(tenant)),
                    sso_codes::created_at.eq(at),
                    sso_codes::expires_at.eq(expires_at),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn spend_code(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, TenantId)>, StoreError> {
        let row: Option<(DbUuid, DbUuid)> = tx!(self, write, platform, |conn| {
            Ok(diesel::update(
                sso_codes::table
                    .find(&digest.0)
                    .filter(sso_codes::used_at.is_null())
                    .filter(sso_codes::expires_at.gt(now)),
            )
            .set(sso_codes::used_at.eq(Some(now)))
            .returning((sso_codes::user_id, sso_codes::tenant_id))
            .get_result(conn)
            .await
            .optional()?)
        })?;
        Ok(row.map(|(u, t)| (UserId::from_uuid(u.0), TenantId::from_uuid(t.0))))
    }
}

impl SsoRepository for Db {
    async fn sso_providers(&self, ctx: &TenantCtx) -> Result<Vec<SsoProvider>, Unexpected> {
        Ok(self.load_providers(ctx).await?)
    }

    async fn sso_provider(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
    ) -> Result<Option<(SsoProvider, String)>, Unexpected> {
        Ok(self.load_provider(ctx, id).await?)
    }

    async fn insert_sso_provider(
        &self,
        ctx: &TenantCtx,
        provider: &SsoProvider,
        sealed_secret: &str,
    ) -> Result<(), SsoConfigError> {
        match self.insert_provider(ctx, provider, sealed_secret).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SsoConfigError::RoleNotFound(provider.default_role.clone())),
            Err(e) => Err(SsoConfigError::Unexpected(e.into())),
        }
    }

    async fn update_sso_provider(
        &self,
        ctx: &TenantCtx,
        provider: &SsoProvider,
        sealed_secret: Option<&str>,
    ) -> Result<(), SsoConfigError> {
        match self.replace_provider(ctx, provider, sealed_secret).await {
            Ok(Some(true)) => Ok(()),
            Ok(Some(false)) => Err(SsoConfigError::RoleNotFound(provider.default_role.clone())),
            Ok(None) => Err(SsoConfigError::NotFound),
            Err(e) => Err(SsoConfigError::Unexpected(e.into())),
        }
    }

    async fn delete_sso_provider(
        &self,
        ctx: &TenantCtx,
        id: SsoProviderId,
    ) -> Result<bool, Unexpected> {
        Ok(self.remove_provider(ctx, id).await?)
    }

    async fn insert_sso_login(&self, login: &SsoLogin) -> Result<(), Unexpected> {
        Ok(self.add_login(login).await?)
    }

    async fn take_sso_login(
        &self,
        state_digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<SsoLogin>, Unexpected> {
        Ok(self.spend_login(state_digest, now).await?)
    }

    async fn identity_user(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserId>, Unexpected> {
        Ok(self.linked_user(issuer, subject).await?)
    }

    async fn provision(
        &self,
        ctx: &TenantCtx,
        provisioning: &Provisioning,
        at: DateTime<Utc>,
    ) -> Result<(), SsoLoginError> {
        match self.provision_member(ctx, provisioning, at).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SsoLoginError::NotProvisioned),
            Err(e) => Err(SsoLoginError::Unexpected(e.into())),
        }
    }

    async fn insert_sso_code(
        &self,
        digest: &TokenDigest,
        user: UserId,
        tenant: TenantId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        Ok(self.add_code(digest, user, tenant, at, expires_at).await?)
    }

    async fn take_sso_code(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, TenantId)>, Unexpected> {
        Ok(self.spend_code(digest, now).await?)
    }
}
