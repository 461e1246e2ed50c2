//! Connection pools for both backends and the macros that run one query body on either.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;
use tenantry_kernel::TenantId;

use crate::error::StoreError;

pub(crate) type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct DbConfig {
    /// `sqlite://path/to/file.db` or `postgres://user:pass@host/db`.
    pub url: String,
    /// Maximum pooled connections.
    pub pool_size: usize,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl DbConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    pub fn backend(&self) -> Result<Backend, StoreError> {
        backend_of(&self.url)
    }
}

pub(crate) fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        Err(StoreError::Config(
            "database URL must start with sqlite:// or postgres://".into(),
        ))
    }
}

/// The file behind a `sqlite://` URL (`sqlite://./data/x.db`, `sqlite:///abs/x.db`), with its
/// directory created when missing.
pub(crate) fn sqlite_path(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if rest.is_empty() || rest.contains(":memory:") {
        return Err(StoreError::Config(
            "SQLite needs a file path (an in-memory database cannot be shared by a pool)".into(),
        ));
    }
    let path = PathBuf::from(rest);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(path)
}

/// Pragmas every SQLite connection gets: wait instead of failing on a busy writer, write-ahead
/// logging (readers never block the writer), enforced foreign keys.
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

#[derive(Clone)]
enum Pools {
    Pg(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConn>),
}

/// A pooled database handle; cheap to clone. All SQLite calls run on tokio's blocking pool
/// (`SyncConnectionWrapper`), never on the async executor threads. Connections are recycled
/// without a test query (a connection with an open transaction is discarded instead): a
/// per-checkout `SELECT 1` was one round trip in five on every request.
#[derive(Clone)]
pub struct Db {
    pools: Pools,
    /// Wakes this process's workers when a commit queued jobs (other instances hear a
    /// PostgreSQL notification).
    jobs_queued: std::sync::Arc<tokio::sync::Notify>,
    /// Wakes this process's webhook dispatcher when a commit queued deliveries.
    deliveries_queued: std::sync::Arc<tokio::sync::Notify>,
    /// For the PostgreSQL listener connection of the workers.
    url: std::sync::Arc<str>,
    /// Whether this process's job listener runs.
    listener_started: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The keys personal data is sealed under (`personal.rs`).
    pub(crate) personal: std::sync::Arc<crate::personal::PersonKeys>,
}

// Lives on the stack for one query; boxing the larger variant would allocate per query.
#[allow(clippy::large_enum_variant)]
pub(crate) enum DbConn {
    Pg(Object<AsyncPgConnection>),
    Sqlite(Object<SqliteConn>),
}

/// The runtime every pooled connection is opened on, and so lives on: a PostgreSQL
/// connection's driver task, a SQLite connection's blocking calls. Without it a connection
/// belongs to whichever runtime opened it — often one of the HTTP server's workers, which stop
/// first on a graceful shutdown, failing the worker's last writes with "task cancelled" while
/// its jobs finish. Built on first use, never dropped (it ends with the process).
fn db_runtime() -> Result<&'static tokio::runtime::Handle, diesel::ConnectionError> {
    static RUNTIME: std::sync::OnceLock<Result<tokio::runtime::Runtime, String>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("tenantry-db")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(tokio::runtime::Runtime::handle)
        .map_err(|e| diesel::ConnectionError::BadConnection(format!("database runtime: {e}")))
}

/// Opens a connection on [`db_runtime`].
async fn on_db_runtime<C: Send + 'static>(
    open: impl Future<Output = diesel::ConnectionResult<C>> + Send + 'static,
) -> diesel::ConnectionResult<C> {
    match db_runtime()?.spawn(open).await {
        Ok(opened) => opened,
        Err(e) => Err(diesel::ConnectionError::BadConnection(format!(
            "opening a connection failed: {e}"
        ))),
    }
}

