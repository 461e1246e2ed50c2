//! Connection pools for both backends and the macros that run one query body on either.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;
use tenantry_kernel::TenantId;

use crate::error::StoreError;

pub(crate) type SqliteConn = SyncConnectionWrapper<SqliteConnection, SqliteCalls>;

/// Names the spawner diesel-async gives a SQLite connection by default (tokio's blocking
/// pool, finishing a call before a dropped future lets go of the connection).
trait WrapperSpawner {
    type Spawner;
}

impl<C, S> WrapperSpawner for SyncConnectionWrapper<C, S> {
    type Spawner = S;
}

type BlockingPool = <SyncConnectionWrapper<SqliteConnection> as WrapperSpawner>::Spawner;

thread_local! {
    /// Whether this thread's SQLite calls run where they are made (see [`sqlite_inline`]).
    static SQLITE_INLINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Where a SQLite connection's calls run: on tokio's blocking pool (a hop to another thread
/// and back per statement), or — inside [`sqlite_inline`] — right where they are made.
pub(crate) struct SqliteCalls(BlockingPool);

impl SpawnBlocking for SqliteCalls {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures_util::future::BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync>>>
    where
        R: Send + 'static,
    {
        if SQLITE_INLINE.get() {
            Box::pin(std::future::ready(Ok(task())))
        } else {
            self.0.spawn_blocking(task)
        }
    }

    fn get_runtime() -> Self {
        Self(BlockingPool::get_runtime())
    }
}

/// A SQLite write transaction: `BEGIN IMMEDIATE` takes the single writer's lock up front
/// (waiting on `busy_timeout`, on the blocking pool) rather than failing when a read turns into
/// a write; commits after a body that succeeded, rolls back after one that failed.
pub(crate) async fn sqlite_immediate<R>(
    conn: &mut SqliteConn,
    body: impl AsyncFnOnce(&mut SqliteConn) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    use diesel::connection::AnsiTransactionManager;
    use diesel_async::TransactionManager;
    type Tm = diesel_async::sync_connection_wrapper::SyncTransactionManagerWrapper<
        AnsiTransactionManager,
    >;
    conn.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"))
        .await?;
    match body(&mut *conn).await {
        Ok(value) => {
            <Tm as TransactionManager<SqliteConn>>::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(e) => {
            <Tm as TransactionManager<SqliteConn>>::rollback_transaction(conn).await?;
            Err(e)
        }
    }
}

/// Runs a SQLite read transaction's calls on the thread that polls it, without a hop to the
/// blocking pool and back for each statement: in write-ahead-log mode a reader never waits
/// for a lock, and a short read costs microseconds, less than the hops did. Writes still go
/// to the blocking pool, where waiting for the single writer's lock blocks no request.
pub(crate) async fn sqlite_inline<F: Future>(read: F) -> F::Output {
    let mut read = std::pin::pin!(read);
    std::future::poll_fn(|cx| {
        let was = SQLITE_INLINE.replace(true);
        let polled = read.as_mut().poll(cx);
        SQLITE_INLINE.set(was);
        polled
    })
    .await
}

/// A read's rows, loaded the way each backend reads them fastest: `load_rows(q, conn)` where
/// `q.load(conn)` would go, written once for both backends.
///
/// On PostgreSQL it is diesel-async's `load`. On SQLite, diesel-async's `load` copies every
/// value of every row (`sqlite3_value_dup`) so that the rows can cross from the blocking
/// thread, then frees the copies: a third of a list request's work. Here diesel itself runs
/// the statement on the connection's thread (the polling one inside [`sqlite_inline`]) and
/// reads each row straight into `U`. It is for reads (a `tx!` read's body, a `read_one`'s
/// `run`): a write's PostgreSQL connection, `&mut AsyncPgConnection`, does not implement it.
pub(crate) trait LoadRows<Q, U> {
    fn load_rows(&mut self, query: Q) -> impl Future<Output = diesel::QueryResult<Vec<U>>> + Send;
}

impl<'c, Q, U> LoadRows<Q, U> for &'c AsyncPgConnection
where
    Q: diesel_async::methods::LoadQuery<'c, &'c AsyncPgConnection, U> + 'c,
    U: Send,
{
    fn load_rows(&mut self, query: Q) -> impl Future<Output = diesel::QueryResult<Vec<U>>> + Send {
        diesel_async::RunQueryDsl::load(query, self)
    }
}

impl<Q, U> LoadRows<Q, U> for SqliteConn
where
    Q: diesel::query_dsl::LoadQuery<'static, SqliteConnection, U> + Send + 'static,
    U: Send + 'static,
{
    fn load_rows(&mut self, query: Q) -> impl Future<Output = diesel::QueryResult<Vec<U>>> + Send {
        self.spawn_blocking(move |conn| diesel::RunQueryDsl::load(query, conn))
    }
}

impl<Q, U> LoadRows<Q, U> for Object<SqliteConn>
where
    SqliteConn: LoadRows<Q, U>,
{
    fn load_rows(&mut self, query: Q) -> impl Future<Output = diesel::QueryResult<Vec<U>>> + Send {
        (**self).load_rows(query)
    }
}

/// [`LoadRows::load_rows`] as a function: `load_rows(q.limit(n), conn).await?`.
pub(crate) fn load_rows<C: LoadRows<Q, U>, Q, U>(
    query: Q,
    conn: &mut C,
) -> impl Future<Output = diesel::QueryResult<Vec<U>>> + Send {
    conn.load_rows(query)
}

/// The first row, if any, the way [`load_rows`] reads: `load_first(q, conn).await?` where
/// `q.first(conn).await.optional()?` would go.
pub(crate) async fn load_first<C, Q, U>(query: Q, conn: &mut C) -> diesel::QueryResult<Option<U>>
where
    Q: diesel::query_dsl::methods::LimitDsl,
    C: LoadRows<diesel::dsl::Limit<Q>, U>,
{
    Ok(conn.load_rows(query.limit(1)).await?.pop())
}

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

/// A PostgreSQL URL's `pgbouncer=true` (the convention other clients use for a
/// transaction-pooling proxy in front of the database), taken out of the URL the driver sees.
/// Behind such a proxy consecutive transactions of one pooled connection may run on different
/// server sessions, so nothing may outlive a transaction: no prepared statement cached by name,
/// no statement outside a transaction (decision 0048).
pub(crate) fn transaction_pooler(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), false);
    };
    let mut pooled = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|param| match param.split_once('=') {
            Some(("pgbouncer", value)) => {
                pooled = value == "true";
                false
            }
            _ => !param.is_empty(),
        })
        .collect();
    if kept.is_empty() {
        (base.to_owned(), pooled)
    } else {
        (format!("{base}?{}", kept.join("&")), pooled)
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
    /// For the PostgreSQL listener connection of the workers (without `pgbouncer=true`).
    url: std::sync::Arc<str>,
    /// Behind a transaction-pooling proxy (`pgbouncer=true`, see [`transaction_pooler`]).
    pooled_by_transaction: bool,
    /// Whether this process's job listener runs.
    listener_started: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The keys personal data is sealed under (`personal.rs`).
    pub(crate) personal: std::sync::Arc<crate::personal::PersonKeys>,
    /// The pools of the threads that serve from their own ([`Db::pool_on_this_thread`]), for
    /// [`Db::close`] and [`Db::pool_status`]; the address of this allocation names this
    /// database in each thread's [`THREAD_POOLS`].
    thread_pools: std::sync::Arc<ThreadPools>,
    acquire_timeout: Duration,
    /// The tenants' word counts that choose how a search reads (`search_words.rs`).
    pub(crate) search_words: std::sync::Arc<crate::search_words::SearchWords>,
}

