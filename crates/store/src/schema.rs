//! The tables, declared once and instantiated per backend with that backend's id and
//! timestamp SQL types. Query bodies `use` one module or the other (see `run!`).
//!
//! Platform tables are plain diesel tables. Tenant-owned tables are declared inside a private
//! `raw` module: store code sees only the wrapper module [`tenant_owned!`] generates for each,
//! which exports the columns *except* `tenant_id` and offers exactly these ways in:
//!
//! - `of(ctx)` — the tenant's rows (select, update, delete start here);
//! - `insert(ctx, values)` / `insert_many(ctx, rows)` — `tenant_id` taken from the context;
//! - `on(ctx, condition)` — a join target carrying the same tenant predicate;
//! - `unscoped(&CrossTenant)` / `tenant_id(&CrossTenant)` — the explicit cross-tenant path,
//!   only with a capability value (a user-, invitation- or API-key-scoped transaction, or
//!   platform administration).
//!
//! So a query that forgets the tenant does not compile: there is no `products::table` or
//! `products::tenant_id` to write it with, and an update cannot set `tenant_id`.

/// Generates the wrapper module of a tenant-owned table (see the module docs).
macro_rules! tenant_owned {
    ($table:ident { $($col:ident),* $(,)? }) => {
        #[allow(dead_code)]
        pub(crate) mod $table {
            use diesel::prelude::*;
            use super::raw::$table as t;
            #[allow(unused_imports)]
            pub(crate) use t::{all_columns, $($col),*};
            use $crate::types::DbUuid;
            use $crate::db::CrossTenant;
            use tenantry_kernel::TenantCtx;

            type TenantIs = diesel::dsl::Eq<t::tenant_id, DbUuid>;
            /// The tenant's rows of this table.
            pub(crate) type Scoped = diesel::dsl::Filter<t::table, TenantIs>;

            fn tenant_is(ctx: &TenantCtx) -> TenantIs {
                t::tenant_id.eq(DbUuid::from(ctx.tenant_id()))
            }

            /// The tenant's rows: the start of every select, update and delete.
            pub(crate) fn of(ctx: &TenantCtx) -> Scoped {
                t::table.filter(tenant_is(ctx))
            }

            /// An insert whose `tenant_id` comes from the context.
            pub(crate) fn insert<V>(
                ctx: &TenantCtx,
                values: V,
            ) -> diesel::query_builder::InsertStatement<
                t::table,
                <(TenantIs, V) as diesel::Insertable<t::table>>::Values,
            >
            where
                (TenantIs, V): diesel::Insertable<t::table>,
            {
                diesel::insert_into(t::table).values((tenant_is(ctx), values))
            }

            /// A multi-row insert whose `tenant_id` comes from the context.
            pub(crate) fn insert_many<V>(
                ctx: &TenantCtx,
                rows: impl IntoIterator<Item = V>,
            ) -> diesel::query_builder::InsertStatement<
                t::table,
                <Vec<(TenantIs, V)> as diesel::Insertable<t::table>>::Values,
            >
            where
                Vec<(TenantIs, V)>: diesel::Insertable<t::table>,
            {
                let rows: Vec<(TenantIs, V)> =
                    rows.into_iter().map(|v| (tenant_is(ctx), v)).collect();
                diesel::insert_into(t::table).values(rows)
            }

            /// This table as a join target: `condition` plus the tenant predicate.
            pub(crate) fn on<C>(
                ctx: &TenantCtx,
                condition: C,
            ) -> diesel::dsl::On<
                t::table,
                diesel::dsl::And<TenantIs, C, diesel::sql_types::Bool>,
            >
            where
                C: diesel::Expression<SqlType = diesel::sql_types::Bool>,
            {
                t::table.on(tenant_is(ctx).and(condition))
            }

            /// Every tenant's rows: only with a cross-tenant capability.
            pub(crate) fn unscoped(_: &CrossTenant) -> t::table {
                t::table
            }

            /// The tenant column, for cross-tenant joins: only with a capability.
            pub(crate) fn tenant_id(_: &CrossTenant) -> t::tenant_id {
                t::tenant_id
            }
        }
    };
}

