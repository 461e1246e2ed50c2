//! The tenancy ports: tenants and domains (platform tables) and tenant settings (tenant-owned).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{
    ChangeCounters, ChangeVersions, DomainId, Email, Page, PageRequest, TenantCtx, TenantId,
    Unexpected,
};
use tenantry_tenancy::{
    AddDomainError, Branding, Color, CreateTenantError, Domain, DomainKind, DomainRepository,
    DomainStatus, Hostname, Locale, Maintenance, MaintenanceMessage, NewTenant, SavedDomain,
    SecurityPolicy, SettingsPatch, SettingsRepository, Slug, Tenant, TenantFilter, TenantName,
    TenantRepository, TenantSettings, TenantStatus, TimeZone, WebUrl,
};

use crate::db::Db;
use crate::error::StoreError;
use crate::types::DbInstant;
use crate::types::DbUuid;

/// Host resolution's statement: the tenant of a verified hostname (with the backend's schema in
/// scope). Its SQLite plan is checked by `Db::host_lookup_plan_sqlite`.
macro_rules! host_lookup {
    ($hostname:expr) => {
        domains::table
            .inner_join(tenants::table)
            .filter(domains::hostname.eq($hostname))
            .filter(domains::status.eq(DomainStatus::Verified.as_str()))
            .select(tenants::all_columns)
    };
}

/// The SQL text of [`host_lookup!`] on SQLite (its two parameters bound as `?`).
#[cfg(feature = "testing")]
pub(crate) fn host_lookup_sql_sqlite() -> String {
    use crate::schema::sqlite::*;
    let text = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&host_lookup!("")).to_string();
    text.split(" -- binds:")
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[derive(Queryable)]
struct TenantRow {
    id: DbUuid,
    slug: String,
    name: String,
    status: String,
    maintenance: bool,
    maintenance_message: Option<String>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
    revision: i64,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;

    fn try_from(r: TenantRow) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: TenantId::from_uuid(r.id.0),
            slug: Slug::parse(&r.slug).map_err(|_| corrupt("tenant slug", &r.slug))?,
            name: TenantName::parse(&r.name).map_err(|_| corrupt("tenant name", &r.name))?,
            status: TenantStatus::parse(&r.status)
                .ok_or_else(|| corrupt("tenant status", &r.status))?,
            maintenance: r.maintenance,
            maintenance_message: r
                .maintenance_message
                .map(|m| {
                    MaintenanceMessage::parse(&m).map_err(|_| corrupt("maintenance message", &m))
                })
                .transpose()?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            revision: r.revision,
        })
    }
}

#[derive(Queryable)]
struct DomainRow {
    id: DbUuid,
    tenant_id: DbUuid,
    hostname: String,
    kind: String,
    status: String,
    is_primary: bool,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    verified_at: Option<DateTime<Utc>>,
    verification_token: Option<String>,
    pending_since: Option<DateTime<Utc>>,
    next_check_at: Option<DateTime<Utc>>,
    last_checked_at: Option<DateTime<Utc>>,
    check_error: Option<String>,
    lost_at: Option<DateTime<Utc>>,
    cname_target: Option<String>,
    revision: i64,
}

impl TryFrom<DomainRow> for Domain {
    type Error = StoreError;

    fn try_from(r: DomainRow) -> Result<Self, StoreError> {
        Ok(Domain {
            id: DomainId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            hostname: Hostname::parse(&r.hostname).map_err(|_| corrupt("hostname", &r.hostname))?,
            kind: DomainKind::parse(&r.kind).ok_or_else(|| corrupt("domain kind", &r.kind))?,
            status: DomainStatus::parse(&r.status)
                .ok_or_else(|| corrupt("domain status", &r.status))?,
            is_primary: r.is_primary,
            created_at: r.created_at,
            verified_at: r.verified_at,
            verification_token: r.verification_token,
            pending_since: r.pending_since,
            next_check_at: r.next_check_at,
            last_checked_at: r.last_checked_at,
            check_error: r.check_error,
            lost_at: r.lost_at,
            cname_target: r.cname_target,
            revision: r.revision,
        })
    }
}

#[derive(Queryable)]
struct SettingsRow {
    tenant_id: DbUuid,
    display_name: Option<String>,
    logo_url: Option<String>,
    primary_color: Option<String>,
    support_email: Option<String>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
    support_url: Option<String>,
    locale: Option<String>,
    time_zone: Option<String>,
    security: String,
}