impl Db {
    /// Opens a pool. For SQLite the file (and its directory) is created when missing.
    pub fn connect(config: &DbConfig) -> Result<Self, StoreError> {
        let pools = match config.backend()? {
            Backend::Postgres => {
                let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
                manager_config.recycling_method = RecyclingMethod::Fast;
                manager_config.custom_setup = Box::new(|url| {
                    let url = url.to_owned();
                    on_db_runtime(async move {
                        let mut conn = AsyncPgConnection::establish(&url).await?;
                        // No JIT: the planner estimates a tenant's slice of a shared table from
                        // the whole table, and compiling a plan (10-35 ms) cost more than the
                        // short queries it was for (decision 0030).
                        conn.batch_execute("SET jit = off")
                            .await
                            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                        Ok(conn)
                    })
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
                    config.url.as_str(),
                    manager_config,
                );
                Pools::Pg(build_pool(manager, config)?)
            }
            Backend::Sqlite => {
                let path = sqlite_path(&config.url)?;
                let mut manager_config = ManagerConfig::<SqliteConn>::default();
                manager_config.recycling_method = RecyclingMethod::Fast;
                manager_config.custom_setup = Box::new(|path| {
                    let path = path.to_owned();
                    on_db_runtime(async move {
                        let mut conn = SqliteConn::establish(&path).await?;
                        conn.batch_execute(SQLITE_PRAGMAS)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    })
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(
                    path.to_string_lossy(),
                    manager_config,
                );
                Pools::Sqlite(build_pool(manager, config)?)
            }
        };
        Ok(Self {
            pools,
            jobs_queued: std::sync::Arc::default(),
            deliveries_queued: std::sync::Arc::default(),
            url: config.url.as_str().into(),
            listener_started: std::sync::Arc::default(),
            personal: std::sync::Arc::default(),
        })
    }

    /// After a commit that queued `jobs` jobs: wakes a waiting worker of this process.
    pub(crate) fn jobs_committed(&self, jobs: usize) {
        if jobs > 0 {
            // Wakes the process's worker, or lets its next wait return at once.
            self.jobs_queued.notify_one();
        }
    }

    pub(crate) fn jobs_queued(&self) -> &tokio::sync::Notify {
        &self.jobs_queued
    }

    /// After a commit of the pipeline: wakes this process's worker and dispatcher for what
    /// it queued.
    pub(crate) fn committed(&self, sealed: crate::pipeline::Sealed) {
        self.jobs_committed(sealed.jobs);
        self.deliveries_committed(sealed.deliveries);
    }

    /// After a commit that queued webhook deliveries: wakes this process's dispatcher.
    pub(crate) fn deliveries_committed(&self, deliveries: usize) {
        if deliveries > 0 {
            self.deliveries_queued.notify_one();
        }
    }

    pub(crate) fn deliveries_queued(&self) -> &tokio::sync::Notify {
        &self.deliveries_queued
    }

    pub(crate) fn listener_started(&self) -> &std::sync::atomic::AtomicBool {
        &self.listener_started
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Pg(_) => Backend::Postgres,
            Pools::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub(crate) async fn conn(&self) -> Result<DbConn, StoreError> {
        let waited = std::time::Instant::now();
        let conn = match &self.pools {
            Pools::Pg(p) => p.get().await.map(DbConn::Pg),
            Pools::Sqlite(p) => p.get().await.map(DbConn::Sqlite),
        };
        metrics::histogram!("tenantry_db_pool_wait_seconds").record(waited.elapsed().as_secs_f64());
        conn.map_err(pool_error)
    }

    /// The pool's connections now.
    pub fn pool_status(&self) -> tenantry_kernel::PoolStatus {
        let s = match &self.pools {
            Pools::Pg(p) => p.status(),
            Pools::Sqlite(p) => p.status(),
        };
        tenantry_kernel::PoolStatus {
            max_size: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
        }
    }

    /// Answers whether the database can be reached with a trivial round trip.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self.conn().await? {
            DbConn::Pg(mut c) => c.batch_execute("SELECT 1").await?,
            DbConn::Sqlite(mut c) => c.batch_execute("SELECT 1").await?,
        }
        Ok(())
    }

    /// Closes the pool: idle connections are dropped and no new ones are handed out.
    pub fn close(&self) {
        match &self.pools {
            Pools::Pg(p) => p.close(),
            Pools::Sqlite(p) => p.close(),
        }
    }
}

fn build_pool<C>(
    manager: AsyncDieselConnectionManager<C>,
    config: &DbConfig,
) -> Result<Pool<C>, StoreError>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .wait_timeout(Some(config.acquire_timeout))
        .create_timeout(Some(config.acquire_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Config(format!("connection pool: {e}")))
}

fn pool_error(e: diesel_async::pooled_connection::deadpool::PoolError) -> StoreError {
    StoreError::Connection(e.to_string())
}

diesel::define_sql_function! {
    /// PostgreSQL's `set_config(name, value, is_local)`.
    fn set_config(name: diesel::sql_types::Text, value: diesel::sql_types::Text, is_local: diesel::sql_types::Bool) -> diesel::sql_types::Text;
}

/// Whose data a transaction may see on PostgreSQL (row-level security).
pub(crate) enum Scope {
    /// Platform tables only: tenant-owned tables show no rows.
    Platform,
    /// One tenant's rows (`app.tenant_id`).
    Tenant(TenantId),
    /// One person's own rows across tenants, where a policy allows it (`app.user_id`).
    User(tenantry_kernel::UserId),
    /// The one invitation whose token has this digest (`app.invitation_digest`).
    Invitation(String),
    /// The one API key with this prefix (`app.api_key_prefix`).
    ApiKey(String),
}

impl From<Option<TenantId>> for Scope {
    fn from(t: Option<TenantId>) -> Self {
        t.map_or(Self::Platform, Self::Tenant)
    }
}

impl Scope {
    /// The transaction-local setting row-level security reads for this scope (none for
    /// `Platform`).
    fn setting(&self) -> Option<(&'static str, String)> {
        Some(match self {
            Self::Platform => return None,
            Self::Tenant(t) => ("app.tenant_id", t.to_string()),
            Self::User(u) => ("app.user_id", u.to_string()),
            Self::Invitation(d) => ("app.invitation_digest", d.clone()),
            Self::ApiKey(p) => ("app.api_key_prefix", p.clone()),
        })
    }
}

/// Adds `scope` to a PostgreSQL transaction part-way (see [`Rescope`]): row-level security then
/// also shows this tenant's (or this user's) rows. Settings made earlier in the transaction
/// stay; `Platform` clears them all. Transaction-local, so the pooled session carries nothing
/// over.
pub(crate) async fn set_pg_scope(
    conn: &mut &AsyncPgConnection,
    scope: &Scope,
) -> Result<(), StoreError> {
    use diesel_async::RunQueryDsl;
    match scope.setting() {
        Some((name, value)) => {
            diesel::select(set_config(name, value, true))
                .execute(conn)
                .await?
        }
        None => {
            let clear = |name: &'static str| set_config(name, "", true);
            diesel::select((
                clear("app.tenant_id"),
                clear("app.user_id"),
                clear("app.invitation_digest"),
                clear("app.api_key_prefix"),
            ))
            .execute(conn)
            .await?
        }
    };
    Ok(())
}

/// The statement that opens a PostgreSQL transaction in `scope`: `BEGIN` and, in the same
/// simple-query message (one round trip), the transaction-local setting row-level security
/// reads (`SET LOCAL`: a utility command, cheaper for the server than `SELECT set_config`).
/// Values are quoted as SQL literals (ids are uuids; digests and prefixes are checked to be
/// plain tokens, and quotes are doubled regardless).
fn begin_sql(scope: &Scope) -> String {
    begin_as(scope, "BEGIN")
}

fn begin_as(scope: &Scope, begin: &str) -> String {
    match scope.setting() {
        None => begin.to_owned(),
        Some((name, value)) => {
            format!(
                "{begin}; SET LOCAL {name} = '{}'",
                value.replace('\'', "''")
            )
        }
    }
}

/// Opens a scoped transaction on PostgreSQL (see [`begin_sql`]), tracked by diesel-async's
/// transaction manager like its own `transaction`.
pub(crate) async fn pg_begin(
    conn: &mut AsyncPgConnection,
    scope: &Scope,
) -> Result<(), StoreError> {
    let begun =
        diesel_async::AnsiTransactionManager::begin_transaction_sql(conn, &begin_sql(scope)).await;
    if let Err(e) = begun {
        // BEGIN may have run before the setting failed: leave no aborted transaction behind.
        let _ = conn.batch_execute("ROLLBACK").await;
        return Err(e.into());
    }
    Ok(())
}

/// Commits after a body that succeeded, rolls back after one that failed.
pub(crate) async fn pg_end<R>(
    conn: &mut AsyncPgConnection,
    result: Result<R, StoreError>,
) -> Result<R, StoreError> {
    use diesel_async::TransactionManager;
    type Tm = diesel_async::AnsiTransactionManager;
    match result {
        Ok(value) => {
            <Tm as TransactionManager<AsyncPgConnection>>::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(e) => {
            match <Tm as TransactionManager<AsyncPgConnection>>::rollback_transaction(conn).await {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
                Err(rollback) => Err(rollback.into()),
            }
        }
    }
}

/// A pooled PostgreSQL connection inside a transaction that diesel-async's transaction
/// manager does not track (see [`pg_read`]). Unless [`CloseUnlessEnded::ended`] says the
/// transaction is over, dropping it takes the connection out of the pool and closes it: a
/// future cancelled mid-transaction can never hand its open transaction — and its tenant
/// setting — to the next checkout.
struct CloseUnlessEnded(Option<Object<AsyncPgConnection>>);

impl CloseUnlessEnded {
    /// The transaction is over: the connection may go back to the pool.
    fn ended(mut self) {
        drop(self.0.take());
    }
}

impl Drop for CloseUnlessEnded {
    fn drop(&mut self) {
        if let Some(pooled) = self.0.take() {
            drop(Object::take(pooled));
        }
    }
}

/// A PostgreSQL read transaction in `scope`, pipelined: `BEGIN READ ONLY; SET LOCAL …` is
/// sent and, without waiting for its answer, the body's first statement behind it on the
/// same connection (two round trips for a one-statement read instead of three). The server
/// runs them in the order sent, so the statement sees the scope; had BEGIN failed, it ran
/// outside any transaction with no scope set, where row-level security shows no tenant rows,
/// and its result is discarded. Once BEGIN has gone out, `READ ONLY` makes the server refuse
/// a write in a read body; had it failed before being sent (a closed client), the body ran in
/// autocommit — so read bodies only read, which the PostgreSQL test suite holds them to.
pub(crate) async fn pg_read<R>(
    pooled: Object<AsyncPgConnection>,
    scope: &Scope,
    body: impl AsyncFnOnce(&mut &AsyncPgConnection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let begin = begin_as(scope, "BEGIN READ ONLY");
    let mut guard = CloseUnlessEnded(Some(pooled));
    let Some(conn) = guard.0.as_deref_mut() else {
        return Err(StoreError::Connection("no pooled connection".to_owned()));
    };
    let shared: &AsyncPgConnection = conn;
    let mut handle = shared;
    // `join` polls its first future first: BEGIN is queued on the connection before the body
    // runs at all.
    let (begun, result) = futures_util::future::join(
        SimpleAsyncConnection::batch_execute(&mut &*shared, &begin),
        body(&mut handle),
    )
    .await;
    let end = match (&begun, &result) {
        (Ok(()), Ok(_)) => "COMMIT",
        _ => "ROLLBACK",
    };
    // Ended cleanly, or the connection is closed with `guard`.
    conn.batch_execute(end).await?;
    guard.ended();
    begun?;
    result
}

/// Changes a transaction's scope part-way (a no-op on SQLite, which has no row-level
/// security): for reads that learn their tenant from a token first.
pub(crate) trait Rescope {
    fn rescope(
        &mut self,
        scope: &Scope,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

impl Rescope for AsyncPgConnection {
    async fn rescope(&mut self, scope: &Scope) -> Result<(), StoreError> {
        set_pg_scope(&mut &*self, scope).await
    }
}

impl Rescope for &AsyncPgConnection {
    async fn rescope(&mut self, scope: &Scope) -> Result<(), StoreError> {
        set_pg_scope(self, scope).await
    }
}

impl Rescope for SqliteConn {
    async fn rescope(&mut self, _scope: &Scope) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Runs `$body` (an expression using `$conn`, typically ending in `.await`) once for whichever
/// backend the pool holds. The body is written once; each expansion brings that backend's
/// `table!` modules into scope and is type-checked against that backend.
macro_rules! run {
    ($db:expr, |$conn:ident| $body:expr) => {{
        match $db.conn().await? {
            $crate::db::DbConn::Pg(mut pooled) => {
                #[allow(unused_imports)]
                use $crate::schema::pg::*;
                let $conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
                $body
            }
            $crate::db::DbConn::Sqlite(mut pooled) => {
                #[allow(unused_imports)]
                use $crate::schema::sqlite::*;
                let $conn: &mut $crate::db::SqliteConn = &mut pooled;
                $body
            }
        }
    }};
}

/// Runs `$body` in one transaction. `read, tenant = Some(id)` scopes a read to a tenant: on
/// PostgreSQL `app.tenant_id` is set first, so row-level security applies (`tenant = None`:
/// platform tables only). `write, platform` writes platform tables; a tenant write goes
/// through the mutation pipeline (`mutate!`, in `pipeline.rs`), never through here. `user = id`, `invitation =
/// digest` and `api_key = prefix` scope it to one person's rows, one invitation or one key
/// (their own PostgreSQL policies) and hand the body a [`CrossTenant`] capability as its
/// second argument — the only way to reach tenant-owned tables before a tenant is known.
/// `write` transactions on SQLite start with `BEGIN IMMEDIATE` (take the write lock up front,
/// waiting on `busy_timeout`, rather than failing when a read turns into a write).
macro_rules! tx {
    ($db:expr, read, tenant = $tenant:expr, |$conn:ident| $body:expr) => {{
        let tenant: Option<tenantry_kernel::TenantId> = $tenant;
        tx!(@scoped $db, read, $crate::db::Scope::from(tenant), |$conn| $body)
    }};
    ($db:expr, write, platform, |$conn:ident| $body:expr) => {{
        tx!(@scoped $db, write, $crate::db::Scope::Platform, |$conn| $body)
    }};
    ($db:expr, $mode:ident, user = $user:expr, |$conn:ident, $cross:ident| $body:expr) => {{
        tx!(@cross $db, $mode, $crate::db::Scope::User($user), |$conn, $cross| $body)
    }};
    ($db:expr, $mode:ident, api_key = $prefix:expr, |$conn:ident, $cross:ident| $body:expr) => {{
        tx!(@cross $db, $mode, $crate::db::Scope::ApiKey($prefix), |$conn, $cross| $body)
    }};
    ($db:expr, $mode:ident, invitation = $digest:expr, |$conn:ident, $cross:ident| $body:expr) => {{
        tx!(@cross $db, $mode, $crate::db::Scope::Invitation($digest), |$conn, $cross| $body)
    }};
    (@cross $db:expr, $mode:ident, $scope:expr, |$conn:ident, $cross:ident| $body:expr) => {{
        let scope: $crate::db::Scope = $scope;
        let granted = $crate::db::CrossTenant::granted();
        let $cross = &granted;
        tx!(@scoped $db, $mode, scope, |$conn| $body)
    }};
    (@scoped $db:expr, $mode:ident, $scope:expr, |$conn:ident| $body:expr) => {{
        let scope: $crate::db::Scope = $scope;
        // A span per transaction (checkout included) for trace exports, under the request or
        // job it serves (the worker's idle polls make none). DEBUG under `tenantry::db`
        // (tenantry_telemetry::DB_TARGET), so logs at INFO do not even build it.
        let span = if tracing::enabled!(target: "tenantry::db", tracing::Level::DEBUG)
            && !tracing::Span::current().is_none()
        {
            tracing::debug_span!(
                target: "tenantry::db",
                "db.transaction",
                otel.name = concat!("db ", stringify!($mode)),
                otel.kind = "client",
            )
        } else {
            tracing::Span::none()
        };
        let run = async {
            match $db.conn().await? {
                $crate::db::DbConn::Pg(pooled) => {
                    #[allow(unused_imports)]
                    use $crate::schema::pg::*;
                    tx!(@pg $mode, pooled, scope, |$conn| $body)
                }
                $crate::db::DbConn::Sqlite(mut pooled) => {
                    #[allow(unused_imports)]
                    use $crate::schema::sqlite::*;
                    let _ = scope;
                    tx!(@sqlite $mode, pooled, |$conn| $body)
                }
            }
        };
        tracing::Instrument::instrument(run, span).await
    }};
    (@pg write, $pooled:ident, $scope:ident, |$conn:ident| $body:expr) => {{
        let mut pooled = $pooled;
        let $conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
        // BEGIN and the scope in one round trip; a future dropped before the end leaves the
        // transaction open, and the pool then discards the connection.
        $crate::db::pg_begin($conn, &$scope).await?;
        let result: Result<_, $crate::error::StoreError> = async { $body }.await;
        $crate::db::pg_end($conn, result).await
    }};
    (@pg read, $pooled:ident, $scope:ident, |$conn:ident| $body:expr) => {{
        $crate::db::pg_read(
            $pooled,
            &$scope,
            async |$conn: &mut &diesel_async::AsyncPgConnection| $body,
        )
        .await
    }};
    (@sqlite write, $pooled:ident, |$conn:ident| $body:expr) => {
        $pooled
            .immediate_transaction::<_, $crate::error::StoreError, _>(async |$conn| $body)
            .await
    };
    (@sqlite read, $pooled:ident, |$conn:ident| $body:expr) => {{
        use diesel_async::AsyncConnection as _;
        $pooled
            .transaction::<_, $crate::error::StoreError, _>(async |$conn| $body)
            .await
    }};
}

/// Rows per multi-row INSERT (well under both backends' bind-parameter limits for the widest
/// table written this way, audit entries with 16 columns).
pub(crate) const INSERT_CHUNK: usize = 1_000;

/// Inserts one row per item of `$items` (a slice) into a tenant-owned table, the values built by
/// `|item| values`: `many` as multi-row statements of [`INSERT_CHUNK`] rows (PostgreSQL),
/// `each` one statement per row (SQLite through diesel-async has no multi-row insert; rows of
/// one transaction cost microseconds each there).
macro_rules! insert_rows {
    ($mode:ident, $table:ident, $ctx:expr, $items:expr, |$item:pat_param| $values:expr, $conn:ident) => {
        for chunk in $items.chunks($crate::db::INSERT_CHUNK) {
            let rows: Vec<_> = chunk.iter().map(|$item| $values).collect();
            insert_rows!(@$mode, $table, $ctx, rows, $conn);
        }
    };
    (@many, $table:ident, $ctx:expr, $rows:expr, $conn:ident) => {
        $table::insert_many($ctx, $rows).execute($conn).await?
    };
    (@each, $table:ident, $ctx:expr, $rows:expr, $conn:ident) => {
        for row in $rows {
            $table::insert($ctx, row).execute($conn).await?;
        }
    };
}

/// Permission to reach tenant-owned rows without a tenant context (`unscoped`/`tenant_id` of
/// a tenant-owned table). Granted only to a transaction narrowed to one person, invitation or
/// API key (PostgreSQL policies then show only those rows): `tx!`'s `user =`, `invitation =`
/// and `api_key =` forms hand it to their body.
pub(crate) struct CrossTenant(());

impl CrossTenant {
    /// For `tx!`'s narrowed forms only.
    pub(crate) fn granted() -> Self {
        Self(())
    }
}

#[derive(diesel::QueryableByName)]
struct RoleCheck {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    bypasses: bool,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    owned: i64,
}

impl Db {
    /// On PostgreSQL, reasons row-level security would not protect this connection's role:
    /// superuser, BYPASSRLS, or owning tables (an owner may switch RLS off). Empty when safe.
    pub async fn rls_weaknesses(&self) -> Result<Vec<String>, StoreError> {
        use diesel_async::RunQueryDsl;
        let DbConn::Pg(mut conn) = self.conn().await? else {
            return Ok(vec![]);
        };
        let check: RoleCheck = diesel::sql_query(
            "SELECT (r.rolsuper OR r.rolbypassrls) AS bypasses, \
                    (SELECT count(*) FROM pg_tables t WHERE t.schemaname = 'public' \
                       AND pg_has_role(current_user, t.tableowner, 'USAGE')) AS owned \
             FROM pg_roles r WHERE r.rolname = current_user",
        )
        .get_result(&mut conn)
        .await?;
        let mut weaknesses = vec![];
        if check.bypasses {
            weaknesses.push("the database role is a superuser or has BYPASSRLS".to_owned());
        }
        if check.owned > 0 {
            weaknesses.push(format!(
                "the database role owns {} tables (an owner can disable RLS)",
                check.owned
            ));
        }
        Ok(weaknesses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_begin_quotes_its_value() {
        let t = TenantId::new();
        assert_eq!(
            begin_sql(&Scope::Tenant(t)),
            format!("BEGIN; SET LOCAL app.tenant_id = '{t}'")
        );
        assert_eq!(begin_sql(&Scope::Platform), "BEGIN");
        assert_eq!(
            begin_sql(&Scope::ApiKey("x'; DROP TABLE users; --".into())),
            "BEGIN; SET LOCAL app.api_key_prefix = 'x''; DROP TABLE users; --'"
        );
    }
}
