//! Per-tenant backups as the database knows them (the archives are in the platform's store).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_archive::{Backup, BackupRepository};
use tenantry_kernel::{BackupId, TenantCtx, TenantId, Unexpected};

use crate::db::Db;
use crate::error::StoreError;
use crate::types::DbInstant;
use crate::types::DbUuid;
use crate::types::{count, stored};

#[derive(Queryable)]
struct BackupRow {
    tenant_id: DbUuid,
    id: DbUuid,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    size: i64,
    sha256: String,
    row_count: i64,
    file_count: i64,
    identity: Option<String>,
}

impl TryFrom<BackupRow> for Backup {
    type Error = StoreError;

    fn try_from(r: BackupRow) -> Result<Self, StoreError> {
        Ok(Backup {
            id: BackupId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            created_at: r.created_at,
            size: count(r.size)?,
            sha256: r.sha256,
            rows: count(r.row_count)?,
            files: count(r.file_count)?,
            identity: r.identity,
        })
    }
}

impl Db {
    async fn insert_backup(&self, ctx: &TenantCtx, b: &Backup) -> Result<(), StoreError> {
        let (size, rows, files) = (stored(b.size)?, stored(b.rows)?, stored(b.files)?);
        tx!(@scoped self, write, crate::db::Scope::Tenant(ctx.tenant_id()), |conn| {
            backups::insert(
                ctx,
                (
                    backups::id.eq(DbUuid::from(b.id)),
                    backups::created_at.eq(b.created_at),
                    backups::size.eq(size),
                    backups::sha256.eq(&b.sha256),
                    backups::row_count.eq(rows),
                    backups::file_count.eq(files),
                    backups::identity.eq(&b.identity),
                ),
            )
            .execute(conn)
            .await?;
            Ok(())
        })
    }

    async fn load_backups(&self, ctx: &TenantCtx) -> Result<Vec<Backup>, StoreError> {
        let rows: Vec<BackupRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(backups::of(ctx)
                .order(backups::id.desc())
                .load(conn)
                .await?)
        })?;
        rows.into_iter().map(Backup::try_from).collect()
    }

    async fn delete_backup(&self, ctx: &TenantCtx, id: BackupId) -> Result<(), StoreError> {
        tx!(@scoped self, write, crate::db::Scope::Tenant(ctx.tenant_id()), |conn| {
            diesel::delete(backups::of(ctx).filter(backups::id.eq(DbUuid::from(id))))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn load_retention(&self, ctx: &TenantCtx) -> Result<Option<u32>, StoreError> {
        let tenant = DbUuid::from(ctx.tenant_id());
        let features: Option<String> = run!(self, read, |conn| {
            subscriptions::table
                .inner_join(plans::table)
                .filter(subscriptions::tenant_id.eq(tenant))
                .select(plans::features)
                .first(conn)
                .await
                .optional()?
        });
        let days = features
            .and_then(|f| serde_json::from_str::<serde_json::Value>(&f).ok())
            .and_then(|f| {
                f.get("backup_retention_days")
                    .and_then(serde_json::Value::as_u64)
            })
            .and_then(|d| u32::try_from(d).ok());
        Ok(days)
    }

    async fn load_tenant_ids(&self) -> Result<Vec<TenantId>, StoreError> {
        let ids: Vec<DbUuid> = run!(self, read, |conn| {
            tenants::table
                .select(tenants::id)
                .order(tenants::id.asc())
                .load(conn)
                .await?
        });
        Ok(ids.into_iter().map(|i| TenantId::from_uuid(i.0)).collect())
    }

    async fn load_file_locations(
        &self,
        ctx: &TenantCtx,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let rows: Vec<(DbUuid, Option<DbUuid>)> =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                Ok(files::of(ctx)
                    .select((files::id, files::location))
                    .load(conn)
                    .await?)
            })?;
        Ok(rows
            .into_iter()
            .map(|(id, at)| (id.0.to_string(), at.map(|a| a.0.to_string())))
            .collect())
    }
}

impl BackupRepository for Db {
    async fn record_backup(&self, ctx: &TenantCtx, backup: &Backup) -> Result<(), Unexpected> {
        Ok(self.insert_backup(ctx, backup).await?)
    }

    async fn backups(&self, ctx: &TenantCtx) -> Result<Vec<Backup>, Unexpected> {
        Ok(self.load_backups(ctx).await?)
    }

    async fn forget_backup(&self, ctx: &TenantCtx, id: BackupId) -> Result<(), Unexpected> {
        Ok(self.delete_backup(ctx, id).await?)
    }

    async fn backup_retention_days(&self, ctx: &TenantCtx) -> Result<Option<u32>, Unexpected> {
        Ok(self.load_retention(ctx).await?)
    }

    async fn tenants_to_back_up(&self) -> Result<Vec<TenantId>, Unexpected> {
        Ok(self.load_tenant_ids().await?)
    }

    async fn file_locations(
        &self,
        ctx: &TenantCtx,
    ) -> Result<Vec<(String, Option<String>)>, Unexpected> {
        Ok(self.load_file_locations(ctx).await?)
    }
}