impl SettingsRow {
    /// The settings, with the maintenance state kept on the tenant's record.
    fn into_settings(self, tenant: &TenantRow) -> Result<TenantSettings, StoreError> {
        fn opt<T, E>(
            v: Option<String>,
            what: &str,
            parse: impl Fn(&str) -> Result<T, E>,
        ) -> Result<Option<T>, StoreError> {
            v.map(|s| parse(&s).map_err(|_| corrupt(what, &s)))
                .transpose()
        }
        Ok(TenantSettings {
            tenant_id: TenantId::from_uuid(self.tenant_id.0),
            branding: Branding {
                display_name: opt(self.display_name, "display name", TenantName::parse)?,
                logo_url: opt(self.logo_url, "logo URL", WebUrl::stored)?,
                primary_color: opt(self.primary_color, "colour", Color::parse)?,
                support_email: opt(self.support_email, "support e-mail", Email::parse)?,
                support_url: opt(self.support_url, "support URL", WebUrl::stored)?,
            },
            locale: opt(self.locale, "locale", Locale::parse)?,
            time_zone: opt(self.time_zone, "time zone", TimeZone::parse)?,
            maintenance: Maintenance {
                enabled: tenant.maintenance,
                message: opt(
                    tenant.maintenance_message.clone(),
                    "maintenance message",
                    MaintenanceMessage::parse,
                )?,
            },
            security: SecurityPolicy::from_json(&self.security)
                .map_err(|e| StoreError::Corrupt(e.0))?,
            updated_at: self.updated_at,
        })
    }
}

/// A settings row's values (all but the tenant id), in `tenant_settings` order.
macro_rules! settings_values {
    ($s:expr) => {{
        let s: &tenantry_tenancy::TenantSettings = $s;
        let b = &s.branding;
        let text = |v: Option<&str>| v.map(str::to_owned);
        (
            tenant_settings::display_name.eq(text(b.display_name.as_ref().map(|v| v.as_str()))),
            tenant_settings::logo_url.eq(text(b.logo_url.as_ref().map(|v| v.as_str()))),
            tenant_settings::primary_color.eq(text(b.primary_color.as_ref().map(|v| v.as_str()))),
            tenant_settings::support_email.eq(text(b.support_email.as_ref().map(|v| v.as_str()))),
            tenant_settings::updated_at.eq(s.updated_at),
            tenant_settings::support_url.eq(text(b.support_url.as_ref().map(|v| v.as_str()))),
            tenant_settings::locale.eq(text(s.locale.as_ref().map(|v| v.as_str()))),
            tenant_settings::time_zone.eq(text(s.time_zone.as_ref().map(|v| v.as_str()))),
            tenant_settings::security.eq(s.security.to_json()),
        )
    }};
}
pub(crate) use settings_values;

/// Records, in the same transaction, that tenants or domains changed: every instance's
/// resolution cache follows this counter (see `Db::change_versions`).
macro_rules! bump_tenancy_version {
    ($conn:ident) => {
        diesel::update(platform_changes::table)
            .set(platform_changes::tenancy_version.eq(platform_changes::tenancy_version + 1))
            .execute($conn)
            .await?;
    };
}
pub(crate) use bump_tenancy_version;

/// Records, in the same transaction, that access ended somewhere (sessions revoked, a member
/// removed, a role changed), and evaluates to the counter's new value: every instance
/// follows this counter to drop its membership cache and learn the revoked sessions (see
/// `Db::change_versions`).
macro_rules! bump_access_version {
    ($conn:ident) => {{
        let version: i64 = diesel::update(platform_changes::table)
            .set(platform_changes::access_version.eq(platform_changes::access_version + 1))
            .returning(platform_changes::access_version)
            .get_result($conn)
            .await?;
        version
    }};
}
pub(crate) use bump_access_version;

