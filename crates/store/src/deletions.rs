//! Tenants' deletions and purges: the pending request (suspending the tenant, the purge job
//! queued with it), the purge's one transaction, and the certificates that stay.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use tenantry_archive::purge::{CANCELLED, Certify, REQUESTED, TenantObjects};
use tenantry_archive::{DeletionRepository, Purge, TenantDeletion};
use tenantry_jobs::Job;
use tenantry_kernel::{
    BackupId, BucketId, ExportId, FileId, Page, PageRequest, PurgeId, TenantCtx, TenantId,
    Unexpected, UserId,
};
use tenantry_tenancy::TenantStatus;

use crate::db::{CrossTenant, Db, Rescope as _, Scope};
use crate::error::StoreError;
use crate::paging::{after_id, fetch};
use crate::personal::forget_address;
use crate::tenancy::bump_tenancy_version;
use crate::types::DbInstant;
use crate::types::DbUuid;
use crate::types::{count, stored};

#[derive(Queryable)]
struct DeletionRow {
    tenant_id: DbUuid,
    requested_by: Option<DbUuid>,
    #[diesel(deserialize_as = DbInstant)]
    requested_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    purge_after: DateTime<Utc>,
    purge_started_at: Option<DateTime<Utc>>,
}

impl From<DeletionRow> for TenantDeletion {
    fn from(r: DeletionRow) -> Self {
        Self {
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            requested_by: r.requested_by.map(|u| UserId::from_uuid(u.0)),
            requested_at: r.requested_at,
            purge_after: r.purge_after,
            purge_started_at: r.purge_started_at,
        }
    }
}

#[derive(Queryable)]
struct PurgeRow {
    id: DbUuid,
    tenant_id: DbUuid,
    slug: String,
    requested_by: Option<DbUuid>,
    #[diesel(deserialize_as = DbInstant)]
    requested_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    purged_at: DateTime<Utc>,
    row_counts: String,
    objects: i64,
    accounts: i64,
    certificate: String,
}

impl TryFrom<PurgeRow> for Purge {
    type Error = StoreError;

    fn try_from(r: PurgeRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: PurgeId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            slug: r.slug,
            requested_by: r.requested_by.map(|u| UserId::from_uuid(u.0)),
            requested_at: r.requested_at,
            purged_at: r.purged_at,
            rows: serde_json::from_str(&r.row_counts)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            objects: count(r.objects)?,
            accounts: count(r.accounts)?,
            certificate: r.certificate,
        })
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every table of the live schema with a `tenant_id` column but the purges' own: where a
/// tenant's rows can be. Read from the schema, so a table added later is counted, purged
/// and checked without being named here.
const PG_TENANT_COLUMNS: &str = "SELECT c.relname::text AS name FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'purges'
    ORDER BY 1";
const SQLITE_TENANT_COLUMNS: &str =
    "SELECT m.name AS name FROM sqlite_master m, pragma_table_info(m.name) p
    WHERE m.type = 'table' AND p.name = 'tenant_id' AND m.name <> 'purges'
    ORDER BY 1";

/// Rows of `$tenant` in `$table` (a name read from the live schema, never from a request).
macro_rules! rows_of {
    ($conn:ident, $table:expr, $tenant:expr) => {{
        let c: Count = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM {} WHERE tenant_id = '{}'",
            $table, $tenant
        ))
        .get_result($conn)
        .await?;
        c.n
    }};
}

/// Sets the tenant's status (a request suspends it, a cancellation resumes it), telling every
/// instance's resolution cache.
macro_rules! set_status {
    ($conn:ident, $tenant:expr, $status:expr, $now:expr) => {
        bump_tenancy_version!($conn);
        diesel::update(tenants::table.find(DbUuid::from($tenant)))
            .set((
                tenants::status.eq($status.as_str()),
                tenants::revision.eq(tenants::revision + 1),
                tenants::updated_at.eq($now),
            ))
            .execute($conn)
            .await?;
    };
}

