//! Archives' database side: the catalogue of what a tenant owns, table by table and column
//! by column, dumped as canonical JSON lines from one snapshot and loaded back in one
//! transaction, on either backend.
//!
//! Rows travel as JSON built by the database (`json_build_object` / `json_object`) and are
//! made canonical here, so an archive reads the same whichever backend wrote it: ids as
//! hyphenated text, times as RFC 3339 UTC with microseconds, booleans as booleans.
//! The guard rail (`archive_catalogue_gaps`) fails when a table or column of the live schema
//! is neither here nor in [`NOT_ARCHIVED`]: a table added later cannot be forgotten.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::{Map, Value};
use tenantry_archive::{
    ArchiveKind, ArchiveStore, ImportCheck, ImportError, Incoming, LoadPlan, LoadReport,
    PART_BYTES, PART_ROWS, RowPart, TenantRef,
};
use tenantry_kernel::{TenantCtx, TenantId, Unexpected};
use tokio::sync::mpsc;

use crate::db::{Backend, Db};
use crate::error::StoreError;

/// How a column travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Id,
    Text,
    /// A credential (password hash, key digest, sealed secret): only in operators' archives.
    Secret,
    Int,
    Float,
    Bool,
    Time,
    Date,
}

/// Which rows of a table belong to the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rows {
    /// `tenants`: the row whose id is the tenant.
    TenantRow,
    /// `tenant_id` is the tenant (the column itself is not carried: an import sets it).
    Tenant,
    /// `users`: the tenant's members and everyone its rows name (creators, inviters…).
    Users,
    /// Rows of those users (`user_id`): kept as they are when the account exists already.
    UserOwned,
    /// Keys of the addresses the tenant's records are about (`email_normalized`: its
    /// invitations', its directory users' and its users'); an address may hold several keys,
    /// each kept once.
    Addresses,
}

/// Which archives carry a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carried {
    Both,
    Operator,
}

pub(crate) struct Table {
    pub name: &'static str,
    pub rows: Rows,
    pub carried: Carried,
    /// The order rows are written in.
    pub key: &'static [&'static str],
    pub columns: &'static [(&'static str, Kind)],
}

macro_rules! catalogue {
    ($($table:ident: $rows:ident, $carried:ident, [$($key:ident),*] { $($col:tt: $kind:ident),* $(,)? }),* $(,)?) => {
        /// Every archived table, in an order that satisfies foreign keys on import.
        pub(crate) const TABLES: &[Table] = &[$(Table {
            name: stringify!($table),
            rows: Rows::$rows,
            carried: Carried::$carried,
            key: &[$(stringify!($key)),*],
            columns: &[$((column_name!($col), Kind::$kind)),*],
        }),*];
    };
}

macro_rules! column_name {
    ($c:ident) => {
        stringify!($c)
    };
    ($c:literal) => {
        $c
    };
}

