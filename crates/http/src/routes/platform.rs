//! The operator API: tenant lifecycle, domains and branding across tenants.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_identity::{UserError, UserStatus};
use tenantry_kernel::{Cursor, Page, PageRequest, UserId};
use tenantry_tenancy::{
    BrandingView, DomainView, Hostname, MaintenanceMessage, Slug, Tenant, TenantFilter, TenantName,
    TenantRef, TenantStatus,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody};
use crate::operator::Operator;
use crate::paging::PageQuery;
use crate::problem::{Problem, field_errors};
use crate::responses::{
    BodyErrors, OperatorErrors, QueryErrors, TenantNotFound, TenantOrDomainNotFound,
};
use crate::routes::auth::UserView;
use crate::routes::settings::MaintenanceBody;
use crate::state::AppState;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatusDto {
    Active,
    Suspended,
}

impl From<TenantStatus> for TenantStatusDto {
    fn from(s: TenantStatus) -> Self {
        match s {
            TenantStatus::Active => Self::Active,
            TenantStatus::Suspended => Self::Suspended,
        }
    }
}

impl From<TenantStatusDto> for TenantStatus {
    fn from(s: TenantStatusDto) -> Self {
        match s {
            TenantStatusDto::Active => Self::Active,
            TenantStatusDto::Suspended => Self::Suspended,
        }
    }
}

/// A tenant as platform operators see it.
#[derive(Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    #[schema(example = "acme")]
    pub slug: String,
    #[schema(example = "Acme Inc")]
    pub name: String,
    pub status: TenantStatusDto,
    pub maintenance: bool,
    pub maintenance_message: Option<String>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            id: *t.id.as_uuid(),
            slug: t.slug.to_string(),
            name: t.name.as_str().to_owned(),
            status: t.status.into(),
            maintenance: t.maintenance,
            maintenance_message: t
                .maintenance_message
                .as_ref()
                .map(|m| m.as_str().to_owned()),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// One page of tenants.
#[derive(Serialize, ToSchema)]
pub struct TenantPage {
    pub items: Vec<TenantView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<Tenant>> for TenantPage {
    fn from(p: Page<Tenant>) -> Self {
        Self {
            items: p.items.iter().map(TenantView::from).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTenantBody {
    /// 3–63 characters of `a-z0-9-`; becomes the subdomain.
    #[schema(
        example = "acme",
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$",
        min_length = 3,
        max_length = 63
    )]
    pub slug: String,
    #[schema(example = "Acme Inc", min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RenameTenantBody {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct AddDomainBody {
    #[schema(example = "shop.acme.org")]
    pub hostname: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTenantsQuery {
    /// Only tenants with this status.
    pub status: Option<TenantStatusDto>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

type Data = web::Data<AppState>;

pub(crate) fn tenant_ref(raw: &str) -> Result<TenantRef, Problem> {
    TenantRef::parse(raw)
        .ok_or_else(|| Problem::tenant_not_found().detail("No tenant has this id or slug"))
}

/// Tenant lists are ordered by id: their cursors carry one.
fn tenant_cursor(c: Cursor) -> Result<Cursor, tenantry_kernel::page::InvalidCursor> {
    match c.key().parse::<tenantry_kernel::TenantId>() {
        Ok(_) => Ok(c),
        Err(_) => Err(tenantry_kernel::page::InvalidCursor),
    }
}

pub(crate) fn hostname_in_path(raw: &str) -> Result<Hostname, Problem> {
    Hostname::parse(raw).map_err(|_| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "domain_not_found",
            "Domain not found",
        )
        .detail("The tenant has no such domain")
    })
}

/// List tenants, oldest first.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(ListTenantsQuery),
    responses(
        (status = 200, description = "One page of tenants", body = TenantPage),
        (status = 400, description = "Bad query (`invalid_query`, `invalid_cursor`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[get("")]
pub async fn list_tenants(
    _op: Operator,
    state: Data,
    query: ApiQuery<ListTenantsQuery>,
) -> Result<web::Json<TenantPage>, Problem> {
    let q = query.0;
    let limit = crate::problem::limit_param(q.limit)?;
    let after = q
        .cursor
        .map(|c| Cursor::parse(&c).and_then(tenant_cursor))
        .transpose()
        .map_err(|e| Problem::invalid_cursor(e.to_string()))?;
    let filter = TenantFilter {
        status: q.status.map(Into::into),
    };
    let page = state
        .tenants
        .list(&filter, &PageRequest { limit, after })
        .await?;
    Ok(web::Json(page.into()))
}

/// Create a tenant with its subdomain (`<slug>.<base domain>`, verified and primary).
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    request_body = CreateTenantBody,
    responses(
        (status = 201, description = "The created tenant", body = TenantView),
        (status = 409, description = "Slug taken (`slug_taken`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn create_tenant(
    op: Operator,
    req: HttpRequest,
    state: Data,
    body: ApiJson<CreateTenantBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.0;
    let (slug, name) = (Slug::parse(&body.slug), TenantName::parse(&body.name));
    let (Ok(slug), Ok(name)) = (&slug, &name) else {
        return Err(Problem::validation(field_errors([
            ("slug", slug.as_ref().err()),
            ("name", name.as_ref().err()),
        ])));
    };
    let tenant = state
        .tenants
        .create_by(
            slug.clone(),
            name.clone(),
            op.actor(),
            crate::request_context::origin_of(&req),
        )
        .await?;
    Ok(HttpResponse::Created().json_body(TenantView::from(&tenant)))
}

/// One tenant, by id or slug.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        TenantNotFound,
        OperatorErrors,
    )
)]
#[get("/{tenant}")]
pub async fn show_tenant(
    _op: Operator,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<TenantView>, Problem> {
    let tenant = state.tenants.find(&tenant_ref(&path)?).await?;
    Ok(web::Json(TenantView::from(&tenant)))
}

/// Rename a tenant.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = RenameTenantBody,
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        TenantNotFound,
        OperatorErrors,
        BodyErrors,
    )
)]
#[patch("/{tenant}")]
pub async fn rename_tenant(
    _op: Operator,
    state: Data,
    path: web::Path<String>,
    body: ApiJson<RenameTenantBody>,
) -> Result<web::Json<TenantView>, Problem> {
    let r = tenant_ref(&path)?;
    let name = TenantName::parse(&body.0.name)
        .map_err(|e| Problem::validation(field_errors([("name", Some(&e))])))?;
    let tenant = state.tenants.rename(&r, name).await?;
    Ok(web::Json(TenantView::from(&tenant)))
}