/// Inserts a new tenant's rows (tenant, subdomain, settings) inside a transaction scoped to
/// it (`$ctx`), logging the settings in `$log`; shared by tenant creation and onboarding.
macro_rules! insert_tenant_rows {
    ($conn:ident, $log:ident, $ctx:expr, $new:expr) => {{
        $crate::tenancy::insert_tenant_rows!(@rows $conn, $log, $ctx, $new);
        $crate::billing::start_subscription!($conn, $log, &$new.tenant);
    }};
    // On the plan with this code.
    ($conn:ident, $log:ident, $ctx:expr, $new:expr, plan = $code:expr) => {{
        $crate::tenancy::insert_tenant_rows!(@rows $conn, $log, $ctx, $new);
        $crate::billing::start_subscription!($conn, $log, &$new.tenant, plan = $code);
    }};
    (@rows $conn:ident, $log:ident, $ctx:expr, $new:expr) => {{
        let new: &tenantry_tenancy::NewTenant = $new;
        diesel::insert_into(tenants::table)
            .values($crate::tenancy::tenant_values!(&new.tenant))
            .execute($conn)
            .await?;
        insert_domain!($conn, &new.subdomain);
        tenant_settings::insert($ctx, $crate::tenancy::settings_values!(&new.settings))
            .execute($conn)
            .await?;
        $log.created(&new.settings);
    }};
}
pub(crate) use insert_tenant_rows;

/// Inserts a domain row; shared by tenant creation and `add_domain`.
macro_rules! insert_domain {
    ($conn:ident, $d:expr) => {{
        diesel::insert_into(domains::table)
            .values($crate::tenancy::domain_values!($d))
            .execute($conn)
            .await?;
        bump_tenancy_version!($conn);
    }};
}
pub(crate) use insert_domain;

/// A tenant's columns.
macro_rules! tenant_values {
    ($t:expr) => {{
        let t: &tenantry_tenancy::Tenant = $t;
        (
            tenants::id.eq(DbUuid::from(t.id)),
            tenants::slug.eq(t.slug.as_str()),
            tenants::name.eq(t.name.as_str()),
            tenants::status.eq(t.status.as_str()),
            tenants::maintenance.eq(t.maintenance),
            tenants::maintenance_message.eq(t.maintenance_message.as_ref().map(|m| m.as_str())),
            tenants::created_at.eq(t.created_at),
            tenants::updated_at.eq(t.updated_at),
        )
    }};
}
pub(crate) use tenant_values;

/// A domain's columns.
macro_rules! domain_values {
    ($d:expr) => {{
        let d: &tenantry_tenancy::Domain = $d;
        (
            domains::id.eq(DbUuid::from(d.id)),
            domains::tenant_id.eq(DbUuid::from(d.tenant_id)),
            domains::hostname.eq(d.hostname.as_str()),
            domains::kind.eq(d.kind.as_str()),
            domains::status.eq(d.status.as_str()),
            domains::is_primary.eq(d.is_primary),
            domains::created_at.eq(d.created_at),
            domains::verified_at.eq(d.verified_at),
            domains::verification_token.eq(d.verification_token.as_deref()),
            domains::pending_since.eq(d.pending_since),
            domains::next_check_at.eq(d.next_check_at),
        )
    }};
}
pub(crate) use domain_values;

