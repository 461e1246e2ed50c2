//! Tenants' files as the database knows them (the content is in object storage): each
//! record's bytes counted against `storage_bytes` by the change pipeline, and a delete that
//! queues the removal of the content in the same transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_billing::QuotaLimits;
use tenantry_files::{
    BucketRepository, BucketSettings, CreateFileError, DeleteFileError, FileName, FileQuery,
    FileRepository, Location, MoveState, STORAGE_QUOTA, StoredFile, TypeFilter,
};
use tenantry_kernel::{BucketId, FileId, Page, TenantCtx, TenantId, Unexpected, UserId};

use crate::db::{Db, load_first, load_rows};
use crate::error::StoreError;
use crate::types::DbInstant;
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
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    location: Option<DbUuid>,
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
            location: r.location.map(|b| BucketId::from_uuid(b.0)),
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
                    files::location.eq(f.location.map(DbUuid::from)),
                ),
            )
            .execute(conn)
            .await?;
            log.created(f);
            // The tenant's store changed while this upload was under way (and that move may
            // be over): move it too.
            let current: Option<DbUuid> = tenant_buckets::of(ctx)
                .filter(tenant_buckets::is_current.eq(true))
                .select(tenant_buckets::id)
                .first(conn)
                .await
                .optional()?;
            if current.map(|c| c.0) != f.location.map(|l| *l.as_uuid()) {
                log.enqueue(tenantry_jobs::Job::MoveFiles);
            }
            Ok(())
        })
    }

    async fn load_file(
        &self,
        ctx: &TenantCtx,
        id: FileId,
    ) -> Result<Option<StoredFile>, StoreError> {
        let row: Option<FileRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(load_first(files::of(ctx).filter(files::id.eq(DbUuid::from(id))), conn).await?)
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
            Ok(load_rows(q.order(files::id.desc()).limit(limit), conn).await?)
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
            log.enqueue(tenantry_jobs::Job::DeleteFileContent {
                file_id: id,
                location: old.location,
            });
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

    async fn relocate(
        &self,
        ctx: &TenantCtx,
        file: FileId,
        at: Location,
    ) -> Result<bool, Unexpected> {
        // Where the content lives is no change of the file's own: nothing is recorded.
        Ok(mutate!(self, ctx, |conn, _log| {
            let n = diesel::update(files::of(ctx).filter(files::id.eq(DbUuid::from(file))))
                .set(files::location.eq(at.map(DbUuid::from)))
                .execute(conn)
                .await?;
            Ok(n > 0)
        })?)
    }
}

#[derive(Queryable)]
struct BucketRow {
    tenant_id: DbUuid,
    id: DbUuid,
    endpoint: Option<String>,
    region: String,
    bucket: String,
    access_key_id: String,
    secret: String,
    /// Selected with the row; the queries filter on it.
    _is_current: bool,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
}

impl BucketRow {
    fn settings(self) -> (BucketSettings, String) {
        (
            BucketSettings {
                id: BucketId::from_uuid(self.id.0),
                tenant_id: TenantId::from_uuid(self.tenant_id.0),
                endpoint: self.endpoint,
                region: self.region,
                bucket: self.bucket,
                access_key_id: self.access_key_id,
                created_at: self.created_at,
            },
            self.secret,
        )
    }
}

