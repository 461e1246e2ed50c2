//! The tenant's own bucket (`settings:manage`, plan feature `dedicated_storage`): its files
//! then go there only, and those it already has are moved there by a background job.

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use serde::{Deserialize, Serialize};
use tenantry_files::{BucketAccess, BucketDraft, BucketSettings, BucketView, MoveState};
use utoipa::ToSchema;

use crate::guard::Member;
use crate::json::{ApiJson, JsonBody};
use crate::operator::Operator;
use crate::problem::{FieldError, Problem, ProblemBody};
use crate::responses::{BodyErrors, MemberErrors, OperatorErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

/// An S3-compatible bucket of the tenant's own.
#[derive(Deserialize, ToSchema)]
pub struct StorageBody {
    /// The service's URL, `https://host[:port]` (`http://` for a private network the operator
    /// opened); omitted: AWS.
    #[schema(example = "https://s3.eu-central-1.amazonaws.com", max_length = 300)]
    pub endpoint: Option<String>,
    /// Default `us-east-1`.
    #[schema(example = "eu-central-1", min_length = 1, max_length = 64)]
    pub region: Option<String>,
    #[schema(example = "acme-files", min_length = 3, max_length = 63)]
    pub bucket: String,
    #[schema(min_length = 1, max_length = 128)]
    pub access_key_id: String,
    /// Stored sealed, never returned.
    #[schema(min_length = 1, max_length = 256)]
    pub secret_access_key: String,
}

/// Where the tenant's files are.
#[derive(Serialize, ToSchema)]
pub struct StorageView {
    /// The tenant's own bucket; null: the platform's storage.
    pub bucket: Option<BucketView>,
    /// Moving the files to where they belong now.
    #[serde(rename = "move")]
    pub progress: MoveState,
}

fn view(bucket: Option<&BucketSettings>, progress: MoveState) -> StorageView {
    StorageView {
        bucket: bucket.map(BucketView::from),
        progress,
    }
}

/// Where the tenant's files are kept, and how far moving them there has come.
#[utoipa::path(
    extensions(("x-permission" = json!("settings:manage")), ("x-feature" = json!("dedicated_storage"))),
    tag = "files", security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The storage", body = StorageView),
        MemberErrors,
    )
)]
#[get("/storage")]
pub async fn get_storage(m: Member, state: Data) -> Result<web::Json<StorageView>, Problem> {
    let (bucket, progress) = state.buckets.get(&m.ctx).await?;
    Ok(web::Json(view(bucket.as_ref(), progress)))
}

/// Keep the tenant's files in its own bucket from now on. The settings are checked first (a
/// test object written, read back and removed); then new files go there only, and the files
/// the tenant has are moved there by a background job (see `move`).
#[utoipa::path(
    extensions(("x-permission" = json!("settings:manage")), ("x-feature" = json!("dedicated_storage"))),
    tag = "files", security(("bearer_token" = [])),
    request_body = StorageBody,
    responses(
        (status = 200, description = "Saved; the move has started", body = StorageView),
        (status = 422, description = "Invalid settings (`validation_failed`) or a bucket that could not be used (`storage_check_failed`): nothing was saved", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[put("/storage")]
pub async fn put_storage(
    m: Member,
    state: Data,
    body: ApiJson<StorageBody>,
) -> Result<web::Json<StorageView>, Problem> {
    save(&state, &m.ctx, body.0).await
}

async fn save(
    state: &AppState,
    ctx: &tenantry_kernel::TenantCtx,
    b: StorageBody,
) -> Result<web::Json<StorageView>, Problem> {
    let draft = BucketDraft::parse(BucketAccess {
        endpoint: b.endpoint.filter(|e| !e.is_empty()),
        region: b.region.unwrap_or_else(|| "us-east-1".to_owned()),
        bucket: b.bucket,
        access_key_id: b.access_key_id,
        secret_access_key: b.secret_access_key,
    })
    .map_err(|errors| {
        Problem::validation(
            errors
                .into_iter()
                .map(|(field, e)| FieldError::new(field, e.0))
                .collect(),
        )
    })?;
    let (bucket, progress) = state.buckets.put(ctx, draft).await?;
    Ok(web::Json(view(Some(&bucket), progress)))
}

/// Back to the platform's storage: the files are moved back by a background job.
#[utoipa::path(
    extensions(("x-permission" = json!("settings:manage")), ("x-feature" = json!("dedicated_storage"))),
    tag = "files", security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The move back has started", body = StorageView),
        (status = 404, description = "No bucket of its own (`storage_not_configured`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/storage")]
pub async fn delete_storage(m: Member, state: Data) -> Result<HttpResponse, Problem> {
    let progress = state.buckets.delete(&m.ctx).await?;
    Ok(HttpResponse::Ok().json_body(view(None, progress)))
}

/// A tenant's storage, as the operator sees it.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, description = "The storage", body = StorageView),
        (status = 404, description = "No tenant (`tenant_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[get("/{tenant}/storage")]
pub async fn get_tenant_storage(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<StorageView>, Problem> {
    let ctx = op.ctx_in(&state, &req, &path.into_inner()).await?;
    let (bucket, progress) = state.buckets.get(&ctx).await?;
    Ok(web::Json(view(bucket.as_ref(), progress)))
}

/// Give a tenant its own bucket, whatever its plan (the operator's call): checked with a test
/// object first, then its files move there.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = StorageBody,
    responses(
        (status = 200, description = "Saved; the move has started", body = StorageView),
        (status = 404, description = "No tenant (`tenant_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid settings (`validation_failed`) or a bucket that could not be used (`storage_check_failed`): nothing was saved", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
        BodyErrors,
    )
)]
#[put("/{tenant}/storage")]
pub async fn put_tenant_storage(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    body: ApiJson<StorageBody>,
) -> Result<web::Json<StorageView>, Problem> {
    let ctx = op.ctx_in(&state, &req, &path.into_inner()).await?;
    save(&state, &ctx, body.0).await
}

/// Put a tenant's files back in the platform's storage.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, description = "The move back has started", body = StorageView),
        (status = 404, description = "No tenant (`tenant_not_found`) or no bucket of its own (`storage_not_configured`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[delete("/{tenant}/storage")]
pub async fn delete_tenant_storage(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let ctx = op.ctx_in(&state, &req, &path.into_inner()).await?;
    let progress = state.buckets.delete(&ctx).await?;
    Ok(HttpResponse::Ok().json_body(view(None, progress)))
}