type ThreadPools = std::sync::Mutex<Vec<Pool<AsyncPgConnection>>>;
/// Names a database in [`THREAD_POOLS`] without keeping it alive (an address alone could be
/// reused by a later database).
type ThreadPoolsOf = std::sync::Weak<ThreadPools>;

thread_local! {
    /// This thread's own PostgreSQL pool of each database that has one: a connection's driver
    /// task runs on the runtime that opened it, so a request served from its own thread's
    /// pool never wakes another thread for a round trip.
    static THREAD_POOLS: std::cell::RefCell<Vec<(ThreadPoolsOf, Pool<AsyncPgConnection>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
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
                // SQLite's blocking calls (writes, opening connections) run on this runtime's
                // blocking threads. A start's housekeeping runs several at once; the threads
                // it left would otherwise wait ten seconds, each holding the allocator's cache
                // of what it freed. Under load they never wait that long.
                .thread_keep_alive(Duration::from_secs(1))
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(tokio::runtime::Runtime::handle)
        .map_err(|e| diesel::ConnectionError::BadConnection(format!("database runtime: {e}")))
}

/// Opens a PostgreSQL connection through a transaction pooler. diesel-async sets the session's
/// time zone and encoding with prepared statements, each prepared and then executed in two
/// round trips, between which the pooler may move the client to another server session: here
/// they run inside a transaction, which keeps one server session until its `COMMIT`. (The
/// pooler carries those two settings over to whichever session serves the client next.)
async fn establish_behind_pooler(url: &str) -> diesel::ConnectionResult<AsyncPgConnection> {
    let bad = |e: tokio_postgres::Error| diesel::ConnectionError::BadConnection(describe(&e));
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(bad)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "a database connection ended");
        }
    });
    client.batch_execute("BEGIN").await.map_err(bad)?;
    let mut conn = AsyncPgConnection::try_from(client).await?;
    conn.batch_execute("COMMIT")
        .await
        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
    Ok(conn)
}

