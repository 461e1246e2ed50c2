//! A tenant's life as the operator sees it. For now: `tenantry tenant validate`, the checks
//! that a tenant is sound — isolation in the database, someone to run it, its roles, an
//! address that resolves, quotas that follow its plan, an unbroken audit chain, no work
//! given up on.

mod validation;

pub use validation::{Check, HealthReads, Report, TenantFacts, TenantValidator};
