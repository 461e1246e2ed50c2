//! The schema guard rail: walks the live schema of either backend and lists every way a
//! table breaks the tenant-isolation rules (see `docs/adding-a-resource.md`).

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::RunQueryDsl;

use crate::db::{Db, DbConn};
use crate::error::StoreError;

pub use crate::health::PLATFORM_TABLES;

/// SQLite-only full-text machinery: FTS5 virtual tables and their shadow tables, and the
/// stable-key maps that link them to rows (tenant-led where the rows are tenant-owned).
fn is_sqlite_search_table(name: &str) -> bool {
    name.contains("_fts") || name.ends_with("_search")
}

/// Indexes on tenant-owned tables that are deliberately not led by `tenant_id`, each a
/// lookup that precedes the tenant (the full-text indexes are tenant-led too: decision 0050).
pub const UNLED_INDEXES: &[(&str, &str)] = &[
    (
        "api_keys_prefix",
        "finds a presented key by prefix before its tenant is known",
    ),
    (
        "memberships_user",
        "the switcher: one person's memberships across tenants",
    ),
    (
        "invitations_digest",
        "finds an invitation by token before its tenant is known",
    ),
];

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct PgTable {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    has_tenant_id: bool,
    #[diesel(sql_type = Bool)]
    rls: bool,
    #[diesel(sql_type = Bool)]
    forced: bool,
    #[diesel(sql_type = BigInt)]
    tenant_policies: i64,
}

#[derive(QueryableByName)]
struct PgConstraint {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    /// p, u or f
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    first_column: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    references: Option<String>,
    #[diesel(sql_type = Bool)]
    includes_tenant: bool,
}

#[derive(QueryableByName)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    first_column: Option<String>,
    /// A GIN index that keeps a pending list (`fastupdate` not off).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pending_list: bool,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    pk: i64,
}

#[derive(QueryableByName)]
struct SqliteIndex {
    #[diesel(sql_type = Text)]
    name: String,
    /// c (CREATE INDEX), u (UNIQUE), pk
    #[diesel(sql_type = Text)]
    origin: String,
}

#[derive(QueryableByName)]
struct SqliteIndexColumn {
    #[diesel(sql_type = BigInt)]
    seqno: i64,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
}

#[derive(QueryableByName)]
struct SqliteForeignKey {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Text)]
    from: String,
}

pub(crate) fn is_platform(name: &str) -> bool {
    PLATFORM_TABLES.iter().any(|(t, _)| *t == name)
}

fn unled_ok(index: &str) -> bool {
    UNLED_INDEXES.iter().any(|(i, _)| *i == index)
}

impl Db {
    /// Every isolation rule the live schema breaks, as readable lines (empty when sound):
    /// a table that is not a reviewed platform table and lacks `tenant_id`; on PostgreSQL
    /// row-level security not enabled and forced or no `app.tenant_id` policy; a primary or
    /// unique key not led by `tenant_id`; a foreign key to a tenant-owned table without
    /// `tenant_id`; an index not led by `tenant_id` that is not on the reviewed list.
    pub async fn isolation_violations(&self) -> Result<Vec<String>, StoreError> {
        match self.conn().await? {
            DbConn::Pg(mut conn) => {
                let pooled_by_transaction = self.pooled_by_transaction();
                crate::db::pg_statement(&mut conn, pooled_by_transaction, pg_violations).await
            }
            DbConn::Sqlite(mut conn) => sqlite_violations(&mut conn).await,
        }
    }
}