/// Suspend a tenant: its requests then get 403 `tenant_inactive`.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        TenantNotFound,
        (status = 409, description = "Already suspended (`already_suspended`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[post("/{tenant}/suspend")]
pub async fn suspend_tenant(
    _op: Operator,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<TenantView>, Problem> {
    let tenant = state.tenants.suspend(&tenant_ref(&path)?).await?;
    Ok(web::Json(TenantView::from(&tenant)))
}

/// Resume a suspended tenant.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        TenantNotFound,
        (status = 409, description = "Already active (`already_active`), or suspended for its deletion (`deletion_pending`: cancel the deletion instead)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[post("/{tenant}/resume")]
pub async fn resume_tenant(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<TenantView>, Problem> {
    let found = state.tenants.find(&tenant_ref(&path)?).await?;
    if state
        .deletions
        .deletion(&op.ctx_for(found.id, &req))
        .await?
        .is_some()
    {
        return Err(crate::routes::deletion::deletion_pending());
    }
    let tenant = state.tenants.resume(&tenant_ref(&path)?).await?;
    Ok(web::Json(TenantView::from(&tenant)))
}

/// Turn maintenance on (with an optional message) or off. While on, the tenant's requests
/// get 503 `tenant_maintenance` with `Retry-After`.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = MaintenanceBody,
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        TenantNotFound,
        OperatorErrors,
        BodyErrors,
    )
)]
#[put("/{tenant}/maintenance")]
pub async fn set_maintenance(
    _op: Operator,
    state: Data,
    path: web::Path<String>,
    body: ApiJson<MaintenanceBody>,
) -> Result<web::Json<TenantView>, Problem> {
    let r = tenant_ref(&path)?;
    let body = body.0;
    // A message is checked whenever one is sent, also when maintenance ends.
    let message = body
        .message
        .as_deref()
        .map(MaintenanceMessage::parse)
        .transpose()
        .map_err(|e| Problem::validation(field_errors([("message", Some(&e))])))?;
    let tenant = if body.enabled {
        state.tenants.start_maintenance(&r, message).await?
    } else {
        state.tenants.end_maintenance(&r).await?
    };
    Ok(web::Json(TenantView::from(&tenant)))
}

/// The tenant's domains, primary first.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug"), PageQuery),
    responses(
        (status = 200, description = "One page of the tenant's domains, primary first", body = DomainPage),
        QueryErrors,
        TenantNotFound,
        OperatorErrors,
    )
)]
#[get("/{tenant}/domains")]
pub async fn list_domains(
    _op: Operator,
    state: Data,
    path: web::Path<String>,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<DomainPage>, Problem> {
    // A tenant has a handful of domains: the page is cut from the whole list, by the key
    // (0 for the primary, 1 for the others, then the hostname).
    let key = |d: &tenantry_tenancy::Domain| format!("{}|{}", u8::from(!d.is_primary), d.hostname);
    let page = query
        .0
        .request(|k| matches!(k.split_once('|'), Some(("0" | "1", _))))?;
    let mut domains = state.tenants.domains(&tenant_ref(&path)?).await?;
    domains.sort_by_key(key);
    Ok(web::Json(DomainPage::of(Page::from_sorted(
        domains, &page, key,
    ))))
}

crate::paging::page_of!(
    /// One page of a tenant's domains.
    DomainPage of DomainView
);

/// Attach a custom domain. It stays `pending` (and does not resolve) until verified.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = AddDomainBody,
    responses(
        (status = 201, description = "The created domain", body = DomainView),
        TenantNotFound,
        (status = 409, description = "Hostname used by a tenant (`hostname_taken`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
        BodyErrors,
        (status = 422, description = "Invalid hostname (`validation_failed`) or under the base domain (`hostname_reserved`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    )
)]
#[post("/{tenant}/domains")]
pub async fn add_domain(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    body: ApiJson<AddDomainBody>,
) -> Result<HttpResponse, Problem> {
    let ctx = op.ctx_in(&state, &req, &path).await?;
    let hostname = Hostname::parse(&body.0.hostname)
        .map_err(|e| Problem::validation(field_errors([("hostname", Some(&e))])))?;
    let domain = state.domains.add(&ctx, hostname).await?;
    Ok(HttpResponse::Created().json_body(DomainView::from(&domain)))
}

/// Mark a domain verified without a check: the operator's override, for a proof given some
/// other way. A hostname another tenant verified stays theirs (`hostname_taken`).
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(
        ("tenant" = String, Path, description = "Tenant id or slug"),
        ("hostname" = String, Path, description = "One of the tenant's hostnames"),
    ),
    responses(
        (status = 200, description = "The domain", body = DomainView),
        TenantOrDomainNotFound,
        OperatorErrors,
    )
)]
#[post("/{tenant}/domains/{hostname}/verify")]
pub async fn verify_domain(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<(String, String)>,
) -> Result<web::Json<DomainView>, Problem> {
    let (tenant, hostname) = path.into_inner();
    let ctx = op.ctx_in(&state, &req, &tenant).await?;
    let domain = state
        .domains
        .force_verify(&ctx, &hostname_in_path(&hostname)?)
        .await?;
    Ok(web::Json(DomainView::from(&domain)))
}

