//! The path to Citus: which tables a PostgreSQL schema would distribute by tenant and which it
//! would replicate, read from the live catalog, with the statements that do it and whatever
//! in the schema Citus would refuse. `docs/scaling.md` shows the statements; a test keeps them
//! equal to what the live schema gives, so a table that breaks distribution fails CI.

use std::collections::{BTreeMap, BTreeSet};

use diesel::QueryableByName;
use diesel::sql_types::{Array, Nullable, Text};
use diesel_async::RunQueryDsl;

use crate::db::{Db, DbConn};
use crate::error::StoreError;
use crate::guard_rails::is_platform;

/// The tables of a schema sorted for Citus, the statements, and what Citus would refuse.
#[derive(Debug, Default)]
pub struct DistributionPlan {
    /// Tenant-owned tables, distributed by `tenant_id`, all colocated (with the platform tables
    /// that point at one of them by its tenant).
    pub distributed: Vec<String>,
    /// Platform tables, replicated to every node.
    pub reference: Vec<String>,
    /// `SELECT create_reference_table(…)` / `create_distributed_table(…)`, in an order Citus
    /// accepts (a table after those it references).
    pub statements: Vec<String>,
    /// Keys Citus would refuse, one line each; empty when the schema can be distributed.
    pub problems: Vec<String>,
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    /// p (primary), u (unique), f (foreign), i (unique index that is not a constraint)
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
    #[diesel(sql_type = Nullable<Text>)]
    referenced: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    referenced_columns: Vec<String>,
}

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    tenant_id_not_null: bool,
}

const TABLES: &str = "SELECT c.relname::text AS name,
        COALESCE((SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = c.oid
                  AND a.attname = 'tenant_id' AND NOT a.attisdropped), false) AS tenant_id_not_null
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r'
       AND c.relname <> '__diesel_schema_migrations'
     ORDER BY 1";

/// Primary, unique and foreign keys, and unique indexes that are not constraints (an
/// expression's column reads as `(expression)`).
const KEYS: &str = "SELECT c.relname::text AS table_name, k.conname::text AS name,
        k.contype::text AS kind,
        ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(n, i)
              JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n
              ORDER BY u.i) AS columns,
        f.relname::text AS referenced,
        ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(n, i)
              JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n
              ORDER BY u.i) AS referenced_columns
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_class f ON f.oid = k.confrelid
     WHERE n.nspname = 'public' AND k.contype IN ('p', 'u', 'f')
       AND c.relname <> '__diesel_schema_migrations'
     UNION ALL
     SELECT c.relname::text, i.relname::text, 'i',
        ARRAY(SELECT COALESCE(a.attname::text, '(expression)')
              FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS u(n, o)
              LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n
              ORDER BY u.o),
        NULL, ARRAY[]::text[]
     FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid
     JOIN pg_class i ON i.oid = x.indexrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND x.indisunique
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
       AND c.relname <> '__diesel_schema_migrations'
     ORDER BY 1, 2";

impl Db {
    /// The live schema's distribution plan (PostgreSQL; `None` on SQLite).
    pub async fn distribution_plan(&self) -> Result<Option<DistributionPlan>, StoreError> {
        let DbConn::Pg(mut conn) = self.conn().await? else {
            return Ok(None);
        };
        let pooled_by_transaction = self.pooled_by_transaction();
        let (tables, keys) = crate::db::pg_statement(&mut conn, pooled_by_transaction, async |c| {
            let tables: Vec<Table> = diesel::sql_query(TABLES).load(c).await?;
            let keys: Vec<Key> = diesel::sql_query(KEYS).load(c).await?;
            Ok((tables, keys))
        })
        .await?;
        Ok(Some(plan(&tables, &keys)))
    }
}