macro_rules! backend_schema {
    () => {
        include!("platform_tables.rs");

        mod raw {
            include!("tenant_tables.rs");

            use super::{domains, tenants, users};
            diesel::joinable!(tenant_settings -> tenants (tenant_id));
            diesel::joinable!(memberships -> users (user_id));
            diesel::allow_tables_to_appear_in_same_query!(
                tenants,
                domains,
                users,
                tenant_settings,
                roles,
                memberships,
                invitations,
                api_keys,
                sso_providers,
                scim_tokens,
                scim_users,
                tenant_smtp,
                audit_heads,
                audit_entries,
                products,
                files,
                tenant_buckets,
                exports,
                backups,
                tenant_deletions,
                product_images,
                projects,
                tasks,
                events,
                webhook_endpoints,
                webhook_attempts,
                tenant_quotas,
                usage_events,
                usage_rollups,
                usage_uniques,
            );
        }

        diesel::joinable!(domains -> tenants (tenant_id));
        diesel::joinable!(refresh_tokens -> users (user_id));
        diesel::allow_tables_to_appear_in_same_query!(refresh_tokens, users, sessions);
        diesel::joinable!(subscriptions -> plans (plan));
        diesel::allow_tables_to_appear_in_same_query!(subscriptions, plans);

        tenant_owned!(tenant_settings {
            display_name, logo_url, primary_color, support_email, updated_at, support_url, locale,
            time_zone, security
        });
        tenant_owned!(roles { id, name, permissions, system_role, created_at, updated_at });
        tenant_owned!(memberships { user_id, role_id, status, created_at });
        tenant_owned!(invitations {
            id, email, email_normalized, role_id, invited_by, token_digest, created_at,
            expires_at, accepted_at, revoked_at, delivery
        });
        tenant_owned!(sso_providers {
            id, name, issuer, client_id, client_secret, scopes, allowed_domains, redirect_uris,
            default_role, jit, enforce, created_at, updated_at
        });
        tenant_owned!(tenant_smtp {
            host, port, tls, username, password, from_address, from_name, created_at, updated_at
        });
        tenant_owned!(scim_tokens {
            id, name, digest, default_role, created_by, created_at, last_used_at
        });
        tenant_owned!(scim_users {
            id, user_name, user_name_key, external_id, display_name, given_name, family_name,
            formatted_name, emails, active, user_id, created_at, updated_at
        });
        tenant_owned!(api_keys {
            id, name, prefix, secret_digest, permissions, created_by, created_at, last_used_at,
            expires_at, revoked_at
        });
        tenant_owned!(audit_heads { seq, hash });
        tenant_owned!(audit_entries {
            seq, id, at, actor_type, actor_id, api_key_id, entity_type, entity_id, action,
            changes, request_id, ip, user_agent, prev_hash, hash, impersonator_id
        });
        tenant_owned!(products {
            id, name, sku, description, price_minor, currency, status, created_by, created_at,
            updated_at
        });
        tenant_owned!(files {
            id, name, content_type, size, sha256, created_by, created_at, location
        });
        tenant_owned!(tenant_buckets {
            id, endpoint, region, bucket, access_key_id, secret, is_current, created_at
        });
        tenant_owned!(product_images { product_id, file_id, position, attached_at });
        tenant_owned!(backups {
            id, created_at, size, sha256, row_count, file_count, identity
        });
        tenant_owned!(tenant_deletions { requested_by, requested_at, purge_after, purge_started_at });
        tenant_owned!(exports {
            id, status, recipients, requested_by, created_at, started_at, completed_at,
            expires_at, rows_written, files_written, size, sha256, error
        });
        tenant_owned!(events { id, event_type, occurred_at, payload });
        tenant_owned!(webhook_endpoints {
            id, url, description, event_types, match_keys, disabled_reason, headers, rate_limit,
            secret, previous_secret, previous_secret_expires_at, secret_rotated_at, failing_since,
            created_at, updated_at
        });
        tenant_owned!(webhook_attempts {
            id, endpoint_id, event_id, event_type, attempt, trigger, succeeded, status_code,
            duration_ms, response_body, error, attempted_at
        });
        tenant_owned!(tenant_quotas { resource, limit_value, used, overridden, updated_at });
        tenant_owned!(usage_events {
            transaction_id, metric, occurred_at, day, value, unique_key, properties, received_at
        });
        tenant_owned!(usage_rollups {
            metric, day, shard, events, total, maximum, latest_at, latest_id, latest
        });
        tenant_owned!(usage_uniques { metric, period, unique_key });
        tenant_owned!(projects { id, name, description, archived, created_by, created_at, updated_at });
        tenant_owned!(tasks {
            id, project_id, title, notes, is_done, due_date, assignee_id, created_by, created_at,
            updated_at
        });
    };
}