impl Db {
    async fn insert_tenant(&self, ctx: &TenantCtx, new: &NewTenant) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            insert_tenant_rows!(conn, log, ctx, new);
            Ok(())
        })
    }

    async fn load_tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = run!(self, read, |conn| {
            tenants::table
                .find(DbUuid::from(id))
                .first(conn)
                .await
                .optional()?
        });
        row.map(Tenant::try_from).transpose()
    }

    async fn load_tenant_by_slug(&self, slug: &Slug) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = run!(self, read, |conn| {
            tenants::table
                .filter(tenants::slug.eq(slug.as_str()))
                .first(conn)
                .await
                .optional()?
        });
        row.map(Tenant::try_from).transpose()
    }

    async fn load_tenants(
        &self,
        filter: &TenantFilter,
        page: &PageRequest,
    ) -> Result<Page<Tenant>, StoreError> {
        let after = match &page.after {
            None => None,
            Some(c) => match uuid::Uuid::parse_str(&c.key()) {
                Ok(id) => Some(DbUuid(id)),
                // Not a cursor of this list: nothing comes after it.
                Err(_) => {
                    return Ok(Page {
                        items: vec![],
                        next_cursor: None,
                    });
                }
            },
        };
        let status = filter.status.map(TenantStatus::as_str);
        let fetch = i64::from(page.limit.get()) + 1;
        let rows: Vec<TenantRow> = run!(self, read, |conn| {
            let mut q = tenants::table.into_boxed();
            if let Some(status) = status {
                q = q.filter(tenants::status.eq(status));
            }
            if let Some(after) = after {
                q = q.filter(tenants::id.gt(after));
            }
            q.order(tenants::id.asc()).limit(fetch).load(conn).await?
        });
        let tenants = rows
            .into_iter()
            .map(Tenant::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(tenants, page.limit, |t| t.id.to_string()))
    }

    async fn update_tenant(&self, t: &Tenant) -> Result<bool, StoreError> {
        let n = tx!(self, write, platform, |conn| {
            bump_tenancy_version!(conn);
            Ok(diesel::update(
                tenants::table
                    .find(DbUuid::from(t.id))
                    .filter(tenants::revision.eq(t.revision)),
            )
            .set((
                tenants::revision.eq(t.revision + 1),
                tenants::name.eq(t.name.as_str()),
                tenants::status.eq(t.status.as_str()),
                tenants::maintenance.eq(t.maintenance),
                tenants::maintenance_message.eq(t.maintenance_message.as_ref().map(|m| m.as_str())),
                tenants::updated_at.eq(t.updated_at),
            ))
            .execute(conn)
            .await?)
        })?;
        Ok(n == 1)
    }

    async fn load_domains(&self, tenant: TenantId) -> Result<Vec<Domain>, StoreError> {
        let rows: Vec<DomainRow> = run!(self, read, |conn| {
            domains::table
                .filter(domains::tenant_id.eq(DbUuid::from(tenant)))
                .order((domains::is_primary.desc(), domains::id.asc()))
                .load(conn)
                .await?
        });
        rows.into_iter().map(Domain::try_from).collect()
    }

    async fn insert_custom_domain(&self, ctx: &TenantCtx, d: &Domain) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            insert_domain!(conn, d);
            log.created(d);
            Ok(())
        })
    }

    /// Saves a checked (or overridden) domain over the revision it was read at.
    async fn write_domain(
        &self,
        ctx: &TenantCtx,
        before: &Domain,
        after: &Domain,
        action: Option<&'static str>,
    ) -> Result<SavedDomain, StoreError> {
        let tenant = DbUuid::from(ctx.tenant_id());
        // Only what changes routing moves every instance's resolution cache on.
        let routing = before.status != after.status || before.is_primary != after.is_primary;
        let saved = mutate!(self, ctx, |conn, log| {
            let n = diesel::update(
                domains::table
                    .filter(domains::id.eq(DbUuid::from(before.id)))
                    .filter(domains::tenant_id.eq(tenant))
                    .filter(domains::revision.eq(before.revision)),
            )
            .set((
                domains::status.eq(after.status.as_str()),
                domains::is_primary.eq(after.is_primary),
                domains::verified_at.eq(after.verified_at),
                domains::pending_since.eq(after.pending_since),
                domains::next_check_at.eq(after.next_check_at),
                domains::last_checked_at.eq(after.last_checked_at),
                domains::check_error.eq(after.check_error.as_deref()),
                domains::lost_at.eq(after.lost_at),
                domains::cname_target.eq(after.cname_target.as_deref()),
                domains::revision.eq(before.revision + 1),
            ))
            .execute(conn)
            .await?;
            if n == 0 {
                return Ok(SavedDomain::Stale);
            }
            if before.is_primary && !after.is_primary {
                subdomain_becomes_primary!(conn, tenant);
            }
            if routing {
                bump_tenancy_version!(conn);
            }
            if let Some(action) = action {
                log.updated_as(action, before, after);
            }
            Ok(SavedDomain::Saved)
        });
        match saved {
            // Another tenant's verified claim holds the hostname.
            Err(e) if e.is_unique_violation_of("hostname") => Ok(SavedDomain::HostnameTaken),
            other => other,
        }
    }

    async fn promote_domain(&self, ctx: &TenantCtx, d: &Domain) -> Result<SavedDomain, StoreError> {
        let tenant = DbUuid::from(ctx.tenant_id());
        let promoted = mutate!(self, ctx, |conn, log| {
            let rows: Vec<DomainRow> = domains::table
                .filter(domains::tenant_id.eq(tenant))
                .load(conn)
                .await?;
            let domains = rows
                .into_iter()
                .map(Domain::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            let Some(target) = domains
                .iter()
                .find(|x| x.id == d.id && x.status == DomainStatus::Verified)
            else {
                return Ok(SavedDomain::Stale);
            };
            // Clear the old primary first: the partial unique index allows one per tenant
            // at any statement boundary.
            for old in domains.iter().filter(|x| x.is_primary && x.id != d.id) {
                diesel::update(domains::table.find(DbUuid::from(old.id)))
                    .set((
                        domains::is_primary.eq(false),
                        domains::revision.eq(domains::revision + 1),
                    ))
                    .execute(conn)
                    .await?;
                let mut after = old.clone();
                after.is_primary = false;
                log.updated(old, &after);
            }
            diesel::update(domains::table.find(DbUuid::from(target.id)))
                .set((
                    domains::is_primary.eq(true),
                    domains::revision.eq(domains::revision + 1),
                ))
                .execute(conn)
                .await?;
            let mut after = target.clone();
            after.is_primary = true;
            log.updated(target, &after);
            bump_tenancy_version!(conn);
            Ok(SavedDomain::Saved)
        })?;
        Ok(promoted)
    }

    async fn delete_domain(&self, ctx: &TenantCtx, d: &Domain) -> Result<bool, StoreError> {
        let tenant = DbUuid::from(ctx.tenant_id());
        mutate!(self, ctx, |conn, log| {
            let n = diesel::delete(
                domains::table
                    .filter(domains::id.eq(DbUuid::from(d.id)))
                    .filter(domains::tenant_id.eq(tenant))
                    .filter(domains::kind.eq(DomainKind::Custom.as_str())),
            )
            .execute(conn)
            .await?;
            if n == 0 {
                return Ok(false);
            }
            if d.is_primary {
                subdomain_becomes_primary!(conn, tenant);
            }
            bump_tenancy_version!(conn);
            log.deleted(d);
            Ok(true)
        })
    }

    async fn load_due_domains(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Domain>, StoreError> {
        let rows: Vec<DomainRow> = run!(self, read, |conn| {
            domains::table
                .filter(domains::next_check_at.le(now))
                .order(domains::next_check_at.asc())
                .limit(i64::from(limit))
                .load(conn)
                .await?
        });
        rows.into_iter().map(Domain::try_from).collect()
    }

    async fn tenant_for_host(&self, hostname: &Hostname) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = run!(self, read, |conn| {
            host_lookup!(hostname.as_str())
                .first(conn)
                .await
                .optional()?
        });
        row.map(Tenant::try_from).transpose()
    }

    async fn load_settings(&self, ctx: &TenantCtx) -> Result<TenantSettings, StoreError> {
        let rows: Option<(SettingsRow, TenantRow)> =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                let settings: Option<SettingsRow> =
                    tenant_settings::of(ctx).first(conn).await.optional()?;
                let tenant: Option<TenantRow> = tenants::table
                    .find(DbUuid::from(ctx.tenant_id()))
                    .first(conn)
                    .await
                    .optional()?;
                Ok(settings.zip(tenant))
            })?;
        let (settings, tenant) = rows.ok_or_else(|| {
            StoreError::Corrupt(format!("tenant {} has no settings", ctx.tenant_id()))
        })?;
        settings.into_settings(&tenant)
    }

    /// Read-modify-write under the settings row's lock (taken by a no-op update): a
    /// concurrent patch applies after this one, to what this one saved.
    async fn patch_settings(
        &self,
        ctx: &TenantCtx,
        patch: &SettingsPatch,
        at: DateTime<Utc>,
    ) -> Result<TenantSettings, StoreError> {
        let id = DbUuid::from(ctx.tenant_id());
        mutate!(self, ctx, |conn, log| {
            let missing =
                || StoreError::Corrupt(format!("tenant {} has no settings", ctx.tenant_id()));
            let row: SettingsRow = diesel::update(tenant_settings::of(ctx))
                .set(tenant_settings::updated_at.eq(tenant_settings::updated_at))
                .get_result(conn)
                .await
                .optional()?
                .ok_or_else(missing)?;
            let tenant: TenantRow = tenants::table.find(id).first(conn).await?;
            let old = row.into_settings(&tenant)?;
            let mut new = old.clone();
            patch.clone().apply_to(&mut new);
            new.updated_at = at;
            diesel::update(tenant_settings::of(ctx))
                .set(settings_values!(&new))
                .execute(conn)
                .await?;
            if new.maintenance != old.maintenance {
                diesel::update(tenants::table.find(id))
                    .set((
                        tenants::maintenance.eq(new.maintenance.enabled),
                        tenants::maintenance_message.eq(new
                            .maintenance
                            .message
                            .as_ref()
                            .map(|m| m.as_str())),
                        tenants::updated_at.eq(at),
                        tenants::revision.eq(tenants::revision + 1),
                    ))
                    .execute(conn)
                    .await?;
            }
            // Every instance's edge caches (branding on refusals, security policy) follow.
            bump_tenancy_version!(conn);
            log.updated(&old, &new);
            Ok(new)
        })
    }
}