/// Make a verified domain the tenant's primary one.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(
        ("tenant" = String, Path, description = "Tenant id or slug"),
        ("hostname" = String, Path, description = "One of the tenant's hostnames"),
    ),
    responses(
        (status = 200, description = "The domain", body = DomainView),
        TenantOrDomainNotFound,
        (status = 409, description = "Domain not verified (`domain_not_verified`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[post("/{tenant}/domains/{hostname}/primary")]
pub async fn set_primary_domain(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<(String, String)>,
) -> Result<web::Json<DomainView>, Problem> {
    let (tenant, hostname) = path.into_inner();
    let ctx = op.ctx_in(&state, &req, &tenant).await?;
    let domain = state
        .domains
        .set_primary(&ctx, &hostname_in_path(&hostname)?)
        .await?;
    Ok(web::Json(DomainView::from(&domain)))
}

/// The tenant's branding.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, description = "The tenant's branding", body = BrandingView),
        TenantNotFound,
        OperatorErrors,
    )
)]
#[get("/{tenant}/branding")]
pub async fn get_branding(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<BrandingView>, Problem> {
    let settings = state
        .settings
        .get(&op.ctx_in(&state, &req, &path).await?)
        .await?;
    Ok(web::Json(BrandingView::from(&settings.branding)))
}

/// Change the tenant's branding: absent fields stay, `null` clears, a value sets.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = crate::routes::settings::BrandingPatchBody,
    responses(
        (status = 200, description = "The tenant's branding", body = BrandingView),
        TenantNotFound,
        OperatorErrors,
        BodyErrors,
    )
)]
#[patch("/{tenant}/branding")]
pub async fn update_branding(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    body: ApiJson<crate::routes::settings::BrandingPatchBody>,
) -> Result<web::Json<BrandingView>, Problem> {
    let mut fields = crate::problem::Fields::default();
    let branding = body.0.parse(&mut fields, "");
    fields.finish()?;
    let patch = tenantry_tenancy::SettingsPatch {
        branding,
        ..Default::default()
    };
    let settings = state
        .settings
        .update(&op.ctx_in(&state, &req, &path).await?, patch)
        .await?;
    Ok(web::Json(BrandingView::from(&settings.branding)))
}

