//! The operator API's import: an operator's archive (`tenantry tenant export`) sent as the
//! body, streamed to a private temporary file, then imported in one transaction — what
//! `tenantry tenant import` does, over HTTP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tenantry_archive::{ArchiveError, ImportError, SecretString, Unsealing};
use tenantry_kernel::Unexpected;
use tokio::io::AsyncWriteExt as _;
use utoipa::{IntoParams, ToSchema};

use crate::json::{ApiQuery, JsonBody};
use crate::operator::Operator;
use crate::problem::{Problem, ProblemBody};
use crate::responses::{OperatorErrors, QueryErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

const PASSPHRASE: &str = "x-archive-passphrase";
const IDENTITY: &str = "x-archive-identity";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Import under this slug instead of the archive's.
    #[param(
        min_length = 2,
        max_length = 63,
        pattern = "^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
    )]
    pub slug: Option<String>,
}

/// What an import wrote.
#[derive(Serialize, ToSchema)]
pub struct ImportedView {
    pub tenant_id: uuid::Uuid,
    pub slug: String,
    /// Rows written per entity.
    pub rows: BTreeMap<String, u64>,
    /// Files stored.
    pub files: u64,
}

/// A private file under the system's temporary directory, removed when dropped.
struct Spool(PathBuf);

impl Spool {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn invalid_header(detail: &str) -> Problem {
    Problem::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        "invalid_header",
        "Invalid header",
    )
    .detail(detail)
}

fn unsealing(req: &HttpRequest) -> Result<Unsealing, Problem> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| {
                v.to_str()
                    .map(str::to_owned)
                    .map_err(|_| invalid_header(&format!("{name} must be text")))
            })
            .transpose()
    };
    match (header(PASSPHRASE)?, header(IDENTITY)?) {
        (Some(_), Some(_)) => Err(invalid_header(
            "Send X-Archive-Passphrase or X-Archive-Identity, not both",
        )),
        (Some(passphrase), None) => Ok(Unsealing::Passphrase(SecretString::from(passphrase))),
        (None, Some(identity)) => {
            Unsealing::identity_file(&identity).map_err(|e| Problem::from(ImportError::Archive(e)))
        }
        (None, None) => Ok(Unsealing::None),
    }
}

/// Import an operator's archive (`tenantry tenant export`; gzip, or age-encrypted — send the
/// passphrase as `X-Archive-Passphrase` or the identity as `X-Archive-Identity`). Everything
/// is checked before anything is written, then every row goes in one transaction: ids
/// preserved, the audit chain preserved and a `tenant imported` entry appended. A slug or
/// verified domain already taken is refused with nothing written.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    params(
        ImportQuery,
        ("X-Archive-Passphrase" = Option<String>, Header, description = "The passphrase the archive was encrypted with"),
        ("X-Archive-Identity" = Option<String>, Header, description = "An age identity (`AGE-SECRET-KEY-1…`) of a recipient the archive was encrypted to"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The archive"),
    responses(
        (status = 201, description = "Imported", body = ImportedView),
        (status = 400, description = "Unreadable key headers, or a body that broke off (`invalid_header`, `body_incomplete`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The tenant, its slug, one of its domains or an account's e-mail is taken here (`tenant_exists`, `slug_taken`, `domain_taken`, `account_conflict`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Larger than this instance takes (`payload_too_large`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as application/octet-stream or application/gzip (`unsupported_media_type`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Not an importable archive, damaged, or the key does not open it (`archive_invalid`, `archive_not_importable`, `archive_encrypted`, `archive_key_wrong`, `plan_unknown`, `archive_rejected`, `validation_failed`)", body = ProblemBody, content_type = "application/problem+json"),
        QueryErrors,
        OperatorErrors,
    )
)]
#[post("/import")]
pub async fn import_tenant(
    op: Operator,
    req: HttpRequest,
    state: Data,
    query: ApiQuery<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let binary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.essence_str() == "application/octet-stream" || m.essence_str() == "application/gzip"
        });
    if !binary {
        return Err(Problem::unsupported_media_type()
            .detail("Send the archive as application/octet-stream (or application/gzip)"));
    }
    let unsealing = unsealing(&req)?;
    let spool = spool(&state, payload).await?;
    let imported = state
        .imports
        .import(spool.path(), unsealing, query.0.slug, op.actor())
        .await?;
    Ok(HttpResponse::Created().json_body(ImportedView {
        tenant_id: *imported.tenant.id.as_uuid(),
        slug: imported.tenant.slug,
        rows: imported.rows.into_iter().collect(),
        files: imported.files,
    }))
}

