//! The RBAC ports: roles and memberships, tenant-owned, every query through the tables'
//! tenant wrappers (`of(ctx)`, …) inside a transaction scoped to the tenant.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{Page, PageRequest, RoleId, TenantCtx, TenantId, Unexpected, UserId};
use tenantry_rbac::{
    InvalidValue, Member, MemberError, Membership, MembershipRepository, MembershipStatus,
    Permission, PermissionSet, Role, RoleError, RoleName, RoleRepository, SystemRole, UserTenant,
    UserTenants,
};

use crate::db::Db;
use crate::error::StoreError;
use crate::paging::{after_id, after_time_id, fetch};
use crate::tenancy::bump_access_version;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
pub(crate) struct RoleRow {
    tenant_id: DbUuid,
    id: DbUuid,
    name: String,
    permissions: String,
    system_role: Option<String>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

impl TryFrom<RoleRow> for Role {
    type Error = StoreError;

    fn try_from(r: RoleRow) -> Result<Self, StoreError> {
        let corrupt = |e: InvalidValue| StoreError::Corrupt(e.0);
        Ok(Role {
            id: RoleId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            name: RoleName::parse(&r.name).map_err(corrupt)?,
            permissions: r
                .permissions
                .split_whitespace()
                .map(Permission::parse)
                .collect::<Result<_, _>>()
                .map_err(corrupt)?,
            system: match r.system_role {
                None => None,
                Some(s) => Some(
                    SystemRole::from_name(&s)
                        .ok_or_else(|| StoreError::Corrupt(format!("system role {s:?}")))?,
                ),
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct MembershipRow {
    tenant_id: DbUuid,
    user_id: DbUuid,
    pub(crate) role_id: DbUuid,
    pub(crate) status: String,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;

    fn try_from(r: MembershipRow) -> Result<Self, StoreError> {
        Ok(Membership {
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            user_id: UserId::from_uuid(r.user_id.0),
            role_id: RoleId::from_uuid(r.role_id.0),
            status: MembershipStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("membership status {:?}", r.status)))?,
            created_at: r.created_at,
        })
    }
}

/// Permissions as stored: sorted catalogue names separated by spaces.
pub(crate) fn permissions_column(p: &PermissionSet) -> String {
    p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" ")
}

/// Inserts roles inside a transaction of `$ctx`'s tenant, logging each in `$log`.
macro_rules! insert_roles {
    ($conn:ident, $log:ident, $ctx:expr, $roles:expr) => {{
        let ctx: &tenantry_kernel::TenantCtx = $ctx;
        for role in $roles {
            let role: &tenantry_rbac::Role = role;
            roles::insert(ctx, $crate::rbac::role_values!(role))
                .execute($conn)
                .await?;
            $log.created(role);
        }
    }};
}
pub(crate) use insert_roles;

/// A role's columns (but the tenant's).
macro_rules! role_values {
    ($role:expr) => {{
        let role: &tenantry_rbac::Role = $role;
        (
            roles::id.eq(DbUuid::from(role.id)),
            roles::name.eq(role.name.as_str()),
            roles::permissions.eq($crate::rbac::permissions_column(&role.permissions)),
            roles::system_role.eq(role.system.map(tenantry_rbac::SystemRole::name)),
            roles::created_at.eq(role.created_at),
            roles::updated_at.eq(role.updated_at),
        )
    }};
}
pub(crate) use role_values;

/// Inserts a membership inside a transaction of `$ctx`'s tenant, logging it in `$log`.
macro_rules! insert_membership {
    ($conn:ident, $log:ident, $ctx:expr, $m:expr) => {{
        let m: &tenantry_rbac::Membership = $m;
        memberships::insert(
            $ctx,
            (
                memberships::user_id.eq(DbUuid::from(m.user_id)),
                memberships::role_id.eq(DbUuid::from(m.role_id)),
                memberships::status.eq(m.status.as_str()),
                memberships::created_at.eq(m.created_at),
            ),
        )
        .execute($conn)
        .await?;
        $log.created(m);
    }};
}
pub(crate) use insert_membership;

/// Gives `$user`'s membership another role (`Some`) or removes it (`None`), inside a
/// transaction of `$ctx`'s tenant, refusing to leave the tenant without an active owner:
/// `Result<Option<Membership>, MemberError>` (the new membership; `None` once removed).
/// Membership changes are serialised per tenant (a row lock on PostgreSQL; SQLite has one
/// writer), so two owners demoting each other cannot both succeed.
macro_rules! rewrite_membership {
    ($conn:ident, $log:ident, $ctx:expr, $user:expr, $role:expr) => {
        'rewrite: {
            let (user, role): (DbUuid, Option<RoleId>) = (DbUuid::from($user), $role);
            diesel::update(tenant_settings::of($ctx))
                .set(tenant_settings::updated_at.eq(tenant_settings::updated_at))
                .execute($conn)
                .await?;
            let owner_roles: Vec<DbUuid> = roles::of($ctx)
                .filter(roles::system_role.eq(SystemRole::Owner.name()))
                .select(roles::id)
                .load($conn)
                .await?;
            let current: Option<MembershipRow> = memberships::of($ctx)
                .filter(memberships::user_id.eq(user))
                .first($conn)
                .await
                .optional()?;
            let Some(current) = current else {
                break 'rewrite Err(MemberError::NotFound);
            };
            let is_owner = current.status == MembershipStatus::Active.as_str()
                && owner_roles.contains(&current.role_id);
            let stays_owner = role.is_some_and(|r| owner_roles.contains(&DbUuid::from(r)));
            if is_owner && !stays_owner {
                let others: i64 = memberships::of($ctx)
                    .filter(memberships::user_id.ne(user))
                    .filter(memberships::status.eq(MembershipStatus::Active.as_str()))
                    .filter(memberships::role_id.eq_any(&owner_roles))
                    .count()
                    .get_result($conn)
                    .await?;
                if others == 0 {
                    break 'rewrite Err(MemberError::LastOwner);
                }
            }
            let old: Membership = current.try_into()?;
            let target = memberships::of($ctx).filter(memberships::user_id.eq(user));
            bump_access_version!($conn);
            match role {
                Some(role) => {
                    let row: MembershipRow = diesel::update(target)
                        .set(memberships::role_id.eq(DbUuid::from(role)))
                        .get_result($conn)
                        .await?;
                    let new: Membership = row.try_into()?;
                    $log.updated(&old, &new);
                    Ok(Some(new))
                }
                None => {
                    diesel::delete(target).execute($conn).await?;
                    $log.deleted_as(tenantry_rbac::REMOVED, &old);
                    Ok(None)
                }
            }
        }
    };
}
pub(crate) use rewrite_membership;

impl Db {
    async fn insert_member(
        &self,
        ctx: &TenantCtx,
        membership: &Membership,
    ) -> Result<(), StoreError> {
        // The tenant comes from the context, never from the record.
        let m = Membership {
            tenant_id: ctx.tenant_id(),
            ..membership.clone()
        };
        mutate!(self, ctx, |conn, log| {
            insert_membership!(conn, log, ctx, &m);
            Ok(())
        })
    }

