//! One error enum per operation.

use tenantry_kernel::Unexpected;
use thiserror::Error;

use crate::permissions::Permission;

#[derive(Debug, Error)]
pub enum RoleError {
    #[error("role not found")]
    NotFound,
    #[error("a role named '{name}' already exists in this tenant")]
    NameTaken { name: String },
    #[error("the owner role cannot be changed or deleted")]
    OwnerRoleLocked,
    #[error("system roles cannot be renamed or deleted")]
    SystemRole,
    #[error("the {role} role must keep the permission '{permission}'")]
    CorePermission {
        role: &'static str,
        permission: Permission,
    },
    #[error("you cannot grant '{permission}', which you do not have")]
    Escalation { permission: Permission },
    #[error("the role is assigned to {members} member(s); reassign them first")]
    InUse { members: u64 },
    #[error(transparent)]
    Quota(#[from] tenantry_kernel::QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum MemberError {
    #[error("member not found")]
    NotFound,
    #[error("role not found")]
    RoleNotFound,
    #[error("you cannot grant or take away '{permission}', which you do not have")]
    Escalation { permission: Permission },
    #[error("the user is already a member of this tenant")]
    AlreadyMember,
    #[error("the tenant's last owner cannot be removed or given another role")]
    LastOwner,
    #[error(transparent)]
    Quota(#[from] tenantry_kernel::QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
