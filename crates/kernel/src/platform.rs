//! Ports for the platform as a whole rather than one of its areas: whether the database is
//! ready to serve, and the change counters every instance's caches follow.

use std::future::Future;

use crate::Unexpected;

/// Where the platform's change counters stand. Each moves on every committed change of its
/// kind, made by any process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeVersions {
    /// Tenants and domains: the resolution cache follows it.
    pub tenancy: i64,
    /// Revoked sessions, removed members, changed roles: the access caches follow it.
    pub access: i64,
}

/// The change counters, read by each instance to follow changes made by others (another
/// instance, the CLI).
pub trait ChangeCounters: Clone + Send + Sync + 'static {
    fn change_versions(&self) -> impl Future<Output = Result<ChangeVersions, Unexpected>> + Send;
}

/// What readiness asks of the database.
pub trait DatabaseHealth: Clone + Send + Sync + 'static {
    /// One trivial round trip.
    fn ping(&self) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// The migrations this binary carries that the database lacks.
    fn pending_migrations(&self) -> impl Future<Output = Result<Vec<String>, Unexpected>> + Send;

    /// `postgres` or `sqlite`.
    fn backend_name(&self) -> &'static str;

    /// The connection pool now, for the metrics.
    fn pool_status(&self) -> PoolStatus;
}

/// A connection pool's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections it opens.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections no one holds.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}