    async fn load_roles(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Role>, StoreError> {
        let after = after_id(page)?;
        let rows: Vec<RoleRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut q = roles::of(ctx).into_boxed();
            if let Some(after) = after {
                q = q.filter(roles::id.gt(after));
            }
            Ok(q.order(roles::id.asc())
                .limit(fetch(page))
                .load(conn)
                .await?)
        })?;
        let roles = rows
            .into_iter()
            .map(Role::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(roles, page.limit, |r| r.id.to_string()))
    }

    async fn load_role_named(
        &self,
        ctx: &TenantCtx,
        name: &str,
    ) -> Result<Option<Role>, StoreError> {
        let row: Option<RoleRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(roles::of(ctx)
                .filter(roles::name.eq(name))
                .first(conn)
                .await
                .optional()?)
        })?;
        row.map(Role::try_from).transpose()
    }

    async fn load_role(&self, ctx: &TenantCtx, id: RoleId) -> Result<Option<Role>, StoreError> {
        let row: Option<RoleRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(roles::of(ctx)
                .filter(roles::id.eq(DbUuid::from(id)))
                .first(conn)
                .await
                .optional()?)
        })?;
        row.map(Role::try_from).transpose()
    }

    async fn store_role(&self, ctx: &TenantCtx, role: &Role) -> Result<(), StoreError> {
        let role = Role {
            tenant_id: ctx.tenant_id(),
            ..role.clone()
        };
        mutate!(self, ctx, |conn, log| {
            insert_roles!(conn, log, ctx, [&role]);
            Ok(())
        })
    }

    async fn save_role(&self, ctx: &TenantCtx, role: &Role) -> Result<usize, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let target = roles::of(ctx).filter(roles::id.eq(DbUuid::from(role.id)));
            let old: Option<RoleRow> = diesel::update(target)
                .set(roles::updated_at.eq(roles::updated_at))
                .get_result(conn)
                .await
                .optional()?;
            let Some(old) = old else { return Ok(0) };
            let n = diesel::update(target)
                .set((
                    roles::name.eq(role.name.as_str()),
                    roles::permissions.eq(permissions_column(&role.permissions)),
                    roles::updated_at.eq(role.updated_at),
                ))
                .execute(conn)
                .await?;
            bump_access_version!(conn);
            log.updated(&Role::try_from(old)?, role);
            Ok(n)
        })
    }

    async fn drop_role(
        &self,
        ctx: &TenantCtx,
        id: RoleId,
    ) -> Result<Result<(), RoleError>, StoreError> {
        let id = DbUuid::from(id);
        mutate!(self, ctx, |conn, log| {
            let members: i64 = memberships::of(ctx)
                .filter(memberships::role_id.eq(id))
                .count()
                .get_result(conn)
                .await?;
            if members > 0 {
                return Ok(Err(RoleError::InUse {
                    members: members.unsigned_abs(),
                }));
            }
            let old: Option<RoleRow> = diesel::delete(roles::of(ctx).filter(roles::id.eq(id)))
                .get_result(conn)
                .await
                .optional()?;
            Ok(match old {
                Some(old) => {
                    log.deleted(&Role::try_from(old)?);
                    Ok(())
                }
                None => Err(RoleError::NotFound),
            })
        })
    }

    /// One page of members in the order they joined, or (`only`) one member.
    async fn load_members(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
        only: Option<UserId>,
    ) -> Result<Vec<Member>, StoreError> {
        let after = after_time_id(page)?;
        let rows: Vec<(MembershipRow, String, String, String)> =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                let mut q = memberships::of(ctx)
                    .inner_join(users::table)
                    .inner_join(roles::on(ctx, roles::id.eq(memberships::role_id)))
                    .into_boxed();
                if let Some(user) = only {
                    q = q.filter(memberships::user_id.eq(DbUuid::from(user)));
                }
                if let Some((at, id)) = after {
                    q = q.filter(
                        memberships::created_at.gt(at).or(memberships::created_at
                            .eq(at)
                            .and(memberships::user_id.gt(id))),
                    );
                }
                Ok(
                    q.order((memberships::created_at.asc(), memberships::user_id.asc()))
                        .limit(fetch(page))
                        .select((
                            memberships::all_columns,
                            users::email,
                            users::display_name,
                            roles::name,
                        ))
                        .load(conn)
                        .await?,
                )
            })?;
        rows.into_iter()
            .map(|(m, email, display_name, role)| {
                Ok(Member {
                    membership: m.try_into()?,
                    email,
                    display_name,
                    role_name: RoleName::parse(&role).map_err(|e| StoreError::Corrupt(e.0))?,
                })
            })
            .collect()
    }

    async fn load_membership(
        &self,
        ctx: &TenantCtx,
        user: UserId,
    ) -> Result<Option<(Membership, Role)>, StoreError> {
        let row: Option<(MembershipRow, RoleRow)> =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                Ok(memberships::of(ctx)
                    .filter(memberships::user_id.eq(DbUuid::from(user)))
                    .inner_join(roles::on(ctx, roles::id.eq(memberships::role_id)))
                    .select((memberships::all_columns, roles::all_columns))
                    .first(conn)
                    .await
                    .optional()?)
            })?;
        row.map(|(m, r)| Ok((m.try_into()?, r.try_into()?)))
            .transpose()
    }

    /// Changes or removes (`role = None`) a membership, keeping an active owner.
    async fn rewrite_membership(
        &self,
        ctx: &TenantCtx,
        user: UserId,
        role: Option<RoleId>,
    ) -> Result<Result<Option<Membership>, MemberError>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            Ok(rewrite_membership!(conn, log, ctx, user, role))
        })
    }
}

