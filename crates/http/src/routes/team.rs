//! Members and roles of the current tenant. Each route declares its permission (`x-permission`).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_kernel::{RoleId, UserId};
use tenantry_rbac::{PermissionSet, RoleName, RoleView, permissions};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody};
use crate::paging::{PageQuery, csv_download, export_page, page_of, pages, wants_csv};
use crate::problem::Problem;
use crate::responses::{BodyErrors, MemberErrors, QueryErrors};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct CreateRoleBody {
    #[schema(
        example = "billing",
        min_length = 2,
        max_length = 50,
        pattern = "^[a-z0-9_-]+$"
    )]
    pub name: String,
    #[schema(example = json!(["tenant:read", "audit:read"]), value_type = Vec<crate::permissions::PermissionName>)]
    pub permissions: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateRoleBody {
    #[schema(min_length = 2, max_length = 50, pattern = "^[a-z0-9_-]+$")]
    pub name: Option<String>,
    #[schema(value_type = Option<Vec<crate::permissions::PermissionName>>)]
    pub permissions: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role_id: Uuid,
    pub role: String,
    #[schema(example = "active")]
    pub status: &'static str,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<&tenantry_rbac::Member> for MemberView {
    fn from(m: &tenantry_rbac::Member) -> Self {
        Self {
            user_id: *m.membership.user_id.as_uuid(),
            email: m.email.clone(),
            display_name: m.display_name.clone(),
            role_id: *m.membership.role_id.as_uuid(),
            role: m.role_name.as_str().to_owned(),
            status: m.membership.status.as_str(),
            created_at: m.membership.created_at,
        }
    }
}

page_of!(
    /// One page of members.
    MemberPage of MemberView
);
page_of!(
    /// One page of roles.
    RolePage of RoleView
);

/// The columns of the members' CSV export.
const MEMBER_COLUMNS: &[&str] = &[
    "user_id",
    "email",
    "display_name",
    "role_id",
    "role",
    "status",
    "created_at",
];

#[derive(Deserialize, ToSchema)]
pub struct UpdateMemberBody {
    pub role_id: Uuid,
}

type Data = web::Data<AppState>;

pub(super) fn parse_permissions(names: &[String]) -> Result<PermissionSet, Problem> {
    permissions::parse_set(names.iter().map(String::as_str))
        .map_err(|e| Problem::field("permissions", e.0))
}

fn parse_name(raw: &str) -> Result<RoleName, Problem> {
    RoleName::parse(raw).map_err(|e| Problem::field("name", e.0))
}

/// The tenant's members with their roles, in the order they joined. With `Accept: text/csv`,
/// every member from the cursor on, as a streamed CSV download.
#[utoipa::path(
    extensions(("x-permission" = json!("members:read"))),
    tag = "team", security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of members (or, as CSV, all of them)", content(
            (MemberPage = "application/json"),
            (String = "text/csv"),
        )),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_members(
    m: Member,
    state: Data,
    req: HttpRequest,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let page = query
        .0
        .request(|k| tenantry_kernel::page::parse_time_id_key(k).is_some())?;
    if wants_csv(&req) {
        let ctx = m.ctx.clone();
        let fetch = pages(move |after| {
            let (state, ctx) = (state.clone(), ctx.clone());
            async move { Ok(state.rbac.members(&ctx, &export_page(after)).await?) }
        });
        return Ok(csv_download::<_, MemberView>(
            "members",
            MEMBER_COLUMNS,
            page.after,
            fetch,
        ));
    }
    let members = state.rbac.members(&m.ctx, &page).await?;
    Ok(HttpResponse::Ok().json_body(MemberPage::of(members)))
}