fn plan(tables: &[Table], keys: &[Key]) -> DistributionPlan {
    let mut distributed: BTreeSet<&str> = tables
        .iter()
        .map(|t| t.name.as_str())
        .filter(|t| !is_platform(t))
        .collect();
    // A platform table that points at a distributed table by its tenant (the delivery queue
    // at its endpoints) follows it onto the tenant's shard, colocated.
    loop {
        let followers: Vec<&str> = keys
            .iter()
            .filter(|k| k.kind == "f" && !distributed.contains(k.table_name.as_str()))
            .filter(|k| {
                k.referenced
                    .as_deref()
                    .is_some_and(|target| distributed.contains(target))
                    && matches_tenant(k)
                    && tables
                        .iter()
                        .any(|t| t.name == k.table_name && t.tenant_id_not_null)
            })
            .map(|k| k.table_name.as_str())
            .collect();
        if followers.is_empty() {
            break;
        }
        distributed.extend(followers);
    }
    let mut problems = vec![];
    for t in tables
        .iter()
        .filter(|t| distributed.contains(t.name.as_str()))
    {
        if !t.tenant_id_not_null {
            problems.push(format!(
                "{}: tenant_id, the distribution column, must be NOT NULL",
                t.name
            ));
        }
    }
    // What each table references, for the order.
    let mut references: BTreeMap<&str, BTreeSet<&str>> = tables
        .iter()
        .map(|t| (t.name.as_str(), BTreeSet::new()))
        .collect();
    for k in keys {
        let table = k.table_name.as_str();
        let is_distributed = distributed.contains(table);
        match (k.kind.as_str(), k.referenced.as_deref()) {
            ("f", Some(target)) => {
                if target != table {
                    references.entry(table).or_default().insert(target);
                }
                let target_distributed = distributed.contains(target);
                if !is_distributed && target_distributed {
                    problems.push(format!(
                        "{table}.{}: a reference table cannot reference the distributed {target}",
                        k.name
                    ));
                } else if is_distributed && target_distributed {
                    // Between distributed tables: tenant_id must be matched with tenant_id.
                    if !matches_tenant(k) {
                        problems.push(format!(
                            "{table}.{}: a foreign key to the distributed {target} must match tenant_id to tenant_id",
                            k.name
                        ));
                    }
                }
            }
            ("p" | "u" | "i", _)
                if is_distributed && !k.columns.iter().any(|c| c == "tenant_id") =>
            {
                problems.push(format!(
                    "{table}.{}: a unique key of a distributed table must include tenant_id",
                    k.name
                ));
            }
            _ => {}
        }
    }
    let order = dependency_order(&references);
    let reference: Vec<String> = order
        .iter()
        .filter(|t| !distributed.contains(*t))
        .map(|t| (*t).to_owned())
        .collect();
    let distributed_order: Vec<String> = order
        .iter()
        .filter(|t| distributed.contains(*t))
        .map(|t| (*t).to_owned())
        .collect();
    let mut statements: Vec<String> = reference
        .iter()
        .map(|t| format!("SELECT create_reference_table('{t}');"))
        .collect();
    if let Some((first, rest)) = distributed_order.split_first() {
        statements.push(format!(
            "SELECT create_distributed_table('{first}', 'tenant_id');"
        ));
        statements.extend(rest.iter().map(|t| {
            format!(
                "SELECT create_distributed_table('{t}', 'tenant_id', colocate_with => '{first}');"
            )
        }));
    }
    DistributionPlan {
        distributed: distributed_order,
        reference,
        statements,
        problems,
    }
}

/// A foreign key that matches `tenant_id` with `tenant_id`.
fn matches_tenant(k: &Key) -> bool {
    k.columns
        .iter()
        .zip(&k.referenced_columns)
        .any(|(c, r)| c == "tenant_id" && r == "tenant_id")
}

/// Every table after the tables it references (alphabetical among equals); a cycle, which
/// Citus could not order either, leaves its tables last in alphabetical order.
fn dependency_order<'a>(references: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<&'a str> {
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut order = vec![];
    loop {
        let ready: Vec<&str> = references
            .iter()
            .filter(|(t, refs)| {
                !placed.contains(*t)
                    && refs
                        .iter()
                        .all(|r| placed.contains(r) || !references.contains_key(r))
            })
            .map(|(t, _)| *t)
            .collect();
        if ready.is_empty() {
            break;
        }
        placed.extend(&ready);
        order.extend(ready);
    }
    order.extend(references.keys().filter(|t| !placed.contains(*t)));
    order
}
