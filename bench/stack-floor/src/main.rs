//! The floor of the libraries Tenantry is built on (`bench/products.sh`): the products list
//! and get routes' statements with nothing of Tenantry's around them. actix-web answers
//! `GET /products` and `GET /products/{id}`, diesel-async reads the routes' statements
//! (prepared; the same columns, order and limit) from a pool of connections on each HTTP
//! worker's thread, and serde_json writes the rows. No tenant resolution, token, access check,
//! middleware or tracing.
//!
//! Three shapes:
//! - `select`: the statement alone, the tenant the connections' session setting (as in
//!   pgbench's prepared floor);
//! - `scoped`: the statement as the service reads it (decision 0068): one statement that sets
//!   the tenant for its own transaction and then reads, its `LIMIT` written into the text;
//! - `transaction`: the statement inside a read transaction, as the service sent it before
//!   (and still sends a search) in one round trip: `BEGIN READ ONLY; SET LOCAL …` as one
//!   simple query, the statement, `COMMIT` (decision 0048).
//!
//! What the list route reaches against `scoped` is what Tenantry's own work costs; what
//! `select` reaches against pgbench's prepared floor is what the libraries cost.
//!
//! `tenantry-stack-floor <select|scoped|transaction> <database url> <tenant id> <address>
//! [connections]`, the database url as the service's role.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use diesel_async::pg::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};

/// The service's allocator, so that the two differ only in what runs per request.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

diesel::table! {
    products (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        name -> Text,
        sku -> Text,
        description -> Text,
        price_minor -> Int8,
        currency -> Text,
        status -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

#[derive(Queryable, serde::Serialize)]
struct Product {
    #[serde(skip)]
    _tenant_id: uuid::Uuid,
    id: uuid::Uuid,
    name: String,
    sku: String,
    description: String,
    price_minor: i64,
    currency: String,
    status: String,
    created_by: Option<uuid::Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(serde::Serialize)]
struct Page {
    data: Vec<Product>,
    next_cursor: Option<String>,
}

struct Floor {
    pool: Pool<AsyncPgConnection>,
    tenant: uuid::Uuid,
    /// `BEGIN READ ONLY; SET LOCAL …`, when each read is a transaction.
    begin: Option<String>,
    /// Each read one statement that sets the tenant itself.
    scoped: bool,
}

/// The statement wrapped as the service's store wraps it (`InScope`, decision 0068): the
/// tenant set for the statement's own transaction, then the read, with the `LIMIT` in the text.
struct Scoped<Q> {
    query: Q,
    tenant: String,
    limit: i64,
}

impl<Q> diesel::query_builder::QueryId for Scoped<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Scoped<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for Scoped<Q>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "WITH \"scope\" AS MATERIALIZED \
             (SELECT set_config('transaction_read_only', 'on', true) AS \"ready\", \
             set_config('app.tenant_id', ",
        );
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.tenant)?;
        out.push_sql(
            ", true)) SELECT \"read\".* FROM \"scope\" CROSS JOIN LATERAL (SELECT * FROM (",
        );
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(") AS \"q\" WHERE \"scope\".\"ready\" IS NOT NULL LIMIT ");
        out.push_sql(&self.limit.to_string());
        out.push_sql(") AS \"read\"");
        Ok(())
    }
}

impl Floor {
    /// `query` as the `scoped` shape sends it.
    fn scoped<Q>(&self, query: Q, limit: i64) -> Scoped<Q> {
        Scoped {
            query,
            tenant: self.tenant.to_string(),
            limit,
        }
    }

    /// Runs `read` on a pooled connection as this floor's shape does: alone, or pipelined
    /// between `BEGIN READ ONLY; SET LOCAL …` and `COMMIT`, each sent on its first poll, in
    /// that order, before any answer is read. (On a connection's first read the statement is
    /// prepared first and `COMMIT` overtakes it; the session's tenant still answers it.)
    async fn read<R>(
        &self,
        read: impl AsyncFnOnce(&mut &AsyncPgConnection) -> QueryResult<R>,
    ) -> QueryResult<R> {
        use diesel_async::SimpleAsyncConnection;
        let conn = self.pool.get().await.expect("a connection");
        let shared: &AsyncPgConnection = &conn;
        let (mut to_begin, mut to_read, mut to_end) = (shared, shared, shared);
        let Some(begin) = &self.begin else {
            return read(&mut to_read).await;
        };
        let (begun, rows, ended) = futures_util::future::join3(
            SimpleAsyncConnection::batch_execute(&mut to_begin, begin),
            read(&mut to_read),
            SimpleAsyncConnection::batch_execute(&mut to_end, "COMMIT"),
        )
        .await;
        begun.and(ended).and(rows)
    }
}

