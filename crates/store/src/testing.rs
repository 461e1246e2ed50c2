//! Test databases: a fresh SQLite file per test, or a fresh PostgreSQL database cloned from a
//! migrated template (so tests run in parallel, each isolated), dropped when the test ends.
//!
//! PostgreSQL tests run when `TENANTRY_TEST_PG_URL` (a role that owns the schema and may
//! create databases) and `TENANTRY_TEST_PG_SERVICE_URL` (the service role, `tenantry_service`
//! or a member of it) are set; the database part of both URLs is replaced per test.

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tenantry_kernel::{TenantCtx, TenantId};

use crate::db::{Db, DbConfig, DbConn};
use crate::error::StoreError;
use crate::migrate::run_migrations;

/// Test databases start new tenants on `enterprise` (no quota, every feature), so a test
/// about something else never meets a plan's limit; tests of plans choose what they test.
const TEST_DEFAULT_PLAN: &str = "UPDATE plans SET is_default = false; \
     UPDATE plans SET is_default = true WHERE code = 'enterprise';";

pub const PG_URL_VAR: &str = "TENANTRY_TEST_PG_URL";
pub const PG_SERVICE_URL_VAR: &str = "TENANTRY_TEST_PG_SERVICE_URL";

/// The two URLs of the PostgreSQL test cluster, when configured.
pub fn pg_urls() -> Option<(String, String)> {
    let owner = std::env::var(PG_URL_VAR).ok().filter(|s| !s.is_empty());
    let service = std::env::var(PG_SERVICE_URL_VAR)
        .ok()
        .filter(|s| !s.is_empty());
    match (owner, service) {
        (Some(o), Some(s)) => Some((o, s)),
        (None, None) => None,
        _ => panic!("set both {PG_URL_VAR} and {PG_SERVICE_URL_VAR}, or neither"),
    }
}

/// A database for one test; removed on drop.
pub struct TestDb {
    db: Db,
    url: String,
    guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Pg { owner_url: String, name: String },
}

impl TestDb {
    /// Has the database seal personal data as the composition root has it do (a vault with
    /// a fresh master key): for tests of the store alone, without the app's own vault.
    pub fn seal_personal_data(&self) {
        let keys =
            tenantry_secrets::MasterKeys::new(tenantry_secrets::MasterKey::generate(), vec![]);
        let vault = tenantry_secrets::Vault::new(
            self.db.key_store(),
            tenantry_secrets::KeySource::Given(keys),
        )
        .expect("a vault");
        self.db.seal_personal_data_with(std::sync::Arc::new(vault));
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The URL the service would be configured with for this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// For PostgreSQL, the owner's URL of this database (what `tenantry migrate` would use).
    pub fn owner_url(&self) -> Option<String> {
        match &self.guard {
            Guard::Pg { owner_url, name } => Some(with_database(owner_url, name)),
            Guard::Sqlite(_) => None,
        }
    }

    /// Runs SQL on the audit trail behind the service's back, with the most power the
    /// database has: the table owner on PostgreSQL (who lifts the forced row-level security
    /// for the statement); on SQLite the append-only triggers are dropped first. For
    /// tamper-evidence tests.
    pub async fn tamper(&self, sql: &str) {
        if self.owner_url().is_some() {
            let sql = format!(
                "ALTER TABLE audit_entries NO FORCE ROW LEVEL SECURITY; {sql}; \
                 ALTER TABLE audit_entries FORCE ROW LEVEL SECURITY;"
            );
            self.as_owner(&sql).await;
        } else {
            let sql = format!(
                "DROP TRIGGER IF EXISTS audit_entries_no_update; \
                 DROP TRIGGER IF EXISTS audit_entries_no_delete; {sql}"
            );
            self.as_owner(&sql).await;
        }
    }

    /// On PostgreSQL, holds `ctx`'s write queue (decision 0062) in a transaction of its own
    /// until [`HeldQueue::release`]; `None` on SQLite, whose writers queue for the file.
    pub async fn hold_write_queue(&self, ctx: &TenantCtx) -> Option<HeldQueue> {
        let owner = self.owner_url()?;
        let mut conn = AsyncPgConnection::establish(&owner)
            .await
            .expect("connect as owner");
        let take = format!("BEGIN; {}", crate::audit::write_queue_lock(ctx));
        conn.batch_execute(&take).await.expect("take the queue");
        Some(HeldQueue(conn))
    }

    /// Runs SQL as the schema's owner (PostgreSQL), or on the file (SQLite): what a
    /// migration could do.
    pub async fn as_owner(&self, sql: &str) {
        match self.owner_url() {
            Some(owner) => {
                let mut conn = AsyncPgConnection::establish(&owner)
                    .await
                    .expect("connect as owner");
                conn.batch_execute(sql).await.expect("run as owner");
            }
            None => self.db.execute_raw(sql).await.expect("run on the file"),
        }
    }

    /// A migrated SQLite database in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("tenantry.db").display());
        run_migrations(&url).await.expect("SQLite migrations");
        let db = Db::connect(&DbConfig::new(url.clone())).expect("SQLite pool");
        db.execute_raw(TEST_DEFAULT_PLAN)
            .await
            .expect("the test default plan");
        TestDb {
            db,
            url,
            guard: Guard::Sqlite(dir),
        }
    }

