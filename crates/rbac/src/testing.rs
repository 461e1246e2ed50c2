//! In-memory fakes of the RBAC ports, with the same rules as the store.

use std::sync::{Arc, Mutex, MutexGuard};

use tenantry_kernel::{Page, PageRequest, RoleId, TenantCtx, Unexpected, UserId};

use crate::error::{MemberError, RoleError};
use crate::model::{Member, Membership, MembershipStatus, Role, RoleName};
use crate::ports::{MembershipRepository, RoleRepository, UserTenant, UserTenants};

#[derive(Default)]
struct State {
    roles: Vec<Role>,
    memberships: Vec<Membership>,
}

#[derive(Clone, Default)]
pub struct InMemoryRbac {
    state: Arc<Mutex<State>>,
}

impl InMemoryRbac {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seeds roles and memberships, as onboarding or an invitation would.
    pub fn seed(&self, roles: Vec<Role>, memberships: Vec<Membership>) {
        let mut s = self.lock();
        s.roles.extend(roles);
        s.memberships.extend(memberships);
    }
}

impl InMemoryRbac {
    fn all_members(&self, ctx: &TenantCtx) -> Vec<Member> {
        let s = self.lock();
        s.memberships
            .iter()
            .filter(|m| m.tenant_id == ctx.tenant_id())
            .filter_map(|m| {
                let role = s.roles.iter().find(|r| r.id == m.role_id)?;
                Some(Member {
                    membership: m.clone(),
                    email: format!("{}@example.test", m.user_id),
                    display_name: String::new(),
                    role_name: role.name.clone(),
                })
            })
            .collect()
    }
}

fn active_owners(s: &State, ctx: &TenantCtx) -> Vec<UserId> {
    s.memberships
        .iter()
        .filter(|m| m.tenant_id == ctx.tenant_id() && m.status == MembershipStatus::Active)
        .filter(|m| s.roles.iter().any(|r| r.id == m.role_id && r.is_owner()))
        .map(|m| m.user_id)
        .collect()
}

impl RoleRepository for InMemoryRbac {
    async fn roles(&self, ctx: &TenantCtx, page: &PageRequest) -> Result<Page<Role>, Unexpected> {
        let mut roles: Vec<Role> = self
            .lock()
            .roles
            .iter()
            .filter(|r| r.tenant_id == ctx.tenant_id())
            .cloned()
            .collect();
        roles.sort_by_key(|r| r.id.to_string());
        Ok(Page::from_sorted(roles, page, |r| r.id.to_string()))
    }

    async fn role_named(&self, ctx: &TenantCtx, name: &str) -> Result<Option<Role>, Unexpected> {
        Ok(self
            .lock()
            .roles
            .iter()
            .find(|r| r.tenant_id == ctx.tenant_id() && r.name.as_str() == name)
            .cloned())
    }

    async fn role(&self, ctx: &TenantCtx, id: RoleId) -> Result<Option<Role>, Unexpected> {
        Ok(self
            .lock()
            .roles
            .iter()
            .find(|r| r.tenant_id == ctx.tenant_id() && r.id == id)
            .cloned())
    }

    async fn insert_role(&self, ctx: &TenantCtx, role: &Role) -> Result<(), RoleError> {
        let mut s = self.lock();
        if s.roles
            .iter()
            .any(|r| r.tenant_id == ctx.tenant_id() && r.name == role.name)
        {
            return Err(RoleError::NameTaken {
                name: role.name.as_str().to_owned(),
            });
        }
        s.roles.push(Role {
            tenant_id: ctx.tenant_id(),
            ..role.clone()
        });
        Ok(())
    }

    async fn update_role(&self, ctx: &TenantCtx, role: &Role) -> Result<(), RoleError> {
        let mut s = self.lock();
        let clash = |name: &RoleName, s: &State| {
            s.roles
                .iter()
                .any(|r| r.tenant_id == ctx.tenant_id() && &r.name == name && r.id != role.id)
        };
        if clash(&role.name, &s) {
            return Err(RoleError::NameTaken {
                name: role.name.as_str().to_owned(),
            });
        }
        let existing = s
            .roles
            .iter_mut()
            .find(|r| r.tenant_id == ctx.tenant_id() && r.id == role.id)
            .ok_or(RoleError::NotFound)?;
        existing.name = role.name.clone();
        existing.permissions = role.permissions.clone();
        existing.updated_at = role.updated_at;
        Ok(())
    }