/// Opens a PostgreSQL connection straight to the server (what diesel-async's `establish`
/// does), keeping the server's reason when it refuses.
pub(crate) async fn establish_direct(url: &str) -> diesel::ConnectionResult<AsyncPgConnection> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| diesel::ConnectionError::BadConnection(describe(&e)))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// A failed connection as the server (or a pooler) stated it, with its SQLSTATE:
/// tokio-postgres' own text for any server error is only "db error".
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Whether a connection error will stay however long one waits: the server refused the role
/// or its password (SQLSTATE class 28) or has no such database (3D000), as [`describe`]
/// writes them.
pub(crate) fn is_lasting_refusal(message: &str) -> bool {
    message.contains("(SQLSTATE 28") || message.contains("(SQLSTATE 3D000)")
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
        let (url, pooled_by_transaction) = transaction_pooler(&config.url);
        let pools = match config.backend()? {
            Backend::Postgres => {
                let manager = pg_manager(url.as_str(), pooled_by_transaction, true);
                Pools::Pg(build_pool(
                    manager,
                    config.pool_size,
                    config.acquire_timeout,
                )?)
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
                Pools::Sqlite(build_pool(
                    manager,
                    config.pool_size,
                    config.acquire_timeout,
                )?)
            }
        };
        Ok(Self {
            pools,
            jobs_queued: std::sync::Arc::default(),
            deliveries_queued: std::sync::Arc::default(),
            url: url.as_str().into(),
            pooled_by_transaction,
            listener_started: std::sync::Arc::default(),
            personal: std::sync::Arc::default(),
            thread_pools: std::sync::Arc::default(),
            acquire_timeout: config.acquire_timeout,
            search_words: std::sync::Arc::default(),
        })
    }

    /// Gives the calling thread its own PostgreSQL pool of at most `size` connections, opened
    /// on the thread's runtime and used by every query made on this thread from then on (an
    /// HTTP worker's: its requests stay on it). A round trip then wakes no other thread: with
    /// the shared pool, whose connections live on the database runtime, each one wakes that
    /// runtime's thread and then the worker's again. Only for a thread whose runtime outlives
    /// its work; a no-op on SQLite (whose reads already run in place) and when the thread has
    /// one already.
    pub fn pool_on_this_thread(&self, size: usize) -> Result<(), StoreError> {
        if !matches!(self.pools, Pools::Pg(_)) || self.thread_pool().is_some() {
            return Ok(());
        }
        let manager = pg_manager(&self.url, self.pooled_by_transaction, false);
        let pool = build_pool(manager, size, self.acquire_timeout)?;
        self.thread_pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(pool.clone());
        THREAD_POOLS.with(|t| {
            let mut pools = t.borrow_mut();
            // Pools of databases that are gone go with them.
            pools.retain(|(of, _)| of.strong_count() > 0);
            pools.push((std::sync::Arc::downgrade(&self.thread_pools), pool));
        });
        Ok(())
    }

    /// What an HTTP server runs on each worker thread as it starts, given the number of
    /// workers: the worker's own share of `pool_size` connections ([`Db::pool_on_this_thread`]).
    pub fn pool_per_worker(&self, pool_size: usize) -> std::sync::Arc<dyn Fn(usize) + Send + Sync> {
        let db = self.clone();
        std::sync::Arc::new(move |workers: usize| {
            if let Err(e) = db.pool_on_this_thread(pool_size.div_ceil(workers.max(1))) {
                tracing::warn!(error = %e, "an HTTP worker serves from the shared pool");
            }
        })
    }

    fn thread_pool(&self) -> Option<Pool<AsyncPgConnection>> {
        THREAD_POOLS.with(|t| {
            t.borrow()
                .iter()
                .find(|(of, _)| {
                    std::ptr::eq(of.as_ptr(), std::sync::Arc::as_ptr(&self.thread_pools))
                        && of.strong_count() > 0
                })
                .map(|(_, p)| p.clone())
        })
    }
}

/// The PostgreSQL connection manager: connections opened on [`db_runtime`] (`shared`), or on
/// the runtime of the thread that opens them.
fn pg_manager(
    url: &str,
    pooled_by_transaction: bool,
    shared: bool,
) -> AsyncDieselConnectionManager<AsyncPgConnection> {
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let open = async move {
            let mut conn = if pooled_by_transaction {
                establish_behind_pooler(&url).await?
            } else {
                establish_direct(&url).await?
            };
            if pooled_by_transaction {
                // A statement prepared by name would stay on one server session
                // while the next transaction runs on another.
                conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
            } else {
                // No JIT: the planner estimates a tenant's slice of a shared table
                // from the whole table, and compiling a plan (10-35 ms) cost more
                // than the short queries it was for (decision 0030). Behind a
                // transaction pooler the role's setting does this (docs/scaling.md).
                // And no scope of its own: a role's or database's default for the settings
                // row-level security reads would otherwise show through wherever a
                // statement reads them before setting its own (decision 0068).
                conn.batch_execute(
                    "SET jit = off; SET app.tenant_id = ''; SET app.user_id = ''; \
                     SET app.invitation_digest = ''; SET app.api_key_prefix = ''",
                )
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            }
            conn.set_instrumentation(count_prepares);
            Ok(conn)
        };
        if shared {
            on_db_runtime(open).boxed()
        } else {
            open.boxed()
        }
    });
    AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, manager_config)
}

impl Db {
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