impl RoleRepository for Db {
    async fn roles(&self, ctx: &TenantCtx, page: &PageRequest) -> Result<Page<Role>, Unexpected> {
        Ok(self.load_roles(ctx, page).await?)
    }

    async fn role_named(&self, ctx: &TenantCtx, name: &str) -> Result<Option<Role>, Unexpected> {
        Ok(self.load_role_named(ctx, name).await?)
    }

    async fn role(&self, ctx: &TenantCtx, id: RoleId) -> Result<Option<Role>, Unexpected> {
        Ok(self.load_role(ctx, id).await?)
    }

    async fn insert_role(&self, ctx: &TenantCtx, role: &Role) -> Result<(), RoleError> {
        self.store_role(ctx, role).await.map_err(|e| {
            if e.is_unique_violation() {
                RoleError::NameTaken {
                    name: role.name.as_str().to_owned(),
                }
            } else {
                e.refusal()
            }
        })
    }

    async fn update_role(&self, ctx: &TenantCtx, role: &Role) -> Result<(), RoleError> {
        match self.save_role(ctx, role).await {
            Ok(1) => Ok(()),
            Ok(_) => Err(RoleError::NotFound),
            Err(e) if e.is_unique_violation() => Err(RoleError::NameTaken {
                name: role.name.as_str().to_owned(),
            }),
            Err(e) => Err(e.refusal()),
        }
    }

