//! A tenant's data exports: the record of each, its job queued with it, its expiry queued
//! when it completes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_archive::exports::{COMPLETED, FAILED};
use tenantry_archive::{DataExport, ExportChange, ExportRepository, ExportStatus};
use tenantry_jobs::Job;
use tenantry_kernel::{ExportId, Page, PageRequest, TenantCtx, TenantId, Unexpected, UserId};

use crate::db::Db;
use crate::error::StoreError;
use crate::paging::{after_id, fetch};
use crate::types::DbInstant;
use crate::types::DbUuid;
use crate::types::{count, stored};

#[derive(Queryable)]
struct ExportRow {
    tenant_id: DbUuid,
    id: DbUuid,
    status: String,
    recipients: String,
    requested_by: Option<DbUuid>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    rows_written: i64,
    files_written: i64,
    size: Option<i64>,
    sha256: Option<String>,
    error: Option<String>,
}

impl TryFrom<ExportRow> for DataExport {
    type Error = StoreError;

    fn try_from(r: ExportRow) -> Result<Self, StoreError> {
        Ok(DataExport {
            id: ExportId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            status: ExportStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("export status {}", r.status)))?,
            recipients: serde_json::from_str(&r.recipients)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            requested_by: r.requested_by.map(|u| UserId::from_uuid(u.0)),
            created_at: r.created_at,
            started_at: r.started_at,
            completed_at: r.completed_at,
            expires_at: r.expires_at,
            rows: count(r.rows_written)?,
            files: count(r.files_written)?,
            size: r.size.map(count).transpose()?,
            sha256: r.sha256,
            error: r.error,
        })
    }
}

impl Db {
    async fn insert_export(&self, ctx: &TenantCtx, e: &DataExport) -> Result<(), StoreError> {
        let recipients =
            serde_json::to_string(&e.recipients).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        mutate!(self, ctx, |conn, log| {
            exports::insert(
                ctx,
                (
                    exports::id.eq(DbUuid::from(e.id)),
                    exports::status.eq(e.status.as_str()),
                    exports::recipients.eq(&recipients),
                    exports::requested_by.eq(e.requested_by.map(DbUuid::from)),
                    exports::created_at.eq(e.created_at),
                ),
            )
            .execute(conn)
            .await?;
            log.created(e);
            log.enqueue(Job::TenantExport { export_id: e.id });
            Ok(())
        })
    }

    async fn load_export(
        &self,
        ctx: &TenantCtx,
        id: ExportId,
    ) -> Result<Option<DataExport>, StoreError> {
        let row: Option<ExportRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(exports::of(ctx)
                .filter(exports::id.eq(DbUuid::from(id)))
                .first(conn)
                .await
                .optional()?)
        })?;
        row.map(DataExport::try_from).transpose()
    }

    async fn load_exports(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<DataExport>, StoreError> {
        let before = after_id(page)?;
        let rows: Vec<ExportRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut q = exports::of(ctx).into_boxed();
            if let Some(before) = before {
                q = q.filter(exports::id.lt(before));
            }
            Ok(q.order(exports::id.desc())
                .limit(fetch(page))
                .load(conn)
                .await?)
        })?;
        let items = rows
            .into_iter()
            .map(DataExport::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |e: &DataExport| {
            e.id.to_string()
        }))
    }

    async fn any_export_pending(&self, ctx: &TenantCtx) -> Result<bool, StoreError> {
        let pending = [
            ExportStatus::Queued.as_str(),
            ExportStatus::Running.as_str(),
        ];
        let n: i64 = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(exports::of(ctx)
                .filter(exports::status.eq_any(pending))
                .count()
                .get_result(conn)
                .await?)
        })?;
        Ok(n > 0)
    }

    async fn save_export(
        &self,
        ctx: &TenantCtx,
        e: &DataExport,
        change: ExportChange,
    ) -> Result<bool, StoreError> {
        let (rows, files) = (stored(e.rows)?, stored(e.files)?);
        let size = e.size.map(stored).transpose()?;
        mutate!(self, ctx, |conn, log| {
            let old: Option<ExportRow> = exports::of(ctx)
                .filter(exports::id.eq(DbUuid::from(e.id)))
                .first(conn)
                .await
                .optional()?;
            let Some(old) = old else { return Ok(false) };
            diesel::update(exports::of(ctx).filter(exports::id.eq(DbUuid::from(e.id))))
                .set((
                    exports::status.eq(e.status.as_str()),
                    exports::started_at.eq(e.started_at),
                    exports::completed_at.eq(e.completed_at),
                    exports::expires_at.eq(e.expires_at),
                    exports::rows_written.eq(rows),
                    exports::files_written.eq(files),
                    exports::size.eq(size),
                    exports::sha256.eq(&e.sha256),
                    exports::error.eq(&e.error),
                ))
                .execute(conn)
                .await?;
            let old = DataExport::try_from(old)?;
            match change {
                ExportChange::Completed => {
                    log.updated_as(COMPLETED, &old, e);
                    if let Some(at) = e.expires_at {
                        log.enqueue_at(Job::ExpireExport { export_id: e.id }, at);
                    }
                }
                ExportChange::Failed => log.updated_as(FAILED, &old, e),
                ExportChange::Started | ExportChange::Progress | ExportChange::Expired => {}
            }
            Ok(true)
        })
    }
}

impl ExportRepository for Db {
    async fn create_export(
        &self,
        ctx: &TenantCtx,
        export: &DataExport,
    ) -> Result<bool, Unexpected> {
        match self.insert_export(ctx, export).await {
            Ok(()) => Ok(true),
            // `exports_one_pending`: another request got there first.
            Err(e) if e.is_unique_violation_of("exports") => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn export(
        &self,
        ctx: &TenantCtx,
        id: ExportId,
    ) -> Result<Option<DataExport>, Unexpected> {
        Ok(self.load_export(ctx, id).await?)
    }

    async fn exports(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<DataExport>, Unexpected> {
        Ok(self.load_exports(ctx, page).await?)
    }

    async fn export_pending(&self, ctx: &TenantCtx) -> Result<bool, Unexpected> {
        Ok(self.any_export_pending(ctx).await?)
    }

    async fn update_export(
        &self,
        ctx: &TenantCtx,
        export: &DataExport,
        change: ExportChange,
    ) -> Result<bool, Unexpected> {
        Ok(self.save_export(ctx, export, change).await?)
    }
}
