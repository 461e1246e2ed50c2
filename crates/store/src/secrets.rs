//! The tenants' wrapped data keys (the vault's [`DataKeyStore`]): a platform table, since a
//! key rotation re-wraps every tenant's key and a row is useless without the master key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{TenantId, Unexpected};
use tenantry_secrets::{DataKeyStore, PLATFORM_KEY_OWNER, WrappedKey};

use crate::db::Db;
use crate::error::StoreError;
use crate::types::DbUuid;

fn decode(kek_id: String, wrapped: &str) -> Result<WrappedKey, StoreError> {
    Ok(WrappedKey {
        kek_id,
        wrapped: STANDARD
            .decode(wrapped)
            .map_err(|e| StoreError::Corrupt(format!("a wrapped data key: {e}")))?,
    })
}

/// A wrapped key's row in `$table` (`platform_keys` or `tenant_keys`, which share their
/// key columns), chosen by the owner column `$owner` equal to `$value`: read it, insert it
/// unless one is there (answering the one stored), or swap it for a re-wrapped one only if
/// it is still the old one.
macro_rules! key_row {
    (load, $db:expr, $table:ident, $owner:ident = $value:expr) => {{
        let row: Option<(String, String)> = tx!($db, read, tenant = None, |conn| {
            Ok($table::table
                .filter($table::$owner.eq($value))
                .select(($table::kek_id, $table::wrapped))
                .first(conn)
                .await
                .optional()?)
        })?;
        row.map(|(k, w)| decode(k, &w)).transpose()
    }};
    (insert, $db:expr, $table:ident, $owner:ident = $value:expr, $key:expr) => {{
        let key: &WrappedKey = $key;
        let wrapped = STANDARD.encode(&key.wrapped);
        let (kek, stored): (String, String) = tx!($db, write, platform, |conn| {
            diesel::insert_into($table::table)
                .values((
                    $table::$owner.eq($value),
                    $table::kek_id.eq(&key.kek_id),
                    $table::wrapped.eq(&wrapped),
                    $table::created_at.eq(Utc::now()),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            Ok($table::table
                .filter($table::$owner.eq($value))
                .select(($table::kek_id, $table::wrapped))
                .first(conn)
                .await?)
        })?;
        decode(kek, &stored)
    }};
    (swap, $db:expr, $table:ident, $owner:ident = $value:expr, $old:expr, $new:expr) => {{
        let (old, new): (&WrappedKey, &WrappedKey) = ($old, $new);
        let (old_wrapped, new_wrapped) =
            (STANDARD.encode(&old.wrapped), STANDARD.encode(&new.wrapped));
        let n = tx!($db, write, platform, |conn| {
            Ok(diesel::update(
                $table::table
                    .filter($table::$owner.eq($value))
                    .filter($table::kek_id.eq(&old.kek_id))
                    .filter($table::wrapped.eq(&old_wrapped)),
            )
            .set((
                $table::kek_id.eq(&new.kek_id),
                $table::wrapped.eq(&new_wrapped),
                $table::rotated_at.eq(Some(Utc::now())),
            ))
            .execute(conn)
            .await?)
        })?;
        Ok(n > 0)
    }};
}

/// The platform's own data key: the one row of `platform_keys` (slot 1; the vault names it
/// [`PLATFORM_KEY_OWNER`]).
impl Db {
    async fn load_platform_key(&self) -> Result<Option<WrappedKey>, StoreError> {
        key_row!(load, self, platform_keys, slot = 1)
    }

    async fn insert_platform_key(&self, key: &WrappedKey) -> Result<WrappedKey, StoreError> {
        key_row!(insert, self, platform_keys, slot = 1, key)
    }

    async fn swap_platform_key(
        &self,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, StoreError> {
        key_row!(swap, self, platform_keys, slot = 1, old, new)
    }
}

impl Db {
    async fn load_data_key(&self, tenant: TenantId) -> Result<Option<WrappedKey>, StoreError> {
        key_row!(load, self, tenant_keys, tenant_id = DbUuid::from(tenant))
    }

    async fn insert_data_key(
        &self,
        tenant: TenantId,
        key: &WrappedKey,
    ) -> Result<WrappedKey, StoreError> {
        key_row!(
            insert,
            self,
            tenant_keys,
            tenant_id = DbUuid::from(tenant),
            key
        )
    }

    async fn swap_data_key(
        &self,
        tenant: TenantId,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, StoreError> {
        key_row!(
            swap,
            self,
            tenant_keys,
            tenant_id = DbUuid::from(tenant),
            old,
            new
        )
    }

    async fn load_keys_not_under(
        &self,
        kek_id: &str,
        limit: u32,
    ) -> Result<Vec<(TenantId, WrappedKey)>, StoreError> {
        let rows: Vec<(DbUuid, String, String)> = tx!(self, read, tenant = None, |conn| {
            Ok(tenant_keys::table
                .filter(tenant_keys::kek_id.ne(kek_id))
                .select((
                    tenant_keys::tenant_id,
                    tenant_keys::kek_id,
                    tenant_keys::wrapped,
                ))
                .order(tenant_keys::tenant_id.asc())
                .limit(i64::from(limit))
                .load(conn)
                .await?)
        })?;
        rows.into_iter()
            .map(|(t, k, w)| Ok((TenantId::from_uuid(t.0), decode(k, &w)?)))
            .collect()
    }

    async fn count_data_keys(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, i64)> = tx!(self, read, tenant = None, |conn| {
            Ok(tenant_keys::table
                .group_by(tenant_keys::kek_id)
                .select((tenant_keys::kek_id, diesel::dsl::count_star()))
                .order(tenant_keys::kek_id.asc())
                .load(conn)
                .await?)
        })?;
        Ok(rows
            .into_iter()
            .map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
            .collect())
    }
}

impl DataKeyStore for Db {
    async fn data_key(&self, tenant: TenantId) -> Result<Option<WrappedKey>, Unexpected> {
        if tenant == PLATFORM_KEY_OWNER {
            return Ok(self.load_platform_key().await?);
        }
        Ok(self.load_data_key(tenant).await?)
    }

    async fn add_data_key(
        &self,
        tenant: TenantId,
        key: &WrappedKey,
    ) -> Result<WrappedKey, Unexpected> {
        if tenant == PLATFORM_KEY_OWNER {
            return Ok(self.insert_platform_key(key).await?);
        }
        Ok(self.insert_data_key(tenant, key).await?)
    }

    async fn replace_data_key(
        &self,
        tenant: TenantId,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, Unexpected> {
        if tenant == PLATFORM_KEY_OWNER {
            return Ok(self.swap_platform_key(old, new).await?);
        }
        Ok(self.swap_data_key(tenant, old, new).await?)
    }

    async fn data_keys_not_under(
        &self,
        kek_id: &str,
        limit: u32,
    ) -> Result<Vec<(TenantId, WrappedKey)>, Unexpected> {
        let mut keys = Vec::new();
        if let Some(k) = self.load_platform_key().await?
            && k.kek_id != kek_id
        {
            keys.push((PLATFORM_KEY_OWNER, k));
        }
        keys.extend(self.load_keys_not_under(kek_id, limit).await?);
        keys.truncate(limit as usize);
        Ok(keys)
    }

    async fn data_key_counts(&self) -> Result<Vec<(String, u64)>, Unexpected> {
        let mut counts = self.count_data_keys().await?;
        if let Some(k) = self.load_platform_key().await? {
            match counts.iter_mut().find(|(id, _)| *id == k.kek_id) {
                Some((_, n)) => *n += 1,
                None => counts.push((k.kek_id, 1)),
            }
        }
        Ok(counts)
    }
}