/// Give a member another role. The tenant's last owner keeps the owner role.
#[utoipa::path(
    extensions(("x-permission" = json!("members:manage"))),
    tag = "team", security(("bearer_token" = [])),
    params(("user_id" = uuid::Uuid, Path, description = "The member's user id")),
    request_body = UpdateMemberBody,
    responses(
        (status = 200, description = "The member", body = MemberView),
        (status = 404, description = "No such member here (`member_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The last owner (`last_owner`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[patch("/{user_id}")]
pub async fn update_member(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<UpdateMemberBody>,
) -> Result<web::Json<MemberView>, Problem> {
    let user = UserId::from_uuid(path.into_inner());
    state
        .rbac
        .change_member_role(
            &m.ctx,
            &m.permissions,
            user,
            RoleId::from_uuid(body.0.role_id),
        )
        .await?;
    state.members.invalidate();
    let member = state
        .rbac
        .member(&m.ctx, user)
        .await?
        .ok_or(tenantry_rbac::MemberError::NotFound)?;
    Ok(web::Json(MemberView::from(&member)))
}

/// Remove a member from the tenant (their account stays). Not the last owner.
#[utoipa::path(
    extensions(("x-permission" = json!("members:manage"))),
    tag = "team", security(("bearer_token" = [])),
    params(("user_id" = uuid::Uuid, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such member here (`member_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The last owner (`last_owner`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{user_id}")]
pub async fn remove_member(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    state
        .rbac
        .remove_member(&m.ctx, &m.permissions, UserId::from_uuid(path.into_inner()))
        .await?;
    state.members.invalidate();
    Ok(HttpResponse::NoContent().finish())
}

/// The tenant's roles, oldest first.
#[utoipa::path(
    extensions(("x-permission" = json!("members:read"))),
    tag = "team", security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of roles", body = RolePage),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_roles(
    m: Member,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<RolePage>, Problem> {
    let roles = state.rbac.roles(&m.ctx, &query.0.by_id()?).await?;
    Ok(web::Json(RolePage::of(roles)))
}

/// Create a role of this tenant.
#[utoipa::path(
    extensions(("x-permission" = json!("roles:manage"))),
    tag = "team", security(("bearer_token" = [])),
    request_body = CreateRoleBody,
    responses(
        (status = 201, description = "The role", body = RoleView),
        (status = 409, description = "Name taken (`role_name_taken`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn create_role(
    m: Member,
    state: Data,
    body: ApiJson<CreateRoleBody>,
) -> Result<HttpResponse, Problem> {
    let name = parse_name(&body.0.name)?;
    let permissions = parse_permissions(&body.0.permissions)?;
    let role = state
        .rbac
        .create_role(&m.ctx, &m.permissions, name, permissions)
        .await?;
    Ok(HttpResponse::Created().json_body(RoleView::from(&role)))
}

/// Rename a role or change its permissions. The owner role is fixed; the other system roles
/// keep their names and core permissions.
#[utoipa::path(
    extensions(("x-permission" = json!("roles:manage"))),
    tag = "team", security(("bearer_token" = [])),
    params(("role_id" = uuid::Uuid, Path, description = "The role's id")),
    request_body = UpdateRoleBody,
    responses(
        (status = 200, description = "The role", body = RoleView),
        (status = 404, description = "No such role here (`role_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Owner role, system role rename, core permission or name taken (`owner_role_locked`, `system_role`, `core_permission`, `role_name_taken`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[patch("/{role_id}")]
pub async fn update_role(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<UpdateRoleBody>,
) -> Result<web::Json<RoleView>, Problem> {
    let name = body.0.name.as_deref().map(parse_name).transpose()?;
    let permissions = body
        .0
        .permissions
        .as_deref()
        .map(parse_permissions)
        .transpose()?;
    let role = state
        .rbac
        .update_role(
            &m.ctx,
            &m.permissions,
            RoleId::from_uuid(path.into_inner()),
            name,
            permissions,
        )
        .await?;
    state.members.invalidate();
    Ok(web::Json(RoleView::from(&role)))
}

/// Delete a role nobody has. System roles stay.
#[utoipa::path(
    extensions(("x-permission" = json!("roles:manage"))),
    tag = "team", security(("bearer_token" = [])),
    params(("role_id" = uuid::Uuid, Path, description = "The role's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such role here (`role_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "In use or a system role (`role_in_use`, `system_role`, `owner_role_locked`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{role_id}")]
pub async fn delete_role(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    state
        .rbac
        .delete_role(&m.ctx, RoleId::from_uuid(path.into_inner()))
        .await?;
    state.members.invalidate();
    Ok(HttpResponse::NoContent().finish())
}
