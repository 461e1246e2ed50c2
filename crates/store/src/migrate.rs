//! Embedded migrations, one folder per backend, and the check that they are current.

use std::collections::BTreeSet;

use diesel::{Connection, SqliteConnection};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::db::{Backend, Db, SQLITE_PRAGMAS, backend_of, sqlite_path};
use crate::error::StoreError;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The versions this binary carries for a backend.
fn expected_versions(backend: Backend) -> Result<BTreeSet<String>, StoreError> {
    use diesel::migration::MigrationSource;
    let names = match backend {
        Backend::Postgres => MigrationSource::<diesel::pg::Pg>::migrations(&PG_MIGRATIONS)
            .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect()),
        Backend::Sqlite => {
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
                .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
        }
    };
    names.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Whether the database has every migration this binary carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    pub pending: Vec<String>,
}

impl MigrationStatus {
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

diesel::table! {
    __diesel_schema_migrations (version) {
        version -> Text,
    }
}

impl Db {
    /// Compares the applied migrations with the embedded ones, reading only (the service role
    /// may not create the bookkeeping table, so no harness is involved).
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        use diesel::QueryDsl;
        use diesel_async::RunQueryDsl;
        let table = __diesel_schema_migrations::table.select(__diesel_schema_migrations::version);
        let applied: Result<Vec<String>, StoreError> = run!(self, read, |conn| table
            .load(conn)
            .await
            .map_err(StoreError::from));
        let applied: BTreeSet<String> = match applied {
            Ok(v) => v.into_iter().collect(),
            // No bookkeeping table yet: nothing is applied.
            Err(StoreError::Query(diesel::result::Error::DatabaseError(_, info)))
                if is_missing_table(info.message()) =>
            {
                BTreeSet::new()
            }
            Err(e) => return Err(e),
        };
        let pending = expected_versions(self.backend())?
            .into_iter()
            .filter(|v| !applied.contains(v))
            .collect();
        Ok(MigrationStatus { pending })
    }
}

/// PostgreSQL: `relation "__diesel_schema_migrations" does not exist`; SQLite: `no such table`.
/// Anything else (a permission error, say) is a real failure.
fn is_missing_table(message: &str) -> bool {
    message.contains("__diesel_schema_migrations")
        && (message.contains("does not exist") || message.contains("no such table"))
}

/// Applies pending migrations using the database at `url` (for PostgreSQL, a role that owns
/// the schema). Runs on a dedicated thread: the harness is synchronous. Returns the versions
/// it applied.
pub async fn run_migrations(url: &str) -> Result<Vec<String>, StoreError> {
    let backend = backend_of(url)?;
    let url = url.to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread (no runtime context): the PostgreSQL wrapper then drives its own
    // current-thread runtime instead of blocking on the caller's.
    std::thread::Builder::new()
        .name("tenantry-migrate".into())
        .spawn(move || {
            let _ = tx.send(run_blocking(backend, &url));
        })
        .map_err(|e| StoreError::Migration(format!("cannot start migration thread: {e}")))?;
    rx.await
        .map_err(|_| StoreError::Migration("migration thread panicked".into()))?
}

fn run_blocking(backend: Backend, url: &str) -> Result<Vec<String>, StoreError> {
    let applied = match backend {
        Backend::Postgres => {
            let mut conn =
                <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(url)
                    .map_err(|e| StoreError::Connection(e.to_string()))?;
            // Instances starting together take turns; the later ones find nothing pending.
            // The lock ends with the session.
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "SELECT pg_advisory_lock(7470100)",
            )?;
            conn.run_pending_migrations(PG_MIGRATIONS)
                .map(|vs| vs.iter().map(ToString::to_string).collect())
        }
        Backend::Sqlite => {
            let path = sqlite_path(url)?;
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                .map_err(|e| StoreError::Connection(e.to_string()))?;
            diesel::connection::SimpleConnection::batch_execute(&mut conn, SQLITE_PRAGMAS)?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|vs| vs.iter().map(ToString::to_string).collect())
        }
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

impl tenantry_kernel::DatabaseHealth for Db {
    async fn ping(&self) -> Result<(), tenantry_kernel::Unexpected> {
        Ok(Db::ping(self).await?)
    }

    async fn pending_migrations(&self) -> Result<Vec<String>, tenantry_kernel::Unexpected> {
        Ok(self.migration_status().await?.pending)
    }

    fn backend_name(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }

    fn pool_status(&self) -> tenantry_kernel::PoolStatus {
        Db::pool_status(self)
    }
}