/// The body, written to a private temporary file (an import reads it twice).
async fn spool(state: &AppState, mut payload: web::Payload) -> Result<Spool, Problem> {
    let internal = |e: std::io::Error| Problem::internal(Unexpected::new(e));
    let spool = Spool(std::env::temp_dir().join(format!(
        "tenantry-import-{}.archive",
        uuid::Uuid::now_v7().simple()
    )));
    let mut file = tokio::fs::File::from_std(create_private(spool.path()).map_err(internal)?);
    let (limit, idle) = (state.config.max_import_bytes, state.config.body_timeout);
    let mut size = 0u64;
    loop {
        match tokio::time::timeout(idle, payload.next()).await {
            Err(_) => return Err(Problem::request_timeout(idle)),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(Problem::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "body_incomplete",
                    "Body incomplete",
                )
                .detail(format!("The body broke off: {e}")));
            }
            Ok(Some(Ok(chunk))) => {
                size += chunk.len() as u64;
                if size > limit {
                    return Err(Problem::payload_too_large(
                        usize::try_from(limit).unwrap_or(usize::MAX),
                    ));
                }
                file.write_all(&chunk).await.map_err(internal)?;
            }
        }
    }
    file.flush().await.map_err(internal)?;
    if size == 0 {
        return Err(Problem::from(ImportError::Archive(
            ArchiveError::Malformed("the body is empty".to_owned()),
        )));
    }
    Ok(spool)
}

/// One tenant a CSV row created.
#[derive(Serialize, ToSchema)]
pub struct ProvisionedView {
    pub tenant_id: uuid::Uuid,
    pub slug: String,
    pub plan: String,
    /// Invited as the tenant's owner (the e-mail is on its way).
    pub owner_email: String,
    pub invitation_id: uuid::Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct ProvisionedList {
    pub items: Vec<ProvisionedView>,
}

/// Create many tenants from a CSV file (`text/csv`): the columns `name`, `subdomain` (the
/// slug), `plan_type` (a plan code; `basic` means `starter`), `contact_email` (invited as
/// owner: no password travels in a file), and optionally `max_assets` and `max_users` (the
/// `products` and `members` quotas, overriding the plan's). Every row is checked first: a
/// 422 lists every row error (`row` is the file's line) and nothing is created. Then all of
/// them are created in one transaction.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    request_body(content = String, content_type = "text/csv", description = "The CSV file, with its header line"),
    responses(
        (status = 201, description = "Created, in the file's order", body = ProvisionedList),
        (status = 413, description = "Larger than the body limit (`payload_too_large`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as text/csv (`unsupported_media_type`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Row errors, all of them; nothing created (`validation_failed`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[post("/bulk")]
pub async fn provision_tenants(
    op: Operator,
    req: HttpRequest,
    state: Data,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let csv = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str() == "text/csv");
    if !csv {
        return Err(Problem::unsupported_media_type().detail("Send the file as text/csv"));
    }
    let created = state
        .provisioning
        .provision_csv(
            &body,
            op.actor(),
            (*crate::request_context::origin_of(&req)).clone(),
        )
        .await?;
    Ok(HttpResponse::Created().json_body(ProvisionedList {
        items: created
            .into_iter()
            .map(|p| ProvisionedView {
                tenant_id: *p.tenant.id.as_uuid(),
                slug: p.tenant.slug.as_str().to_owned(),
                plan: p.plan,
                owner_email: p.owner_email.as_str().to_owned(),
                invitation_id: *p.invitation.as_uuid(),
            })
            .collect(),
    }))
}