catalogue! {
    tenants: TenantRow, Both, [id] { id: Id, slug: Text, name: Text, status: Text, maintenance: Bool, maintenance_message: Text, created_at: Time, updated_at: Time, revision: Int },
    subscriptions: Tenant, Both, [tenant_id] { plan: Text, status: Text, trial_ends_at: Time, current_period_end: Time, cancel_at_period_end: Bool, past_due_since: Time, canceled_at: Time, created_at: Time, updated_at: Time },
    domains: Tenant, Both, [id] { id: Id, hostname: Text, kind: Text, status: Text, is_primary: Bool, created_at: Time, verified_at: Time, verification_token: Text, pending_since: Time, next_check_at: Time, last_checked_at: Time, check_error: Text, lost_at: Time, cname_target: Text, revision: Int },
    tenant_settings: Tenant, Both, [tenant_id] { display_name: Text, logo_url: Text, primary_color: Text, support_email: Text, updated_at: Time, support_url: Text, locale: Text, time_zone: Text, security: Text },
    users: Users, Both, [id] { id: Id, email: Text, email_normalized: Text, display_name: Text, status: Text, password_hash: Secret, created_at: Time, last_login_at: Time },
    user_identities: UserOwned, Both, [issuer, subject] { issuer: Text, subject: Text, user_id: Id, created_at: Time },
    user_totp: UserOwned, Operator, [user_id] { user_id: Id, secret: Text, created_at: Time, confirmed_at: Time, last_step: Int },
    person_keys: UserOwned, Operator, [user_id] { user_id: Id, sealed_key: Text, created_at: Time },
    address_keys: Addresses, Operator, [id] { id: Id, email_normalized: Text, sealed_key: Text, created_at: Time },
    recovery_codes: UserOwned, Operator, [user_id, digest] { user_id: Id, digest: Text, created_at: Time, used_at: Time },
    roles: Tenant, Both, [id] { id: Id, name: Text, permissions: Text, system_role: Text, created_at: Time, updated_at: Time },
    memberships: Tenant, Both, [user_id] { user_id: Id, role_id: Id, status: Text, created_at: Time },
    invitations: Tenant, Both, [id] { id: Id, email: Text, email_normalized: Text, role_id: Id, invited_by: Id, token_digest: Secret, created_at: Time, expires_at: Time, accepted_at: Time, revoked_at: Time, delivery: Text },
    api_keys: Tenant, Both, [id] { id: Id, name: Text, prefix: Text, secret_digest: Secret, permissions: Text, created_by: Id, created_at: Time, last_used_at: Time, expires_at: Time, revoked_at: Time },
    sso_providers: Tenant, Both, [id] { id: Id, name: Text, issuer: Text, client_id: Text, client_secret: Secret, scopes: Text, allowed_domains: Text, redirect_uris: Text, default_role: Text, jit: Bool, enforce: Bool, created_at: Time, updated_at: Time },
    scim_tokens: Tenant, Both, [id] { id: Id, name: Text, digest: Secret, default_role: Text, created_by: Id, created_at: Time, last_used_at: Time },
    scim_users: Tenant, Both, [id] { id: Id, user_name: Text, user_name_key: Text, external_id: Text, display_name: Text, given_name: Text, family_name: Text, formatted_name: Text, emails: Text, active: Bool, user_id: Id, created_at: Time, updated_at: Time },
    tenant_smtp: Tenant, Both, [tenant_id] { host: Text, port: Int, tls: Text, username: Text, password: Secret, from_address: Text, from_name: Text, created_at: Time, updated_at: Time },
    tenant_buckets: Tenant, Both, [id] { id: Id, endpoint: Text, region: Text, bucket: Text, access_key_id: Text, secret: Secret, is_current: Bool, created_at: Time },
    files: Tenant, Both, [id] { id: Id, name: Text, content_type: Text, size: Int, sha256: Text, created_by: Id, created_at: Time, location: Id },
    products: Tenant, Both, [id] { id: Id, name: Text, sku: Text, description: Text, price_minor: Int, currency: Text, status: Text, created_by: Id, created_at: Time, updated_at: Time },
    product_images: Tenant, Both, [product_id, file_id] { product_id: Id, file_id: Id, position: Int, attached_at: Time },
    projects: Tenant, Both, [id] { id: Id, name: Text, description: Text, archived: Bool, created_by: Id, created_at: Time, updated_at: Time },
    tasks: Tenant, Both, [id] { id: Id, project_id: Id, title: Text, notes: Text, is_done: Bool, due_date: Date, assignee_id: Id, created_by: Id, created_at: Time, updated_at: Time },
    events: Tenant, Both, [id] { id: Id, "type": Text, occurred_at: Time, payload: Text },
    webhook_endpoints: Tenant, Both, [id] { id: Id, url: Text, description: Text, event_types: Text, match_keys: Text, disabled_reason: Text, headers: Text, rate_limit: Int, secret: Secret, previous_secret: Secret, previous_secret_expires_at: Time, secret_rotated_at: Time, failing_since: Time, created_at: Time, updated_at: Time },
    webhook_attempts: Tenant, Both, [id] { id: Id, endpoint_id: Id, event_id: Id, event_type: Text, attempt: Int, trigger: Text, succeeded: Bool, status_code: Int, duration_ms: Int, response_body: Text, error: Text, attempted_at: Time },
    webhook_deliveries: Tenant, Operator, [endpoint_id, event_id] { endpoint_id: Id, event_id: Id, state: Text, trigger: Text, attempts: Int, next_attempt_at: Time, locked_by: Text, locked_until: Time, last_error: Text, created_at: Time, updated_at: Time },
    audit_heads: Tenant, Both, [tenant_id] { seq: Int, hash: Text },
    audit_entries: Tenant, Both, [seq] { seq: Int, id: Id, at: Time, actor_type: Text, actor_id: Id, api_key_id: Id, entity_type: Text, entity_id: Text, action: Text, changes: Text, request_id: Text, ip: Text, user_agent: Text, prev_hash: Text, hash: Text, impersonator_id: Id },
    tenant_quotas: Tenant, Both, [resource] { resource: Text, limit_value: Int, used: Int, overridden: Bool, updated_at: Time },
    usage_events: Tenant, Both, [transaction_id] { transaction_id: Text, metric: Text, occurred_at: Time, day: Text, value: Float, unique_key: Text, properties: Text, received_at: Time },
    usage_rollups: Tenant, Both, [metric, day, shard] { metric: Text, day: Text, shard: Int, events: Int, total: Float, maximum: Float, latest_at: Time, latest_id: Text, latest: Float },
    usage_uniques: Tenant, Both, [metric, period, unique_key] { metric: Text, period: Text, unique_key: Text },
}

