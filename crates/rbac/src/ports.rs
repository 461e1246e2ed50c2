//! What the RBAC domain needs from the store. Every method is scoped by the tenant context.

use std::future::Future;

use tenantry_kernel::{Page, PageRequest, RoleId, TenantCtx, Unexpected, UserId};

use crate::error::{MemberError, RoleError};
use crate::model::{Member, Membership, Role};

pub trait RoleRepository: Clone + Send + Sync + 'static {
    /// One page of the tenant's roles, oldest first (by id).
    fn roles(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Role>, Unexpected>> + Send;

    fn role_named(
        &self,
        ctx: &TenantCtx,
        name: &str,
    ) -> impl Future<Output = Result<Option<Role>, Unexpected>> + Send;

    fn role(
        &self,
        ctx: &TenantCtx,
        id: RoleId,
    ) -> impl Future<Output = Result<Option<Role>, Unexpected>> + Send;

    /// Returns [`RoleError::NameTaken`] when the tenant has a role of that name.
    fn insert_role(
        &self,
        ctx: &TenantCtx,
        role: &Role,
    ) -> impl Future<Output = Result<(), RoleError>> + Send;

    /// Saves name and permissions. [`RoleError::NameTaken`], [`RoleError::NotFound`].
    fn update_role(
        &self,
        ctx: &TenantCtx,
        role: &Role,
    ) -> impl Future<Output = Result<(), RoleError>> + Send;

    /// Deletes a role no membership uses, atomically ([`RoleError::InUse`] otherwise).
    fn delete_role(
        &self,
        ctx: &TenantCtx,
        id: RoleId,
    ) -> impl Future<Output = Result<(), RoleError>> + Send;
}

pub trait MembershipRepository: Clone + Send + Sync + 'static {
    /// One page of the tenant's members in the order they joined (key: [`member_key`]).
    fn members(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Member>, Unexpected>> + Send;

    /// One member with their profile and role name.
    fn member(
        &self,
        ctx: &TenantCtx,
        user: UserId,
    ) -> impl Future<Output = Result<Option<Member>, Unexpected>> + Send;

    /// The user's membership here and its role: what the guard checks.
    fn membership(
        &self,
        ctx: &TenantCtx,
        user: UserId,
    ) -> impl Future<Output = Result<Option<(Membership, Role)>, Unexpected>> + Send;

    /// Adds a membership (invitation accepted). [`MemberError::AlreadyMember`] if the user
    /// is one; [`MemberError::RoleNotFound`] if the role is not this tenant's.
    fn add_member(
        &self,
        ctx: &TenantCtx,
        membership: &Membership,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;

    /// Gives the member another role, refusing ([`MemberError::LastOwner`]) to leave the
    /// tenant without an active owner. One transaction, serialised per tenant.
    fn change_role(
        &self,
        ctx: &TenantCtx,
        user: UserId,
        role: RoleId,
    ) -> impl Future<Output = Result<Membership, MemberError>> + Send;

    /// Removes the member, with the same last-owner rule.
    fn remove_member(
        &self,
        ctx: &TenantCtx,
        user: UserId,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;
}

/// A tenant the user belongs to, as the switcher lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserTenant {
    pub tenant_id: tenantry_kernel::TenantId,
    pub name: String,
    pub slug: String,
    pub status: String,
    pub primary_domain: Option<String>,
    pub role_name: String,
}

/// One person's memberships across tenants: a user-scoped read, not a tenant-scoped one.
pub trait UserTenants: Clone + Send + Sync + 'static {
    /// One page of the tenants where the user has an active membership, oldest tenant first
    /// (by tenant id).
    fn tenants_of(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<UserTenant>, Unexpected>> + Send;
}

/// The cursor key of a member: when they joined, then their user id.
pub fn member_key(m: &Member) -> String {
    tenantry_kernel::page::time_id_key(m.membership.created_at, m.membership.user_id.as_uuid())
}
