//! SCIM 2.0 provisioning: the tenant's directory tokens (`sso:manage`, plan feature `sso`;
//! documented in OpenAPI), and the protocol itself under `/scim/v2` (RFC 7644: its own
//! error bodies and discovery, so outside the OpenAPI document — see `crate::scim`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, delete, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenantry_identity::{
    DisplayName, ScimError, ScimToken, ScimTokenView, ScimUserDraft, parse_scim_token,
};
use tenantry_kernel::{Actor, ScimTokenId, ScimUserId, TenantCtx};
use utoipa::ToSchema;

use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody};
use crate::paging::PageQuery;
use crate::problem::Problem;
use crate::responses::{BodyErrors, MemberErrors, QueryErrors};
use crate::scim::{self as wire, ScimProblem, scim_json};
use crate::state::AppState;

type Data = web::Data<AppState>;

// --- the tokens (the tenant's API) ---------------------------------------------------------

impl From<ScimError> for Problem {
    fn from(e: ScimError) -> Self {
        match e {
            ScimError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "scim_token_not_found",
                "SCIM token not found",
            )
            .detail("No SCIM token with this id here"),
            ScimError::RoleNotFound(_) => Self::field("default_role", e.to_string()),
            ScimError::Unexpected(u) => Self::internal(u),
            other => Self::internal(tenantry_kernel::Unexpected::msg(other.to_string())),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateScimTokenBody {
    #[schema(example = "Okta provisioning", min_length = 1, max_length = 100)]
    pub name: String,
    /// The role of members the directory provisions (default `member`); it may grant only
    /// what the caller has.
    #[schema(example = "member")]
    pub default_role: Option<String>,
}

/// A new SCIM token: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedScimTokenView {
    /// `scim_<tenant>_<secret>`: the directory sends it as `Authorization: Bearer`.
    pub token: String,
    /// The SCIM base URL to give the directory (`…/scim/v2`).
    #[schema(example = "https://api.example.com/scim/v2")]
    pub base_url: String,
    #[serde(flatten)]
    pub scim_token: ScimTokenView,
}

crate::paging::page_of!(
    /// One page of the tenant's SCIM tokens.
    ScimTokenPage of ScimTokenView
);

/// Where this server answers SCIM, as the request reached it: its Host header, and https
/// when the connection or a trusted proxy says so (never a client's forwarding headers).
fn base_url(req: &HttpRequest) -> String {
    let https = req.uri().scheme_str() == Some("https")
        || crate::client::ClientAddr::of(req).is_some_and(|c| c.https);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}/scim/v2")
}

/// Create a SCIM token for the tenant's directory (Okta, Entra ID, …). The response holds
/// the token; it is never shown again.
#[utoipa::path(
    extensions(("x-permission" = json!("sso:manage")), ("x-feature" = json!("sso"))),
    tag = "scim", security(("bearer_token" = [])),
    request_body = CreateScimTokenBody,
    responses(
        (status = 201, description = "The token, with its secret", body = CreatedScimTokenView),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("/tokens")]
pub async fn create_scim_token(
    req: HttpRequest,
    m: Member,
    state: Data,
    body: ApiJson<CreateScimTokenBody>,
) -> Result<HttpResponse, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    let b = body.0;
    let name = DisplayName::parse(&b.name).map_err(|e| Problem::field("name", e.0))?;
    let role_name = b.default_role.unwrap_or_else(|| "member".into());
    let role = state
        .rbac
        .role_named(&m.ctx, &role_name)
        .await?
        .ok_or_else(|| {
            Problem::field("default_role", format!("no role named {role_name:?} here"))
        })?;
    // A token provisions people with this role: it may grant only what its author has.
    if let Some(p) = tenantry_rbac::service::beyond(&m.permissions, &role.permissions) {
        return Err(Problem::field(
            "default_role",
            format!("this role grants '{p}', which you do not have"),
        ));
    }
    let (token, secret) = state
        .scim
        .create_token(&m.ctx, name.as_str().to_owned(), role_name)
        .await?;
    Ok(HttpResponse::Created().json_body(CreatedScimTokenView {
        token: secret,
        base_url: base_url(&req),
        scim_token: ScimTokenView::from(&token),
    }))
}

