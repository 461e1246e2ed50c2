//! Typed ids. Every id is a uuid v7 (time-ordered: index-friendly and safe to expose), and
//! each entity has its own newtype so a tenant id can never be passed where a domain id goes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// Identifies a tenant (an organisation using the SaaS product).
    TenantId
);
id_type!(
    /// Identifies a hostname attached to a tenant.
    DomainId
);
id_type!(
    /// Identifies a person: users are platform-wide (one person, many tenants).
    UserId
);
id_type!(
    /// Identifies a role within its tenant.
    RoleId
);
id_type!(
    /// Identifies an invitation to join a tenant.
    InvitationId
);
id_type!(
    /// Identifies an API key.
    ApiKeyId
);
id_type!(
    /// Identifies a tenant's single sign-on (OpenID Connect) provider.
    SsoProviderId
);
id_type!(
    /// Identifies a tenant's SCIM (directory provisioning) token.
    ScimTokenId
);
id_type!(
    /// Identifies a user of a tenant's directory, as SCIM names it.
    ScimUserId
);
id_type!(
    /// Identifies a tenant's stored file (and names its object: `tenants/<tenant>/<file>`).
    FileId
);
id_type!(
    /// Identifies a tenant's own bucket settings (each save is a new one).
    BucketId
);
id_type!(
    /// Identifies a tenant's data export (and names its archive's object).
    ExportId
);
id_type!(
    /// Identifies a backup of a tenant (and names its archive's object).
    BackupId
);
id_type!(
    /// Identifies the purge of a tenant (its certificate).
    PurgeId
);
id_type!(
    /// Identifies an entry of a tenant's audit trail.
    AuditEntryId
);
id_type!(
    /// Identifies an account-level security event (platform security log).
    SecurityEventId
);
id_type!(
    /// Identifies a product of a tenant's catalogue.
    ProductId
);
id_type!(
    /// Identifies a project.
    ProjectId
);
id_type!(
    /// Identifies a task of a project.
    TaskId
);
id_type!(
    /// Identifies an event of a tenant (`product.created`…), as consumers see it.
    EventId
);
id_type!(
    /// Identifies a background job.
    JobId
);
id_type!(
    /// Identifies a tenant's webhook endpoint.
    WebhookId
);
id_type!(
    /// Identifies one attempt to deliver an event to a webhook endpoint.
    WebhookAttemptId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_time_ordered() {
        let a = TenantId::new();
        let b = TenantId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b, "later ids sort after earlier ones");
    }

    #[test]
    fn ids_round_trip_through_strings() {
        let id = DomainId::new();
        let parsed: DomainId = id.to_string().parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, id);
        assert!("not-a-uuid".parse::<DomainId>().is_err());
    }
}
