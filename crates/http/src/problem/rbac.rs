//! problem+json for roles and memberships: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_rbac::{MemberError, RoleError};

use super::Problem;

impl From<RoleError> for Problem {
    fn from(e: RoleError) -> Self {
        let detail = e.to_string();
        match e {
            RoleError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "role_not_found", "Role not found").detail(detail)
            }
            RoleError::NameTaken { .. } => {
                Self::new(StatusCode::CONFLICT, "role_name_taken", "Role name taken").detail(detail)
            }
            RoleError::OwnerRoleLocked => Self::new(
                StatusCode::CONFLICT,
                "owner_role_locked",
                "Owner role locked",
            )
            .detail(detail),
            RoleError::SystemRole => {
                Self::new(StatusCode::CONFLICT, "system_role", "System role").detail(detail)
            }
            RoleError::CorePermission { .. } => {
                Self::new(StatusCode::CONFLICT, "core_permission", "Core permission").detail(detail)
            }
            RoleError::Escalation { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "permission_denied",
                "Permission denied",
            )
            .detail(detail),
            RoleError::InUse { .. } => {
                Self::new(StatusCode::CONFLICT, "role_in_use", "Role in use").detail(detail)
            }
            RoleError::Quota(q) => q.into(),
            RoleError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<MemberError> for Problem {
    fn from(e: MemberError) -> Self {
        let detail = e.to_string();
        match e {
            MemberError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "member_not_found",
                "Member not found",
            )
            .detail(detail),
            MemberError::RoleNotFound => {
                let mut p = Self::field("role_id", detail);
                p.code = "role_not_found";
                p
            }
            MemberError::LastOwner => {
                Self::new(StatusCode::CONFLICT, "last_owner", "Last owner").detail(detail)
            }
            MemberError::Escalation { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "permission_denied",
                "Permission denied",
            )
            .detail(detail),
            MemberError::AlreadyMember => {
                Self::new(StatusCode::CONFLICT, "already_member", "Already a member").detail(detail)
            }
            MemberError::Quota(q) => q.into(),
            MemberError::Unexpected(u) => Self::internal(u),
        }
    }
}