impl Db {
    async fn load_bucket(
        &self,
        ctx: &TenantCtx,
        id: Option<BucketId>,
    ) -> Result<Option<(BucketSettings, String)>, StoreError> {
        let row: Option<BucketRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let q = tenant_buckets::of(ctx)
                .select(tenant_buckets::all_columns)
                .into_boxed();
            let q = match id {
                Some(id) => q.filter(tenant_buckets::id.eq(DbUuid::from(id))),
                None => q.filter(tenant_buckets::is_current.eq(true)),
            };
            Ok(q.first(conn).await.optional()?)
        })?;
        Ok(row.map(BucketRow::settings))
    }

    /// Retires the current record (if any), then makes `new` current; queues the move.
    async fn switch_bucket(
        &self,
        ctx: &TenantCtx,
        new: Option<(&BucketSettings, &str)>,
    ) -> Result<Option<BucketSettings>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let old: Option<BucketRow> =
                diesel::update(tenant_buckets::of(ctx).filter(tenant_buckets::is_current.eq(true)))
                    .set(tenant_buckets::is_current.eq(false))
                    .get_result(conn)
                    .await
                    .optional()?;
            let old = old.map(|r| r.settings().0);
            if let Some(old) = &old {
                log.deleted(old);
            }
            if let Some((b, sealed)) = new {
                tenant_buckets::insert(
                    ctx,
                    (
                        tenant_buckets::id.eq(DbUuid::from(b.id)),
                        tenant_buckets::endpoint.eq(b.endpoint.as_deref()),
                        tenant_buckets::region.eq(&b.region),
                        tenant_buckets::bucket.eq(&b.bucket),
                        tenant_buckets::access_key_id.eq(&b.access_key_id),
                        tenant_buckets::secret.eq(sealed),
                        tenant_buckets::is_current.eq(true),
                        tenant_buckets::created_at.eq(b.created_at),
                    ),
                )
                .execute(conn)
                .await?;
                log.created(b);
            }
            if old.is_some() || new.is_some() {
                log.enqueue(tenantry_jobs::Job::MoveFiles);
            }
            Ok(old)
        })
    }

    async fn load_move_state(&self, ctx: &TenantCtx) -> Result<MoveState, StoreError> {
        let (files, to_move): (i64, i64) =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                let current: Option<DbUuid> = tenant_buckets::of(ctx)
                    .filter(tenant_buckets::is_current.eq(true))
                    .select(tenant_buckets::id)
                    .first(conn)
                    .await
                    .optional()?;
                let all: i64 = files::of(ctx).count().get_result(conn).await?;
                let placed: i64 = match current {
                    Some(c) => {
                        files::of(ctx)
                            .filter(files::location.eq(c))
                            .count()
                            .get_result(conn)
                            .await?
                    }
                    None => {
                        files::of(ctx)
                            .filter(files::location.is_null())
                            .count()
                            .get_result(conn)
                            .await?
                    }
                };
                Ok((all, all - placed))
            })?;
        Ok(MoveState {
            files: files.max(0) as u64,
            to_move: to_move.max(0) as u64,
        })
    }

    async fn load_misplaced(
        &self,
        ctx: &TenantCtx,
        limit: u32,
    ) -> Result<(Location, Vec<StoredFile>), StoreError> {
        let (current, rows): (Option<DbUuid>, Vec<FileRow>) =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                let current: Option<DbUuid> = tenant_buckets::of(ctx)
                    .filter(tenant_buckets::is_current.eq(true))
                    .select(tenant_buckets::id)
                    .first(conn)
                    .await
                    .optional()?;
                let q = files::of(ctx).select(files::all_columns).into_boxed();
                let q = match current {
                    Some(c) => q.filter(files::location.ne(c).or(files::location.is_null())),
                    None => q.filter(files::location.is_not_null()),
                };
                let rows = q
                    .order(files::id.asc())
                    .limit(i64::from(limit))
                    .load(conn)
                    .await?;
                Ok((current, rows))
            })?;
        Ok((current.map(|c| BucketId::from_uuid(c.0)), files_of(rows)?))
    }

    async fn remove_empty_buckets(&self, ctx: &TenantCtx) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, _log| {
            let used: Vec<Option<DbUuid>> = files::of(ctx)
                .filter(files::location.is_not_null())
                .select(files::location)
                .distinct()
                .load(conn)
                .await?;
            let used: Vec<DbUuid> = used.into_iter().flatten().collect();
            diesel::delete(
                tenant_buckets::of(ctx)
                    .filter(tenant_buckets::is_current.eq(false))
                    .filter(tenant_buckets::id.ne_all(used)),
            )
            .execute(conn)
            .await?;
            Ok(())
        })
    }
}

impl BucketRepository for Db {
    async fn current_bucket(&self, ctx: &TenantCtx) -> Result<Option<BucketSettings>, Unexpected> {
        Ok(self.load_bucket(ctx, None).await?.map(|(b, _)| b))
    }

    async fn bucket(
        &self,
        ctx: &TenantCtx,
        id: BucketId,
    ) -> Result<Option<(BucketSettings, String)>, Unexpected> {
        Ok(self.load_bucket(ctx, Some(id)).await?)
    }

    async fn save_bucket(
        &self,
        ctx: &TenantCtx,
        bucket: &BucketSettings,
        sealed_secret: &str,
    ) -> Result<(), Unexpected> {
        self.switch_bucket(ctx, Some((bucket, sealed_secret)))
            .await?;
        Ok(())
    }

    async fn clear_bucket(&self, ctx: &TenantCtx) -> Result<Option<BucketSettings>, Unexpected> {
        Ok(self.switch_bucket(ctx, None).await?)
    }

    async fn move_state(&self, ctx: &TenantCtx) -> Result<MoveState, Unexpected> {
        Ok(self.load_move_state(ctx).await?)
    }

    async fn misplaced_files(
        &self,
        ctx: &TenantCtx,
        limit: u32,
    ) -> Result<(Location, Vec<StoredFile>), Unexpected> {
        Ok(self.load_misplaced(ctx, limit).await?)
    }

    async fn drop_empty_buckets(&self, ctx: &TenantCtx) -> Result<(), Unexpected> {
        Ok(self.remove_empty_buckets(ctx).await?)
    }
}
