//! The actix-web adapter: tenant resolution, problem+json errors, request ids and tracing,
//! the route table and its OpenAPI description.

mod api_calls;
mod authn;
mod changes;
pub mod client;
mod dates;
pub mod edge;
mod entitlements;
mod fallback;
mod guard;
mod json;
pub mod metrics;
mod operator;
mod paging;
pub mod permissions;
pub mod ports;
mod problem;
pub mod rate_limit;
mod request_context;
mod resolve;
mod responses;
mod routes;
mod scim;
mod sso_policy;
mod state;

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use tenantry_kernel::Unexpected;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

pub use authn::Authenticated;
pub use changes::{CHANGE_POLL_INTERVAL, catch_up};
pub use guard::Member;
pub use json::BodyLimit;
pub use operator::Operator;
pub use permissions::RoutePermissions;
pub use problem::{FieldError, MAINTENANCE_RETRY_AFTER_SECS, Problem, TenantBrand};
pub use request_context::RequestId;
pub use resolve::{Resolver, TenantScope};
pub use routes::events::quota_resources;
pub use state::{AppState, HttpConfig, Services};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tenantry",
        description = "A headless multi-tenant SaaS platform: tenants and their domains, users, \
roles and permissions, quotas, audit and webhooks behind one versioned REST API.\n\n\
Errors are RFC 9457 `application/problem+json` bodies with a stable `code` and the request id.\n\n\
Tenant-scoped routes find their tenant from the host (`<slug>.<base domain>` or a verified \
custom domain) or, when the host names none, from the `X-Tenant-ID` header (id or slug).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(problem::ProblemBody, problem::FieldError)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Sessions and the caller's own account"),
        (name = "mfa", description = "Second factors: TOTP authenticators, recovery codes and the login's second step"),
        (name = "sso", description = "Single sign-on over OpenID Connect: a tenant's providers and the sign-in through them"),
        (name = "scim", description = "SCIM 2.0 provisioning: the tokens a tenant gives its directory. The protocol itself answers under `/scim/v2` (RFC 7644; its own discovery at `/scim/v2/ServiceProviderConfig`, `/Schemas`, `/ResourceTypes`)"),
        (name = "onboarding", description = "Signing up an organisation"),
        (name = "team", description = "Members, roles and permissions of the current tenant"),
        (name = "invitations", description = "Inviting people into a tenant"),
        (name = "api_keys", description = "Machine credentials bound to one tenant"),
        (name = "webhooks", description = "Endpoints that receive the tenant's events, signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and GitHub's (`X-Hub-Signature-256`), retried on a schedule"),
        (name = "events", description = "Every change of a tenant's data as an event: the pull API and the catalogue of event types (each type's payload is also listed under `webhooks`)"),
        (name = "files", description = "The tenant's files: uploads (multipart, streamed, typed by their content), downloads with ranges, short-lived links on S3"),
        (name = "exports", description = "Everything the tenant owns in one archive (JSON Lines per entity, a checksummed manifest, the files; gzip, optionally age-encrypted), written by a job and downloadable until its link expires"),
        (name = "billing", description = "Plans, the tenant's subscription and its quotas: what the tenant may do and how much of it"),
        (name = "tenant", description = "The current tenant (resolved from host or header)"),
        (name = "platform", description = "Administration across tenants (platform administrators or the operator token)"),
    ),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from /api/v1/auth/login or /api/v1/auth/refresh",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "X-API-Key",
                    "A key from /api/v1/api-keys (tnt_…), bound to one tenant; also accepted as a bearer token",
                ),
            )),
        );
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The value of TENANTRY_OPERATOR_TOKEN, or a platform administrator's access token"))
                    .build(),
            ),
        );
    }
}