/// Tables no archive carries, each with the reason (the guard rail reads this list).
pub const NOT_ARCHIVED: &[(&str, &str)] = &[
    (
        "tenant_keys",
        "carried as the `tenant_key` entity, re-wrapped by the importing instance",
    ),
    ("platform_keys", "the instance's own key"),
    ("platform_changes", "the instance's cache counters"),
    ("signing_keys", "the instance's token-signing key"),
    ("platform_admins", "the operator's staff, not the tenant's"),
    (
        "plans",
        "the operator's price list (an import needs the tenant's plan to exist)",
    ),
    ("billable_metrics", "the operator's metrics"),
    (
        "billing_events",
        "a provider's delivery ids, for de-duplication on this instance",
    ),
    (
        "jobs",
        "work in flight on this instance (an import queues none)",
    ),
    ("job_periods", "this instance's schedule"),
    (
        "exports",
        "this instance's downloads: their archives stay where they were written",
    ),
    (
        "backups",
        "this instance's copies of the tenant: a restore keeps the list as it is",
    ),
    (
        "refresh_tokens",
        "sessions end with a move: people sign in again",
    ),
    ("sessions", "sessions end with a move: people sign in again"),
    ("login_failures", "the login throttle's short memory"),
    ("mfa_tickets", "minutes-long steps of a sign-in"),
    ("sso_logins", "minutes-long steps of a sign-in"),
    ("sso_codes", "minutes-long steps of a sign-in"),
    (
        "tenant_deletions",
        "a pending deletion is this instance's: an archive of the tenant carries none",
    ),
    (
        "purges",
        "the certificates of tenants purged from this instance",
    ),
    (
        "security_events",
        "the platform's security log, not tied to the tenant",
    ),
];

/// What happened, not what is: a restore keeps these as they are (the backup's are an
/// earlier part of the same history) and appends `tenant restored` to the audit trail.
pub const RESTORE_KEEPS: &[&str] = &[
    "audit_heads",
    "audit_entries",
    "events",
    "webhook_attempts",
    "webhook_deliveries",
    "usage_events",
    "usage_rollups",
    "usage_uniques",
];

/// Columns of tenant tables that name a user: who else than members the archive carries.
const USER_REFERENCES: &[(&str, &str)] = &[
    ("memberships", "user_id"),
    ("invitations", "invited_by"),
    ("api_keys", "created_by"),
    ("scim_tokens", "created_by"),
    ("scim_users", "user_id"),
    ("files", "created_by"),
    ("products", "created_by"),
    ("projects", "created_by"),
    ("tasks", "created_by"),
    ("tasks", "assignee_id"),
];

/// Account-wide values that say nothing about the tenant (when someone last signed in,
/// to any tenant): like credentials, only operators' archives carry them.
const ACCOUNT_WIDE: &[(&str, &str)] = &[("users", "last_login_at")];

impl Table {
    fn columns(&self, kind: ArchiveKind) -> impl Iterator<Item = &(&'static str, Kind)> {
        self.columns.iter().filter(move |(c, k)| {
            kind == ArchiveKind::Operator
                || (*k != Kind::Secret && !ACCOUNT_WIDE.contains(&(self.name, *c)))
        })
    }

