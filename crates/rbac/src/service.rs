//! Use cases for roles and members, inside one tenant.

use std::sync::Arc;

use tenantry_kernel::{Clock, Page, PageRequest, RoleId, TenantCtx, Unexpected, UserId};

use crate::error::{MemberError, RoleError};
use crate::model::{Member, Membership, MembershipStatus, Role, RoleName, SystemRole};
use crate::permissions::{Permission, PermissionSet};

use crate::ports::{MembershipRepository, RoleRepository, UserTenant, UserTenants};

/// The first permission in `wanted` the caller lacks: nobody hands out (or takes away) more
/// than they hold themselves, so an admin cannot make anyone an owner, themselves included.
pub fn beyond(caller: &PermissionSet, wanted: &PermissionSet) -> Option<Permission> {
    wanted.iter().find(|p| !caller.contains(p)).copied()
}

#[derive(Clone)]
pub struct RbacService<R> {
    repo: R,
    clock: Arc<dyn Clock>,
}

impl<R> RbacService<R>
where
    R: RoleRepository + MembershipRepository,
{
    pub fn new(repo: R, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    pub async fn roles(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Role>, Unexpected> {
        self.repo.roles(ctx, page).await
    }

    pub async fn role_named(
        &self,
        ctx: &TenantCtx,
        name: &str,
    ) -> Result<Option<Role>, Unexpected> {
        self.repo.role_named(ctx, name).await
    }

    pub async fn create_role(
        &self,
        ctx: &TenantCtx,
        caller: &PermissionSet,
        name: RoleName,
        permissions: PermissionSet,
    ) -> Result<Role, RoleError> {
        if let Some(permission) = beyond(caller, &permissions) {
            return Err(RoleError::Escalation { permission });
        }
        let now = self.clock.now();
        let role = Role {
            id: RoleId::new(),
            tenant_id: ctx.tenant_id(),
            name,
            permissions,
            system: None,
            created_at: now,
            updated_at: now,
        };
        self.repo.insert_role(ctx, &role).await?;
        Ok(role)
    }

    /// Renames and/or re-permissions a role. The owner role is fixed; other system roles keep
    /// their names and core permissions.
    pub async fn update_role(
        &self,
        ctx: &TenantCtx,
        caller: &PermissionSet,
        id: RoleId,
        name: Option<RoleName>,
        permissions: Option<PermissionSet>,
    ) -> Result<Role, RoleError> {
        let mut role = self.repo.role(ctx, id).await?.ok_or(RoleError::NotFound)?;
        let touched = permissions.iter().chain([&role.permissions]);
        if let Some(permission) = touched.filter_map(|p| beyond(caller, p)).next() {
            return Err(RoleError::Escalation { permission });
        }
        match role.system {
            Some(SystemRole::Owner) => return Err(RoleError::OwnerRoleLocked),
            Some(system) => {
                if name.as_ref().is_some_and(|n| *n != role.name) {
                    return Err(RoleError::SystemRole);
                }
                let missing = permissions.as_ref().and_then(|p| {
                    system
                        .core_permissions()
                        .into_iter()
                        .find(|c| !p.contains(c))
                });
                if let Some(missing) = missing {
                    return Err(RoleError::CorePermission {
                        role: system.name(),
                        permission: missing,
                    });
                }
            }
            None => {}
        }
        if let Some(n) = name {
            role.name = n;
        }
        if let Some(p) = permissions {
            role.permissions = p;
        }
        role.updated_at = self.clock.now();
        self.repo.update_role(ctx, &role).await?;
        Ok(role)
    }

    pub async fn delete_role(&self, ctx: &TenantCtx, id: RoleId) -> Result<(), RoleError> {
        let role = self.repo.role(ctx, id).await?.ok_or(RoleError::NotFound)?;
        match role.system {
            Some(SystemRole::Owner) => Err(RoleError::OwnerRoleLocked),
            Some(_) => Err(RoleError::SystemRole),
            None => self.repo.delete_role(ctx, id).await,
        }
    }

    pub async fn members(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Member>, Unexpected> {
        self.repo.members(ctx, page).await
    }

    pub async fn member(
        &self,
        ctx: &TenantCtx,
        user: UserId,
    ) -> Result<Option<Member>, Unexpected> {
        self.repo.member(ctx, user).await
    }

    pub async fn change_member_role(
        &self,
        ctx: &TenantCtx,
        caller: &PermissionSet,
        user: UserId,
        role: RoleId,
    ) -> Result<Membership, MemberError> {
        let new = self
            .repo
            .role(ctx, role)
            .await?
            .ok_or(MemberError::RoleNotFound)?;
        self.check_reach(ctx, caller, user, Some(&new)).await?;
        self.repo.change_role(ctx, user, role).await
    }

    pub async fn remove_member(
        &self,
        ctx: &TenantCtx,
        caller: &PermissionSet,
        user: UserId,
    ) -> Result<(), MemberError> {
        self.check_reach(ctx, caller, user, None).await?;
        self.repo.remove_member(ctx, user).await
    }

    /// The caller must hold every permission of the member's current role and of the new one.
    async fn check_reach(
        &self,
        ctx: &TenantCtx,
        caller: &PermissionSet,
        user: UserId,
        new: Option<&Role>,
    ) -> Result<(), MemberError> {
        let (_, current) = self
            .repo
            .membership(ctx, user)
            .await?
            .ok_or(MemberError::NotFound)?;
        let sets = [Some(&current.permissions), new.map(|r| &r.permissions)];
        match sets
            .into_iter()
            .flatten()
            .filter_map(|p| beyond(caller, p))
            .next()
        {
            Some(permission) => Err(MemberError::Escalation { permission }),
            None => Ok(()),
        }
    }

    /// What the user may do here: `None` without an active membership.
    pub async fn permissions_of(
        &self,
        ctx: &TenantCtx,
        user: UserId,
    ) -> Result<Option<(Membership, Role)>, Unexpected> {
        Ok(self
            .repo
            .membership(ctx, user)
            .await?
            .filter(|(m, _)| m.status == MembershipStatus::Active))
    }
}

impl<R: UserTenants> RbacService<R> {
    /// The switcher: the tenants where the user is an active member, with their role there.
    pub async fn tenants_of(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<UserTenant>, Unexpected> {
        self.repo.tenants_of(user, page).await
    }
}