impl Db {
    /// The tables a tenant's rows can be in (see [`PG_TENANT_COLUMNS`]).
    pub async fn tables_with_tenant_rows(&self) -> Result<Vec<String>, StoreError> {
        let sql = match self.backend() {
            crate::db::Backend::Postgres => PG_TENANT_COLUMNS,
            crate::db::Backend::Sqlite => SQLITE_TENANT_COLUMNS,
        };
        let names: Vec<Name> = run!(self, read, |conn| diesel::sql_query(sql).load(conn).await?);
        Ok(names.into_iter().map(|n| n.name).collect())
    }

    async fn insert_deletion(
        &self,
        ctx: &TenantCtx,
        d: &TenantDeletion,
    ) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let pending: i64 = tenant_deletions::of(ctx).count().get_result(conn).await?;
            if pending > 0 {
                return Ok(false);
            }
            tenant_deletions::insert(
                ctx,
                (
                    tenant_deletions::requested_by.eq(d.requested_by.map(DbUuid::from)),
                    tenant_deletions::requested_at.eq(d.requested_at),
                    tenant_deletions::purge_after.eq(d.purge_after),
                ),
            )
            .execute(conn)
            .await?;
            set_status!(
                conn,
                ctx.tenant_id(),
                TenantStatus::Suspended,
                d.requested_at
            );
            log.created_as(REQUESTED, d);
            log.enqueue_at(Job::PurgeTenant, d.purge_after);
            Ok(true)
        })
    }

    async fn load_deletion(&self, ctx: &TenantCtx) -> Result<Option<TenantDeletion>, StoreError> {
        let row: Option<DeletionRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(tenant_deletions::of(ctx).first(conn).await.optional()?)
        })?;
        Ok(row.map(TenantDeletion::from))
    }

    async fn remove_deletion(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
    ) -> Result<Option<TenantDeletion>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let row: Option<DeletionRow> =
                tenant_deletions::of(ctx).first(conn).await.optional()?;
            let Some(row) = row else { return Ok(None) };
            // Not once its purge began (on PostgreSQL a purge starting now holds the row: this
            // waits for it, then finds the row marked, or gone).
            let removed = diesel::delete(
                tenant_deletions::of(ctx).filter(tenant_deletions::purge_started_at.is_null()),
            )
            .execute(conn)
            .await?;
            if removed == 0 {
                let now_row: Option<DeletionRow> =
                    tenant_deletions::of(ctx).first(conn).await.optional()?;
                return Ok(now_row.map(TenantDeletion::from));
            }
            set_status!(conn, ctx.tenant_id(), TenantStatus::Active, now);
            let d = TenantDeletion::from(row);
            log.deleted_as(CANCELLED, &d);
            Ok(Some(d))
        })
    }

    async fn begin_purge(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
    ) -> Result<Option<TenantDeletion>, StoreError> {
        mutate!(self, ctx, |conn, _log| {
            let row: Option<DeletionRow> =
                tenant_deletions::of(ctx).first(conn).await.optional()?;
            let Some(row) = row else { return Ok(None) };
            if row.purge_after > now {
                return Ok(None);
            }
            let started = row.purge_started_at.unwrap_or(now);
            // Holds the row (PostgreSQL) until this commits; a cancellation racing in finds it
            // marked, or this finds it gone.
            let marked = diesel::update(tenant_deletions::of(ctx))
                .set(tenant_deletions::purge_started_at.eq(Some(started)))
                .execute(conn)
                .await?;
            if marked == 0 {
                return Ok(None);
            }
            let mut d = TenantDeletion::from(row);
            d.purge_started_at = Some(started);
            Ok(Some(d))
        })
    }

    async fn load_tenant_objects(&self, ctx: &TenantCtx) -> Result<TenantObjects, StoreError> {
        tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let files: Vec<(DbUuid, Option<DbUuid>)> = files::of(ctx)
                .select((files::id, files::location))
                .load(conn)
                .await?;
            let exports: Vec<DbUuid> = exports::of(ctx).select(exports::id).load(conn).await?;
            let backups: Vec<DbUuid> = backups::of(ctx).select(backups::id).load(conn).await?;
            // Files deleted before whose content's removal is still queued (or gave up): the
            // cascade takes those jobs with the tenant.
            let queued: Vec<String> = jobs::table
                .filter(jobs::tenant_id.eq(Some(DbUuid::from(ctx.tenant_id()))))
                .filter(jobs::kind.eq("delete_file_content"))
                .select(jobs::payload)
                .load(conn)
                .await?;
            let deleted = queued.iter().filter_map(|p| {
                match tenantry_jobs::JobPayload::parse("delete_file_content", p) {
                    tenantry_jobs::JobPayload::Known(Job::DeleteFileContent {
                        file_id,
                        location,
                    }) => Some((file_id, location)),
                    _ => None,
                }
            });
            Ok(TenantObjects {
                files: files
                    .into_iter()
                    .map(|(id, at)| {
                        (
                            FileId::from_uuid(id.0),
                            at.map(|a| BucketId::from_uuid(a.0)),
                        )
                    })
                    .chain(deleted)
                    .collect(),
                exports: exports
                    .into_iter()
                    .map(|e| ExportId::from_uuid(e.0))
                    .collect(),
                backups: backups
                    .into_iter()
                    .map(|b| BackupId::from_uuid(b.0))
                    .collect(),
            })
        })
    }

    async fn purge_rows(
        &self,
        ctx: &TenantCtx,
        d: &TenantDeletion,
        objects: u64,
        now: DateTime<Utc>,
        certify: Certify<'_>,
    ) -> Result<Purge, StoreError> {
        let tenant = ctx.tenant_id();
        let tables = self.tables_with_tenant_rows().await?;
        tx!(@scoped self, write, Scope::Tenant(tenant), |conn| {
            let slug: String = tenants::table
                .find(DbUuid::from(tenant))
                .select(tenants::slug)
                .first(conn)
                .await?;
            let mut rows = BTreeMap::new();
            for t in &tables {
                let n = rows_of!(conn, t, tenant);
                if n > 0 {
                    rows.insert(t.clone(), count(n)?);
                }
            }
            rows.insert("tenants".to_owned(), 1);
            let members: Vec<DbUuid> = memberships::of(ctx)
                .select(memberships::user_id)
                .load(conn)
                .await?;
            // Everything the tenant owns goes with it (every tenant table refers to `tenants`
            // with ON DELETE CASCADE; the guard rail checks none is left behind).
            bump_tenancy_version!(conn);
            let gone = diesel::delete(tenants::table.find(DbUuid::from(tenant)))
                .execute(conn)
                .await?;
            if gone != 1 {
                // Another run of the job purged it meanwhile: nothing of this one stays.
                return Err(StoreError::Corrupt(
                    "the tenant was purged by another run of the job".into(),
                ));
            }
            let mut left = vec![];
            for t in &tables {
                let n = rows_of!(conn, t, tenant);
                if n > 0 {
                    left.push(format!("{t} ({n})"));
                }
            }
            if !left.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "the purge would leave rows of the tenant in {}: the transaction is rolled back",
                    left.join(", ")
                )));
            }
            // Accounts that belonged to this tenant and to no other (the operator's staff
            // stay): each read in that person's own scope, which shows their memberships in
            // every tenant.
            let cross = CrossTenant::granted();
            let mut accounts = 0u64;
            for user in members {
                conn.rescope(&Scope::User(UserId::from_uuid(user.0))).await?;
                let elsewhere: i64 = memberships::unscoped(&cross)
                    .filter(memberships::user_id.eq(user))
                    .count()
                    .get_result(conn)
                    .await?;
                let staff: i64 = platform_admins::table
                    .filter(platform_admins::user_id.eq(user))
                    .count()
                    .get_result(conn)
                    .await?;
                if elsewhere == 0 && staff == 0 {
                    let email: String = users::table
                        .find(user)
                        .select(users::email_normalized)
                        .first(conn)
                        .await?;
                    forget_address!(conn, &email);
                    accounts += diesel::delete(users::table.find(user)).execute(conn).await? as u64;
                }
            }
            let mut purge = Purge {
                id: PurgeId::new(),
                tenant_id: tenant,
                slug,
                requested_by: d.requested_by,
                requested_at: d.requested_at,
                purged_at: now,
                rows,
                objects,
                accounts,
                certificate: String::new(),
            };
            purge.certificate = certify(&purge).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let row_counts =
                serde_json::to_string(&purge.rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            diesel::insert_into(purges::table)
                .values((
                    purges::id.eq(DbUuid::from(purge.id)),
                    purges::tenant_id.eq(DbUuid::from(tenant)),
                    purges::slug.eq(&purge.slug),
                    purges::requested_by.eq(purge.requested_by.map(DbUuid::from)),
                    purges::requested_at.eq(purge.requested_at),
                    purges::purged_at.eq(purge.purged_at),
                    purges::row_counts.eq(&row_counts),
                    purges::objects.eq(stored(purge.objects)?),
                    purges::accounts.eq(stored(purge.accounts)?),
                    purges::certificate.eq(&purge.certificate),
                ))
                .execute(conn)
                .await?;
            Ok(purge)
        })
    }

    async fn load_purges(&self, page: &PageRequest) -> Result<Page<Purge>, StoreError> {
        let before = after_id(page)?;
        let rows: Vec<PurgeRow> = tx!(self, read, tenant = None, |conn| {
            let mut q = purges::table.into_boxed();
            if let Some(before) = before {
                q = q.filter(purges::id.lt(before));
            }
            Ok(q.order(purges::id.desc())
                .limit(fetch(page))
                .load(conn)
                .await?)
        })?;
        let items = rows
            .into_iter()
            .map(Purge::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |p: &Purge| {
            p.id.to_string()
        }))
    }
}