    /// Behind a transaction-pooling proxy (see [`transaction_pooler`]).
    pub fn pooled_by_transaction(&self) -> bool {
        self.pooled_by_transaction
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
            Pools::Pg(p) => match self.thread_pool() {
                Some(own) => own.get().await.map(DbConn::Pg),
                None => p.get().await.map(DbConn::Pg),
            },
            Pools::Sqlite(p) => p.get().await.map(DbConn::Sqlite),
        };
        metrics::histogram!("tenantry_db_pool_wait_seconds").record(waited.elapsed().as_secs_f64());
        conn.map_err(pool_error)
    }

    /// The pool's connections now, the threads' own pools included.
    pub fn pool_status(&self) -> tenantry_kernel::PoolStatus {
        let mut statuses = vec![match &self.pools {
            Pools::Pg(p) => p.status(),
            Pools::Sqlite(p) => p.status(),
        }];
        statuses.extend(self.threads_pools().iter().map(Pool::status));
        statuses.iter().fold(
            tenantry_kernel::PoolStatus {
                max_size: 0,
                size: 0,
                available: 0,
                waiting: 0,
            },
            |sum, s| tenantry_kernel::PoolStatus {
                max_size: sum.max_size + s.max_size,
                size: sum.size + s.size,
                available: sum.available + s.available,
                waiting: sum.waiting + s.waiting,
            },
        )
    }

    fn threads_pools(&self) -> Vec<Pool<AsyncPgConnection>> {
        self.thread_pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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
        for pool in self.threads_pools() {
            pool.close();
        }
    }
}

fn build_pool<C>(
    manager: AsyncDieselConnectionManager<C>,
    size: usize,
    acquire_timeout: Duration,
) -> Result<Pool<C>, StoreError>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    Pool::builder(manager)
        .max_size(size.max(1))
        .wait_timeout(Some(acquire_timeout))
        .create_timeout(Some(acquire_timeout))
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