    /// A migrated PostgreSQL database reached as the service role, or `None` when no
    /// PostgreSQL test cluster is configured.
    pub async fn postgres() -> Option<TestDb> {
        let (owner, _) = pg_urls()?;
        let template = ensure_template(&owner).await;
        Self::postgres_from(&template).await
    }

    /// Like [`TestDb::postgres`], on a database created from `template0` and migrated there:
    /// PostgreSQL's catalog as shipped, without the superuser steps the test cluster applies
    /// to `template1` (docs/postgres.md). Slower: it runs every migration.
    pub async fn postgres_as_shipped() -> Option<TestDb> {
        let (owner, _) = pg_urls()?;
        let name = format!("tenantry_shipped_{}", uuid::Uuid::now_v7().simple());
        let mut admin = admin_conn(&owner).await;
        admin
            .batch_execute(&format!(r#"CREATE DATABASE "{name}" TEMPLATE template0"#))
            .await
            .expect("create a database from template0");
        drop(admin);
        migrate_for_tests(&with_database(&owner, &name)).await;
        // Used as it is (dropped with the TestDb): copying it would need no other session on
        // it, and autovacuum may be working on a database just migrated.
        Self::postgres_on(name)
    }

    async fn postgres_from(template: &str) -> Option<TestDb> {
        let (owner, _) = pg_urls()?;
        let name = format!("tenantry_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = admin_conn(&owner).await;
        admin
            .batch_execute(&format!(
                r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#
            ))
            .await
            .expect("create test database from template");
        drop(admin);
        Self::postgres_on(name)
    }

    /// The test database `name`, reached as the service role, dropped with the TestDb.
    fn postgres_on(name: String) -> Option<TestDb> {
        let (owner, service) = pg_urls()?;
        let url = with_database(&service, &name);
        let db = Db::connect(&DbConfig::new(url.clone())).expect("PostgreSQL pool");
        Some(TestDb {
            db,
            url,
            guard: Guard::Pg {
                owner_url: owner,
                name,
            },
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.db.close();
        if let Guard::Pg { owner_url, name } = &self.guard {
            let (owner_url, name) = (owner_url.clone(), name.clone());
            // Drop runs inside the test's runtime; use a thread with its own.
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut admin =
                        AsyncPgConnection::establish(&with_database(&owner_url, "postgres"))
                            .await
                            .ok()?;
                    admin
                        .batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                        .await
                        .ok()
                })
            })
            .join();
            if !matches!(dropped, Ok(Some(()))) {
                eprintln!("warning: could not drop test database");
            }
        }
    }
}

/// A tenant's write queue held by [`TestDb::hold_write_queue`].
pub struct HeldQueue(AsyncPgConnection);

impl HeldQueue {
    /// Commits the transaction that held it.
    pub async fn release(mut self) {
        self.0
            .batch_execute("COMMIT")
            .await
            .expect("release the queue");
    }
}

/// Creates tenant `slug` (with its default roles) and returns a context in it, acting as the
/// operator.
pub async fn tenant_ctx(db: &Db, slug: &str) -> TenantCtx {
    let svc = tenantry_tenancy::TenantService::new(
        db.clone(),
        std::sync::Arc::new(tenantry_kernel::SystemClock),
        tenantry_tenancy::BaseDomain::parse("example.com").expect("a base domain"),
        std::sync::Arc::new(tenantry_tenancy::NoListener),
        tenantry_kernel::Edges::for_tests(),
    );
    let t = svc
        .create(
            tenantry_tenancy::Slug::parse(slug).expect("a slug"),
            tenantry_tenancy::TenantName::parse("Acme").expect("a name"),
        )
        .await
        .expect("create the tenant");
    TenantCtx::for_request(
        &tenantry_kernel::Edges::for_tests(),
        t.id,
        tenantry_kernel::Actor::Operator,
        Default::default(),
    )
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

async fn admin_conn(owner_url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(&with_database(owner_url, "postgres"))
        .await
        .unwrap_or_else(|e| panic!("cannot connect with {PG_URL_VAR}: {e}"))
}

diesel::define_sql_function! {
    /// PostgreSQL's `pg_sleep(seconds)`.
    fn pg_sleep(seconds: diesel::sql_types::Double);
}

diesel::define_sql_function! {
    /// PostgreSQL's `current_setting(name)`: an error for a setting that does not exist.
    fn current_setting(name: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Creates (once per migration set, across test processes) a database with every migration
/// applied, to clone test databases from.
async fn ensure_template(owner_url: &str) -> String {
    let template = format!("tenantry_tpl_{}", env!("TENANTRY_PG_MIGRATIONS_DIGEST"));
    let mut admin = admin_conn(owner_url).await;
    // Serialise template creation between test processes.
    admin
        .batch_execute("SELECT pg_advisory_lock(7470110)")
        .await
        .expect("advisory lock");
    let exists: Count =
        diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
            .bind::<diesel::sql_types::Text, _>(&template)
            .get_result(&mut admin)
            .await
            .expect("look up template");
    if exists.n == 0 {
        let building = format!("{template}_building");
        for sql in [
            format!(r#"DROP DATABASE IF EXISTS "{building}" WITH (FORCE)"#),
            format!(r#"CREATE DATABASE "{building}""#),
        ] {
            admin
                .batch_execute(&sql)
                .await
                .expect("create template database");
        }
        migrate_for_tests(&with_database(owner_url, &building)).await;
        admin
            .batch_execute(&format!(
                r#"ALTER DATABASE "{building}" RENAME TO "{template}""#
            ))
            .await
            .expect("publish template database");
    }
    admin
        .batch_execute("SELECT pg_advisory_unlock(7470110)")
        .await
        .expect("advisory unlock");
    template
}

/// Migrates the PostgreSQL database at `url` (as its owner) and gives it the tests' default
/// plan.
async fn migrate_for_tests(url: &str) {
    run_migrations(url).await.expect("migrate");
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .expect("connect as owner");
    conn.batch_execute(TEST_DEFAULT_PLAN)
        .await
        .expect("the test default plan");
}

/// A line of PostgreSQL's `EXPLAIN`.
#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

impl PlanLine {
    fn joined(lines: Vec<Self>) -> String {
        lines
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Db {
    /// Runs `SELECT count(*) FROM <from>` **without** any tenant filter, as the service,
    /// inside a transaction scoped to `tenant` (or to none): what row-level security lets a
    /// careless query see.
    pub async fn unfiltered_count(
        &self,
        tenant: Option<TenantId>,
        from: &str,
    ) -> Result<i64, StoreError> {
        let sql = format!("SELECT count(*) AS n FROM {from}");
        let c: Count = tx!(self, read, tenant = tenant, |conn| {
            Ok(diesel::sql_query(&sql).get_result(conn).await?)
        })?;
        Ok(c.n)
    }

    /// The tenant's products counted by a read of one statement that sets its own tenant
    /// (`read_one`, decision 0068) with no `LIMIT` and no aggregate (their ids, loaded and
    /// counted): the form the wrapper must fence itself.
    pub async fn products_counted_in_one_statement(
        &self,
        tenant: TenantId,
    ) -> Result<i64, StoreError> {
        let ctx = TenantCtx::for_tests(tenant);
        tx!(
            self,
            read_one,
            tenant = Some(tenant),
            |conn| products::of(&ctx).select(products::id),
            |q| Ok(q.load::<crate::types::DbUuid>(conn).await?.len() as i64)
        )
    }

    /// The tenant's products counted by a one-round-trip read (`read_one`, no tenant filter
    /// but row-level security's) reached with tokio's cooperative budget spent to nothing in
    /// the same poll, as by sibling futures in a task running many reads at once: the
    /// statement's own first step (diesel-async's statement-cache lock, a tokio `Mutex`) is
    /// then the first thing to meet the empty budget. The channel below is always ready, so
    /// nothing before the statement is pending of itself. Run it twice: the first run
    /// prepares the statement, the second takes one trip.
    pub async fn products_counted_after_a_spent_budget(
        &self,
        tenant: TenantId,
    ) -> Result<i64, StoreError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..256 {
            let _ = tx.send(i);
        }
        let ctx = TenantCtx::for_tests(tenant);
        tx!(
            self,
            read_one,
            tenant = Some(tenant),
            // Read as a search is: `BEGIN …`, the statement and `COMMIT` (`pg_read_one`).
            plans = crate::db::Plans::PerValue,
            |conn| products::of(&ctx).count(),
            |q| {
                // Each message received costs a unit of the budget (128 a poll); stop at
                // none left, before the receive that would answer "not yet" itself.
                for _ in 0..256 {
                    if !tokio::task::coop::has_budget_remaining() {
                        break;
                    }
                    rx.recv().await;
                }
                Ok(q.get_result(conn).await?)
            }
        )
    }

    /// Every value of a text column `column` of `table` as stored, in a transaction scoped to
    /// `tenant` (what is at rest: sealed secrets, for instance).
    pub async fn column_values(
        &self,
        tenant: TenantId,
        table: &str,
        column: &str,
    ) -> Result<Vec<String>, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        let sql = format!("SELECT {column} AS v FROM {table} WHERE {column} IS NOT NULL");
        let rows: Vec<Text> = tx!(self, read, tenant = Some(tenant), |conn| {
            Ok(diesel::sql_query(&sql).load(conn).await?)
        })?;
        Ok(rows.into_iter().map(|r| r.v).collect())
    }

    /// Like [`Db::unfiltered_count`], inside a transaction scoped to one user (`app.user_id`).
    pub async fn unfiltered_count_as_user(
        &self,
        user: tenantry_kernel::UserId,
        from: &str,
    ) -> Result<i64, StoreError> {
        let sql = format!("SELECT count(*) AS n FROM {from}");
        let c: Count = tx!(self, read, user = user, |conn, _cross| {
            Ok(diesel::sql_query(&sql).get_result(conn).await?)
        })?;
        Ok(c.n)
    }

    /// Like [`Db::unfiltered_count`] in a transaction scoped to `tenant`, rescoped part-way to
    /// no tenant at all before counting.
    pub async fn unfiltered_count_rescoped_to_platform(
        &self,
        tenant: TenantId,
        from: &str,
    ) -> Result<i64, StoreError> {
        use crate::db::{Rescope, Scope};
        let sql = format!("SELECT count(*) AS n FROM {from}");
        let c: Count = tx!(self, read, tenant = Some(tenant), |conn| {
            conn.rescope(&Scope::Platform).await?;
            Ok(diesel::sql_query(&sql).get_result(conn).await?)
        })?;
        Ok(c.n)
    }

    /// How many products match the full-text query `tsquery` (a tsquery literal), counted in
    /// raw SQL without any tenant filter as the service, in a transaction scoped to `tenant`
    /// (or to none). PostgreSQL only.
    pub async fn raw_search_count(
        &self,
        tenant: Option<TenantId>,
        tsquery: &str,
    ) -> Result<i64, StoreError> {
        let sql = format!(
            "SELECT count(*) AS n FROM products WHERE search_vector @@ to_tsquery('simple', '{}')",
            tsquery.replace('\'', "''")
        );
        let c: Count = tx!(self, read, tenant = tenant, |conn| {
            Ok(diesel::sql_query(&sql).get_result(conn).await?)
        })?;
        Ok(c.n)
    }

    /// SQLite's plan for host resolution's own statement (`tenant_for_host`: a hostname and a
    /// status, both bound), one line per step. SQLite only.
    pub async fn host_lookup_plan_sqlite(&self) -> Result<String, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Step {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let steps: Vec<Step> = tx!(self, read, tenant = None, |conn| {
            let sql = crate::tenancy::host_lookup_sql_sqlite();
            Ok(diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .bind::<diesel::sql_types::Text, _>("shop.example.com")
                .bind::<diesel::sql_types::Text, _>("verified")
                .load(conn)
                .await?)
        })?;
        Ok(steps
            .into_iter()
            .map(|s| s.detail)
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// The plan PostgreSQL picks for that search in `tenant`'s transaction when it may not
    /// read the table in order (no sequential or plain index scans): where `@@` is applied,
    /// as an index condition or as a filter after row-level security. PostgreSQL only.
    pub async fn search_plan(&self, tenant: TenantId, tsquery: &str) -> Result<String, StoreError> {
        let sql = format!(
            "EXPLAIN (COSTS OFF) SELECT id FROM products \
             WHERE search_vector @@ to_tsquery('simple', '{}')",
            tsquery.replace('\'', "''")
        );
        let lines: Vec<PlanLine> = tx!(self, read, tenant = Some(tenant), |conn| {
            diesel::sql_query("SET LOCAL enable_seqscan = off")
                .execute(conn)
                .await?;
            diesel::sql_query("SET LOCAL enable_indexscan = off")
                .execute(conn)
                .await?;
            Ok(diesel::sql_query(&sql).load(conn).await?)
        })?;
        Ok(PlanLine::joined(lines))
    }

    /// The full-text searches prepared on the connection this read is given (in a test that
    /// reads one request at a time, the pool's only one): each statement with how many of its
    /// executions PostgreSQL planned generically and for their values. PostgreSQL only.
    pub async fn prepared_searches(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        self.prepared_statements("%@@%").await
    }

    /// The statements whose text is `LIKE pattern` that the connection this read is given
    /// keeps prepared, as [`Db::prepared_searches`]. A statement diesel-async does not cache
    /// is closed after its one run and is not among them. PostgreSQL only.
    pub async fn prepared_statements(
        &self,
        pattern: &str,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Prepared {
            #[diesel(sql_type = diesel::sql_types::Text)]
            statement: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            generic_plans: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            custom_plans: i64,
        }
        let rows: Vec<Prepared> = tx!(self, read, tenant = None, |conn| {
            Ok(diesel::sql_query(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements \
                 WHERE statement LIKE $1 AND statement NOT LIKE '%pg_prepared_statements%' \
                 ORDER BY statement",
            )
            .bind::<diesel::sql_types::Text, _>(pattern)
            .load(conn)
            .await?)
        })?;
        Ok(rows
            .into_iter()
            .map(|p| (p.statement, p.generic_plans, p.custom_plans))
            .collect())
    }

    /// PostgreSQL's plan (`EXPLAIN (COSTS OFF) EXECUTE`) of the one statement whose text is
    /// `LIKE pattern` that the connection this read is given keeps prepared, run with `args`
    /// (quoted as literals): the plan its executions use. PostgreSQL only.
    pub async fn prepared_plan(&self, pattern: &str, args: &[&str]) -> Result<String, StoreError> {
        #[derive(diesel::QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let args = args
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        let lines: Vec<PlanLine> = tx!(self, read, tenant = None, |conn| {
            let names: Vec<Name> = diesel::sql_query(
                "SELECT name FROM pg_prepared_statements \
                 WHERE statement LIKE $1 AND statement NOT LIKE '%pg_prepared_statements%'",
            )
            .bind::<diesel::sql_types::Text, _>(pattern)
            .load(conn)
            .await?;
            let [Name { name }] = names.as_slice() else {
                return Err(StoreError::Config(format!(
                    "{} statements like {pattern}",
                    names.len()
                )));
            };
            let name = name.replace('"', "\"\"");
            Ok(
                diesel::sql_query(format!("EXPLAIN (COSTS OFF) EXECUTE \"{name}\"({args})"))
                    .load(conn)
                    .await?,
            )
        })?;
        Ok(PlanLine::joined(lines))
    }

    /// A change that records an audit entry, an event and a job through the pipeline and
    /// then fails: what its rollback leaves behind (nothing).
    pub async fn change_that_fails(&self, ctx: &TenantCtx) -> Result<(), StoreError> {
        mutate!(self, ctx, |_conn, log| {
            log.note("probe", "1", "poked", []);
            log.enqueue(tenantry_jobs::Job::Probe {
                delay_ms: 0,
                fail: false,
            });
            Err::<(), _>(StoreError::Corrupt("the change fails after logging".into()))
        })
    }

    /// Starts a read transaction scoped to `tenant` whose statement sleeps `seconds` on the
    /// server, and abandons it (drops its future) after `after`, as a cancelled request would.
    /// True when it finished before being abandoned.
    pub async fn abandoned_read(
        &self,
        tenant: TenantId,
        seconds: f64,
        after: std::time::Duration,
    ) -> bool {
        let sql = format!("SELECT count(*) AS n FROM (SELECT pg_sleep({seconds})) AS s");
        let read = async {
            let c: Count = tx!(self, read, tenant = Some(tenant), |conn| {
                Ok(diesel::sql_query(&sql).get_result(conn).await?)
            })?;
            Ok::<_, StoreError>(c.n)
        };
        tokio::time::timeout(after, read).await.is_ok()
    }

    /// Like [`Db::abandoned_read`], through a one-round-trip read (`read_one`): the
    /// statement is run once to completion first, so that the connection has it prepared and
    /// the abandoned run goes in one trip — one statement that sets its tenant itself, or
    /// (`pipelined`) `BEGIN …`, the statement and `COMMIT` behind it. True when it finished
    /// before being abandoned.
    pub async fn abandoned_one_trip_read(
        &self,
        tenant: TenantId,
        seconds: f64,
        after: std::time::Duration,
        pipelined: bool,
    ) -> bool {
        let plans = crate::db::Plans::per_value_if(pipelined);
        let sleep = |seconds: f64| async move {
            tx!(
                self,
                read_one,
                tenant = Some(tenant),
                plans = plans,
                |conn| diesel::select(pg_sleep(seconds)),
                |q| Ok(q.execute(conn).await?)
            )
        };
        sleep(0.0).await.expect("a short sleep");
        tokio::time::timeout(after, sleep(seconds)).await.is_ok()
    }

    /// A one-round-trip read (`read_one`, `pipelined` as in [`Db::abandoned_one_trip_read`])
    /// whose statement fails on the server (an unknown setting): what it returned.
    pub async fn failing_one_trip_read(&self, pipelined: bool) -> Result<String, StoreError> {
        tx!(
            self,
            read_one,
            tenant = None,
            plans = crate::db::Plans::per_value_if(pipelined),
            |conn| diesel::select(current_setting("tenantry.no_such_setting")),
            |q| Ok(q.get_result::<String>(conn).await?)
        )
    }

    /// How many reads this process has sent in one round trip so far.
    pub fn one_trip_reads() -> u64 {
        std::sync::atomic::AtomicU64::load(
            &crate::db::ONE_TRIP_READS,
            std::sync::atomic::Ordering::Relaxed,
        )
    }

    /// The service role's other sessions on this database (this pool's connections) that sit
    /// inside a transaction between statements: a pooled connection should never be left like that.
    pub async fn sessions_idle_in_transaction(&self) -> Result<i64, StoreError> {
        let c: Count = run!(self, read, |conn| {
            diesel::sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE usename = current_user AND datname = current_database() \
                   AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
            )
            .get_result(conn)
            .await?
        });
        Ok(c.n)
    }

    /// Executes raw SQL as the service role.
    pub async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        match self.conn().await? {
            DbConn::Pg(mut c) => c.batch_execute(sql).await?,
            DbConn::Sqlite(mut c) => c.batch_execute(sql).await?,
        }
        Ok(())
    }
}

/// Declares one async test per backend: `<name>::sqlite` always runs, `<name>::postgres`
/// runs when the PostgreSQL test cluster is configured and passes trivially otherwise (the
/// `postgres_suite` marker test reports the skip).
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($db:ident: &TestDb) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($db: &$crate::testing::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::testing::TestDb::sqlite().await;
                body(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    body(&db).await;
                }
            }
        }
    )*};
}

/// Writes, past the test harness's output capture, whether the PostgreSQL half of the suite
/// runs. Call it from one `#[test]` per test binary.
pub fn report_postgres_suite() {
    use std::io::Write;
    let line = if pg_urls().is_some() {
        "PostgreSQL suite: running (TENANTRY_TEST_PG_URL is set)\n".to_owned()
    } else {
        format!(
            "\n*** PostgreSQL suite SKIPPED: set {PG_URL_VAR} and {PG_SERVICE_URL_VAR} to run it (see .ci/run) ***\n"
        )
    };
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
