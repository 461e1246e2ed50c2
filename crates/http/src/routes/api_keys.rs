//! API keys of the current tenant (permission `api_keys:manage`).

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use tenantry_identity::{ApiKeyView, DisplayName};
use tenantry_kernel::ApiKeyId;
use utoipa::ToSchema;

use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody};
use crate::paging::{PageQuery, page_of};
use crate::problem::Problem;
use crate::responses::{BodyErrors, MemberErrors, QueryErrors};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct CreateApiKeyBody {
    #[schema(example = "CI deploys", min_length = 1, max_length = 100)]
    pub name: String,
    /// A subset of the caller's own permissions.
    #[schema(example = json!(["products:read"]), value_type = Vec<crate::permissions::PermissionName>)]
    pub permissions: Vec<String>,
    pub expires_at: Option<crate::dates::Timestamp>,
}

/// A new key: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKeyView {
    /// `tnt_<prefix>_<secret>`: send it as `X-API-Key` or `Authorization: Bearer`.
    pub key: String,
    #[serde(flatten)]
    pub api_key: ApiKeyView,
}

type Data = web::Data<AppState>;

/// Create an API key bound to this tenant with some of the caller's permissions. The
/// response holds the key's secret; it is never shown again.
#[utoipa::path(
    extensions(("x-permission" = json!("api_keys:manage"))),
    tag = "api_keys", security(("bearer_token" = [])),
    request_body = CreateApiKeyBody,
    responses(
        (status = 201, description = "The key, with its secret", body = CreatedApiKeyView),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn create_api_key(
    m: Member,
    state: Data,
    body: ApiJson<CreateApiKeyBody>,
) -> Result<HttpResponse, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    let b = body.0;
    // A key's name follows the rules of a person's display name.
    let name = DisplayName::parse(&b.name).map_err(|e| Problem::field("name", e.0))?;
    let wanted = super::team::parse_permissions(&b.permissions)?;
    if let Some(p) = tenantry_rbac::service::beyond(&m.permissions, &wanted) {
        return Err(Problem::field(
            "permissions",
            format!("you cannot grant '{p}', which you do not have"),
        ));
    }
    let expires_at = b.expires_at.map(|t| t.0);
    if expires_at.is_some_and(|e| e <= state.auth.now()) {
        return Err(Problem::field("expires_at", "must be in the future"));
    }
    let (key, secret) = state
        .api_keys
        .create(
            &m.ctx,
            m.user_id,
            name.as_str().to_owned(),
            wanted.iter().map(|p| p.as_str().to_owned()).collect(),
            expires_at,
        )
        .await?;
    Ok(HttpResponse::Created().json_body(CreatedApiKeyView {
        key: secret,
        api_key: ApiKeyView::from(&key),
    }))
}

/// The tenant's API keys (never their secrets), newest first.
#[utoipa::path(
    extensions(("x-permission" = json!("api_keys:manage"))),
    tag = "api_keys", security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of keys", body = ApiKeyPage),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_api_keys(
    m: Member,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<ApiKeyPage>, Problem> {
    let keys = state.api_keys.list(&m.ctx, &query.0.by_id()?).await?;
    Ok(web::Json(ApiKeyPage::of(keys)))
}

page_of!(
    /// One page of API keys.
    ApiKeyPage of ApiKeyView
);

/// Revoke an API key: it stops working at once.
#[utoipa::path(
    extensions(("x-permission" = json!("api_keys:manage"))),
    tag = "api_keys", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No live key with this id here (`api_key_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{id}")]
pub async fn revoke_api_key(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    state
        .api_keys
        .revoke(&m.ctx, ApiKeyId::from_uuid(path.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
