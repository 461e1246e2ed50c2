//! Roles and memberships.

use chrono::{DateTime, Utc};
use tenantry_kernel::{RoleId, TenantId, UserId};
use thiserror::Error;

use crate::permissions::{Permission, PermissionSet};

/// Why a value was refused; the message is meant for the API client.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A role's name: 2–50 characters of `a-z0-9_-`, unique within its tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        if !(2..=50).contains(&s.len()) {
            return Err(InvalidValue("role name must be 2 to 50 characters".into()));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(InvalidValue(
                "role name may contain only lower-case letters, digits, '_' and '-'".into(),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The roles every tenant starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemRole {
    Owner,
    Admin,
    Member,
    Viewer,
}

const READ: &[&str] = &[
    "tenant:read",
    "members:read",
    "billing:read",
    "products:read",
    "files:read",
    "projects:read",
];

impl SystemRole {
    pub const ALL: [SystemRole; 4] = [Self::Owner, Self::Admin, Self::Member, Self::Viewer];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    fn set(names: &[&'static str]) -> PermissionSet {
        names.iter().map(|n| Permission::known(n)).collect()
    }

    /// What the role grants when the tenant is created.
    pub fn default_permissions(self) -> PermissionSet {
        match self {
            Self::Owner => Permission::all(),
            // Everything but what stays the owners': the tenant itself and all of its data in
            // one download.
            Self::Admin => Permission::all()
                .into_iter()
                .filter(|p| !matches!(p.as_str(), "tenant:manage" | "data:export"))
                .collect(),
            Self::Member => {
                Self::set(&[READ, &["products:write", "files:write", "projects:write"]].concat())
            }
            Self::Viewer => Self::set(READ),
        }
    }

    /// What the role can never lose. The owner role cannot be changed at all.
    pub fn core_permissions(self) -> PermissionSet {
        match self {
            Self::Owner => Permission::all(),
            Self::Admin => Self::set(&[
                "tenant:read",
                "members:read",
                "members:manage",
                "roles:manage",
            ]),
            Self::Member | Self::Viewer => Self::set(&["tenant:read"]),
        }
    }
}

/// A named set of permissions inside one tenant. The same name may mean different things in
/// two tenants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub tenant_id: TenantId,
    pub name: RoleName,
    pub permissions: PermissionSet,
    /// Set for the four roles every tenant starts with.
    pub system: Option<SystemRole>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Role {
    /// The four system roles of a new tenant.
    pub fn defaults(tenant_id: TenantId, now: DateTime<Utc>) -> Vec<Role> {
        SystemRole::ALL
            .into_iter()
            .map(|r| Role {
                id: RoleId::new(),
                tenant_id,
                name: RoleName(r.name().to_owned()),
                permissions: r.default_permissions(),
                system: Some(r),
                created_at: now,
                updated_at: now,
            })
            .collect()
    }

    pub fn is_owner(&self) -> bool {
        self.system == Some(SystemRole::Owner)
    }

    pub fn allows(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipStatus {
    Active,
    Suspended,
}

impl MembershipStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// A user's place in a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role_id: RoleId,
    pub status: MembershipStatus,
    pub created_at: DateTime<Utc>,
}

/// A member as the team list shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub membership: Membership,
    pub email: String,
    pub display_name: String,
    pub role_name: RoleName,
}

impl tenantry_audit::Audited for Role {
    const QUOTA: Option<&'static str> = Some("roles");
    const ENTITY: &'static str = "role";
    /// The four system roles come with every tenant and are not the tenant's to count.
    fn counted(&self) -> bool {
        self.system.is_none()
    }
    type View = crate::view::RoleView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name.as_str(),
            "permissions": self.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "system_role": self.system.map(SystemRole::name),
        })
    }
}

/// A member left or was removed (`member.removed`).
pub const REMOVED: &str = "removed";

impl tenantry_audit::Audited for Membership {
    const QUOTA: Option<&'static str> = Some("members");
    const ENTITY: &'static str = "membership";
    const EVENT_PREFIX: &'static str = "member";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        tenantry_audit::actions::UPDATED,
        REMOVED,
    ];
    type View = crate::view::MembershipView;

    fn audit_id(&self) -> String {
        self.user_id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["created_at"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roles() {
        let roles = Role::defaults(TenantId::new(), Utc::now());
        let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["owner", "admin", "member", "viewer"]);
        assert_eq!(roles[0].permissions, Permission::all());
        assert!(!roles[1].allows(Permission::known("tenant:manage")));
        assert!(roles[2].allows(Permission::known("products:write")));
        assert!(!roles[3].allows(Permission::known("products:write")));
        for r in SystemRole::ALL {
            assert!(
                r.core_permissions().is_subset(&r.default_permissions()),
                "{r:?}"
            );
            for p in r.default_permissions() {
                assert!(
                    Permission::parse(p.as_str()).is_ok(),
                    "{p} is in the catalogue"
                );
            }
        }
    }

    #[test]
    fn role_names() {
        assert!(RoleName::parse("billing-admin").is_ok());
        assert!(RoleName::parse("Billing").is_err());
        assert!(RoleName::parse("x").is_err());
    }
}