/// Makes the tenant's subdomain its primary domain again (after the primary custom domain
/// went or stopped routing).
macro_rules! subdomain_becomes_primary {
    ($conn:ident, $tenant:expr) => {
        diesel::update(
            domains::table
                .filter(domains::tenant_id.eq($tenant))
                .filter(domains::kind.eq(DomainKind::Subdomain.as_str())),
        )
        .set((
            domains::is_primary.eq(true),
            domains::revision.eq(domains::revision + 1),
        ))
        .execute($conn)
        .await?;
    };
}
use subdomain_becomes_primary;

impl TenantRepository for Db {
    async fn create_tenant(
        &self,
        ctx: &TenantCtx,
        new: &NewTenant,
    ) -> Result<(), CreateTenantError> {
        self.insert_tenant(ctx, new).await.map_err(|e| {
            if e.is_unique_violation() {
                CreateTenantError::SlugTaken {
                    slug: new.tenant.slug.to_string(),
                }
            } else {
                CreateTenantError::Unexpected(e.into())
            }
        })
    }

    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, Unexpected> {
        Ok(self.load_tenant_by_id(id).await?)
    }

    async fn tenant_by_slug(&self, slug: &Slug) -> Result<Option<Tenant>, Unexpected> {
        Ok(self.load_tenant_by_slug(slug).await?)
    }

