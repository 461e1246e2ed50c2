//! Black-box HTTP tests: each starts the real app on a loopback port with its own database
//! (SQLite, and PostgreSQL when configured) and speaks HTTP like a client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_keys;
mod archives;
mod auth;
mod billing;
mod deletion;
mod deliveries;
mod domains;
mod edge;
mod erasure;
mod errors;
mod events;
mod exports;
mod files;
mod impersonation;
mod invitations;
mod isolation;
mod jobs;
mod lists;
mod metrics;
mod mfa;
mod openapi;
mod platform;
mod products;
mod projects;
mod rate_limits;
mod resolution;
mod revocation;
mod scim;
mod sessions;
mod smtp;
mod spec_bounds;
mod sso;
mod stripe;
mod team;
mod usage;
mod webhooks;

#[test]
fn postgres_suite() {
    tenantry_tests::report_postgres_suite();
}