/// How a tenant route names its tenant when the host does not (`<slug>.<base domain>` or a
/// verified custom domain): the tenant's id or slug.
pub(crate) fn tenant_header() -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ParameterBuilder::new()
        .name("X-Tenant-ID")
        .parameter_in(ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(
            "The tenant's id or slug, when the host does not name it (`<slug>.<base domain>` \
             or a verified custom domain)",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(3))
                .max_length(Some(63))
                .examples([serde_json::json!("acme")]),
        ))
        .build()
}

/// The OpenAPI document of every route, as `/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = ApiDoc::openapi();
    let mut document = routes::Document::default();
    routes::configure(&mut document);
    api.paths.merge(document.paths);
    api.components
        .get_or_insert_with(utoipa::openapi::Components::new)
        .schemas
        .extend(document.schemas);
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    // After the routes are in: the derive's modifiers run before they are.
    permissions::document(&mut api);
    rate_limit::document(&mut api);
    routes::events::document(&mut api);
    api
}

/// The document serialised exactly as served (and as checked in under `openapi/`).
pub fn openapi_json(api: &utoipa::openapi::OpenApi) -> String {
    // Through a `Value`, whose objects keep their keys sorted: some of utoipa's maps (an
    // operation's extensions) are hash maps, whose order would change from run to run.
    let sorted = serde_json::to_value(api).unwrap_or_default();
    let mut s = serde_json::to_string_pretty(&sorted).unwrap_or_default();
    s.push('\n');
    s
}

/// Built once per process; shared by every worker.
#[derive(Clone)]
pub struct Shared {
    state: web::Data<AppState>,
    documents: web::Data<Documents>,
    routes: web::Data<fallback::RouteTable>,
    permissions: web::Data<RoutePermissions>,
}

/// What is served from the OpenAPI document itself, `/openapi.json` and the catalogue of
/// event types: built on the first request for either rather than at start, so that a server
/// nobody asks for them does not hold them (1.4 MB; decision 0063).
#[derive(Default)]
pub(crate) struct Documents(std::sync::OnceLock<Served>);

pub(crate) struct Served {
    spec_json: web::Bytes,
    event_types: web::Bytes,
}

impl Documents {
    pub(crate) fn served(&self) -> &Served {
        self.0.get_or_init(|| {
            let api = openapi();
            Served {
                spec_json: openapi_json(&api).into(),
                event_types: routes::events::catalogue(&api),
            }
        })
    }
}

impl Shared {
    /// Fails when a member-only operation declares no permission, or one the catalogue
    /// lacks (see [`permissions`]): the server then does not start.
    pub fn new(state: AppState) -> Result<Self, Unexpected> {
        let api = openapi();
        let permissions = RoutePermissions::from_spec(&api)
            .map_err(|e| Unexpected::msg(format!("route permissions: {e}")))?;
        Ok(Self {
            state: web::Data::new(state),
            documents: web::Data::new(Documents::default()),
            routes: web::Data::new(fallback::RouteTable::from_spec(&api)),
            permissions: web::Data::new(permissions),
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }
}

/// The application: middleware, routes, docs and the 404/405 fallback.
pub fn app(
    shared: Shared,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = shared.state.config.body_limit;
    App::new()
        .wrap(from_fn(rate_limit::middleware))
        .wrap(from_fn(edge::middleware))
        .wrap(from_fn(request_context::request_context))
        .app_data(shared.state.clone())
        .app_data(shared.documents.clone())
        .app_data(shared.routes.clone())
        .app_data(shared.permissions.clone())
        .app_data(BodyLimit(limit))
        .app_data(json::BodyTimeout(shared.state.config.body_timeout))
        .app_data(web::PayloadConfig::new(limit))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| Problem::invalid_query(e.to_string()).into()),
        )
        .app_data(web::PathConfig::default().error_handler(|_, _| Problem::not_found().into()))
        .configure(routes::configure)
        // SCIM 2.0 (RFC 7644): its own errors and self-description, outside the OpenAPI.
        .configure(routes::scim::protocol)
        .route("/openapi.json", web::get().to(serve_spec))
        .route("/docs", web::get().to(docs_redirect))
        .service(
            SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")),
        )
        .default_service(web::to(fallback::fallback))
}

