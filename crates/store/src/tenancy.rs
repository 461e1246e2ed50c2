//! The tenancy ports: tenants and domains (platform tables) and tenant settings (tenant-owned).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{
    ChangeCounters, ChangeVersions, DomainId, Email, Page, PageRequest, TenantCtx, TenantId,
    Unexpected,
};
use tenantry_tenancy::{
    AddDomainError, Branding, BrandingPatch, Color, CreateTenantError, Domain, DomainKind,
    DomainRepository, DomainStatus, Hostname, MaintenanceMessage, NewTenant, SettingsRepository,
    Slug, Tenant, TenantFilter, TenantName, TenantRepository, TenantSettings, TenantStatus, WebUrl,
};

use crate::db::Db;
use crate::error::StoreError;
use crate::types::DbUuid;

#[derive(Queryable)]
struct TenantRow {
    id: DbUuid,
    slug: String,
    name: String,
    status: String,
    maintenance: bool,
    maintenance_message: Option<String>,
    created_at: DateTime<Utc>,
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
    created_at: DateTime<Utc>,
    verified_at: Option<DateTime<Utc>>,
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
    updated_at: DateTime<Utc>,
}

impl TryFrom<SettingsRow> for TenantSettings {
    type Error = StoreError;

    fn try_from(r: SettingsRow) -> Result<Self, StoreError> {
        fn opt<T, E>(
            v: Option<String>,
            what: &str,
            parse: impl Fn(&str) -> Result<T, E>,
        ) -> Result<Option<T>, StoreError> {
            v.map(|s| parse(&s).map_err(|_| corrupt(what, &s)))
                .transpose()
        }
        Ok(TenantSettings {
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            branding: Branding {
                display_name: opt(r.display_name, "display name", TenantName::parse)?,
                logo_url: opt(r.logo_url, "logo URL", WebUrl::parse)?,
                primary_color: opt(r.primary_color, "colour", Color::parse)?,
                support_email: opt(r.support_email, "support e-mail", Email::parse)?,
            },
            updated_at: r.updated_at,
        })
    }
}

/// Branding as nullable column values, in `tenant_settings` order.
pub(crate) fn branding_columns(
    b: &Branding,
) -> (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    (
        b.display_name.as_ref().map(|v| v.as_str().to_owned()),
        b.logo_url.as_ref().map(|v| v.as_str().to_owned()),
        b.primary_color.as_ref().map(|v| v.as_str().to_owned()),
        b.support_email.as_ref().map(|v| v.as_str().to_owned()),
    )
}

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
        let new: &tenantry_tenancy::NewTenant = $new;
        let t = &new.tenant;
        let (display_name, logo_url, primary_color, support_email) =
            $crate::tenancy::branding_columns(&new.settings.branding);
        diesel::insert_into(tenants::table)
            .values((
                tenants::id.eq(DbUuid::from(t.id)),
                tenants::slug.eq(t.slug.as_str()),
                tenants::name.eq(t.name.as_str()),
                tenants::status.eq(t.status.as_str()),
                tenants::maintenance.eq(t.maintenance),
                tenants::maintenance_message.eq(t.maintenance_message.as_ref().map(|m| m.as_str())),
                tenants::created_at.eq(t.created_at),
                tenants::updated_at.eq(t.updated_at),
            ))
            .execute($conn)
            .await?;
        insert_domain!($conn, &new.subdomain);
        tenant_settings::insert(
            $ctx,
            (
                tenant_settings::display_name.eq(&display_name),
                tenant_settings::logo_url.eq(&logo_url),
                tenant_settings::primary_color.eq(&primary_color),
                tenant_settings::support_email.eq(&support_email),
                tenant_settings::updated_at.eq(new.settings.updated_at),
            ),
        )
        .execute($conn)
        .await?;
        $log.created(&new.settings);
        $crate::billing::start_subscription!($conn, $log, t);
    }};
}
pub(crate) use insert_tenant_rows;

/// Inserts a domain row; shared by tenant creation and `add_domain`.
macro_rules! insert_domain {
    ($conn:ident, $d:expr) => {{
        let d: &tenantry_tenancy::Domain = $d;
        diesel::insert_into(domains::table)
            .values((
                domains::id.eq(DbUuid::from(d.id)),
                domains::tenant_id.eq(DbUuid::from(d.tenant_id)),
                domains::hostname.eq(d.hostname.as_str()),
                domains::kind.eq(d.kind.as_str()),
                domains::status.eq(d.status.as_str()),
                domains::is_primary.eq(d.is_primary),
                domains::created_at.eq(d.created_at),
                domains::verified_at.eq(d.verified_at),
            ))
            .execute($conn)
            .await?;
        bump_tenancy_version!($conn);
    }};
}
pub(crate) use insert_domain;

