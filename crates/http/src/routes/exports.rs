//! The tenant's data exports (permission `data:export`, the owners' by default): everything
//! the tenant owns in one archive, written by a job, downloadable until its link expires.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use futures_util::TryStreamExt as _;
use serde::Deserialize;
use tenantry_archive::ExportView;
use tenantry_kernel::ExportId;
use utoipa::ToSchema;

use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody};
use crate::paging::{PageQuery, page_of};
use crate::problem::archives::export_not_found;
use crate::problem::{Problem, ProblemBody};
use crate::responses::{BodyErrors, MemberErrors, QueryErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

/// An age X25519 recipient (a public key).
#[derive(ToSchema)]
#[schema(
    pattern = "^age1[02-9ac-hj-np-z]{58}$",
    example = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
)]
#[allow(dead_code)]
pub struct AgeRecipient(String);

#[derive(Deserialize, ToSchema)]
pub struct CreateExportBody {
    /// Encrypt the archive to these age recipients (any of their identities opens it); none:
    /// not encrypted.
    #[serde(default)]
    #[schema(max_items = 10, value_type = Vec<AgeRecipient>)]
    pub recipients: Vec<String>,
}

page_of!(
    /// One page of exports, newest first.
    ExportPage of ExportView
);

/// Export all of the tenant's data: a job writes one archive (the documented format: JSON
/// Lines per entity, a manifest with counts and SHA-256 checksums, the files; gzip, and age
/// when recipients are given) of everything the tenant owns, without credentials. Follow it
/// at `GET /api/v1/exports/{id}`; `export.completed` announces it. One at a time.
#[utoipa::path(
    extensions(("x-permission" = json!("data:export"))),
    tag = "exports", security(("bearer_token" = [])),
    request_body = CreateExportBody,
    responses(
        (status = 202, description = "Queued", body = ExportView),
        (status = 409, description = "An export is already under way (`export_in_progress`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn create_export(
    m: Member,
    state: Data,
    body: ApiJson<CreateExportBody>,
) -> Result<HttpResponse, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    let export = state
        .exports
        .request_export(&m.ctx, body.0.recipients)
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/v1/exports/{}", export.id)))
        .json_body(ExportView::from(&export)))
}

/// The tenant's exports, newest first.
#[utoipa::path(
    extensions(("x-permission" = json!("data:export"))),
    tag = "exports", security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of exports", body = ExportPage),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_exports(
    m: Member,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<ExportPage>, Problem> {
    let page = state.exports.exports(&m.ctx, &query.0.by_id()?).await?;
    Ok(web::Json(ExportPage::of(page)))
}

/// One export: its status and progress (rows and files written), and once completed its
/// size, checksum, download link and when that link expires.
#[utoipa::path(
    extensions(("x-permission" = json!("data:export"))),
    tag = "exports", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The export", body = ExportView),
        (status = 404, description = "No such export here (`export_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}")]
pub async fn get_export(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<ExportView>, Problem> {
    let export = state
        .exports
        .find_export(&m.ctx, ExportId::from_uuid(path.into_inner()))
        .await?
        .ok_or_else(export_not_found)?;
    Ok(web::Json(ExportView::from(&export)))
}

/// Download a completed export's archive, streamed (`application/gzip`, or
/// `application/octet-stream` when encrypted), until its link expires.
#[utoipa::path(
    extensions(("x-permission" = json!("data:export"))),
    tag = "exports", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The archive: gzip, or age-encrypted", content(
            (Vec<u8> = "application/gzip"),
            (Vec<u8> = "application/octet-stream"),
        )),
        (status = 404, description = "No such export here (`export_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Not written yet, or failed (`export_not_ready`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "Its link expired and the archive is deleted (`export_expired`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The storage is unavailable (`storage_unavailable`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}/download")]
pub async fn download_export(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    let (export, content) = state
        .exports
        .export_content(&m.ctx, ExportId::from_uuid(path.into_inner()))
        .await?;
    let content_type = if export.encrypted() {
        "application/octet-stream"
    } else {
        "application/gzip"
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", export.file_name()),
        ));
    if let Some(size) = export.size {
        res.no_chunking(size);
    }
    Ok(res.streaming(content.map_err(|e| {
        tracing::warn!(error = %e, "an export's download broke off");
        std::io::Error::other(e.to_string())
    })))
}
