//! Invitations: issued by members with `members:manage`, looked up and accepted by token.

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_identity::{DisplayName, InvitationView, NewPassword, RefreshSecret};
use tenantry_kernel::{Email, InvitationId, TenantId};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::authn::Authenticated;
use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody, OptionalJson};
use crate::paging::{PageQuery, page_of};
use crate::problem::Problem;
use crate::responses::{BodyErrors, MemberErrors, QueryErrors, TenantClosed};
use crate::routes::auth::SessionView;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct InviteBody {
    #[schema(example = "bob@acme.test", format = Email, max_length = 254)]
    pub email: String,
    /// The name of one of this tenant's roles.
    #[schema(example = "member")]
    pub role: String,
}

/// What an invitee sees before accepting.
#[derive(Serialize, ToSchema)]
pub struct InvitationPreviewView {
    #[schema(example = "Acme Inc")]
    pub tenant_name: String,
    #[schema(example = "Ann Lee")]
    /// Who invited (null: the platform).
    pub inviter_name: Option<String>,
    #[schema(example = "member")]
    pub role: String,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub expires_at: DateTime<Utc>,
}

/// Sign-up details, when accepting without an account.
#[derive(Deserialize, ToSchema, Default)]
pub struct AcceptBody {
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
    /// 10–128 characters, not a common password, not the invited e-mail address.
    #[schema(min_length = 10, max_length = 128)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptedView {
    pub tenant_id: Uuid,
    pub role_id: Uuid,
    /// A session for a user who signed up while accepting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionView>,
}

type Data = web::Data<AppState>;