    async fn delete_role(&self, ctx: &TenantCtx, id: RoleId) -> Result<(), RoleError> {
        self.drop_role(ctx, id)
            .await
            .map_err(StoreError::refusal::<RoleError>)?
    }
}

impl MembershipRepository for Db {
    async fn members(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Member>, Unexpected> {
        let members = self.load_members(ctx, page, None).await?;
        Ok(Page::from_rows(
            members,
            page.limit,
            tenantry_rbac::member_key,
        ))
    }

    async fn member(&self, ctx: &TenantCtx, user: UserId) -> Result<Option<Member>, Unexpected> {
        let one = PageRequest {
            limit: tenantry_kernel::Limit::default(),
            after: None,
        };
        Ok(self.load_members(ctx, &one, Some(user)).await?.pop())
    }

    async fn membership(
        &self,
        ctx: &TenantCtx,
        user: UserId,
    ) -> Result<Option<(Membership, Role)>, Unexpected> {
        Ok(self.load_membership(ctx, user).await?)
    }

    async fn add_member(
        &self,
        ctx: &TenantCtx,
        membership: &Membership,
    ) -> Result<(), MemberError> {
        self.insert_member(ctx, membership)
            .await
            .map_err(|e| match &e {
                _ if e.is_unique_violation() => MemberError::AlreadyMember,
                StoreError::Query(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                )) => MemberError::RoleNotFound,
                _ => e.refusal(),
            })
    }

    async fn change_role(
        &self,
        ctx: &TenantCtx,
        user: UserId,
        role: RoleId,
    ) -> Result<Membership, MemberError> {
        self.rewrite_membership(ctx, user, Some(role))
            .await
            .map_err(StoreError::refusal::<MemberError>)??
            .ok_or(MemberError::NotFound)
    }

    async fn remove_member(&self, ctx: &TenantCtx, user: UserId) -> Result<(), MemberError> {
        self.rewrite_membership(ctx, user, None)
            .await
            .map_err(StoreError::refusal::<MemberError>)?
            .map(|_| ())
    }
}

impl Db {
    async fn load_user_tenants(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<UserTenant>, StoreError> {
        let user_id = DbUuid::from(user);
        let after = after_id(page)?;
        let rows: Vec<(DbUuid, String, String, String, Option<String>, String)> =
            tx!(self, read, user = user, |conn, cross| {
                // Row-level security shows only this user's memberships and their roles here;
                // the filter below says the same for SQLite.
                let member_tenant = memberships::tenant_id(cross);
                let mut q = memberships::unscoped(cross)
                    .filter(memberships::user_id.eq(user_id))
                    .filter(memberships::status.eq(MembershipStatus::Active.as_str()))
                    .inner_join(tenants::table.on(tenants::id.eq(member_tenant)))
                    .inner_join(
                        roles::unscoped(cross).on(roles::id
                            .eq(memberships::role_id)
                            .and(roles::tenant_id(cross).eq(member_tenant))),
                    )
                    .left_join(
                        domains::table.on(domains::tenant_id
                            .eq(member_tenant)
                            .and(domains::is_primary.eq(true))),
                    )
                    .into_boxed();
                if let Some(after) = after {
                    q = q.filter(tenants::id.gt(after));
                }
                Ok(q.order(tenants::id.asc())
                    .limit(fetch(page))
                    .select((
                        tenants::id,
                        tenants::name,
                        tenants::slug,
                        tenants::status,
                        domains::hostname.nullable(),
                        roles::name,
                    ))
                    .load(conn)
                    .await?)
            })?;
        let tenants = rows
            .into_iter()
            .map(
                |(id, name, slug, status, primary_domain, role_name)| UserTenant {
                    tenant_id: TenantId::from_uuid(id.0),
                    name,
                    slug,
                    status,
                    primary_domain,
                    role_name,
                },
            )
            .collect();
        Ok(Page::from_rows(tenants, page.limit, |t| {
            t.tenant_id.to_string()
        }))
    }
}

impl UserTenants for Db {
    async fn tenants_of(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<UserTenant>, Unexpected> {
        Ok(self.load_user_tenants(user, page).await?)
    }
}
