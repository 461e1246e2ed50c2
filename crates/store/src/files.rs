//! Tenants' files as the database knows them (the content is in object storage): each
//! record's bytes counted against `storage_bytes` by the change pipeline, and a delete that
//! queues the removal of the content in the same transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_billing::QuotaLimits;
use tenantry_files::{
    CreateFileError, DeleteFileError, FileName, FileQuery, FileRepository, STORAGE_QUOTA,
    StoredFile, TypeFilter,
};
use tenantry_kernel::{FileId, Page, TenantCtx, TenantId, Unexpected, UserId};

use crate::db::Db;
use crate::error::StoreError;
use crate::types::DbUuid;

#[derive(Queryable)]
pub(crate) struct FileRow {
    tenant_id: DbUuid,
    id: DbUuid,
    name: String,
    content_type: String,
    size: i64,
    sha256: String,
    created_by: Option<DbUuid>,
    created_at: DateTime<Utc>,
}

impl TryFrom<FileRow> for StoredFile {
    type Error = StoreError;

    fn try_from(r: FileRow) -> Result<Self, StoreError> {
        Ok(StoredFile {
            id: FileId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            name: FileName::parse(&r.name).map_err(|e| StoreError::Corrupt(e.0))?,
            content_type: r.content_type,
            size: u64::try_from(r.size).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            sha256: r.sha256,
            created_by: r.created_by.map(|u| UserId::from_uuid(u.0)),
            created_at: r.created_at,
        })
    }
}

fn files_of(rows: Vec<FileRow>) -> Result<Vec<StoredFile>, StoreError> {
    rows.into_iter().map(StoredFile::try_from).collect()
}

impl Db {
    async fn insert_file(&self, ctx: &TenantCtx, f: &StoredFile) -> Result<(), StoreError> {
        let size = i64::try_from(f.size).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        mutate!(self, ctx, |conn, log| {
            files::insert(
                ctx,
                (
                    files::id.eq(DbUuid::from(f.id)),
                    files::name.eq(f.name.as_str()),
                    files::content_type.eq(&f.content_type),
                    files::size.eq(size),
                    files::sha256.eq(&f.sha256),
                    files::created_by.eq(f.created_by.map(DbUuid::from)),
                    files::created_at.eq(f.created_at),
                ),
            )
            .execute(conn)
            .await?;
            log.created(f);
            Ok(())
        })
    }

    async fn load_file(
        &self,
        ctx: &TenantCtx,
        id: FileId,
    ) -> Result<Option<StoredFile>, StoreError> {
        let row: Option<FileRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(files::of(ctx)
                .filter(files::id.eq(DbUuid::from(id)))
                .first(conn)
                .await
                .optional()?)
        })?;
        row.map(StoredFile::try_from).transpose()
    }

    async fn load_files(
        &self,
        ctx: &TenantCtx,
        query: &FileQuery,
    ) -> Result<Page<StoredFile>, StoreError> {
        let before = crate::paging::after_id(&query.page)?;
        let limit = crate::paging::fetch(&query.page);
        let rows: Vec<FileRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut q = files::of(ctx).into_boxed();
            match &query.content_type {
                Some(TypeFilter::Exact(t)) => q = q.filter(files::content_type.eq(t.clone())),
                Some(TypeFilter::Family(f)) => {
                    // Families are letters, digits and a few marks; neither `%` nor `_`
                    // matters in a prefix that ends with '/'.
                    q = q.filter(files::content_type.like(format!("{f}/%")));
                }
                None => {}
            }
            if let Some(before) = before {
                q = q.filter(files::id.lt(before));
            }
            Ok(q.order(files::id.desc()).limit(limit).load(conn).await?)
        })?;
        Ok(Page::from_rows(files_of(rows)?, query.page.limit, |f| {
            f.id.to_string()
        }))
    }

    async fn remove_file(
        &self,
        ctx: &TenantCtx,
        id: FileId,
    ) -> Result<Option<StoredFile>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let old: Option<FileRow> =
                diesel::delete(files::of(ctx).filter(files::id.eq(DbUuid::from(id))))
                    .get_result(conn)
                    .await
                    .optional()?;
            let Some(old) = old else { return Ok(None) };
            let old = StoredFile::try_from(old)?;
            log.deleted(&old);
            log.enqueue(tenantry_jobs::Job::DeleteFileContent { file_id: id });
            Ok(Some(old))
        })
    }

    /// The `storage_bytes` quota's use and limit: the tenant's counter, or (before its first
    /// file) its plan's limit with nothing used.
    async fn load_storage_quota(&self, ctx: &TenantCtx) -> Result<Option<(u64, u64)>, StoreError> {
        let tenant = DbUuid::from(ctx.tenant_id());
        let (row, plan): (Option<(i64, Option<i64>)>, Option<String>) =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                let row = tenant_quotas::of(ctx)
                    .filter(tenant_quotas::resource.eq(STORAGE_QUOTA))
                    .select((tenant_quotas::used, tenant_quotas::limit_value))
                    .first(conn)
                    .await
                    .optional()?;
                let plan = if row.is_some() {
                    None
                } else {
                    subscriptions::table
                        .inner_join(plans::table)
                        .filter(subscriptions::tenant_id.eq(tenant))
                        .select(plans::quotas)
                        .first(conn)
                        .await
                        .optional()?
                };
                Ok((row, plan))
            })?;
        let (used, limit) = match (row, plan) {
            (Some((used, limit)), _) => (used, limit.map(|l| l.max(0) as u64)),
            (None, Some(quotas)) => (
                0,
                QuotaLimits::from_json(&quotas)
                    .map_err(|e| StoreError::Corrupt(e.0))?
                    .limit(STORAGE_QUOTA),
            ),
            (None, None) => (0, None),
        };
        Ok(limit.map(|l| (used.max(0) as u64, l)))
    }
}

impl FileRepository for Db {
    async fn create(&self, ctx: &TenantCtx, file: &StoredFile) -> Result<(), CreateFileError> {
        self.insert_file(ctx, file)
            .await
            .map_err(StoreError::refusal)
    }

    async fn get(&self, ctx: &TenantCtx, id: FileId) -> Result<Option<StoredFile>, Unexpected> {
        Ok(self.load_file(ctx, id).await?)
    }

    async fn list(
        &self,
        ctx: &TenantCtx,
        query: &FileQuery,
    ) -> Result<Page<StoredFile>, Unexpected> {
        Ok(self.load_files(ctx, query).await?)
    }

    async fn delete(&self, ctx: &TenantCtx, id: FileId) -> Result<StoredFile, DeleteFileError> {
        match self.remove_file(ctx, id).await {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(DeleteFileError::NotFound),
            Err(e) => Err(DeleteFileError::Unexpected(e.into())),
        }
    }

    async fn storage_quota(&self, ctx: &TenantCtx) -> Result<Option<(u64, u64)>, Unexpected> {
        Ok(self.load_storage_quota(ctx).await?)
    }
}