/// Invite someone by e-mail to join with one of this tenant's roles. They get a link valid
/// for 7 days; an earlier pending invitation of the same address is revoked.
#[utoipa::path(
    extensions(("x-permission" = json!("members:manage"))),
    tag = "invitations", security(("bearer_token" = [])),
    request_body = InviteBody,
    responses(
        (status = 201, description = "The invitation", body = InvitationView),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn invite(
    m: Member,
    state: Data,
    body: ApiJson<InviteBody>,
) -> Result<HttpResponse, Problem> {
    let email = Email::parse(&body.0.email).map_err(|e| Problem::field("email", e.to_string()))?;
    let role = state
        .rbac
        .role_named(&m.ctx, &body.0.role)
        .await?
        .ok_or_else(|| {
            Problem::field("role", format!("this tenant has no role '{}'", body.0.role))
        })?;
    if let Some(p) = tenantry_rbac::service::beyond(&m.permissions, &role.permissions) {
        return Err(crate::guard::permission_denied(p).detail(format!(
            "you cannot invite into a role with '{p}', which you do not have"
        )));
    }
    let inviter = state.auth.me(m.user_id).await?;
    let invitation = state
        .invitations
        .invite(&m.ctx, &inviter, email, role.id)
        .await?;
    Ok(HttpResponse::Created().json_body(InvitationView::from(&invitation)))
}

page_of!(
    /// One page of pending invitations.
    InvitationPage of InvitationView
);

/// Pending invitations, newest first.
#[utoipa::path(
    extensions(("x-permission" = json!("members:manage"))),
    tag = "invitations", security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of pending invitations", body = InvitationPage),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_invitations(
    m: Member,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<InvitationPage>, Problem> {
    let pending = state.invitations.pending(&m.ctx, &query.0.by_id()?).await?;
    Ok(web::Json(InvitationPage::of(pending)))
}

/// Send a pending invitation again with a new link and a new expiry; the old link dies.
#[utoipa::path(
    extensions(("x-permission" = json!("members:manage"))),
    tag = "invitations", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The invitation's id")),
    responses(
        (status = 200, description = "The invitation", body = InvitationView),
        (status = 404, description = "No pending invitation with this id here (`invitation_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[post("/{id}/resend")]
pub async fn resend_invitation(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<InvitationView>, Problem> {
    let id = InvitationId::from_uuid(path.into_inner());
    let invitation = state.invitations.resend(&m.ctx, id).await?;
    Ok(web::Json(InvitationView::from(&invitation)))
}

/// Revoke a pending invitation: its link stops working.
#[utoipa::path(
    extensions(("x-permission" = json!("members:manage"))),
    tag = "invitations", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The invitation's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No pending invitation with this id here (`invitation_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{id}")]
pub async fn revoke_invitation(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    state
        .invitations
        .revoke(&m.ctx, InvitationId::from_uuid(path.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What an invitation link offers: tenant, inviter, role, expiry. No sign-in needed.
#[utoipa::path(tag = "invitations",
    params(("token" = String, Path, description = "The token from the invitation link")),
    responses(
        (status = 200, description = "The invitation", body = InvitationPreviewView),
        (status = 410, description = "Used, revoked, expired or unknown (`invitation_gone`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        TenantClosed,
    )
)]
#[get("/lookup/{token}")]
pub async fn lookup_invitation(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<InvitationPreviewView>, Problem> {
    let p = state
        .invitations
        .lookup(&RefreshSecret(path.into_inner()))
        .await?;
    tenant_open(&state, &req, p.invitation.tenant_id).await?;
    Ok(web::Json(InvitationPreviewView {
        tenant_name: p.tenant_name,
        inviter_name: p.inviter_name,
        role: p.role_name,
        expires_at: p.invitation.expires_at,
    }))
}

/// Accept an invitation: signed in (with `Authorization: Bearer`, as the invited e-mail), or
/// signing up in the same call with `display_name` and `password` (then a session is returned).
#[utoipa::path(tag = "invitations",
    params(("token" = String, Path, description = "The token from the invitation link")),
    request_body(content = Option<AcceptBody>, description = "Only when signing up"),
    responses(
        (status = 200, description = "Accepted by the signed-in user", body = AcceptedView),
        (status = 201, description = "Signed up and accepted", body = AcceptedView),
        (status = 401, description = "Invalid access token (`unauthorized`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Signed in as another e-mail (`invitation_email_mismatch`), or the tenant is suspended (`tenant_inactive`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Already a member, or the e-mail has an account: sign in first (`already_member`, `email_taken`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "Used, revoked, expired or unknown (`invitation_gone`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The tenant is in maintenance (`tenant_maintenance`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("/accept/{token}")]
pub async fn accept_invitation(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    body: OptionalJson<AcceptBody>,
) -> Result<HttpResponse, Problem> {
    let body = body.0;
    let token = RefreshSecret(path.into_inner());
    let origin = crate::request_context::origin_of(&req);
    // A malformed body is refused as such, whatever the token (422 before 410).
    if let Some(b) = &body {
        let mut fields = crate::problem::Fields::default();
        fields.opt("display_name", b.display_name.clone(), DisplayName::parse);
        let len = b.password.as_deref().map(|p| p.chars().count());
        let range = NewPassword::MIN_CHARS..=NewPassword::MAX_CHARS;
        if len.is_some_and(|n| !range.contains(&n)) {
            fields.take::<(), _>(
                "password",
                Err(format!(
                    "password must be {} to {} characters long",
                    range.start(),
                    range.end()
                )),
            );
        }
        fields.finish()?;
    }
    // The tenant must be open before anything is written (an account, a membership).
    let invited_to = state.invitations.lookup(&token).await?.invitation.tenant_id;
    tenant_open(&state, &req, invited_to).await?;
    if req.headers().contains_key(header::AUTHORIZATION) {
        let who = Authenticated::extract(&req)
            .await
            .map_err(|_| Problem::unauthorized("The access token is invalid or expired"))?;
        let user = state.auth.me(who.user_id).await?;
        let inv = state.invitations.accept_as(&token, user, &origin).await?;
        state.members.invalidate();
        return Ok(HttpResponse::Ok().json_body(AcceptedView {
            tenant_id: *inv.tenant_id.as_uuid(),
            role_id: *inv.role_id.as_uuid(),
            session: None,
        }));
    }
    let b = body.unwrap_or_default();
    let name = b
        .display_name
        .as_deref()
        .ok_or_else(|| {
            Problem::field(
                "display_name",
                "sign in, or give a display name and a password to sign up",
            )
        })
        .and_then(|n| DisplayName::parse(n).map_err(|e| Problem::field("display_name", e.0)))?;
    let password = b
        .password
        .ok_or_else(|| Problem::field("password", "a password is needed to sign up"))?;
    let (inv, session) = state
        .invitations
        .accept_signing_up(&token, name, &password, &origin)
        .await?;
    state.members.invalidate();
    Ok(HttpResponse::Created().json_body(AcceptedView {
        tenant_id: *inv.tenant_id.as_uuid(),
        role_id: *inv.role_id.as_uuid(),
        session: Some(SessionView::new(&session)),
    }))
}

/// An invitation works only while its tenant is open: a suspended tenant or one in
/// maintenance answers here as on every other route into it.
async fn tenant_open(state: &AppState, req: &HttpRequest, id: TenantId) -> Result<(), Problem> {
    let tenant = state
        .resolver
        .by_id(id)
        .await?
        .ok_or_else(Problem::tenant_not_found)?;
    crate::resolve::pass_gate(state, &tenant, crate::authn::bearer_token(req)).await
}