    async fn list_tenants(
        &self,
        filter: &TenantFilter,
        page: &PageRequest,
    ) -> Result<Page<Tenant>, Unexpected> {
        Ok(self.load_tenants(filter, page).await?)
    }

    async fn save_tenant(&self, tenant: &Tenant) -> Result<bool, Unexpected> {
        Ok(self.update_tenant(tenant).await?)
    }
}

impl DomainRepository for Db {
    async fn add_domain(&self, ctx: &TenantCtx, domain: &Domain) -> Result<(), AddDomainError> {
        self.insert_custom_domain(ctx, domain).await.map_err(|e| {
            if e.is_unique_violation() {
                AddDomainError::AlreadyAdded {
                    hostname: domain.hostname.to_string(),
                }
            } else {
                AddDomainError::Unexpected(e.into())
            }
        })
    }

    async fn domains_of(&self, tenant: TenantId) -> Result<Vec<Domain>, Unexpected> {
        Ok(self.load_domains(tenant).await?)
    }

    async fn save_domain(
        &self,
        ctx: &TenantCtx,
        before: &Domain,
        after: &Domain,
        action: Option<&'static str>,
    ) -> Result<SavedDomain, Unexpected> {
        Ok(self.write_domain(ctx, before, after, action).await?)
    }

    async fn make_primary(
        &self,
        ctx: &TenantCtx,
        domain: &Domain,
    ) -> Result<SavedDomain, Unexpected> {
        Ok(self.promote_domain(ctx, domain).await?)
    }

    async fn remove_domain(&self, ctx: &TenantCtx, domain: &Domain) -> Result<bool, Unexpected> {
        Ok(self.delete_domain(ctx, domain).await?)
    }

    async fn due_domains(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Domain>, Unexpected> {
        Ok(self.load_due_domains(now, limit).await?)
    }

    async fn tenant_by_verified_hostname(
        &self,
        hostname: &Hostname,
    ) -> Result<Option<Tenant>, Unexpected> {
        Ok(self.tenant_for_host(hostname).await?)
    }
}

impl SettingsRepository for Db {
    async fn settings(&self, ctx: &TenantCtx) -> Result<TenantSettings, Unexpected> {
        Ok(self.load_settings(ctx).await?)
    }

    async fn update_settings(
        &self,
        ctx: &TenantCtx,
        patch: &SettingsPatch,
        at: DateTime<Utc>,
    ) -> Result<TenantSettings, Unexpected> {
        Ok(self.patch_settings(ctx, patch, at).await?)
    }
}

impl Db {
    async fn read_change_versions(&self) -> Result<ChangeVersions, StoreError> {
        let (tenancy, access) = run!(self, read, |conn| {
            platform_changes::table
                .select((
                    platform_changes::tenancy_version,
                    platform_changes::access_version,
                ))
                .first::<(i64, i64)>(conn)
                .await?
        });
        Ok(ChangeVersions { tenancy, access })
    }
}

impl ChangeCounters for Db {
    /// Each counter moves on every committed change of its kind, made by any process.
    async fn change_versions(&self) -> Result<ChangeVersions, Unexpected> {
        Ok(self.read_change_versions().await?)
    }
}