impl Db {
    async fn insert_tenant(&self, ctx: &TenantCtx, new: &NewTenant) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            insert_tenant_rows!(conn, log, ctx, new);
            Ok(())
        })
    }

    async fn load_tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = run!(self, |conn| {
            tenants::table
                .find(DbUuid::from(id))
                .first(conn)
                .await
                .optional()?
        });
        row.map(Tenant::try_from).transpose()
    }

    async fn load_tenant_by_slug(&self, slug: &Slug) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = run!(self, |conn| {
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
        let rows: Vec<TenantRow> = run!(self, |conn| {
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

    async fn insert_domain(&self, d: &Domain) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            insert_domain!(conn, d);
            Ok(())
        })
    }

    async fn load_domains(&self, tenant: TenantId) -> Result<Vec<Domain>, StoreError> {
        let rows: Vec<DomainRow> = run!(self, |conn| {
            domains::table
                .filter(domains::tenant_id.eq(DbUuid::from(tenant)))
                .order((domains::is_primary.desc(), domains::id.asc()))
                .load(conn)
                .await?
        });
        rows.into_iter().map(Domain::try_from).collect()
    }

    async fn verify_domain(&self, id: DomainId, at: DateTime<Utc>) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            bump_tenancy_version!(conn);
            diesel::update(domains::table.find(DbUuid::from(id)))
                .set((
                    domains::status.eq(DomainStatus::Verified.as_str()),
                    domains::verified_at.eq(Some(at)),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn make_primary(&self, tenant: TenantId, id: DomainId) -> Result<(), StoreError> {
        let tenant = DbUuid::from(tenant);
        let id = DbUuid::from(id);
        // Clear the old primary first: the partial unique index allows one per tenant at
        // any statement boundary.
        tx!(self, write, platform, |conn| {
            bump_tenancy_version!(conn);
            diesel::update(
                domains::table
                    .filter(domains::tenant_id.eq(tenant))
                    .filter(domains::is_primary.eq(true)),
            )
            .set(domains::is_primary.eq(false))
            .execute(conn)
            .await?;
            let n = diesel::update(
                domains::table
                    .filter(domains::tenant_id.eq(tenant))
                    .filter(domains::id.eq(id)),
            )
            .set(domains::is_primary.eq(true))
            .execute(conn)
            .await?;
            if n != 1 {
                // Rolls the transaction back: the tenant keeps its old primary.
                return Err(StoreError::Corrupt(
                    "domain vanished while becoming primary".into(),
                ));
            }
            Ok(())
        })
    }

    async fn tenant_for_host(&self, hostname: &Hostname) -> Result<Option<Tenant>, StoreError> {
        let row: Option<TenantRow> = run!(self, |conn| {
            domains::table
                .inner_join(tenants::table)
                .filter(domains::hostname.eq(hostname.as_str()))
                .filter(domains::status.eq(DomainStatus::Verified.as_str()))
                .select(tenants::all_columns)
                .first(conn)
                .await
                .optional()?
        });
        row.map(Tenant::try_from).transpose()
    }

    async fn load_settings(&self, ctx: &TenantCtx) -> Result<TenantSettings, StoreError> {
        let row: Option<SettingsRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(tenant_settings::of(ctx).first(conn).await.optional()?)
        })?;
        row.ok_or_else(|| {
            StoreError::Corrupt(format!("tenant {} has no settings", ctx.tenant_id()))
        })?
        .try_into()
    }

    async fn patch_branding(
        &self,
        ctx: &TenantCtx,
        patch: &BrandingPatch,
        at: DateTime<Utc>,
    ) -> Result<TenantSettings, StoreError> {
        // Absent fields are left out of the SET list: one statement, no read-modify-write.
        fn text<T>(field: &Option<Option<T>>, as_str: fn(&T) -> &str) -> Option<Option<String>> {
            field
                .as_ref()
                .map(|v| v.as_ref().map(|v| as_str(v).to_owned()))
        }
        let display_name = text(&patch.display_name, TenantName::as_str);
        let logo_url = text(&patch.logo_url, WebUrl::as_str);
        let primary_color = text(&patch.primary_color, Color::as_str);
        let support_email = text(&patch.support_email, Email::as_str);
        mutate!(self, ctx, |conn, log| {
            let old: Option<SettingsRow> = diesel::update(tenant_settings::of(ctx))
                .set(tenant_settings::updated_at.eq(tenant_settings::updated_at))
                .get_result(conn)
                .await
                .optional()?;
            let row: Option<SettingsRow> = diesel::update(tenant_settings::of(ctx))
                .set((
                    display_name.map(|v| tenant_settings::display_name.eq(v)),
                    logo_url.map(|v| tenant_settings::logo_url.eq(v)),
                    primary_color.map(|v| tenant_settings::primary_color.eq(v)),
                    support_email.map(|v| tenant_settings::support_email.eq(v)),
                    tenant_settings::updated_at.eq(at),
                ))
                .get_result(conn)
                .await
                .optional()?;
            let missing =
                || StoreError::Corrupt(format!("tenant {} has no settings", ctx.tenant_id()));
            let old: TenantSettings = old.ok_or_else(missing)?.try_into()?;
            let new: TenantSettings = row.ok_or_else(missing)?.try_into()?;
            log.updated(&old, &new);
            Ok(new)
        })
    }
}

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
    async fn add_domain(&self, domain: &Domain) -> Result<(), AddDomainError> {
        self.insert_domain(domain).await.map_err(|e| {
            if e.is_unique_violation() {
                AddDomainError::HostnameTaken {
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

    async fn mark_domain_verified(
        &self,
        id: DomainId,
        at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        Ok(self.verify_domain(id, at).await?)
    }

    async fn set_primary_domain(&self, tenant: TenantId, id: DomainId) -> Result<(), Unexpected> {
        Ok(self.make_primary(tenant, id).await?)
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

    async fn update_branding(
        &self,
        ctx: &TenantCtx,
        patch: &BrandingPatch,
        at: DateTime<Utc>,
    ) -> Result<TenantSettings, Unexpected> {
        Ok(self.patch_branding(ctx, patch, at).await?)
    }
}

impl Db {
    async fn read_change_versions(&self) -> Result<ChangeVersions, StoreError> {
        let (tenancy, access) = run!(self, |conn| {
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