/// The tenant's SCIM tokens (never their secrets), oldest first.
#[utoipa::path(
    extensions(("x-permission" = json!("sso:manage"))),
    tag = "scim", security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of tokens", body = ScimTokenPage),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("/tokens")]
pub async fn list_scim_tokens(
    m: Member,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<ScimTokenPage>, Problem> {
    let page = query.0.by_id()?;
    let tokens = state.scim.tokens(&m.ctx).await?;
    let page = tenantry_kernel::Page::from_sorted(tokens, &page, |t| t.id.as_uuid().to_string());
    Ok(web::Json(ScimTokenPage::of(page)))
}

/// Revoke a SCIM token: the directory's next request with it is refused.
#[utoipa::path(
    extensions(("x-permission" = json!("sso:manage"))),
    tag = "scim", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token here (`scim_token_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/tokens/{id}")]
pub async fn revoke_scim_token(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    state
        .scim
        .revoke_token(&m.ctx, ScimTokenId::from_uuid(path.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

// --- the protocol (/scim/v2) ----------------------------------------------------------------

/// The SCIM endpoints, each answering SCIM errors (an unknown path 404, a method an endpoint
/// lacks 405).
pub fn protocol(cfg: &mut web::ServiceConfig) {
    let resource = |path: &str| web::resource(path).default_service(web::to(not_allowed));
    cfg.service(
        web::scope("/scim/v2")
            .service(
                resource("/ServiceProviderConfig").route(web::get().to(service_provider_config)),
            )
            .service(resource("/ResourceTypes").route(web::get().to(resource_types)))
            .service(resource("/ResourceTypes/{id}").route(web::get().to(resource_type)))
            .service(resource("/Schemas").route(web::get().to(schemas)))
            .service(resource("/Schemas/{id}").route(web::get().to(schema)))
            .service(
                resource("/Users")
                    .route(web::get().to(list_users))
                    .route(web::post().to(create_user)),
            )
            .service(resource("/Users/.search").route(web::post().to(search_users)))
            .service(
                resource("/Users/{id}")
                    .route(web::get().to(get_user))
                    .route(web::put().to(replace_user))
                    .route(web::patch().to(patch_user))
                    .route(web::delete().to(delete_user)),
            )
            .service(resource("/.search").route(web::post().to(root_search)))
            .default_service(web::to(unknown)),
    );
}

async fn not_allowed(req: HttpRequest) -> HttpResponse {
    ScimProblem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        format!("{} is not supported on {}", req.method(), req.path()),
    )
    .error_response()
}

async fn unknown(req: HttpRequest) -> HttpResponse {
    ScimProblem::not_found(format!(
        "{} is not a SCIM endpoint of this service (Users, Schemas, ResourceTypes, \
         ServiceProviderConfig)",
        req.path()
    ))
    .error_response()
}

async fn root_search() -> HttpResponse {
    ScimProblem::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "searching across resource types is not supported: POST /Users/.search",
    )
    .error_response()
}

/// The directory calling: its token names the tenant, which must be open (and let the
/// caller's address in) and have SSO in its plan; the token must be that tenant's.
struct Directory {
    ctx: TenantCtx,
    token: ScimToken,
}

async fn directory(req: &HttpRequest, state: &AppState) -> Result<Directory, ScimProblem> {
    let presented = crate::authn::bearer_token(req).ok_or_else(ScimProblem::unauthorized)?;
    let (tenant_id, secret) = parse_scim_token(presented).ok_or_else(ScimProblem::unauthorized)?;
    let tenant = state
        .resolver
        .by_id(tenant_id)
        .await?
        .ok_or_else(ScimProblem::unauthorized)?;
    let origin = crate::request_context::origin_of(req);
    let ctx = TenantCtx::for_request(&state.edges, tenant.id, Actor::Directory, origin);
    let token = state
        .scim
        .authenticate(&ctx, secret)
        .await?
        .ok_or_else(ScimProblem::unauthorized)?;
    tenant
        .gate()
        .map_err(|g| ScimProblem::from_problem(Problem::from(g)))?;
    let settings = state
        .resolver
        .settings_of(tenant.id, state.settings.get(&ctx))
        .await?;
    let client = crate::client::ClientAddr::of(req)
        .map(|c| c.ip)
        .or_else(|| req.peer_addr().map(|a| a.ip()));
    if let Some(ip) = client
        && !settings.security.ip_allowlist.allows(ip)
    {
        crate::guard::ip_refused(state, &ctx, ip).await;
        return Err(ScimProblem::from_problem(Problem::ip_not_allowed()));
    }
    let pattern = req.match_pattern().unwrap_or_default();
    crate::entitlements::check(state, &ctx, req.method(), &pattern, Some("sso"))
        .await
        .map_err(ScimProblem::from_problem)?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant.id));
    state.api_calls.record(tenant.id);
    Ok(Directory { ctx, token })
}

/// A query parameter, its name compared case-insensitively.
fn param(req: &HttpRequest, name: &str) -> Result<Option<String>, ScimProblem> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ScimProblem::invalid_syntax(format!("query: {e}")))?;
    Ok(pairs
        .0
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v))
}

fn number(raw: Option<&Value>, name: &str, default: i64) -> Result<i64, ScimProblem> {
    match raw {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| ScimProblem::invalid_value(format!("{name} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| ScimProblem::invalid_value(format!("{name} must be an integer"))),
        Some(_) => Err(ScimProblem::invalid_value(format!(
            "{name} must be an integer"
        ))),
    }
}

/// The request's body as JSON (at most the configured body size).
async fn body_json(payload: web::Payload, state: &AppState) -> Result<Value, ScimProblem> {
    let bytes = payload
        .to_bytes_limited(state.config.body_limit)
        .await
        .map_err(|_| {
            ScimProblem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                format!("the body is larger than {} bytes", state.config.body_limit),
            )
        })?
        .map_err(|e| ScimProblem::invalid_syntax(format!("the body could not be read: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimProblem::invalid_syntax(format!("the body is not JSON: {e}")))
}

fn user_id(raw: &str) -> Result<ScimUserId, ScimProblem> {
    uuid::Uuid::try_parse(raw)
        .map(ScimUserId::from_uuid)
        .map_err(|_| ScimProblem::not_found("No such user in this directory"))
}

/// The user's representation with the request's `attributes` / `excludedAttributes`.
fn shown(req: &HttpRequest, user: &tenantry_identity::ScimUser) -> Result<Value, ScimProblem> {
    Ok(wire::project(
        wire::render(user, &base_url(req)),
        param(req, "attributes")?.as_deref(),
        param(req, "excludedAttributes")?.as_deref(),
    ))
}

async fn service_provider_config(req: HttpRequest) -> HttpResponse {
    scim_json(
        StatusCode::OK,
        &wire::service_provider_config(&base_url(&req)),
    )
}

async fn resource_types(req: HttpRequest) -> HttpResponse {
    let all = vec![wire::user_resource_type(&base_url(&req))];
    scim_json(StatusCode::OK, &wire::list_response(1, 1, all))
}

async fn resource_type(
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimProblem> {
    if id.as_str() != "User" {
        return Err(ScimProblem::not_found("The only resource type is User"));
    }
    Ok(scim_json(
        StatusCode::OK,
        &wire::user_resource_type(&base_url(&req)),
    ))
}

async fn schemas(req: HttpRequest) -> HttpResponse {
    let all = vec![wire::user_schema(&base_url(&req))];
    scim_json(StatusCode::OK, &wire::list_response(1, 1, all))
}

async fn schema(req: HttpRequest, id: web::Path<String>) -> Result<HttpResponse, ScimProblem> {
    if id.as_str() != wire::USER_SCHEMA {
        return Err(ScimProblem::not_found(format!(
            "The only schema is {}",
            wire::USER_SCHEMA
        )));
    }
    Ok(scim_json(
        StatusCode::OK,
        &wire::user_schema(&base_url(&req)),
    ))
}

/// The list's parameters, from the query or a `.search` body.
struct ListRequest {
    filter: Option<String>,
    start_index: Option<Value>,
    count: Option<Value>,
    attributes: Option<String>,
    excluded: Option<String>,
}

async fn list(
    req: &HttpRequest,
    state: &AppState,
    d: Directory,
    l: ListRequest,
) -> Result<HttpResponse, ScimProblem> {
    let filter = wire::parse_filter(l.filter.as_deref())?;
    let start = number(l.start_index.as_ref(), "startIndex", 1)?.max(1);
    let count = number(l.count.as_ref(), "count", 100)?.clamp(0, wire::MAX_RESULTS as i64);
    let page = state
        .scim
        .users(&d.ctx, &filter, start as u64, count as u64)
        .await?;
    let base = base_url(req);
    let resources = page
        .users
        .iter()
        .map(|u| {
            wire::project(
                wire::render(u, &base),
                l.attributes.as_deref(),
                l.excluded.as_deref(),
            )
        })
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &wire::list_response(page.total, page.start_index, resources),
    ))
}

async fn list_users(req: HttpRequest, state: Data) -> Result<HttpResponse, ScimProblem> {
    let d = directory(&req, &state).await?;
    let l = ListRequest {
        filter: param(&req, "filter")?,
        start_index: param(&req, "startIndex")?.map(Value::String),
        count: param(&req, "count")?.map(Value::String),
        attributes: param(&req, "attributes")?,
        excluded: param(&req, "excludedAttributes")?,
    };
    list(&req, &state, d, l).await
}

async fn search_users(
    req: HttpRequest,
    state: Data,
    payload: web::Payload,
) -> Result<HttpResponse, ScimProblem> {
    let d = directory(&req, &state).await?;
    let body = body_json(payload, &state).await?;
    let get = |name: &str| {
        body.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        })
    };
    let names = |v: Option<Value>| -> Option<String> {
        match v? {
            Value::String(s) => Some(s),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        }
    };
    let l = ListRequest {
        filter: get("filter").and_then(|f| f.as_str().map(str::to_owned)),
        start_index: get("startIndex"),
        count: get("count"),
        attributes: names(get("attributes")),
        excluded: names(get("excludedAttributes")),
    };
    list(&req, &state, d, l).await
}

async fn get_user(
    req: HttpRequest,
    state: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimProblem> {
    let d = directory(&req, &state).await?;
    let user = state.scim.user(&d.ctx, user_id(&id)?).await?;
    Ok(scim_json(StatusCode::OK, &shown(&req, &user)?))
}

fn draft_of(body: &Value) -> Result<ScimUserDraft, ScimProblem> {
    wire::parse_user(&wire::canonical_object(body)?)
}

async fn create_user(
    req: HttpRequest,
    state: Data,
    payload: web::Payload,
) -> Result<HttpResponse, ScimProblem> {
    let d = directory(&req, &state).await?;
    let draft = draft_of(&body_json(payload, &state).await?)?;
    let user = state.scim.create(&d.ctx, &d.token, draft).await?;
    state.members.invalidate();
    let location = format!("{}/Users/{}", base_url(&req), user.id);
    let mut res = scim_json(StatusCode::CREATED, &shown(&req, &user)?);
    res.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&location)
            .map_err(|e| ScimProblem::internal(tenantry_kernel::Unexpected::msg(e.to_string())))?,
    );
    Ok(res)
}

async fn replace_user(
    req: HttpRequest,
    state: Data,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ScimProblem> {
    let d = directory(&req, &state).await?;
    let id = user_id(&id)?;
    let draft = draft_of(&body_json(payload, &state).await?)?;
    save(&req, &state, &d, id, draft).await
}

/// Replaces the record with `draft` (PUT, and PATCH once applied): its representation.
async fn save(
    req: &HttpRequest,
    state: &AppState,
    d: &Directory,
    id: ScimUserId,
    draft: ScimUserDraft,
) -> Result<HttpResponse, ScimProblem> {
    let user = state.scim.replace(&d.ctx, &d.token, id, draft).await?;
    state.members.invalidate();
    Ok(scim_json(StatusCode::OK, &shown(req, &user)?))
}

async fn patch_user(
    req: HttpRequest,
    state: Data,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ScimProblem> {
    let d = directory(&req, &state).await?;
    let id = user_id(&id)?;
    let body = body_json(payload, &state).await?;
    let current = state.scim.user(&d.ctx, id).await?;
    let patched = wire::apply_patch(&wire::render(&current, ""), &body)?;
    let draft = wire::parse_user(&patched)?;
    save(&req, &state, &d, id, draft).await
}

async fn delete_user(
    req: HttpRequest,
    state: Data,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimProblem> {
    let d = directory(&req, &state).await?;
    state.scim.delete(&d.ctx, &d.token, user_id(&id)?).await?;
    state.members.invalidate();
    Ok(HttpResponse::NoContent().finish())
}
