//! API keys: tenant-owned, found by prefix before any tenant is known through a transaction
//! scoped to that prefix.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_identity::{ApiKey, ApiKeyRepository, TokenDigest, UserStatus};
use tenantry_kernel::{ApiKeyId, Page, PageRequest, TenantCtx, TenantId, Unexpected, UserId};

use crate::db::{Db, load_rows};
use crate::error::StoreError;
use crate::paging::{after_id, fetch};
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
struct ApiKeyRow {
    tenant_id: DbUuid,
    id: DbUuid,
    name: String,
    prefix: String,
    secret_digest: String,
    permissions: String,
    created_by: DbUuid,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRow {
    fn into_parts(self) -> (ApiKey, TokenDigest) {
        let key = ApiKey {
            id: ApiKeyId::from_uuid(self.id.0),
            tenant_id: TenantId::from_uuid(self.tenant_id.0),
            name: self.name,
            prefix: self.prefix,
            permissions: self
                .permissions
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            created_by: UserId::from_uuid(self.created_by.0),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        };
        (key, TokenDigest(self.secret_digest))
    }
}

impl Db {
    async fn insert_api_key(
        &self,
        ctx: &TenantCtx,
        k: &ApiKey,
        digest: &TokenDigest,
    ) -> Result<(), StoreError> {
        let mut permissions = k.permissions.clone();
        permissions.sort();
        let permissions = permissions.join(" ");
        mutate!(self, ctx, |conn, log| {
            api_keys::insert(
                ctx,
                (
                    api_keys::id.eq(DbUuid::from(k.id)),
                    api_keys::name.eq(&k.name),
                    api_keys::prefix.eq(&k.prefix),
                    api_keys::secret_digest.eq(&digest.0),
                    api_keys::permissions.eq(&permissions),
                    api_keys::created_by.eq(DbUuid::from(k.created_by)),
                    api_keys::created_at.eq(k.created_at),
                    api_keys::expires_at.eq(k.expires_at),
                ),
            )
            .execute(conn)
            .await?;
            log.created(k);
            Ok(())
        })
    }

    async fn load_api_keys(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, StoreError> {
        let before = after_id(page)?;
        let rows: Vec<ApiKeyRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut q = api_keys::of(ctx).into_boxed();
            if let Some(before) = before {
                q = q.filter(api_keys::id.lt(before));
            }
            Ok(load_rows(q.order(api_keys::id.desc()).limit(fetch(page)), conn).await?)
        })?;
        let keys = rows.into_iter().map(|r| r.into_parts().0).collect();
        Ok(Page::from_rows(keys, page.limit, |k: &ApiKey| {
            k.id.to_string()
        }))
    }

    async fn revoke_key(
        &self,
        ctx: &TenantCtx,
        id: ApiKeyId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let row: Option<ApiKeyRow> = diesel::update(
                api_keys::of(ctx)
                    .filter(api_keys::id.eq(DbUuid::from(id)))
                    .filter(api_keys::revoked_at.is_null()),
            )
            .set(api_keys::revoked_at.eq(Some(now)))
            .get_result(conn)
            .await
            .optional()?;
            let Some(row) = row else { return Ok(false) };
            let new = row.into_parts().0;
            let old = ApiKey {
                revoked_at: None,
                ..new.clone()
            };
            log.updated_as(tenantry_identity::api_keys::REVOKED, &old, &new);
            Ok(true)
        })
    }

    async fn key_by_prefix(
        &self,
        prefix: &str,
    ) -> Result<Option<(ApiKey, TokenDigest, bool)>, StoreError> {
        let row: Option<(ApiKeyRow, String)> =
            tx!(self, read, api_key = prefix.to_owned(), |conn, cross| {
                Ok(api_keys::unscoped(cross)
                    .inner_join(users::table.on(users::id.eq(api_keys::created_by)))
                    .filter(api_keys::prefix.eq(prefix))
                    .select((api_keys::all_columns, users::status))
                    .first(conn)
                    .await
                    .optional()?)
            })?;
        Ok(row.map(|(key, status)| {
            let (key, digest) = key.into_parts();
            let active = UserStatus::parse(&status) == Some(UserStatus::Active);
            (key, digest, active)
        }))
    }

    /// Use, not a change: nothing is logged, so no audit entry and no event.
    async fn touch_key(
        &self,
        ctx: &TenantCtx,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, _log| {
            diesel::update(api_keys::of(ctx).filter(api_keys::id.eq(DbUuid::from(id))))
                .set(api_keys::last_used_at.eq(Some(at)))
                .execute(conn)
                .await?;
            Ok(())
        })
    }
}

impl ApiKeyRepository for Db {
    async fn create_api_key(
        &self,
        ctx: &TenantCtx,
        key: &ApiKey,
        digest: &TokenDigest,
    ) -> Result<(), tenantry_identity::ApiKeyError> {
        self.insert_api_key(ctx, key, digest)
            .await
            .map_err(StoreError::refusal)
    }

    async fn api_keys(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, Unexpected> {
        Ok(self.load_api_keys(ctx, page).await?)
    }

    async fn revoke_api_key(
        &self,
        ctx: &TenantCtx,
        id: ApiKeyId,
        now: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        Ok(self.revoke_key(ctx, id, now).await?)
    }

    async fn api_key_by_prefix(
        &self,
        prefix: &str,
    ) -> Result<Option<(ApiKey, TokenDigest, bool)>, Unexpected> {
        Ok(self.key_by_prefix(prefix).await?)
    }

    async fn record_api_key_use(
        &self,
        ctx: &TenantCtx,
        id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        Ok(self.touch_key(ctx, id, at).await?)
    }
}