async fn pg_violations(
    conn: &mut diesel_async::AsyncPgConnection,
) -> Result<Vec<String>, StoreError> {
    let mut out = vec![];
    let tables: Vec<PgTable> = diesel::sql_query(
        "SELECT c.relname AS name,
                EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                        AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant_id,
                c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
                (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid
                   AND pg_get_expr(p.polqual, p.polrelid) LIKE '%app.tenant_id%'
                   AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%app.tenant_id%')
                  AS tenant_policies
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'
           AND c.relname <> '__diesel_schema_migrations'
         ORDER BY c.relname",
    )
    .load(conn)
    .await?;
    let tenant_tables: Vec<&str> = tables
        .iter()
        .filter(|t| !is_platform(&t.name))
        .map(|t| t.name.as_str())
        .collect();
    for t in tables.iter().filter(|t| !is_platform(&t.name)) {
        if !t.has_tenant_id {
            out.push(format!(
                "{}: no tenant_id column (and not a reviewed platform table)",
                t.name
            ));
            continue;
        }
        if !t.rls || !t.forced {
            out.push(format!(
                "{}: row-level security is not enabled and forced",
                t.name
            ));
        }
        if t.tenant_policies == 0 {
            out.push(format!(
                "{}: no policy on app.tenant_id (USING and WITH CHECK)",
                t.name
            ));
        }
    }
    let constraints: Vec<PgConstraint> = diesel::sql_query(
        "SELECT c.relname AS table_name, k.conname AS name, k.contype::text AS kind,
                (SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = k.conrelid AND a.attnum = k.conkey[1]) AS first_column,
                r.relname::text AS references,
                EXISTS (SELECT 1 FROM unnest(k.conkey) AS col(n) JOIN pg_attribute a
                          ON a.attrelid = k.conrelid AND a.attnum = col.n
                        WHERE a.attname = 'tenant_id') AS includes_tenant
         FROM pg_constraint k
         JOIN pg_class c ON c.oid = k.conrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_class r ON r.oid = k.confrelid
         WHERE n.nspname = 'public' AND k.contype IN ('p', 'u', 'f')
         ORDER BY c.relname, k.conname",
    )
    .load(conn)
    .await?;
    for k in constraints
        .iter()
        .filter(|k| tenant_tables.contains(&k.table_name.as_str()))
    {
        match k.kind.as_str() {
            "p" | "u" if k.first_column.as_deref() != Some("tenant_id") => out.push(format!(
                "{}: key {} is not led by tenant_id",
                k.table_name, k.name
            )),
            "f" if k
                .references
                .as_deref()
                .is_some_and(|r| tenant_tables.contains(&r))
                && (!k.includes_tenant || k.first_column.as_deref() != Some("tenant_id")) =>
            {
                out.push(format!(
                    "{}: foreign key {} to tenant-owned {} is not led by tenant_id",
                    k.table_name,
                    k.name,
                    k.references.as_deref().unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
    let indexes: Vec<PgIndex> = diesel::sql_query(
        "SELECT t.relname AS table_name, i.relname AS name,
                (SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = x.indrelid AND a.attnum = x.indkey[0]) AS first_column,
                am.amname = 'gin'
                  AND NOT COALESCE('fastupdate=off' = ANY (i.reloptions), false) AS pending_list
         FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_am am ON am.oid = i.relam
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public'
         ORDER BY t.relname, i.relname",
    )
    .load(conn)
    .await?;
    for i in indexes
        .iter()
        .filter(|i| tenant_tables.contains(&i.table_name.as_str()))
    {
        if i.first_column.as_deref() != Some("tenant_id") && !unled_ok(&i.name) {
            out.push(format!(
                "{}: index {} is not led by tenant_id",
                i.table_name, i.name
            ));
        }
        if i.pending_list {
            // Every search would read the whole list of entries not yet merged (decision 0052).
            out.push(format!(
                "{}: GIN index {} keeps a pending list: create it WITH (fastupdate = off)",
                i.table_name, i.name
            ));
        }
    }
    Ok(out)
}

/// Every table of an SQLite schema but SQLite's own and the migrations ledger.
const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table'
   AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations' ORDER BY name";

async fn sqlite_violations(conn: &mut crate::db::SqliteConn) -> Result<Vec<String>, StoreError> {
    let mut out = vec![];
    let tables: Vec<Name> = diesel::sql_query(SQLITE_TABLES).load(conn).await?;
    let tenant_tables: Vec<String> = tables
        .iter()
        .map(|t| t.name.clone())
        .filter(|n| !is_platform(n) && !is_sqlite_search_table(n))
        .collect();
    for t in &tenant_tables {
        let columns: Vec<SqliteColumn> =
            diesel::sql_query(format!("SELECT name, pk FROM pragma_table_info('{t}')"))
                .load(conn)
                .await?;
        if !columns.iter().any(|c| c.name == "tenant_id") {
            out.push(format!(
                "{t}: no tenant_id column (and not a reviewed platform table)"
            ));
            continue;
        }
        // The primary key: pk numbers the key's columns from 1.
        if !columns.iter().any(|c| c.name == "tenant_id" && c.pk == 1) {
            out.push(format!("{t}: primary key is not led by tenant_id"));
        }
        let indexes: Vec<SqliteIndex> =
            diesel::sql_query(format!("SELECT name, origin FROM pragma_index_list('{t}')"))
                .load(conn)
                .await?;
        for i in indexes.iter().filter(|i| i.origin != "pk") {
            let cols: Vec<SqliteIndexColumn> = diesel::sql_query(format!(
                "SELECT seqno, name FROM pragma_index_info('{}')",
                i.name
            ))
            .load(conn)
            .await?;
            let first = cols
                .iter()
                .find(|c| c.seqno == 0)
                .and_then(|c| c.name.clone());
            let named = i.name.starts_with("sqlite_autoindex");
            if first.as_deref() != Some("tenant_id") && (named || !unled_ok(&i.name)) {
                let what = if i.origin == "u" {
                    "unique key"
                } else {
                    "index"
                };
                out.push(format!("{t}: {what} {} is not led by tenant_id", i.name));
            }
        }
        let fks: Vec<SqliteForeignKey> = diesel::sql_query(format!(
            "SELECT id, seq, \"table\", \"from\" FROM pragma_foreign_key_list('{t}')"
        ))
        .load(conn)
        .await?;
        let mut ids: Vec<i64> = fks.iter().map(|f| f.id).collect();
        ids.dedup();
        for id in ids {
            let parts: Vec<&SqliteForeignKey> = fks.iter().filter(|f| f.id == id).collect();
            // (`<[_]>::first`: diesel's `first` is in scope.)
            let target = <[_]>::first(&parts)
                .map(|f| f.table.clone())
                .unwrap_or_default();
            let led = parts.iter().any(|f| f.seq == 0 && f.from == "tenant_id");
            if tenant_tables.contains(&target) && !led {
                out.push(format!(
                    "{t}: foreign key to tenant-owned {target} is not led by tenant_id"
                ));
            }
        }
    }
    Ok(out)
}

impl Db {
    /// The tenant-owned tables of the live schema (every table that is neither a reviewed
    /// platform table nor SQLite search machinery).
    pub async fn tenant_tables(&self) -> Result<Vec<String>, StoreError> {
        let sql = match self.backend() {
            crate::db::Backend::Postgres => {
                "SELECT c.relname::text AS name FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind = 'r'
                   AND c.relname <> '__diesel_schema_migrations' ORDER BY 1"
            }
            crate::db::Backend::Sqlite => SQLITE_TABLES,
        };
        let names: Vec<Name> = run!(self, read, |conn| diesel::sql_query(sql).load(conn).await?);
        Ok(names
            .into_iter()
            .map(|n| n.name)
            .filter(|n| !is_platform(n) && !is_sqlite_search_table(n))
            .collect())
    }
}

#[derive(QueryableByName)]
struct TableColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

impl Db {
    /// Every way the live schema and the archives' catalogue disagree: a table neither
    /// archived nor listed in [`crate::NOT_ARCHIVED`], or an archived table with a column the
    /// catalogue does not carry (or one it no longer has). A table added without export,
    /// import and purge support fails here.
    pub async fn archive_catalogue_gaps(&self) -> Result<Vec<String>, StoreError> {
        let sql = match self.backend() {
            crate::db::Backend::Postgres => {
                // The catalog, not information_schema: that shows only tables this role
                // may read.
                "SELECT c.relname::text AS table_name, a.attname::text AS column_name
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0
                   AND NOT a.attisdropped AND a.attgenerated = ''
                   AND c.relname <> '__diesel_schema_migrations'
                 ORDER BY 1, a.attnum"
            }
            crate::db::Backend::Sqlite => {
                "SELECT m.name AS table_name, p.name AS column_name
                 FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
                   AND m.name <> '__diesel_schema_migrations'
                 ORDER BY 1, p.cid"
            }
        };
        let live: Vec<TableColumn> =
            run!(self, read, |conn| diesel::sql_query(sql).load(conn).await?);
        let mut tables: Vec<&str> = live.iter().map(|c| c.table_name.as_str()).collect();
        tables.dedup();
        Ok(crate::archive::catalogue_gaps(
            &tables
                .into_iter()
                .filter(|t| !is_sqlite_search_table(t))
                .map(|t| {
                    let cols = live
                        .iter()
                        .filter(|c| c.table_name == t)
                        .map(|c| c.column_name.clone())
                        .collect();
                    (t.to_owned(), cols)
                })
                .collect::<Vec<(String, Vec<String>)>>(),
        ))
    }
}