impl DeletionRepository for Db {
    async fn request_deletion(
        &self,
        ctx: &TenantCtx,
        d: &TenantDeletion,
    ) -> Result<bool, Unexpected> {
        match self.insert_deletion(ctx, d).await {
            // Two requests at once on PostgreSQL: both saw none pending, the key let one in.
            Err(e) if e.is_unique_violation_of("tenant_deletions") => Ok(false),
            other => Ok(other?),
        }
    }

    async fn deletion(&self, ctx: &TenantCtx) -> Result<Option<TenantDeletion>, Unexpected> {
        Ok(self.load_deletion(ctx).await?)
    }

    async fn start_purge(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
    ) -> Result<Option<TenantDeletion>, Unexpected> {
        Ok(self.begin_purge(ctx, now).await?)
    }

    async fn cancel_deletion(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
    ) -> Result<Option<TenantDeletion>, Unexpected> {
        Ok(self.remove_deletion(ctx, now).await?)
    }

    async fn tenant_objects(&self, ctx: &TenantCtx) -> Result<TenantObjects, Unexpected> {
        Ok(self.load_tenant_objects(ctx).await?)
    }

    async fn purge_tenant(
        &self,
        ctx: &TenantCtx,
        deletion: &TenantDeletion,
        objects: u64,
        now: DateTime<Utc>,
        certify: Certify<'_>,
    ) -> Result<Purge, Unexpected> {
        Ok(self
            .purge_rows(ctx, deletion, objects, now, certify)
            .await?)
    }

    async fn purges(&self, page: &PageRequest) -> Result<Page<Purge>, Unexpected> {
        Ok(self.load_purges(page).await?)
    }
}
