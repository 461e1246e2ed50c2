//! The tenant's files (`files:read` / `files:write`): multipart uploads streamed to storage,
//! downloads streamed back with `ETag` and byte ranges, short-lived links where the storage
//! signs them (S3), and products' images.

use std::time::Duration;

use actix_web::http::header::{self, ByteRangeSpec, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use tenantry_files::{FileName, FileQuery, FileView, StoredFile, TypeFilter};
use tenantry_kernel::{FileId, ProductId, Unexpected};
use tenantry_products::ProductImageView;
use utoipa::{IntoParams, ToSchema};

use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody};
use crate::paging::page_of;
use crate::problem::files::{file_not_found, range_not_satisfiable};
use crate::problem::products::product_not_found;
use crate::problem::{Problem, ProblemBody};
use crate::responses::{BodyErrors, MemberErrors, QueryErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

page_of!(
    /// One page of files, newest first.
    FilePage of FileView
);

/// The multipart form of an upload (documents the request body; it is read as a stream).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file. Its name (`filename` in the part's `Content-Disposition`) is kept as
    /// metadata; its type is read from the content.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Upload a file: one `file` part of a `multipart/form-data` body, streamed to storage. Its
/// type is read from its content and must be one tenants may store; its size is limited by
/// the plan (`max_file_bytes`) and counted against the `storage_bytes` quota.
#[utoipa::path(
    extensions(("x-permission" = json!("files:write"))),
    tag = "files", security(("bearer_token" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The file", body = FileView),
        (status = 400, description = "Not a readable multipart body (`malformed_multipart`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "The storage quota is full (`quota_exceeded`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 408, description = "The body stalled (`request_timeout`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the plan allows (`file_too_large`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart (`unsupported_media_type`) or a type tenants may not store (`file_type_not_allowed`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "No `file` part, or a bad file name (`validation_failed`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The storage is unavailable (`storage_unavailable`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[post("")]
pub async fn upload_file(
    m: Member,
    state: Data,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA);
    if !multipart {
        return Err(
            Problem::unsupported_media_type().detail("Send the file as multipart/form-data")
        );
    }
    let max_file = crate::entitlements::plan_number(&state, &m.ctx, "max_file_bytes")
        .await?
        .unwrap_or(state.config.max_file_bytes);
    // A body may take as long as it needs, but may not stall.
    let idle = state.config.body_timeout;
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut field = loop {
        match tokio::time::timeout(idle, form.next()).await {
            Err(_) => return Err(Problem::request_timeout(idle)),
            Ok(None) => return Err(Problem::field("file", "a part named `file` is required")),
            Ok(Some(Err(e))) => return Err(malformed_multipart(&e)),
            Ok(Some(Ok(field))) if field.name() == Some("file") => break field,
            // Other parts are skipped (dropping a part reads past it).
            Ok(Some(Ok(_))) => {}
        }
    };
    let raw_name = field
        .content_disposition()
        .and_then(|cd| cd.get_filename())
        .unwrap_or("upload")
        .to_owned();
    let name = FileName::parse(&raw_name).map_err(|e| Problem::field("file", e.0))?;
    let mut up = state.files.begin(&m.ctx, name, max_file).await?;
    loop {
        let refused = match tokio::time::timeout(idle, field.next()).await {
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => {
                // A refused chunk aborts the upload itself.
                state.files.write(&m.ctx, &mut up, chunk).await?;
                continue;
            }
            Ok(Some(Err(e))) => malformed_multipart(&e),
            Err(_) => Problem::request_timeout(idle),
        };
        state.files.abort(&mut up).await;
        return Err(refused);
    }
    let file = state.files.finish(&m.ctx, up).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/files/{}", file.id)))
        .json_body(FileView::from(&file)))
}

fn malformed_multipart(e: &actix_multipart::MultipartError) -> Problem {
    Problem::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        "malformed_multipart",
        "Malformed multipart body",
    )
    .detail(format!("The multipart body could not be read: {e}"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilesQuery {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only files of this type (`image/png`) or family (`image/*`).
    #[param(example = "image/*")]
    pub content_type: Option<String>,
}

/// The tenant's files, newest first.
#[utoipa::path(
    extensions(("x-permission" = json!("files:read"))),
    tag = "files", security(("bearer_token" = [])),
    params(ListFilesQuery),
    responses(
        (status = 200, description = "One page of files", body = FilePage),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_files(
    m: Member,
    state: Data,
    query: ApiQuery<ListFilesQuery>,
) -> Result<web::Json<FilePage>, Problem> {
    let q = query.0;
    let page = crate::paging::PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .by_id()?;
    let content_type = q
        .content_type
        .as_deref()
        .map(TypeFilter::parse)
        .transpose()
        .map_err(|e| Problem::invalid_query(e.0))?;
    let files = state
        .files
        .list(&m.ctx, &FileQuery { page, content_type })
        .await?;
    Ok(web::Json(FilePage::of(files)))
}

async fn find(state: &AppState, m: &Member, id: uuid::Uuid) -> Result<StoredFile, Problem> {
    state
        .files
        .get(&m.ctx, FileId::from_uuid(id))
        .await?
        .ok_or_else(file_not_found)
}

/// One file's metadata.
#[utoipa::path(
    extensions(("x-permission" = json!("files:read"))),
    tag = "files", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The file's id")),
    responses(
        (status = 200, description = "The file", body = FileView),
        (status = 404, description = "No such file here (`file_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}")]
pub async fn get_file(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<FileView>, Problem> {
    let file = find(&state, &m, path.into_inner()).await?;
    Ok(web::Json(FileView::from(&file)))
}

/// Download a file, streamed: `Content-Type` as sniffed at upload, `ETag` (its SHA-256),
/// `If-None-Match` (304), and one byte range (`Range: bytes=…`, 206; `If-Range` honoured).
#[utoipa::path(
    extensions(("x-permission" = json!("files:read"))),
    tag = "files", security(("bearer_token" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The file's id"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` you hold: 304 if it is still current"),
    ),
    responses(
        (status = 200, description = "The content, as its `content_type`", content_type = "*/*", body = Vec<u8>),
        (status = 206, description = "The requested range, as its `content_type`", content_type = "*/*", body = Vec<u8>),
        (status = 304, description = "Your copy is current"),
        (status = 404, description = "No such file here (`file_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 416, description = "No byte of the range exists (`range_not_satisfiable`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The storage is unavailable (`storage_unavailable`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}/content")]
pub async fn file_content(
    m: Member,
    state: Data,
    req: HttpRequest,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    let file = find(&state, &m, path.into_inner()).await?;
    let etag = file.etag();
    let etag_header =
        HeaderValue::from_str(&etag).map_err(|e| Problem::internal(Unexpected::new(e)))?;
    if matches_etag(req.headers().get(header::IF_NONE_MATCH), &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag_header))
            .finish());
    }
    let range = requested_range(&req, &etag, file.size)?;
    let body = state
        .files
        .content(&m.ctx, &file, range.map(|(start, end)| start..end + 1))
        .await?;
    let mut res = match range {
        Some((start, end)) => {
            let mut res = HttpResponse::PartialContent();
            res.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", file.size),
            ));
            res
        }
        None => HttpResponse::Ok(),
    };
    let length = range.map_or(file.size, |(start, end)| end - start + 1);
    Ok(res
        .insert_header((header::CONTENT_TYPE, file.content_type.as_str()))
        .insert_header((header::ETAG, etag_header))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((header::CONTENT_DISPOSITION, file.name.attachment()))
        .no_chunking(length)
        .streaming(body.map_err(|e| {
            tracing::warn!(error = %e, "a download broke off");
            std::io::Error::other(e.to_string())
        })))
}

/// Whether an `If-None-Match` names `etag` (or is `*`).
fn matches_etag(header: Option<&HeaderValue>, etag: &str) -> bool {
    header.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    })
}

/// The one byte range to serve (inclusive), `None` for the whole file. A `Range` that is not
/// one byte range, or whose `If-Range` no longer matches, is ignored (the whole file, as RFC
/// 9110 allows); one that matches no byte is a 416.
fn requested_range(
    req: &HttpRequest,
    etag: &str,
    size: u64,
) -> Result<Option<(u64, u64)>, Problem> {
    let Some(raw) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    if let Some(if_range) = req.headers().get(header::IF_RANGE)
        && if_range.to_str().ok().map(str::trim) != Some(etag)
    {
        return Ok(None);
    }
    let Ok(header::Range::Bytes(specs)) = raw.parse::<header::Range>() else {
        return Ok(None);
    };
    let [spec]: [ByteRangeSpec; 1] = match specs.try_into() {
        Ok(one) => one,
        Err(_) => return Ok(None),
    };
    spec.to_satisfiable_range(size)
        .map(Some)
        .ok_or_else(|| range_not_satisfiable(size))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// How long the link works, in seconds (default 300, at most 3600).
    #[param(minimum = 1, maximum = 3600)]
    pub expires_in: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct FileLink {
    /// Downloads the file without credentials until `expires_at`.
    pub url: String,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A short-lived link that downloads the file straight from the storage, without
/// credentials (large files need not pass through the API). Only where the storage signs
/// links (S3); on local disk, 409 `links_unavailable`.
#[utoipa::path(
    extensions(("x-permission" = json!("files:read"))),
    tag = "files", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The file's id"), LinkQuery),
    responses(
        (status = 200, description = "The link", body = FileLink),
        (status = 404, description = "No such file here (`file_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "This storage does not sign links (`links_unavailable`)", body = ProblemBody, content_type = "application/problem+json"),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("/{id}/link")]
pub async fn file_link(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    query: ApiQuery<LinkQuery>,
) -> Result<web::Json<FileLink>, Problem> {
    let secs = query.0.expires_in.unwrap_or(300);
    if !(1..=3600).contains(&secs) {
        return Err(Problem::invalid_query(
            "expires_in must be between 1 and 3600",
        ));
    }
    let id = FileId::from_uuid(path.into_inner());
    let (url, expires_at) = state
        .files
        .link(&m.ctx, id, Duration::from_secs(secs))
        .await?
        .ok_or_else(|| {
            Problem::new(
                actix_web::http::StatusCode::CONFLICT,
                "links_unavailable",
                "Links unavailable",
            )
            .detail("This tenant's files are on a storage that does not sign links; download them from /content")
        })?;
    Ok(web::Json(FileLink { url, expires_at }))
}

/// Delete a file: it disappears at once (its bytes freed from the quota, detached from every
/// product); its content is removed from storage just after.
#[utoipa::path(
    extensions(("x-permission" = json!("files:write"))),
    tag = "files", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The file's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such file here (`file_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{id}")]
pub async fn delete_file(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    state
        .files
        .delete(&m.ctx, FileId::from_uuid(path.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct AttachImageBody {
    /// One of the tenant's files, of an image type.
    pub file_id: uuid::Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct ProductImages {
    /// In order (`position` 0 first).
    pub items: Vec<ProductImageView>,
}

/// Attach an image (one of the tenant's image files) after the product's last one; a product
/// holds at most 20.
#[utoipa::path(
    extensions(("x-permission" = json!("files:write"))),
    tag = "products", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The product's id")),
    request_body = AttachImageBody,
    responses(
        (status = 201, description = "The image", body = ProductImageView),
        (status = 404, description = "No such product here (`product_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Already attached (`image_already_attached`) or 20 images (`too_many_images`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("/{id}/images")]
pub async fn attach_image(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<AttachImageBody>,
) -> Result<HttpResponse, Problem> {
    let image = state
        .products
        .attach_image(
            &m.ctx,
            ProductId::from_uuid(path.into_inner()),
            FileId::from_uuid(body.0.file_id),
        )
        .await?;
    Ok(HttpResponse::Created().json_body(ProductImageView::from(&image)))
}

/// A product's images, in order.
#[utoipa::path(
    extensions(("x-permission" = json!("products:read"))),
    tag = "products", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The product's id")),
    responses(
        (status = 200, description = "The images", body = ProductImages),
        (status = 404, description = "No such product here (`product_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}/images")]
pub async fn list_images(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<ProductImages>, Problem> {
    let images = state
        .products
        .images(&m.ctx, ProductId::from_uuid(path.into_inner()))
        .await?
        .ok_or_else(product_not_found)?;
    Ok(web::Json(ProductImages {
        items: images.iter().map(ProductImageView::from).collect(),
    }))
}

/// Detach an image from the product (the file stays); the images after it move up.
#[utoipa::path(
    extensions(("x-permission" = json!("files:write"))),
    tag = "products", security(("bearer_token" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The product's id"),
        ("file_id" = uuid::Uuid, Path, description = "The image's file id"),
    ),
    responses(
        (status = 204, description = "Detached"),
        (status = 404, description = "No such product here (`product_not_found`) or not one of its images (`image_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{id}/images/{file_id}")]
pub async fn detach_image(
    m: Member,
    state: Data,
    path: ApiPath<(uuid::Uuid, uuid::Uuid)>,
) -> Result<HttpResponse, Problem> {
    let (product, file) = path.into_inner();
    state
        .products
        .detach_image(
            &m.ctx,
            ProductId::from_uuid(product),
            FileId::from_uuid(file),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
