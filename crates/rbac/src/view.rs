//! Roles and memberships as the API returns them and as their events carry them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub id: uuid::Uuid,
    #[schema(example = "admin")]
    pub name: String,
    pub permissions: Vec<&'static str>,
    /// The four roles every tenant starts with are system roles.
    pub system: bool,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&crate::Role> for RoleView {
    fn from(r: &crate::Role) -> Self {
        Self {
            id: *r.id.as_uuid(),
            name: r.name.as_str().to_owned(),
            permissions: r.permissions.iter().map(|p| p.as_str()).collect(),
            system: r.system.is_some(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A membership as its events carry it: who, which role, and whether it is active (the
/// member list adds the person's e-mail and name and the role's name).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub user_id: uuid::Uuid,
    pub role_id: uuid::Uuid,
    #[schema(example = "active")]
    pub status: &'static str,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<&crate::Membership> for MembershipView {
    fn from(m: &crate::Membership) -> Self {
        Self {
            user_id: *m.user_id.as_uuid(),
            role_id: *m.role_id.as_uuid(),
            status: m.status.as_str(),
            created_at: m.created_at,
        }
    }
}