/// A full-text condition on a searchable table: the same type on both backends, different
/// SQL (the explicit per-backend part of full-text search). Unlike a raw `sql` literal it is
/// safe to cache as a prepared statement (its text depends only on the table; the query is a
/// bind parameter), so a search is prepared once per connection and can take the one-trip
/// read (decision 0052).
#[derive(Debug, Clone)]
pub(crate) struct FtsMatch {
    table: &'static str,
    key: &'static str,
    /// The backend's query text: a `simple` tsquery or an FTS5 expression.
    query: String,
    /// How PostgreSQL is to read the matches (decision 0070); SQLite has one way.
    shape: crate::SearchShape,
}

impl diesel::expression::Expression for FtsMatch {
    type SqlType = diesel::sql_types::Bool;
}

impl<QS> diesel::expression::AppearsOnTable<QS> for FtsMatch {}

impl<QS> diesel::expression::SelectableExpression<QS> for FtsMatch {}

impl diesel::expression::ValidGrouping<()> for FtsMatch {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl diesel::query_builder::QueryId for FtsMatch {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// `<table>.search_vector` (generated, GIN-indexed) against a prefix tsquery, in one of three
/// forms, one statement text each ([`crate::SearchShape`]):
/// - planned per value: `@@ to_tsquery('simple', $n)`, a constant PostgreSQL estimates;
/// - through the index: `@@ (SELECT to_tsquery('simple', $n))`. The sub-select is run once
///   per execution; written as a call, a generic plan would parse the query again on every
///   row it tests;
/// - in list order: `pg_catalog.ts_match_vq(…, (SELECT …))`, the function behind `@@`. No index
///   serves a function call, so the plan reads in the sort's own order and tests each row.
impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for FtsMatch {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        use crate::SearchShape;
        let (start, query, end) = match self.shape {
            SearchShape::PerValue => (".search_vector @@ ", "to_tsquery('simple', ", ")"),
            SearchShape::Index => (".search_vector @@ ", "(SELECT to_tsquery('simple', ", "))"),
            SearchShape::ListOrder => (".search_vector, ", "(SELECT to_tsquery('simple', ", ")))"),
        };
        if self.shape == SearchShape::ListOrder {
            out.push_sql("pg_catalog.ts_match_vq(");
        }
        out.push_sql(self.table);
        out.push_sql(start);
        out.push_sql(query);
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.query)?;
        out.push_sql(end);
        Ok(())
    }
}

/// `<table>.id` among the FTS5 matches of `<table>_fts`, mapped back through
/// `<table>_search` (`fts_rowid` → `<key>`), restricted to the row's own tenant.
impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for FtsMatch {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> diesel::QueryResult<()> {
        let t = self.table;
        for part in [
            t,
            ".id IN (SELECT s.",
            self.key,
            " FROM ",
            t,
            "_fts f JOIN ",
            t,
        ] {
            out.push_sql(part);
        }
        out.push_sql("_search s ON s.fts_rowid = f.rowid WHERE ");
        out.push_sql(t);
        out.push_sql("_fts MATCH ");
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.query)?;
        if t != "users" {
            for part in [" AND s.tenant_id = ", t, ".tenant_id"] {
                out.push_sql(part);
            }
        }
        out.push_sql(")");
        Ok(())
    }
}

pub(crate) mod pg {
    pub type DbId = diesel::sql_types::Uuid;
    pub type DbTime = diesel::sql_types::Timestamptz;
    backend_schema!();

    /// The PostgreSQL form of [`super::FtsMatch`], read the way `shape` says
    /// (`SearchShape::PerValue` where the list does not choose, decision 0070).
    pub(crate) fn fts_match(
        table: &'static str,
        key: &'static str,
        q: &tenantry_kernel::SearchQuery,
        shape: crate::SearchShape,
    ) -> super::FtsMatch {
        super::FtsMatch {
            table,
            key,
            query: q.tsquery(),
            shape,
        }
    }
}

pub(crate) mod sqlite {
    pub type DbId = diesel::sql_types::Text;
    pub type DbTime = diesel::sql_types::TimestamptzSqlite;
    backend_schema!();

    /// The SQLite form of [`super::FtsMatch`]: FTS5 has one way to read, whatever `shape`.
    pub(crate) fn fts_match(
        table: &'static str,
        key: &'static str,
        q: &tenantry_kernel::SearchQuery,
        shape: crate::SearchShape,
    ) -> super::FtsMatch {
        super::FtsMatch {
            table,
            key,
            query: q.fts5(),
            shape,
        }
    }
}