async fn serve_spec(documents: web::Data<Documents>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(documents.served().spec_json.clone())
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/docs/"))
        .finish()
}

/// How the HTTP server runs.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Worker threads; `None` means one per CPU core.
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Run on each worker thread as it starts, with the number of workers (the app gives each
    /// its own share of the database pool there).
    pub on_worker_start: Option<WorkerStart>,
}

/// See [`ServerOptions::on_worker_start`].
#[derive(Clone)]
pub struct WorkerStart(pub std::sync::Arc<dyn Fn(usize) + Send + Sync>);

impl std::fmt::Debug for WorkerStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerStart")
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            workers: None,
            shutdown_timeout_secs: 30,
            on_worker_start: None,
        }
    }
}

/// Starts serving on `listener`. Await the returned server; it resolves after a graceful stop,
/// which the caller asks for through its handle (the app does on SIGTERM/SIGINT, together
/// with stopping the worker).
///
/// Also starts following changes made by other processes (see
/// [`changes::follow_changes`]); call it inside an actix system.
pub fn server(
    listener: TcpListener,
    shared: Shared,
    options: &ServerOptions,
) -> std::io::Result<Server> {
    actix_web::rt::spawn(changes::follow_changes(shared.state.clone()));
    actix_web::rt::spawn(api_calls::keep_flushing(shared.state.clone()));
    let workers = options.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let on_start = options.on_worker_start.clone();
    let server = HttpServer::new(move || {
        // Called on each worker's own thread, as it starts.
        if let Some(WorkerStart(start)) = &on_start {
            start(workers);
        }
        app(shared.clone())
    })
    .workers(workers)
    .shutdown_timeout(options.shutdown_timeout_secs)
    // A client has this long to send its request head (slowloris); bodies have their
    // own deadline (`json::BodyTimeout`).
    .client_request_timeout(std::time::Duration::from_secs(5))
    // actix treats SIGINT as a forced stop; both signals should let requests finish, and
    // the app stops the worker on the same signal.
    .disable_signals()
    .listen(listener)?;
    Ok(server.run())
}

/// Writes the API calls counted since the last flush: call it after the server stopped, so
/// the last seconds' calls are metered too.
pub async fn flush_api_calls(shared: &Shared) {
    api_calls::flush(&shared.state).await;
}

/// The internal listener, on its own address so it is never reachable through a tenant's
/// host (decision 0024): `GET /metrics` in Prometheus' text format, and
/// `GET /internal/tls/ask` for a TLS proxy issuing certificates on demand. One worker; stopped with the handle like the
/// API server. Also keeps the histograms drained between scrapes.
pub fn internal_server(listener: TcpListener, shared: &Shared) -> std::io::Result<Server> {
    metrics::handle();
    actix_web::rt::spawn(metrics::upkeep());
    let state = shared.state.clone();
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics::scrape))
            .route("/internal/tls/ask", web::get().to(tls_ask))
            // The name it had first.
            .route("/tls/ask", web::get().to(tls_ask))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

#[derive(serde::Deserialize)]
struct AskQuery {
    domain: String,
}

/// Caddy's `on_demand_tls { ask … }` (and any proxy like it): 200 when a certificate for
/// `domain` may be issued — the platform's own host, an active tenant's subdomain, or a
/// custom domain an active tenant has verified — else 404, so nobody can make the proxy
/// request certificates for names that are not ours. An indexed lookup through the
/// resolution cache; no DNS.
async fn tls_ask(state: web::Data<AppState>, query: web::Query<AskQuery>) -> HttpResponse {
    let domain = query
        .domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ours = domain == state.config.base_domain.as_str()
        || matches!(
            state.resolver.resolve(Some(&domain), None).await,
            Ok(Some(t)) if t.status == tenantry_tenancy::TenantStatus::Active
        );
    if ours {
        HttpResponse::Ok().finish()
    } else {
        HttpResponse::NotFound().finish()
    }
}