/// A statement outside any transaction (`run!`). Behind a transaction pooler it goes in one:
/// its preparation and its execution are two round trips, and the proxy may hand the second to
/// another server session once the first has answered outside a transaction.
pub(crate) async fn pg_statement<R>(
    conn: &mut AsyncPgConnection,
    pooled_by_transaction: bool,
    body: impl AsyncFnOnce(&mut AsyncPgConnection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    if !pooled_by_transaction {
        return body(conn).await;
    }
    pg_begin(conn, &Scope::Platform).await?;
    let result = body(conn).await;
    pg_end(conn, result).await
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
    plans: Plans,
    body: impl AsyncFnOnce(&mut &AsyncPgConnection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    // The same pipeline as a one-statement read, with its COMMIT always after the answers.
    pg_read_one(pooled, scope, plans, false, body).await
}

/// How PostgreSQL plans a read's statements, which diesel-async prepares once per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plans {
    /// One generic plan, made without the values and kept for every execution, for a
    /// one-statement read whose statement the connection keeps prepared; other reads leave
    /// the choice to PostgreSQL. Right for a statement whose best plan does not depend on its
    /// values (a list, a lookup by id), and it saves planning every time. The read in scope
    /// ([`InScope`]) writes its `LIMIT` into the statement for this: PostgreSQL costs a bound
    /// `LIMIT` in a generic plan as a tenth of the rows, so the plan made for `LIMIT 21`
    /// would always look cheaper and be made again on every execution (decision 0056); with
    /// the number in the text, PostgreSQL's own choice keeps the generic plan after its five
    /// trial plans (decision 0068).
    Reused,
    /// Planned for each execution's values (`plan_cache_mode = force_custom_plan`, local to
    /// the transaction): for a full-text search, whose best plan depends on the words — a
    /// frequent one is found soonest in list order, a rare one only through the index. A
    /// generic plan would pick one way for every word (decision 0052).
    PerValue,
}

impl Plans {
    /// `PerValue` when `searching`, else `Reused`.
    pub(crate) fn per_value_if(searching: bool) -> Self {
        if searching {
            Self::PerValue
        } else {
            Self::Reused
        }
    }
}

thread_local! {
    /// Statements this thread has sent to be prepared for a connection's cache (see
    /// [`pg_read_one`]).
    static PREPARES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Reads this process sent in one round trip (for the tests: that the path is taken).
pub(crate) static ONE_TRIP_READS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// Every pooled PostgreSQL connection's instrumentation: counts, on the thread that polls the
/// query, the statements diesel-async prepares for its cache. It is called synchronously
/// inside that poll.
fn count_prepares(event: diesel::connection::InstrumentationEvent<'_>) {
    if let diesel::connection::InstrumentationEvent::CacheQuery { .. } = event {
        PREPARES.with(|n| n.set(n.get() + 1));
    }
}

/// A one-statement PostgreSQL read in `scope` in **one round trip**: `BEGIN READ ONLY; SET
/// LOCAL …`, the statement and `COMMIT` are all sent before any answer is read (decision
/// 0048). `COMMIT` goes out only once the statement has: the statement must be one the
/// connection has prepared before (`cacheable`, and no statement was prepared while the body
/// was first polled: diesel-async sends a cached statement's execution on that poll, a new
/// one's preparation instead). Otherwise — the first use of a statement on a connection, a
/// statement that cannot be cached, a connection behind a transaction pooler — the read is
/// [`pg_read`]'s two round trips. A failed statement aborts the transaction, and the `COMMIT`
/// behind it then rolls back; a future dropped before the end closes the connection, as in
/// [`pg_read`].
pub(crate) async fn pg_read_one<R>(
    pooled: Object<AsyncPgConnection>,
    scope: &Scope,
    plans: Plans,
    cacheable: bool,
    body: impl AsyncFnOnce(&mut &AsyncPgConnection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let begin = begin_as(
        scope,
        match plans {
            // A kept statement read this way is a `read_one` behind a transaction pooler
            // (nothing kept prepared) or a multi-statement read: PostgreSQL chooses.
            Plans::Reused => "BEGIN READ ONLY",
            Plans::PerValue => "BEGIN READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan",
        },
    );
    let mut guard = CloseUnlessEnded(Some(pooled));
    let Some(conn) = guard.0.as_deref_mut() else {
        return Err(StoreError::Connection("no pooled connection".to_owned()));
    };
    let (begun, result, ended) = {
        let shared: &AsyncPgConnection = conn;
        let (mut to_begin, mut to_end, mut handle) = (shared, shared, shared);
        let mut begun = std::pin::pin!(SimpleAsyncConnection::batch_execute(&mut to_begin, &begin));
        // Sent on its first poll, before the statement.
        let begun_at_once = poll_once(begun.as_mut()).await;
        let prepared = PREPARES.get();
        let mut result = std::pin::pin!(body(&mut handle));
        let first = poll_once(result.as_mut()).await;
        let statement_sent = cacheable && first.is_pending() && PREPARES.get() == prepared;
        if statement_sent {
            ONE_TRIP_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let begun = ready_or(begun_at_once, begun);
        let result = ready_or(first, result);
        if statement_sent {
            let mut commit =
                std::pin::pin!(SimpleAsyncConnection::batch_execute(&mut to_end, "COMMIT"));
            let committed_at_once = poll_once(commit.as_mut()).await;
            futures_util::future::join3(begun, result, ready_or(committed_at_once, commit)).await
        } else {
            let (begun, result) = futures_util::future::join(begun, result).await;
            let end = match (&begun, &result) {
                (Ok(()), Ok(_)) => "COMMIT",
                _ => "ROLLBACK",
            };
            let ended = SimpleAsyncConnection::batch_execute(&mut to_end, end).await;
            (begun, result, ended)
        }
    };
    // Ended cleanly, or the connection is closed with `guard`.
    ended?;
    guard.ended();
    begun?;
    result
}

/// A one-statement PostgreSQL read as **one statement in its own transaction** (decision
/// 0068): [`InScope`] wraps the read's statement so that the statement itself first sets the
/// scope (`set_config(…, true)`, local to the statement's implicit transaction) and then reads
/// under it. One exchange with the server, where [`pg_read_one`] needs three (`BEGIN …`, the
/// statement and `COMMIT`, each answered on its own): no `BEGIN` or `COMMIT` to send or
/// overtake, and nothing left open when the future is dropped part-way (the transaction ends
/// with the statement). The connection is closed all the same if the read does not finish,
/// since its answer may still be on the way. Only for a statement diesel-async keeps prepared
/// outside a transaction pooler: behind one, a statement's preparation and its execution
/// could reach two server sessions.
pub(crate) async fn pg_read_in_scope<R>(
    pooled: Object<AsyncPgConnection>,
    body: impl AsyncFnOnce(&mut &AsyncPgConnection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let mut guard = CloseUnlessEnded(Some(pooled));
    let Some(conn) = guard.0.as_deref_mut() else {
        return Err(StoreError::Connection("no pooled connection".to_owned()));
    };
    let result = {
        let mut handle: &AsyncPgConnection = conn;
        let prepared = PREPARES.get();
        let mut result = std::pin::pin!(body(&mut handle));
        let first = poll_once(result.as_mut()).await;
        if first.is_pending() && PREPARES.get() == prepared {
            ONE_TRIP_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        ready_or(first, result).await
    };
    // The statement's transaction ended with it, failed or not; a broken connection is
    // discarded when the pool next recycles it.
    guard.ended();
    result
}

/// A read's statement wrapped to run in its own implicit transaction under `scope` (see
/// [`pg_read_in_scope`]):
///
/// ```sql
/// WITH "scope" AS MATERIALIZED (SELECT set_config('transaction_read_only', 'on', true) AS "ready",
///                                      set_config('app.tenant_id', $1, true))
/// SELECT "read".* FROM "scope" CROSS JOIN LATERAL
///   (SELECT * FROM (<the statement>) AS "q" WHERE "scope"."ready" IS NOT NULL LIMIT 21) AS "read"
/// ```
///
/// The order is the plan's, not luck's: the read refers to `"scope"` and has a `LIMIT`, so
/// PostgreSQL can neither merge it into the outer query nor run it before the scope's one row
/// exists — a lateral subquery is the inner side of a nested loop, run for each outer row. The
/// policies' `current_setting` is read only then. Were it ever read before, it would find no
/// tenant (nothing else ran in this transaction, and every direct connection clears the scope
/// settings for its session when it opens, whatever the role's or database's defaults) and
/// row-level security would show no rows: the failure is an empty answer, never another
/// tenant's. `transaction_read_only` makes anything the statement calls refuse to write; a
/// data-modifying statement cannot be a subquery at all (a `FOR UPDATE` could, and would lock:
/// reads do not write one).
///
/// The statement has no `LIMIT` of its own: `.limit(n)` (or [`load_first`]) on the wrapper writes
/// `n` into the text, where PostgreSQL can cost it ([`Plans::Reused`]); without one the
/// wrapper writes `OFFSET 0`, which keeps the order all the same. A page size is one of at most
/// a hundred numbers, so a connection keeps at most that many texts of each statement shape.
pub(crate) struct InScope<Q> {
    query: Q,
    setting: Option<(&'static str, String)>,
    limit: Option<i64>,
}

impl<Q> InScope<Q> {
    pub(crate) fn new(query: Q, scope: &Scope) -> Self {
        Self {
            query,
            setting: scope.setting(),
            limit: None,
        }
    }
}

/// `.limit(n)` (and so [`load_first`]), as on the statement itself.
impl<Q> diesel::QueryDsl for InScope<Q> {}

impl<Q> diesel::query_dsl::methods::LimitDsl for InScope<Q> {
    type Output = Self;

    fn limit(mut self, limit: i64) -> Self {
        self.limit = Some(limit);
        self
    }
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for InScope<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> diesel::query_builder::QueryId for InScope<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for InScope<Q>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql(
            "WITH \"scope\" AS MATERIALIZED \
             (SELECT set_config('transaction_read_only', 'on', true) AS \"ready\"",
        );
        if let Some((name, value)) = &self.setting {
            // `name` is one of `Scope::setting`'s constants; the value is bound.
            out.push_sql(", set_config('");
            out.push_sql(name);
            out.push_sql("', ");
            out.push_bind_param::<diesel::sql_types::Text, _>(value)?;
            out.push_sql(", true)");
        }
        out.push_sql(") SELECT \"read\".* FROM \"scope\" CROSS JOIN LATERAL (SELECT * FROM (");
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(") AS \"q\" WHERE \"scope\".\"ready\" IS NOT NULL");
        // The fence: a subquery with a `LIMIT` or an `OFFSET` is never merged into the outer
        // query, so the read stays the nested loop's inner side, under the scope's row.
        // Without one, PostgreSQL could lift the policy's condition above the loop, to be
        // checked before the scope is set.
        match self.limit {
            Some(limit) => {
                out.push_sql(" LIMIT ");
                out.push_sql(&limit.to_string());
            }
            None => out.push_sql(" OFFSET 0"),
        }
        out.push_sql(") AS \"read\"");
        Ok(())
    }
}

/// Polls a future once, from inside the calling task (which its waker then wakes), outside
/// tokio's cooperative budget. [`pg_read_one`] takes a statement that is pending after its
/// first poll for one that is sent; a task that has spent its budget (many ready futures in
/// one poll, as a `join_all` of reads does) would instead see diesel-async's statement-cache
/// lock answer "not yet" before anything is sent, and the `COMMIT` would overtake the
/// statement, which then ran outside the tenant's transaction.
pub(crate) async fn poll_once<F: Future>(
    mut future: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    tokio::task::unconstrained(std::future::poll_fn(|cx| {
        std::task::Poll::Ready(future.as_mut().poll(cx))
    }))
    .await
}

/// A future's output when its first poll already gave it, else the rest of the future.
pub(crate) async fn ready_or<T>(
    first: std::task::Poll<T>,
    rest: std::pin::Pin<&mut impl Future<Output = T>>,
) -> T {
    match first {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => rest.await,
    }
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
///
/// `run!(db, read, |conn| …)` is a body that only reads: on SQLite its calls run where they
/// are made ([`sqlite_inline`]), as a `tx!` read's do, rather than on the blocking pool. The
/// plain form is for a statement that writes, which may wait for the single writer's lock.
macro_rules! run {
    (@pg $db:expr, $pooled:ident, |$conn:ident| $body:expr) => {{
        #[allow(unused_imports)]
        use $crate::schema::pg::*;
        let pooled_by_transaction = $db.pooled_by_transaction();
        $crate::db::pg_statement(
            &mut $pooled,
            pooled_by_transaction,
            async |$conn: &mut diesel_async::AsyncPgConnection| Ok($body),
        )
        .await?
    }};
    ($db:expr, read, |$conn:ident| $body:expr) => {{
        match $db.conn().await? {
            $crate::db::DbConn::Pg(mut pooled) => run!(@pg $db, pooled, |$conn| $body),
            $crate::db::DbConn::Sqlite(mut pooled) => {
                #[allow(unused_imports)]
                use $crate::schema::sqlite::*;
                $crate::db::sqlite_inline(async {
                    let $conn: &mut $crate::db::SqliteConn = &mut pooled;
                    Ok::<_, $crate::error::StoreError>($body)
                })
                .await?
            }
        }
    }};
    ($db:expr, |$conn:ident| $body:expr) => {{
        match $db.conn().await? {
            $crate::db::DbConn::Pg(mut pooled) => run!(@pg $db, pooled, |$conn| $body),
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
/// `read_one, tenant = …, |conn| query, |q| run` is a read of exactly one statement: `query`
/// builds it, `run` runs it (`Ok(load_rows(q.limit(n), conn).await?)`) and nothing else. On
/// PostgreSQL `q` is the statement wrapped to set its scope itself ([`InScope`], one statement
/// in its own transaction), or — for a search, or behind a transaction pooler — the statement
/// with its `COMMIT` perhaps already on its way behind it ([`pg_read_one`]); either way a
/// second statement in `run` would run outside the scope. `query` has no `LIMIT`: `run` gives
/// it one.
macro_rules! tx {
    ($db:expr, read, tenant = $tenant:expr, |$conn:ident| $body:expr) => {{
        tx!($db, read, tenant = $tenant, plans = $crate::db::Plans::Reused, |$conn| $body)
    }};
    ($db:expr, read, tenant = $tenant:expr, plans = $plans:expr, |$conn:ident| $body:expr) => {{
        let tenant: Option<tenantry_kernel::TenantId> = $tenant;
        tx!(@scoped $db, read, $crate::db::Scope::from(tenant), plans = $plans, |$conn| $body)
    }};
    ($db:expr, read_one, tenant = $tenant:expr, |$conn:ident| $query:expr, |$q:ident| $run:expr) => {{
        tx!($db, read_one, tenant = $tenant, plans = $crate::db::Plans::Reused, |$conn| $query, |$q| $run)
    }};
    ($db:expr, read_one, tenant = $tenant:expr, plans = $plans:expr, |$conn:ident| $query:expr, |$q:ident| $run:expr) => {{
        let tenant: Option<tenantry_kernel::TenantId> = $tenant;
        tx!(@scoped $db, read_one, $crate::db::Scope::from(tenant), plans = $plans, |$conn| $query, |$q| $run)
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
    (@scoped $db:expr, $mode:ident, $scope:expr, $($body:tt)+) => {{
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
                    tx!(@pg $mode, $db, pooled, scope, $($body)+)
                }
                $crate::db::DbConn::Sqlite(mut pooled) => {
                    #[allow(unused_imports)]
                    use $crate::schema::sqlite::*;
                    let _ = scope;
                    tx!(@sqlite $mode, pooled, $($body)+)
                }
            }
        };
        tracing::Instrument::instrument(run, span).await
    }};
    (@pg write, $db:expr, $pooled:ident, $scope:ident, |$conn:ident| $body:expr) => {{
        let mut pooled = $pooled;
        let $conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
        // BEGIN and the scope in one round trip; a future dropped before the end leaves the
        // transaction open, and the pool then discards the connection.
        $crate::db::pg_begin($conn, &$scope).await?;
        let result: Result<_, $crate::error::StoreError> = async { $body }.await;
        $crate::db::pg_end($conn, result).await
    }};
    (@pg read, $db:expr, $pooled:ident, $scope:ident, |$conn:ident| $body:expr) => {{
        tx!(@pg read, $db, $pooled, $scope, plans = $crate::db::Plans::Reused, |$conn| $body)
    }};
    (@pg read, $db:expr, $pooled:ident, $scope:ident, plans = $plans:expr, |$conn:ident| $body:expr) => {{
        $crate::db::pg_read(
            $pooled,
            &$scope,
            $plans,
            async |$conn: &mut &diesel_async::AsyncPgConnection| $body,
        )
        .await
    }};
    (@pg read_one, $db:expr, $pooled:ident, $scope:ident, plans = $plans:expr, |$conn:ident| $query:expr, |$q:ident| $run:expr) => {{
        let query = $query;
        let plans: $crate::db::Plans = $plans;
        // Both one-round-trip reads need a statement diesel-async caches.
        let cacheable = !$db.pooled_by_transaction()
            && diesel::query_builder::QueryFragment::<diesel::pg::Pg>::is_safe_to_cache_prepared(
                &query,
                &diesel::pg::Pg,
            )
            .unwrap_or(false);
        if cacheable && plans == $crate::db::Plans::Reused {
            // The statement in its own transaction, the scope set by the statement itself.
            let query = $crate::db::InScope::new(query, &$scope);
            $crate::db::pg_read_in_scope(
                $pooled,
                async move |$conn: &mut &diesel_async::AsyncPgConnection| {
                    let $q = query;
                    $run
                },
            )
            .await
        } else {
            // A search (planned for its words by a setting sent before it), a read behind a
            // transaction pooler, or a statement diesel-async cannot cache (`pg_read_one`).
            $crate::db::pg_read_one(
                $pooled,
                &$scope,
                plans,
                cacheable,
                async move |$conn: &mut &diesel_async::AsyncPgConnection| {
                    let $q = query;
                    $run
                },
            )
            .await
        }
    }};
    (@sqlite write, $pooled:ident, |$conn:ident| $body:expr) => {
        $crate::db::sqlite_immediate(&mut $pooled, async |$conn| $body).await
    };
    // `Plans` concerns PostgreSQL's plan cache only.
    (@sqlite read, $pooled:ident, plans = $plans:expr, |$conn:ident| $body:expr) => {{
        let _: $crate::db::Plans = $plans;
        tx!(@sqlite read, $pooled, |$conn| $body)
    }};
    (@sqlite read, $pooled:ident, |$conn:ident| $body:expr) => {{
        use diesel_async::AsyncConnection as _;
        $crate::db::sqlite_inline(
            $pooled.transaction::<_, $crate::error::StoreError, _>(async |$conn| $body),
        )
        .await
    }};
    // One statement is its own transaction in SQLite (autocommit): no `BEGIN` and `COMMIT`
    // around it.
    (@sqlite read_one, $pooled:ident, plans = $plans:expr, |$conn:ident| $query:expr, |$q:ident| $run:expr) => {{
        let _: $crate::db::Plans = $plans;
        let query = $query;
        $crate::db::sqlite_inline(async {
            let $conn: &mut $crate::db::SqliteConn = &mut $pooled;
            let $q = query;
            $run
        })
        .await
    }};
}

/// A statement diesel would prepare anew on every run — an `UPDATE`, a multi-row `INSERT`,
/// raw SQL — kept in the connection's statement cache under its SQL text. Diesel refuses to
/// cache these because their text can vary while their Rust type does not (a changeset's
/// `None` fields are left out, a multi-row insert has one text per row count), so a cache keyed
/// by type could run the wrong text; and text that varies without bound would grow the cache.
/// Keyed by the text itself (no static query id) the first cannot happen; wrap only statements
/// with a few texts, as the mutation pipeline's are, for the second.
///
/// On PostgreSQL an uncached statement costs a round trip of its own to prepare, and the
/// statement cache stays locked meanwhile: the sinks' statements, which the pipeline sends
/// together, were prepared one after the other while the tenant's audit chain head was
/// locked (decision 0054). Behind a transaction pooler the cache is off and nothing changes.
///
/// A statement whose text depends on a row count (a multi-row `INSERT`, the broadcast fan-out)
/// takes [`Cached::rows`]: cached for a change's few rows, as diesel would run it beyond.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cached<Q> {
    query: Q,
    cache: bool,
}

impl<Q> Cached<Q> {
    pub(crate) fn new(query: Q) -> Self {
        Self { query, cache: true }
    }

    /// Cached when `rows` is at most [`CACHED_ROWS`]: a text per row count, so at most that
    /// many texts per statement; a bulk import's chunks, whose sizes vary, are not.
    pub(crate) fn rows(rows: usize, query: Q) -> Self {
        Self {
            query,
            cache: rows <= CACHED_ROWS,
        }
    }
}

impl<Q> diesel::query_builder::QueryId for Cached<Q> {
    type QueryId = ();
    // The cache key is then the SQL text and the bind types, never the Rust type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> diesel::query_builder::QueryFragment<DB> for Cached<Q>
where
    DB: diesel::backend::Backend,
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        self.query.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, backend: &DB) -> diesel::QueryResult<bool> {
        if self.cache {
            Ok(true)
        } else {
            self.query.is_safe_to_cache_prepared(backend)
        }
    }
}

/// Up to how many rows a statement whose text depends on its row count is [`Cached`]: a
/// change's few audit entries and events take the cache; a bulk import's chunks do not.
pub(crate) const CACHED_ROWS: usize = 8;

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
    (@many, $table:ident, $ctx:expr, $rows:expr, $conn:ident) => {{
        let rows = $rows;
        $crate::db::Cached::rows(rows.len(), $table::insert_many($ctx, rows))
            .execute($conn)
            .await?
    }};
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

    /// Whether full-text searches may use their tenant-led indexes under row-level security:
    /// on PostgreSQL, whether `@@` (`ts_match_vq`) is declared LEAKPROOF in this database, a
    /// superuser's one-time step (decision 0050). Always true on SQLite (FTS5, no RLS).
    pub async fn search_uses_index(&self) -> Result<bool, StoreError> {
        use diesel_async::RunQueryDsl;
        if matches!(self.backend(), Backend::Sqlite) {
            return Ok(true);
        }
        let row: Leakproof = run!(self, read, |conn| {
            diesel::sql_query(LEAKPROOF_MATCH).get_result(conn).await?
        });
        Ok(row.leakproof)
    }
}

/// Whether `@@` is LEAKPROOF in this database (PostgreSQL; [`Db::search_uses_index`]).
pub(crate) const LEAKPROOF_MATCH: &str = "SELECT proleakproof AS leakproof FROM pg_proc \
     WHERE oid = 'pg_catalog.ts_match_vq(tsvector, tsquery)'::regprocedure";

#[derive(diesel::QueryableByName)]
pub(crate) struct Leakproof {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub(crate) leakproof: bool,
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
