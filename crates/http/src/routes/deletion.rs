//! Deleting the whole organisation (GDPR; permission `tenant:manage`, the owners'): asked for
//! with the slug typed back and the owner's password, the tenant suspended at once and purged
//! when the grace period ends unless cancelled. The operator cancels too, and lists what stays
//! of purged tenants: their signed certificates.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::Deserialize;
use tenantry_archive::{DeletionView, PurgeView};
use utoipa::ToSchema;

use crate::guard::Member;
use crate::json::{ApiJson, ApiQuery, JsonBody};
use crate::operator::Operator;
use crate::paging::{PageQuery, page_of};
use crate::problem::{Problem, ProblemBody};
use crate::request_context::origin_of;
use crate::responses::{BodyErrors, MemberErrors, OperatorErrors, QueryErrors};
use crate::routes::mfa::factor_of;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// The routes a member may still reach while their organisation waits for its purge (it is
/// suspended): to see the deletion and to call it off.
pub const OPEN_WHILE_DELETING: &[(&str, &str)] = &[
    ("GET", "/api/v1/settings/deletion"),
    ("DELETE", "/api/v1/settings/deletion"),
];

#[derive(Deserialize, ToSchema)]
pub struct RequestDeletionBody {
    /// The organisation's slug, typed back.
    #[schema(max_length = 63)]
    pub slug: String,
    /// The caller's password.
    #[schema(max_length = 1024)]
    pub password: String,
    /// A TOTP or recovery code, when the caller's account has MFA on.
    #[schema(max_length = 64)]
    pub mfa_code: Option<String>,
}

fn not_for_api_keys() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "person_required",
        "A person must do this",
    )
    .detail(
        "Deleting an organisation, or calling it off, takes an owner's own session, not an API key",
    )
}

/// Delete the organisation: it is suspended at once (every member is locked out) and
/// everything it owns — data, files, backups, exports, webhooks, API keys, its data key — is
/// destroyed when the grace period ends (`purge_after`, 7 days by default), unless an owner
/// (`DELETE /api/v1/settings/deletion`) or the operator cancels before. Accounts that belong
/// to no other organisation are deleted with it. Needs the slug typed back and the caller's
/// password (and a code, with MFA on).
#[utoipa::path(
    extensions(("x-permission" = json!("tenant:manage"))),
    tag = "tenant", security(("bearer_token" = [])),
    request_body = RequestDeletionBody,
    responses(
        (status = 202, description = "Scheduled: the organisation is suspended until its purge", body = DeletionView),
        (status = 409, description = "A deletion is already scheduled (`deletion_pending`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "MFA is on and no code came (`mfa_required`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords or codes (`account_locked`, `too_many_attempts`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("/deletion")]
pub async fn request_deletion(
    req: HttpRequest,
    m: Member,
    state: Data,
    body: ApiJson<RequestDeletionBody>,
) -> Result<HttpResponse, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    if m.api_key.is_some() {
        return Err(not_for_api_keys());
    }
    let body = body.0;
    if body.slug.chars().count() > 63 {
        return Err(Problem::field("slug", "too long"));
    }
    crate::routes::mfa::within_bounds(&body.password, body.mfa_code.as_deref())?;
    let factor = body.mfa_code.map(factor_of);
    state
        .auth
        .confirm_identity(m.user_id, &body.password, factor.as_ref(), &origin_of(&req))
        .await?;
    let deletion = state
        .deletions
        .request_deletion(&m.ctx, m.user_id, &body.slug)
        .await?;
    state.resolver.invalidate();
    Ok(HttpResponse::Accepted().json_body(DeletionView::from(&deletion)))
}

/// The organisation's scheduled deletion (reachable while it is suspended for it).
#[utoipa::path(
    extensions(("x-permission" = json!("tenant:manage"))),
    tag = "tenant", security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The deletion and when the purge runs", body = DeletionView),
        (status = 404, description = "None is scheduled (`no_deletion_pending`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/deletion")]
pub async fn get_deletion(m: Member, state: Data) -> Result<web::Json<DeletionView>, Problem> {
    let deletion = state
        .deletions
        .deletion(&m.ctx)
        .await?
        .ok_or(tenantry_archive::DeletionError::NotPending)?;
    Ok(web::Json(DeletionView::from(&deletion)))
}

/// Cancel the scheduled deletion: nothing is purged and the organisation opens again
/// (reachable while it is suspended for its deletion).
#[utoipa::path(
    extensions(("x-permission" = json!("tenant:manage"))),
    tag = "tenant", security(("bearer_token" = [])),
    responses(
        (status = 204, description = "Cancelled; the organisation is active again"),
        (status = 404, description = "None is scheduled (`no_deletion_pending`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The purge has begun (`purge_under_way`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/deletion")]
pub async fn cancel_deletion(m: Member, state: Data) -> Result<HttpResponse, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    if m.api_key.is_some() {
        return Err(not_for_api_keys());
    }
    state.deletions.cancel_deletion(&m.ctx).await?;
    state.resolver.invalidate();
    Ok(HttpResponse::NoContent().finish())
}

/// Cancel a tenant's scheduled deletion (platform administration): nothing is purged and the
/// tenant is active again.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "The tenant's id or slug")),
    responses(
        (status = 204, description = "Cancelled; the tenant is active again"),
        (status = 404, description = "No such tenant (`tenant_not_found`), or no deletion scheduled (`no_deletion_pending`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The purge has begun (`purge_under_way`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[delete("/{tenant}/deletion")]
pub async fn cancel_tenant_deletion(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let ctx = op.ctx_in(&state, &req, &path.into_inner()).await?;
    state.deletions.cancel_deletion(&ctx).await?;
    state.resolver.invalidate();
    Ok(HttpResponse::NoContent().finish())
}

page_of!(
    /// One page of purge certificates, newest first.
    PurgePage of PurgeView
);

/// The certificates of purged tenants, newest first: what stays of each (tenant id, slug, who
/// asked, when it went, rows per table, objects and accounts deleted), signed with the
/// platform's key (a JWS to check against `/.well-known/jwks.json`).
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of purge certificates", body = PurgePage),
        QueryErrors,
        OperatorErrors,
    )
)]
#[get("/purges")]
pub async fn list_purges(
    _op: Operator,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<PurgePage>, Problem> {
    let page = state.deletions.purges(&query.0.by_id()?).await?;
    Ok(web::Json(PurgePage::of(page)))
}

/// For the operator's resume: a tenant waiting for its purge is brought back by cancelling
/// the deletion, not by a plain resume (which would leave the purge scheduled).
pub fn deletion_pending() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "deletion_pending",
        "Deletion pending",
    )
    .detail("This tenant is suspended for its deletion: cancel the deletion (DELETE /api/v1/platform/tenants/{tenant}/deletion) to bring it back")
}
