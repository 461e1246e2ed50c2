//! The fixed permission catalogue, defined once. Routes, roles and API keys name these.

use std::collections::BTreeSet;
use std::fmt;

use crate::model::InvalidValue;

/// Every permission, with what it allows.
pub const CATALOGUE: &[(&str, &str)] = &[
    ("tenant:read", "See the tenant's profile and settings"),
    ("tenant:manage", "Reserved for the tenant's owners"),
    (
        "settings:manage",
        "Change the tenant's settings: branding, locale, maintenance, security policy",
    ),
    (
        "domains:manage",
        "Add, verify, promote and remove the tenant's domains",
    ),
    (
        "sso:manage",
        "Configure single sign-on providers and directory sync (SCIM)",
    ),
    ("members:read", "See the tenant's members"),
    ("members:manage", "Invite, re-role and remove members"),
    ("roles:manage", "Create, change and delete roles"),
    ("api_keys:manage", "Create and revoke API keys"),
    ("audit:read", "Read the audit trail"),
    (
        "data:export",
        "Export all of the tenant's data (owners only by default)",
    ),
    ("events:read", "Read the event log"),
    (
        "webhooks:manage",
        "Register, change and test webhook endpoints and see their deliveries",
    ),
    (
        "billing:read",
        "See the plan, the subscription and the quotas",
    ),
    ("billing:manage", "Change the plan"),
    ("usage:write", "Report usage events (metered billing)"),
    ("products:read", "See products"),
    ("products:write", "Create, change and delete products"),
    ("files:read", "See and download files"),
    (
        "files:write",
        "Upload and delete files and attach them to products",
    ),
    ("projects:read", "See projects and tasks"),
    (
        "projects:write",
        "Create, change and delete projects and tasks",
    ),
];

/// A permission from the catalogue; nothing else can be constructed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(&'static str);

impl Permission {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        CATALOGUE
            .iter()
            .find(|(name, _)| *name == raw)
            .map(|(name, _)| Self(name))
            .ok_or_else(|| InvalidValue(format!("unknown permission '{raw}'")))
    }

    /// For the catalogue's own names; panics in tests if a name is not in it.
    pub const fn known(name: &'static str) -> Self {
        Self(name)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }

    pub fn all() -> PermissionSet {
        CATALOGUE.iter().map(|(n, _)| Self(n)).collect()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

pub type PermissionSet = BTreeSet<Permission>;

/// Parses a list of names into a set, reporting the first unknown one.
pub fn parse_set<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<PermissionSet, InvalidValue> {
    names.into_iter().map(Permission::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_catalogue_names_parse() {
        assert_eq!(
            Permission::parse("members:manage").unwrap().as_str(),
            "members:manage"
        );
        assert!(Permission::parse("members:delete").is_err());
        assert!(Permission::parse("").is_err());
        assert_eq!(Permission::all().len(), CATALOGUE.len());
        let names: BTreeSet<&str> = CATALOGUE.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), CATALOGUE.len(), "no duplicates");
    }
}