/// The platform security log: account events (logins, failures, lockouts, logouts, password
/// changes, refresh-token reuse) of every user, newest first.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(crate::routes::auth::SecurityEventsQuery),
    responses(
        (status = 200, description = "One page of events", body = crate::routes::auth::SecurityEventPage),
        (status = 400, description = "Bad query (`invalid_query`, `invalid_cursor`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[get("/security-events")]
pub async fn security_events(
    _op: Operator,
    state: Data,
    query: ApiQuery<crate::routes::auth::SecurityEventsQuery>,
) -> Result<web::Json<crate::routes::auth::SecurityEventPage>, Problem> {
    let (filter, page) = query.0.into_domain()?;
    crate::routes::auth::security_events(&state, &filter, &page).await
}

/// Disable an account: every session of the user ends at once (access tokens included, on
/// every instance) and it can no longer log in, in any tenant. Its memberships stay.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The account, disabled", body = UserView),
        (status = 404, description = "No such user (`user_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[post("/users/{user_id}/disable")]
pub async fn disable_user(
    _op: Operator,
    req: HttpRequest,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<UserView>, Problem> {
    set_user_status(&state, &req, path.into_inner(), UserStatus::Disabled).await
}

/// Enable a disabled account: its user may log in again (ended sessions stay ended).
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The account, active", body = UserView),
        (status = 404, description = "No such user (`user_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[post("/users/{user_id}/enable")]
pub async fn enable_user(
    _op: Operator,
    req: HttpRequest,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<UserView>, Problem> {
    set_user_status(&state, &req, path.into_inner(), UserStatus::Active).await
}

async fn set_user_status(
    state: &AppState,
    req: &HttpRequest,
    user: uuid::Uuid,
    status: UserStatus,
) -> Result<web::Json<UserView>, Problem> {
    let origin = crate::request_context::origin_of(req);
    let user = state
        .auth
        .set_status(UserId::from_uuid(user), status, &origin)
        .await
        .map_err(|e| match e {
            UserError::NotFound => {
                Problem::new(StatusCode::NOT_FOUND, "user_not_found", "User not found")
                    .detail("No user has this id")
            }
            other => other.into(),
        })?;
    Ok(web::Json(UserView::from(&user)))
}

/// Delete an account (GDPR erasure, the person's request through the operator): its
/// memberships are removed (each recorded in its organisation's audit trail), every session
/// ends and the account is deleted; its personal fields in the audit trails and the security
/// log read `erased` from then on. The last owner of an organisation must be replaced first:
/// 409 `last_owner` names each such organisation in `owned_tenants`, and nothing changes.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "The account is deleted"),
        (status = 404, description = "No such user (`user_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The last owner of an organisation (`last_owner`, with `owned_tenants`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[delete("/users/{user_id}")]
pub async fn delete_user(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    let origin = crate::request_context::origin_of(&req);
    state
        .erasure
        .erase_account(UserId::from_uuid(path.into_inner()), op.actor(), &origin)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct ImpersonateBody {
    /// The member to act as.
    pub user_id: uuid::Uuid,
    /// The tenant (id or slug) to act in: the token works there only.
    #[schema(example = "acme")]
    pub tenant: String,
    /// Why: shown to the user in their security events and kept in the tenant's audit trail.
    #[schema(
        example = "Ticket #4711: the export fails",
        min_length = 1,
        max_length = 500
    )]
    pub reason: String,
    /// Minutes the token lasts: 1–30 (default 30).
    #[schema(minimum = 1, maximum = 30)]
    pub minutes: Option<i64>,
}

/// A token to act as a member, for support.
#[derive(Serialize, ToSchema)]
pub struct ImpersonationView {
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// An access token for the user, carrying the administrator as `act` (RFC 8693); it
    /// works in `tenant_id` only, cannot be refreshed, and cannot change the user's password,
    /// second factor, sessions or API keys.
    pub access_token: String,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub expires_at: chrono::DateTime<chrono::Utc>,
    #[schema(example = 1800)]
    pub expires_in: i64,
    pub user: UserView,
    pub tenant_id: uuid::Uuid,
    pub impersonator_id: uuid::Uuid,
    pub reason: String,
}

/// Act as a member of a tenant, for support: a short-lived access token for that user in
/// that tenant, naming the administrator.
///
/// Only a platform administrator's own token may ask (not the operator token). Every change
/// made with it is recorded with both the user and the administrator; the user's security
/// events say who and why; the tenant's audit trail records the start. A tenant can forbid it
/// (`security.allow_impersonation`).
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    request_body = ImpersonateBody,
    responses(
        (status = 201, description = "The token", body = ImpersonationView),
        (status = 403, description = "Not a platform administrator's own token (`platform_admin_required`), or the tenant forbids impersonation (`impersonation_forbidden`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant (`tenant_not_found`) or the user is no active member of it (`member_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
        BodyErrors,
    )
)]
#[post("/impersonations")]
pub async fn impersonate(
    op: Operator,
    req: HttpRequest,
    state: Data,
    body: ApiJson<ImpersonateBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.0;
    let Some(admin) = op.admin else {
        return Err(crate::operator::platform_admin_required().detail(
            "Impersonation needs a platform administrator's own access token, not the \
             operator token: the administrator is named on everything done with it",
        ));
    };
    let reason = b.reason.trim().to_owned();
    let mut f = crate::problem::Fields::default();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        f.take::<(), _>("reason", Err("1–500 characters without control characters"));
    }
    let minutes = b.minutes.unwrap_or(30);
    if !(1..=30).contains(&minutes) {
        f.take::<(), _>("minutes", Err("between 1 and 30"));
    }
    if admin.as_uuid() == &b.user_id {
        f.take::<(), _>("user_id", Err("you cannot impersonate yourself"));
    }
    f.finish()?;
    let tenant = state.tenants.find(&tenant_ref(&b.tenant)?).await?;
    let ctx = op.ctx_for(tenant.id, &req);
    let settings = state.settings.get(&ctx).await?;
    if !settings.security.allow_impersonation {
        return Err(crate::guard::impersonation_refused(
            "impersonation_forbidden",
            "This organisation does not allow support impersonation",
        ));
    }
    let user = UserId::from_uuid(b.user_id);
    if state.rbac.permissions_of(&ctx, user).await?.is_none() {
        return Err(Problem::from(tenantry_rbac::MemberError::NotFound)
            .detail("The user is no active member of this tenant"));
    }
    let admin_email = state.auth.me(admin).await?.email.as_str().to_owned();
    let detail = format!(
        "impersonated by {admin_email} in {} because: {reason}",
        tenant.slug.as_str()
    );
    let origin = crate::request_context::origin_of(&req);
    let (user, token, expires_at) = state
        .auth
        .impersonate(
            user,
            tenantry_identity::Impersonation {
                admin,
                tenant: tenant.id,
            },
            chrono::Duration::minutes(minutes),
            detail,
            &origin,
        )
        .await
        .map_err(|e| match e {
            tenantry_identity::UserError::NotFound => {
                Problem::from(tenantry_rbac::MemberError::NotFound)
                    .detail("The user's account is disabled or gone")
            }
            other => other.into(),
        })?;
    let mut log = tenantry_audit::ChangeLog::new();
    log.note(
        "user",
        user.id.to_string(),
        "impersonation_started",
        [
            ("reason", serde_json::Value::from(reason.clone())),
            (
                "impersonator_id",
                serde_json::Value::from(admin.to_string()),
            ),
            (
                "expires_at",
                serde_json::Value::from(expires_at.to_rfc3339()),
            ),
        ],
    );
    state.audit.record(&ctx, log).await?;
    let now = state.auth.now();
    Ok(HttpResponse::Created().json_body(ImpersonationView {
        token_type: "Bearer",
        access_token: token,
        expires_at,
        expires_in: (expires_at - now).num_seconds().max(0),
        user: UserView::from(&user),
        tenant_id: *tenant.id.as_uuid(),
        impersonator_id: *admin.as_uuid(),
        reason,
    }))
}
