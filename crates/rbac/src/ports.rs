//! What the RBAC domain needs from the store. Every method is scoped by the tenant context.

use std::future::Future;

use tenantry_kernel::{RoleId, TenantCtx, Unexpected, UserId};

use crate::error::{MemberError, RoleError};
use crate::model::{Member, Membership, Role};

pub trait RoleRepository: Clone + Send + Sync + 'static {
    fn roles(&self, ctx: &TenantCtx) -> impl Future<Output = Result<Vec<Role>, Unexpected>> + Send;

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
    fn members(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Vec<Member>, Unexpected>> + Send;

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
    /// Every tenant where the user has an active membership, oldest tenant first.
    fn tenants_of(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<Vec<UserTenant>, Unexpected>> + Send;
}
