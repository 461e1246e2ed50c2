//! What `tenantry tenant validate` reads: a tenant's facts in one transaction, and which
//! tenant-owned tables row-level security does not guard.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::RunQueryDsl;
use tenantry_kernel::{TenantId, Unexpected};
use tenantry_lifecycle::{HealthReads, TenantFacts};

use crate::db::{Backend, Db};
use crate::error::StoreError;

/// Tables without a tenant, reviewed one by one: platform data, or data read before a
/// tenant is known. Anything else must be tenant-owned.
pub const PLATFORM_TABLES: &[(&str, &str)] = &[
    ("tenants", "the tenants themselves"),
    (
        "domains",
        "host → tenant resolution happens before a tenant is known",
    ),
    (
        "platform_changes",
        "cross-instance cache invalidation counter",
    ),
    (
        "users",
        "people are platform-wide; memberships tie them to tenants",
    ),
    (
        "refresh_tokens",
        "sessions belong to a person, not a tenant",
    ),
    (
        "login_failures",
        "the login throttle runs before a tenant is known",
    ),
    ("signing_keys", "the token-signing key of the platform"),
    ("platform_admins", "the operator's staff"),
    (
        "job_periods",
        "which periods' scheduled jobs were queued: the schedule's memory across workers",
    ),
    (
        "jobs",
        "the queue workers claim across tenants; a row holds ids, never tenant data",
    ),
    (
        "webhook_deliveries",
        "the delivery queue dispatchers claim across tenants (fairly); a row holds ids and \
         schedule, never tenant data",
    ),
    (
        "tenant_keys",
        "each tenant's data key, wrapped by a master key the database never holds; a \
         rotation re-wraps across tenants",
    ),
    (
        "platform_keys",
        "the platform's own data key (users' TOTP secrets), wrapped like the tenants'",
    ),
    (
        "sessions",
        "a person's logins, listed and ended by that person across tenants",
    ),
    (
        "user_totp",
        "a person's second factor, used before a tenant is known",
    ),
    ("recovery_codes", "a person's one-time MFA recovery codes"),
    (
        "address_keys",
        "keys of e-mail addresses the tenants' records are about (invitees, directory users), \
         deleted when the account with the address is erased",
    ),
    (
        "person_keys",
        "a person's key for their personal fields in every tenant's audit trail and the \
         security log; deleted with the account",
    ),
    (
        "mfa_tickets",
        "the step between a password and a second factor, before a tenant is known",
    ),
    (
        "sso_logins",
        "an SSO sign-in under way, found by its state when the browser returns to the one \
         callback of every tenant",
    ),
    (
        "sso_codes",
        "the one-time codes a client exchanges for a session, before a tenant is known",
    ),
    (
        "user_identities",
        "which identity provider's subject is which person (people are platform-wide)",
    ),
    ("plans", "the operator's price list, shared by every tenant"),
    (
        "billing_events",
        "a billing provider's event ids, received before their tenant is known",
    ),
    (
        "billable_metrics",
        "the operator's metrics, shared by every tenant",
    ),
    (
        "subscriptions",
        "read by the request gate for every tenant and swept across tenants by the schedule; \
         one row per tenant, keyed by it",
    ),
    (
        "security_events",
        "account events without a tenant (platform security log)",
    ),
    (
        "purges",
        "the certificates of purged tenants: what stays once a tenant is gone",
    ),
];

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Nullable<Text>)]
    b: Option<String>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct QuotaRow {
    #[diesel(sql_type = Text)]
    resource: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    limit_value: Option<i64>,
    #[diesel(sql_type = BigInt)]
    used: i64,
    #[diesel(sql_type = Bool)]
    overridden: bool,
}

impl HealthReads for Db {
    async fn tenant_facts(&self, key: &str) -> Result<Option<(TenantId, TenantFacts)>, Unexpected> {
        let Some(tenant) = tenantry_archive::ArchiveStore::archived_tenant(self, key).await? else {
            return Ok(None);
        };
        let t = tenant.id;
        let facts: Result<TenantFacts, StoreError> = tx!(self, read, tenant = Some(t), |conn| {
            let owners: Count = diesel::sql_query(format!(
                "SELECT count(*) AS n FROM memberships m
                 JOIN roles r ON r.tenant_id = m.tenant_id AND r.id = m.role_id
                 JOIN users u ON u.id = m.user_id
                 WHERE m.tenant_id = '{t}' AND r.system_role = 'owner'
                   AND m.status = 'active' AND u.status = 'active'"
            ))
            .get_result(conn)
            .await?;
            let roles: Vec<One> = diesel::sql_query(format!(
                "SELECT system_role AS a, NULL AS b FROM roles
                 WHERE tenant_id = '{t}' AND system_role IS NOT NULL"
            ))
            .load(conn)
            .await?;
            let domain: Vec<One> = diesel::sql_query(format!(
                "SELECT hostname AS a, status AS b FROM domains WHERE tenant_id = '{t}' AND is_primary"
            ))
            .load(conn)
            .await?;
            let plan: Vec<One> = diesel::sql_query(format!(
                "SELECT p.code AS a, p.quotas AS b FROM subscriptions s
                 JOIN plans p ON p.code = s.plan WHERE s.tenant_id = '{t}'"
            ))
            .load(conn)
            .await?;
            let quotas: Vec<QuotaRow> = diesel::sql_query(format!(
                "SELECT resource, limit_value, used, overridden FROM tenant_quotas
                 WHERE tenant_id = '{t}' ORDER BY resource"
            ))
            .load(conn)
            .await?;
            let dead: Count = diesel::sql_query(format!(
                "SELECT count(*) AS n FROM jobs WHERE tenant_id = '{t}' AND state = 'dead'"
            ))
            .get_result(conn)
            .await?;
            Ok(TenantFacts {
                slug: tenant.slug.clone(),
                active_owners: u64::try_from(owners.n).unwrap_or(0),
                system_roles: roles.into_iter().map(|r| r.a).collect(),
                primary_domain: domain
                    .into_iter()
                    .next()
                    .map(|d| (d.a, d.b.unwrap_or_default())),
                plan: plan
                    .into_iter()
                    .next()
                    .map(|p| (p.a, p.b.unwrap_or_default())),
                quotas: quotas
                    .into_iter()
                    .map(|q| (q.resource, q.limit_value, q.used, q.overridden))
                    .collect(),
                dead_jobs: u64::try_from(dead.n).unwrap_or(0),
            })
        });
        Ok(Some((t, facts?)))
    }

    async fn unguarded_tables(&self) -> Result<Option<Vec<String>>, Unexpected> {
        if self.backend() == Backend::Sqlite {
            return Ok(None);
        }
        let platform = PLATFORM_TABLES
            .iter()
            .map(|(t, _)| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT c.relname::text AS a, NULL AS b FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r'
               AND c.relname NOT IN ({platform})
               AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                           AND a.attname = 'tenant_id' AND NOT a.attisdropped)
               AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity
                    OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
             ORDER BY 1"
        );
        let rows: Vec<One> = run!(self, read, |conn| diesel::sql_query(&sql)
            .load(conn)
            .await
            .map_err(StoreError::from)?);
        Ok(Some(rows.into_iter().map(|r| r.a).collect()))
    }

    async fn tenant_slugs(&self) -> Result<Vec<String>, Unexpected> {
        let rows: Vec<One> = run!(self, read, |conn| {
            diesel::sql_query("SELECT slug AS a, NULL AS b FROM tenants ORDER BY created_at, id")
                .load(conn)
                .await
        })
        .map_err(StoreError::from)?;
        Ok(rows.into_iter().map(|r| r.a).collect())
    }
}
