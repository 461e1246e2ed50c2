//! The diesel adapter: implements every repository port on SQLite (the embedded default) and
//! PostgreSQL (production, with row-level security), from one source of query code.
//!
//! The `schema` module is private: other crates reach tables only through the port
//! implementations. Tenant-owned tables are reachable only through the wrappers
//! `tenant_owned!` generates (`of(ctx)`, `insert(ctx, …)`, `on(ctx, …)`), which carry the tenant
//! predicate; reaching across tenants needs a `CrossTenant` capability.

#[macro_use]
mod db;
#[macro_use]
mod pipeline;
mod api_keys;
mod archive;
mod audit;
mod backups;
mod billing;
mod deletions;
mod deliveries;
#[macro_use]
mod delivery_log;
#[cfg(feature = "testing")]
pub mod distribution;
mod erasure;
mod error;
mod events;
mod exports;
mod files;
#[cfg(feature = "testing")]
pub mod guard_rails;
mod health;
mod identity;
mod invitations;
mod jobs;
mod mfa;
mod migrate;
mod onboarding;
mod paging;
mod personal;
mod products;
mod projects;
mod provisioning;
mod rbac;
mod schema;
mod scim;
mod search;
mod search_words;
mod secrets;
mod smtp;
mod sso;
mod tenancy;
#[cfg(feature = "testing")]
#[allow(clippy::expect_used, clippy::panic)]
pub mod testing;
mod types;
mod usage;
mod webhooks;

pub use archive::NOT_ARCHIVED;
pub use db::{Backend, Db, DbConfig};
pub use error::StoreError;
pub use migrate::{MigrationStatus, run_migrations};
pub use search_words::{SearchShape, TenantWords};
pub use tenantry_kernel::ChangeVersions;