    fn carried_in(&self, kind: ArchiveKind) -> bool {
        kind == ArchiveKind::Operator || self.carried == Carried::Both
    }

    fn kind_of(&self, column: &str) -> Option<Kind> {
        self.columns
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, k)| *k)
    }

    /// The rows of `tenant` (its id inlined: a uuid, formatted here).
    fn filter(&self, tenant: TenantId) -> String {
        let users = || {
            USER_REFERENCES
                .iter()
                .map(|(t, c)| {
                    format!("SELECT {c} FROM {t} WHERE tenant_id = '{tenant}' AND {c} IS NOT NULL")
                })
                .collect::<Vec<_>>()
                .join(" UNION ")
        };
        match self.rows {
            Rows::TenantRow => format!("id = '{tenant}'"),
            Rows::Tenant => format!("tenant_id = '{tenant}'"),
            Rows::Users => format!("id IN ({})", users()),
            // A person's links to identity providers: only this tenant's providers (the
            // links to other tenants' are theirs).
            Rows::UserOwned if self.name == "user_identities" => format!(
                "user_id IN ({}) AND issuer IN \
                 (SELECT issuer FROM sso_providers WHERE tenant_id = '{tenant}')",
                users()
            ),
            Rows::UserOwned => format!("user_id IN ({})", users()),
            Rows::Addresses => format!(
                "email_normalized IN (SELECT email_normalized FROM invitations WHERE tenant_id = \
                 '{tenant}' UNION SELECT user_name_key FROM scim_users WHERE tenant_id = \
                 '{tenant}' UNION SELECT email_normalized FROM users WHERE id IN ({}))",
                users()
            ),
        }
    }

    fn select(&self, backend: Backend, kind: ArchiveKind, tenant: TenantId) -> String {
        let pairs = self
            .columns(kind)
            .map(|(c, _)| format!("'{c}', \"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = self.filter(tenant);
        let name = self.name;
        match backend {
            Backend::Postgres => {
                let key = self.key.join(", ");
                format!(
                    "DECLARE archive_rows NO SCROLL CURSOR FOR SELECT \
                     json_build_object({pairs})::text AS row FROM {name} WHERE {filter} \
                     ORDER BY {key}"
                )
            }
            // Keyset on the key (its index): `{after}` is replaced per page, by nothing or
            // by a comparison with the previous page's last row (bound as its JSON).
            Backend::Sqlite => {
                let key = self.key.join(", ");
                format!(
                    "SELECT json_object({pairs}) AS row FROM {name} \
                     WHERE {filter}{{after}} ORDER BY {key} LIMIT {PAGE}"
                )
            }
        }
    }

    fn insert(&self, backend: Backend, tenant: TenantId) -> String {
        let scoped = self.rows == Rows::Tenant;
        let mut names: Vec<String> = self
            .columns
            .iter()
            .map(|(c, _)| format!("\"{c}\""))
            .collect();
        let name = self.name;
        let keep = if matches!(self.rows, Rows::Users | Rows::UserOwned | Rows::Addresses) {
            " ON CONFLICT DO NOTHING"
        } else {
            ""
        };
        match backend {
            Backend::Postgres => {
                let mut values = names.clone();
                if scoped {
                    names.push("tenant_id".to_owned());
                    values.push(format!("'{tenant}'::uuid"));
                }
                format!(
                    "INSERT INTO {name} ({}) SELECT {} FROM json_populate_recordset(NULL::{name}, $1::json){keep}",
                    names.join(", "),
                    values.join(", ")
                )
            }
            Backend::Sqlite => {
                let mut values: Vec<String> = self
                    .columns
                    .iter()
                    .map(|(c, _)| format!("json_extract(value, '$.\"{c}\"')"))
                    .collect();
                if scoped {
                    names.push("tenant_id".to_owned());
                    values.push(format!("'{tenant}'"));
                }
                format!(
                    "INSERT INTO {name} ({}) SELECT {} FROM json_each(?) WHERE true{keep}",
                    names.join(", "),
                    values.join(", ")
                )
            }
        }
    }
}

const PAGE: usize = 1_000;

impl Table {
    /// SQLite: the rows after the one whose JSON is bound as the first parameter.
    fn after_last(&self) -> String {
        let key = self.key.join(", ");
        let last = self
            .key
            .iter()
            .map(|k| format!("json_extract(?1, '$.\"{k}\"')"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(" AND ({key}) > ({last})")
    }
}

fn table(entity: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == entity)
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row: String,
}

/// RFC 3339, UTC, microseconds: how every archive writes a time.
fn canonical_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A time as either backend gives it (PostgreSQL's JSON, diesel's SQLite text), or as an
/// archive holds it.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// A value read from the database, made canonical.
fn outgoing(kind: Kind, value: Value) -> Result<Value, String> {
    Ok(match (kind, value) {
        (_, Value::Null) => Value::Null,
        (Kind::Time, Value::String(s)) => {
            Value::String(canonical_time(parse_time(&s).ok_or(format!("time {s}"))?))
        }
        (Kind::Bool, Value::Number(n)) => Value::Bool(n.as_i64() != Some(0)),
        (_, v) => v,
    })
}

/// A value from an archive, checked against its column and written as `backend` stores it.
fn incoming(kind: Kind, value: Value, backend: Backend) -> Result<Value, String> {
    let ok = match (kind, &value) {
        (_, Value::Null) => true,
        (Kind::Id, Value::String(s)) => uuid::Uuid::parse_str(s).is_ok(),
        (Kind::Text | Kind::Secret, Value::String(_)) => true,
        (Kind::Int, Value::Number(n)) => n.is_i64(),
        (Kind::Float, Value::Number(_)) => true,
        (Kind::Bool, Value::Bool(_)) => true,
        (Kind::Date, Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        (Kind::Time, Value::String(s)) => {
            let t = parse_time(s).ok_or(format!("time {s}"))?;
            return Ok(Value::String(match backend {
                Backend::Postgres => canonical_time(t),
                // What diesel writes, so that SQLite's text comparisons keep their order.
                Backend::Sqlite => t.format("%F %T%.f%:z").to_string(),
            }));
        }
        _ => false,
    };
    if !ok {
        return Err(format!("{value} is not a {kind:?}"));
    }
    Ok(match (kind, value) {
        (Kind::Id, Value::String(s)) => Value::String(s.to_ascii_lowercase()),
        (_, v) => v,
    })
}

/// One part's rows, checked and converted for its INSERT (which reads them as a JSON array).
fn incoming_rows(
    table: &Table,
    lines: &[u8],
    backend: Backend,
    tenant: TenantId,
) -> Result<Vec<Value>, ImportError> {
    let rejected = |detail: String| ImportError::Rejected {
        entity: table.name.to_owned(),
        detail,
    };
    let mut out = Vec::<Value>::new();
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let row: Map<String, Value> =
            serde_json::from_slice(line).map_err(|e| rejected(format!("a row: {e}")))?;
        let mut converted = Map::new();
        for (column, value) in row {
            let kind = table
                .kind_of(&column)
                .ok_or_else(|| rejected(format!("unknown column {column}")))?;
            let value =
                incoming(kind, value, backend).map_err(|e| rejected(format!("{column}: {e}")))?;
            converted.insert(column, value);
        }
        if table.rows == Rows::TenantRow {
            converted.insert("id".to_owned(), Value::String(tenant.to_string()));
        }
        out.push(Value::Object(converted));
    }
    Ok(out)
}

fn user_of(row: &Value, column: &str) -> String {
    row.get(column)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Dumps every table into `out` on an open read transaction (`$conn`).
macro_rules! dump_body {
    ($conn:ident, $backend:expr, $tenant:expr, $kind:expr, $out:expr) => {{
        let (backend, tenant, kind, out): (Backend, TenantId, ArchiveKind, &mpsc::Sender<RowPart>) =
            ($backend, $tenant, $kind, $out);
        let closed = || StoreError::Connection("the archive stopped reading".to_owned());
        if backend == Backend::Postgres {
            // One snapshot for every table (READ COMMITTED would give each cursor its own).
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute($conn)
                .await?;
        }
        for table in TABLES.iter().filter(|t| t.carried_in(kind)) {
            let entity = table.name.to_owned();
            out.send(RowPart {
                entity: entity.clone(),
                lines: Vec::new(),
                rows: 0,
            })
            .await
            .map_err(|_| closed())?;
            let select = table.select(backend, kind, tenant);
            if backend == Backend::Postgres {
                diesel::sql_query(select.clone()).execute($conn).await?;
            }
            let mut last: Option<String> = None;
            let (mut lines, mut rows) = (Vec::new(), 0u64);
            loop {
                let page: Vec<JsonRow> = match (backend, &last) {
                    (Backend::Postgres, _) => {
                        diesel::sql_query(format!("FETCH FORWARD {PAGE} FROM archive_rows"))
                            .load($conn)
                            .await?
                    }
                    (Backend::Sqlite, None) => {
                        diesel::sql_query(select.replace("{after}", ""))
                            .load($conn)
                            .await?
                    }
                    (Backend::Sqlite, Some(row)) => {
                        diesel::sql_query(select.replace("{after}", &table.after_last()))
                            .bind::<Text, _>(row)
                            .load($conn)
                            .await?
                    }
                };
                let done = page.len() < PAGE;
                if let Some(r) = page.last() {
                    last = Some(r.row.clone());
                }
                for r in page {
                    let raw: Map<String, Value> = serde_json::from_str(&r.row)
                        .map_err(|e| StoreError::Corrupt(format!("{entity}: {e}")))?;
                    let mut row = Map::new();
                    for (column, value) in raw {
                        let k = table.kind_of(&column).unwrap_or(Kind::Text);
                        let v = outgoing(k, value)
                            .map_err(|e| StoreError::Corrupt(format!("{entity}.{column}: {e}")))?;
                        row.insert(column, v);
                    }
                    serde_json::to_writer(&mut lines, &row)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    lines.push(b'\n');
                    rows += 1;
                    if rows as usize >= PART_ROWS || lines.len() >= PART_BYTES {
                        let part = RowPart {
                            entity: entity.clone(),
                            lines: std::mem::take(&mut lines),
                            rows,
                        };
                        out.send(part).await.map_err(|_| closed())?;
                        rows = 0;
                    }
                }
                if done {
                    break;
                }
            }
            if rows > 0 {
                out.send(RowPart {
                    entity: entity.clone(),
                    lines,
                    rows,
                })
                .await
                .map_err(|_| closed())?;
            }
            if backend == Backend::Postgres {
                diesel::sql_query("CLOSE archive_rows")
                    .execute($conn)
                    .await?;
            }
        }
        Ok(())
    }};
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    found: String,
    #[diesel(sql_type = Text)]
    other: String,
}

/// An SQL string literal.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| quote(v))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ArchiveStore for Db {
    async fn archived_tenant(&self, key: &str) -> Result<Option<TenantRef>, Unexpected> {
        let id = key.parse::<TenantId>().ok();
        let slug = key.to_owned();
        let row: Option<(crate::types::DbUuid, String, String)> =
            tx!(self, read, tenant = None, |conn| {
                use diesel::{ExpressionMethods as _, OptionalExtension as _, QueryDsl as _};
                let q = tenants::table.select((tenants::id, tenants::slug, tenants::name));
                Ok(match id {
                    Some(id) => q
                        .filter(tenants::id.eq(crate::types::DbUuid::from(id)))
                        .first(conn)
                        .await
                        .optional()?,
                    None => q
                        .filter(tenants::slug.eq(&slug))
                        .first(conn)
                        .await
                        .optional()?,
                })
            })?;
        Ok(row.map(|(id, slug, name)| TenantRef {
            id: TenantId::from_uuid(id.0),
            slug,
            name,
        }))
    }

    async fn dump(
        &self,
        tenant: TenantId,
        kind: ArchiveKind,
        out: mpsc::Sender<RowPart>,
    ) -> Result<(), Unexpected> {
        let backend = self.backend();
        let dumped: Result<(), StoreError> = tx!(self, read, tenant = Some(tenant), |conn| {
            dump_body!(conn, backend, tenant, kind, &out)
        });
        Ok(dumped?)
    }

    async fn import_conflicts(&self, check: &ImportCheck) -> Result<Vec<ImportError>, Unexpected> {
        let mut queries: Vec<(&'static str, String)> = Vec::new();
        // A restore's own tenant holds its slug, domains and id: no conflict.
        let others = |column: &str| match check.replacing {
            Some(r) => format!(" AND CAST({column} AS TEXT) <> '{r}'"),
            None => String::new(),
        };
        if let Some(t) = check.tenant.filter(|_| check.replacing.is_none()) {
            queries.push((
                "tenant",
                format!(
                    "SELECT CAST(id AS TEXT) AS found, '' AS other FROM tenants WHERE id = '{t}'"
                ),
            ));
        }
        queries.push((
            "slug",
            format!(
                "SELECT slug AS found, '' AS other FROM tenants WHERE slug = {}{}",
                quote(&check.slug),
                others("id")
            ),
        ));
        if !check.hostnames.is_empty() {
            queries.push((
                "domain",
                format!(
                    "SELECT hostname AS found, '' AS other FROM domains WHERE hostname IN ({}){}",
                    quoted(&check.hostnames),
                    others("tenant_id")
                ),
            ));
        }
        for (id, email) in &check.users {
            queries.push((
                "user",
                format!(
                    "SELECT email_normalized AS found, CAST(id AS TEXT) AS other FROM users \
                     WHERE email_normalized = {} AND CAST(id AS TEXT) <> {}",
                    quote(email),
                    quote(&id.to_ascii_lowercase())
                ),
            ));
        }
        let mut conflicts = Vec::new();
        if let Err(e) = tenantry_tenancy::Slug::parse(&check.slug) {
            conflicts.push(ImportError::InvalidSlug(check.slug.clone(), e.to_string()));
        }
        for (what, sql) in queries {
            let found: Vec<Found> =
                run!(self, read, |conn| diesel::sql_query(&sql).load(conn).await)
                    .map_err(StoreError::from)?;
            for f in found {
                conflicts.push(match what {
                    "tenant" => ImportError::TenantExists(f.found),
                    "slug" => ImportError::SlugTaken(f.found),
                    "domain" => ImportError::DomainTaken(f.found),
                    _ => {
                        let archived = check
                            .users
                            .iter()
                            .find(|(_, e)| *e == f.found)
                            .map(|(id, _)| id.clone())
                            .unwrap_or_default();
                        ImportError::UserConflict {
                            email: f.found,
                            existing: f.other,
                            archived,
                        }
                    }
                });
            }
        }
        for plan in &check.plans {
            let sql = format!(
                "SELECT code AS found, '' AS other FROM plans WHERE code = {}",
                quote(plan)
            );
            let found: Vec<Found> =
                run!(self, read, |conn| diesel::sql_query(&sql).load(conn).await)
                    .map_err(StoreError::from)?;
            if found.is_empty() {
                conflicts.push(ImportError::PlanUnknown(plan.clone()));
            }
        }
        Ok(conflicts)
    }

    async fn load(
        &self,
        ctx: &TenantCtx,
        plan: &LoadPlan,
        mut rows: mpsc::Receiver<Incoming>,
    ) -> Result<LoadReport, ImportError> {
        let backend = self.backend();
        let tenant = ctx.tenant_id();
        let mut report: LoadReport = Vec::new();
        let mut failure: Option<ImportError> = None;
        let person = self
            .person_of(ctx)
            .await
            .map_err(|e| ImportError::Unexpected(e.into()))?;
        let loaded: Result<((), crate::pipeline::Sealed), StoreError> = tx!(
            @scoped self, write, crate::db::Scope::Tenant(tenant), |conn| {
                let mut ended = false;
                let mut kept = std::collections::HashSet::<String>::new();
                if plan.replace {
                    // A restore: the tenant's rows go first (its record and the accounts
                    // stay), in the reverse of the order that satisfies foreign keys.
                    for t in TABLES
                        .iter()
                        .rev()
                        .filter(|t| t.rows == Rows::Tenant && !RESTORE_KEEPS.contains(&t.name))
                    {
                        diesel::sql_query(format!("DELETE FROM {} WHERE tenant_id = '{tenant}'", t.name))
                            .execute(conn)
                            .await?;
                    }
                    use diesel::ExpressionMethods as _;
                    crate::tenancy::bump_access_version!(conn);
                }
                while let Some(message) = rows.recv().await {
                    let part = match message {
                        Incoming::End => {
                            ended = true;
                            break;
                        }
                        Incoming::Rows(part) => part,
                    };
                    let kept_as_is = part.entity == "tenants" || RESTORE_KEEPS.contains(&part.entity.as_str());
                    if part.rows == 0 || (plan.replace && kept_as_is) {
                        continue;
                    }
                    let Some(table) = table(&part.entity) else {
                        failure = Some(ImportError::Rejected {
                            entity: part.entity.clone(),
                            detail: "not an entity this version knows".to_owned(),
                        });
                        return Err(StoreError::Corrupt("rejected".to_owned()));
                    };
                    let mut values = match incoming_rows(table, &part.lines, backend, tenant) {
                        Ok(x) => x,
                        Err(e) => {
                            failure = Some(e);
                            return Err(StoreError::Corrupt("rejected".to_owned()));
                        }
                    };
                    match table.rows {
                        // Accounts already here are kept as they are, and so are their
                        // second factors, recovery codes and identity links.
                        Rows::Users => {
                            let ids: Vec<String> = values.iter().map(|v| user_of(v, "id")).collect();
                            let sql = format!(
                                "SELECT CAST(id AS TEXT) AS found, '' AS other FROM users \
                                 WHERE CAST(id AS TEXT) IN ({})",
                                quoted(&ids)
                            );
                            let found: Vec<Found> = diesel::sql_query(sql).load(conn).await?;
                            kept.extend(found.into_iter().map(|f| f.found));
                        }
                        Rows::UserOwned => values.retain(|v| !kept.contains(&user_of(v, "user_id"))),
                        _ => {}
                    }
                    let n = values.len() as u64;
                    let json = Value::Array(values).to_string();
                    let inserted = diesel::sql_query(table.insert(backend, tenant))
                        .bind::<Text, _>(json)
                        .execute(conn)
                        .await;
                    if let Err(e) = inserted {
                        failure = Some(ImportError::Rejected {
                            entity: table.name.to_owned(),
                            detail: e.to_string(),
                        });
                        return Err(e.into());
                    }
                    match report.iter_mut().find(|(e, _)| *e == table.name) {
                        Some((_, count)) => *count += n,
                        None => report.push((table.name.to_owned(), n)),
                    }
                }
                if !ended {
                    return Err(StoreError::Corrupt("the archive ended before its manifest".to_owned()));
                }
                if let Some(key) = &plan.data_key {
                    use base64::Engine as _;
                    use diesel::ExpressionMethods as _;
                    diesel::insert_into(tenant_keys::table)
                        .values((
                            tenant_keys::tenant_id.eq(crate::types::DbUuid::from(tenant)),
                            tenant_keys::kek_id.eq(&key.kek_id),
                            tenant_keys::wrapped.eq(base64::engine::general_purpose::STANDARD.encode(&key.wrapped)),
                            tenant_keys::created_at.eq(chrono::Utc::now()),
                        ))
                        .execute(conn)
                        .await?;
                }
                {
                    use diesel::ExpressionMethods as _;
                    crate::tenancy::bump_tenancy_version!(conn);
                }
                audited!(conn, ctx, &person, |log| {
                    log.note("tenant", tenant.to_string(), plan.action, plan.details.clone());
                    Ok(())
                })
            }
        );
        match loaded {
            Ok(_) => Ok(report),
            Err(e) => Err(failure.unwrap_or_else(|| ImportError::Unexpected(e.into()))),
        }
    }
}

/// Where the live schema (table → columns) and the catalogue disagree.
#[cfg(feature = "testing")]
pub(crate) fn catalogue_gaps(live: &[(String, Vec<String>)]) -> Vec<String> {
    let mut out = vec![];
    for (name, columns) in live {
        let Some(table) = table(name) else {
            if !NOT_ARCHIVED.iter().any(|(t, _)| t == name) {
                out.push(format!(
                    "{name}: not in the archives' catalogue (store/src/archive.rs) nor in NOT_ARCHIVED"
                ));
            }
            continue;
        };
        let implicit = |c: &str| c == "tenant_id" && table.rows == Rows::Tenant;
        for c in columns.iter().filter(|c| !implicit(c)) {
            if table.kind_of(c).is_none() {
                out.push(format!("{name}.{c}: a column the archives do not carry"));
            }
        }
        for (c, _) in table.columns {
            if !columns.iter().any(|l| l == c) {
                out.push(format!(
                    "{name}.{c}: in the catalogue but not in the schema"
                ));
            }
        }
    }
    for t in TABLES {
        if !live.iter().any(|(name, _)| name == t.name) {
            out.push(format!(
                "{}: in the catalogue but not in the schema",
                t.name
            ));
        }
    }
    out
}