fn json(value: &impl serde::Serialize, capacity: usize) -> HttpResponse {
    let mut body = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut body, value).expect("JSON");
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// The first page of the tenant's products, as the list route reads it.
async fn list(floor: web::Data<Floor>) -> HttpResponse {
    let page = products::table
        .filter(products::tenant_id.eq(floor.tenant))
        .order((products::created_at.asc(), products::id.asc()));
    let mut data: Vec<Product> = if floor.scoped {
        let mut conn = floor.pool.get().await.expect("a connection");
        floor.scoped(page, 21).load(&mut conn).await
    } else {
        floor
            .read(async |conn| page.limit(21).load(conn).await)
            .await
    }
    .expect("the list");
    let next_cursor = (data.len() > 20).then(|| {
        data.truncate(20);
        data[19].id.to_string()
    });
    json(&Page { data, next_cursor }, 8 * 1024)
}

/// One product by id, as the get route reads it.
async fn get(floor: web::Data<Floor>, id: web::Path<uuid::Uuid>) -> HttpResponse {
    let one = products::table
        .filter(products::tenant_id.eq(floor.tenant))
        .filter(products::id.eq(id.into_inner()));
    let found: Option<Product> = if floor.scoped {
        let mut conn = floor.pool.get().await.expect("a connection");
        floor.scoped(one, 1).get_result(&mut conn).await.optional()
    } else {
        floor
            .read(async |conn| one.first(conn).await.optional())
            .await
    }
    .expect("the product");
    match found {
        Some(product) => json(&product, 1024),
        None => HttpResponse::NotFound().finish(),
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, shape, url, tenant, address, rest @ ..] = args.as_slice() else {
        panic!(
            "usage: tenantry-stack-floor <select|scoped|transaction> <database url> <tenant id> \
             <address> [connections]"
        );
    };
    let tenant: uuid::Uuid = tenant.parse().expect("a tenant id");
    let begin = match shape.as_str() {
        "select" | "scoped" => None,
        "transaction" => Some(format!(
            "BEGIN READ ONLY; SET LOCAL app.tenant_id = '{tenant}'; \
             SET LOCAL plan_cache_mode = force_generic_plan"
        )),
        other => panic!("unknown shape {other}: select, scoped or transaction"),
    };
    let connections: usize = rest.first().map_or(32, |c| c.parse().expect("a number"));
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // Except for `scoped`, which sets it itself and writes its `LIMIT` into the text: the
    // tenant as the session's setting, for row-level security; and the statement planned once
    // per connection (diesel binds the page's `LIMIT`, which alone would have PostgreSQL plan
    // it on every run: decision 0056).
    let scoped = shape == "scoped";
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = if scoped {
        url.clone()
    } else {
        format!(
            "{url}{sep}options=-c%20app.tenant_id%3D{tenant}%20-c%20plan_cache_mode%3Dforce_generic_plan"
        )
    };
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            // On each worker's thread: its own pool, whose connections run on that thread.
            // Fast recycling: a connection goes back out without a `SELECT 1` first.
            let mut config = ManagerConfig::default();
            config.recycling_method = RecyclingMethod::Fast;
            let manager =
                AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(&url, config);
            let pool = Pool::builder(manager)
                .max_size(connections.div_ceil(workers))
                .build()
                .expect("a pool");
            App::new()
                .app_data(web::Data::new(Floor {
                    pool,
                    tenant,
                    begin: begin.clone(),
                    scoped,
                }))
                .route("/products", web::get().to(list))
                .route("/products/{id}", web::get().to(get))
        })
        .workers(workers)
        .bind(address.as_str())?
        .run()
        .await
    })
}
