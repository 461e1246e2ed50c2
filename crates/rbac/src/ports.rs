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