    async fn delete_role(&self, ctx: &TenantCtx, id: RoleId) -> Result<(), RoleError> {
        let mut s = self.lock();
        let members = s
            .memberships
            .iter()
            .filter(|m| m.tenant_id == ctx.tenant_id() && m.role_id == id)
            .count();
        if members > 0 {
            return Err(RoleError::InUse {
                members: members as u64,
            });
        }
        let before = s.roles.len();
        s.roles
            .retain(|r| !(r.tenant_id == ctx.tenant_id() && r.id == id));
        if s.roles.len() == before {
            return Err(RoleError::NotFound);
        }
        Ok(())
    }
}

impl MembershipRepository for InMemoryRbac {
    async fn members(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<Member>, Unexpected> {
        let mut members = self.all_members(ctx);
        members.sort_by_key(crate::ports::member_key);
        Ok(Page::from_sorted(members, page, crate::ports::member_key))
    }

    async fn member(&self, ctx: &TenantCtx, user: UserId) -> Result<Option<Member>, Unexpected> {
        Ok(self
            .all_members(ctx)
            .into_iter()
            .find(|m| m.membership.user_id == user))
    }

    async fn membership(
        &self,
        ctx: &TenantCtx,
        user: UserId,
    ) -> Result<Option<(Membership, Role)>, Unexpected> {
        let s = self.lock();
        Ok(s.memberships
            .iter()
            .find(|m| m.tenant_id == ctx.tenant_id() && m.user_id == user)
            .and_then(|m| {
                s.roles
                    .iter()
                    .find(|r| r.id == m.role_id)
                    .map(|r| (m.clone(), r.clone()))
            }))
    }

    async fn add_member(
        &self,
        ctx: &TenantCtx,
        membership: &Membership,
    ) -> Result<(), MemberError> {
        let mut s = self.lock();
        if !s
            .roles
            .iter()
            .any(|r| r.tenant_id == ctx.tenant_id() && r.id == membership.role_id)
        {
            return Err(MemberError::RoleNotFound);
        }
        if s.memberships
            .iter()
            .any(|m| m.tenant_id == ctx.tenant_id() && m.user_id == membership.user_id)
        {
            return Err(MemberError::AlreadyMember);
        }
        s.memberships.push(Membership {
            tenant_id: ctx.tenant_id(),
            ..membership.clone()
        });
        Ok(())
    }

    async fn change_role(
        &self,
        ctx: &TenantCtx,
        user: UserId,
        role: RoleId,
    ) -> Result<Membership, MemberError> {
        let mut s = self.lock();
        let owners = active_owners(&s, ctx);
        let new_is_owner = s.roles.iter().any(|r| r.id == role && r.is_owner());
        if owners == [user] && !new_is_owner {
            return Err(MemberError::LastOwner);
        }
        let m = s
            .memberships
            .iter_mut()
            .find(|m| m.tenant_id == ctx.tenant_id() && m.user_id == user)
            .ok_or(MemberError::NotFound)?;
        m.role_id = role;
        Ok(m.clone())
    }

    async fn remove_member(&self, ctx: &TenantCtx, user: UserId) -> Result<(), MemberError> {
        let mut s = self.lock();
        if active_owners(&s, ctx) == [user] {
            return Err(MemberError::LastOwner);
        }
        let before = s.memberships.len();
        s.memberships
            .retain(|m| !(m.tenant_id == ctx.tenant_id() && m.user_id == user));
        if s.memberships.len() == before {
            return Err(MemberError::NotFound);
        }
        Ok(())
    }
}

impl UserTenants for InMemoryRbac {
    async fn tenants_of(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<UserTenant>, Unexpected> {
        let s = self.lock();
        let mut tenants: Vec<UserTenant> = s
            .memberships
            .iter()
            .filter(|m| m.user_id == user && m.status == MembershipStatus::Active)
            .filter_map(|m| {
                let role = s.roles.iter().find(|r| r.id == m.role_id)?;
                Some(UserTenant {
                    tenant_id: m.tenant_id,
                    name: m.tenant_id.to_string(),
                    slug: m.tenant_id.to_string(),
                    status: "active".into(),
                    primary_domain: None,
                    role_name: role.name.as_str().to_owned(),
                })
            })
            .collect();
        tenants.sort_by_key(|t| t.tenant_id.to_string());
        Ok(Page::from_sorted(tenants, page, |t| {
            t.tenant_id.to_string()
        }))
    }
}
