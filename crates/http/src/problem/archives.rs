//! problem+json for archives: the tenant's data exports and operators' imports, each error's
//! status and stable code.

use actix_web::http::StatusCode;
use tenantry_archive::{
    ArchiveError, DeletionError, ExportDownloadError, ImportError, RequestExportError,
};

use super::Problem;

pub fn export_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "export_not_found",
        "Export not found",
    )
    .detail("No export with this id exists in this tenant")
}

impl From<RequestExportError> for Problem {
    fn from(e: RequestExportError) -> Self {
        match e {
            RequestExportError::InvalidRecipient(detail) => Problem::field(
                "recipients",
                format!("not an age recipient (age1…): {detail}"),
            ),
            RequestExportError::TooManyRecipients => Problem::field("recipients", e.to_string()),
            RequestExportError::InProgress => Problem::new(
                StatusCode::CONFLICT,
                "export_in_progress",
                "Export in progress",
            )
            .detail("An export of this tenant is queued or running; wait for it to end"),
            RequestExportError::Unexpected(e) => Problem::internal(e),
        }
    }
}

impl From<DeletionError> for Problem {
    fn from(e: DeletionError) -> Self {
        match e {
            DeletionError::SlugMismatch => Problem::field(
                "slug",
                "type this organisation's slug exactly, to confirm its deletion",
            ),
            DeletionError::AlreadyPending => {
                Problem::new(StatusCode::CONFLICT, "deletion_pending", "Deletion pending")
                    .detail("This organisation's deletion is already scheduled; cancel it first")
            }
            DeletionError::NotPending => Problem::new(
                StatusCode::NOT_FOUND,
                "no_deletion_pending",
                "No deletion pending",
            )
            .detail("No deletion of this organisation is scheduled"),
            DeletionError::PurgeUnderWay => {
                Problem::new(StatusCode::CONFLICT, "purge_under_way", "Purge under way").detail(
                    "The purge of this organisation has begun: it can no longer be cancelled",
                )
            }
            DeletionError::Unexpected(e) => Problem::internal(e),
        }
    }
}

impl From<ExportDownloadError> for Problem {
    fn from(e: ExportDownloadError) -> Self {
        match e {
            ExportDownloadError::NotFound => export_not_found(),
            ExportDownloadError::NotReady(status) => Problem::new(
                StatusCode::CONFLICT,
                "export_not_ready",
                "Export not ready",
            )
            .detail(format!("The export is {status}: only a completed export downloads")),
            ExportDownloadError::Expired => Problem::new(
                StatusCode::GONE,
                "export_expired",
                "Export expired",
            )
            .detail("This export's download link expired and its archive was deleted; request a new export"),
            ExportDownloadError::Storage(detail) => super::files::storage_unavailable(
                &tenantry_files::StorageError::Failed(detail),
            ),
            ExportDownloadError::Unexpected(e) => Problem::internal(e),
        }
    }
}

impl From<tenantry_onboarding::bulk::BulkError> for Problem {
    fn from(e: tenantry_onboarding::bulk::BulkError) -> Self {
        use tenantry_onboarding::bulk::BulkError;
        match e {
            BulkError::Invalid(errors) => Problem::validation(
                errors
                    .into_iter()
                    .map(|e| super::FieldError {
                        row: usize::try_from(e.line).ok(),
                        ..super::FieldError::new(e.field, e.message)
                    })
                    .collect(),
            )
            .detail("Nothing was created: every row error of the file is listed (`row` is the file's line; 1 is the header)"),
            BulkError::Unexpected(e) => Problem::internal(e),
        }
    }
}

fn archive_problem(e: ArchiveError) -> Problem {
    let unprocessable = |code: &'static str, title: &'static str, detail: String| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, title).detail(detail)
    };
    match e {
        ArchiveError::Encrypted => unprocessable(
            "archive_encrypted",
            "Archive encrypted",
            "Send the passphrase (X-Archive-Passphrase) or the age identity \
             (X-Archive-Identity) the archive was made for"
                .to_owned(),
        ),
        ArchiveError::WrongKey | ArchiveError::Key(_) => {
            unprocessable("archive_key_wrong", "Wrong archive key", e.to_string())
        }
        ArchiveError::Malformed(_) | ArchiveError::Version(_) | ArchiveError::Damaged(_) => {
            unprocessable("archive_invalid", "Invalid archive", e.to_string())
        }
        ArchiveError::Storage(detail) => {
            super::files::storage_unavailable(&tenantry_files::StorageError::Failed(detail))
        }
        ArchiveError::Io(io) => Problem::internal(tenantry_kernel::Unexpected::new(io)),
    }
}

impl From<ImportError> for Problem {
    fn from(e: ImportError) -> Self {
        let conflict = |code: &'static str, title: &'static str, detail: String| {
            Problem::new(StatusCode::CONFLICT, code, title).detail(detail)
        };
        let detail = e.to_string();
        match e {
            ImportError::Archive(a) => archive_problem(a),
            ImportError::NotImportable => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "archive_not_importable",
                "Archive not importable",
            )
            .detail("This is a tenant's own export (no credentials): only an operator's archive imports"),
            ImportError::TenantExists(_) => conflict("tenant_exists", "Tenant exists", detail),
            ImportError::SlugTaken(_) => conflict("slug_taken", "Slug taken", detail),
            ImportError::InvalidSlug(_, message) => Problem::field("slug", message),
            ImportError::DomainTaken(_) => conflict("domain_taken", "Domain taken", detail),
            ImportError::UserConflict { .. } => {
                conflict("account_conflict", "Account conflict", detail)
            }
            ImportError::PlanUnknown(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "plan_unknown",
                "Plan unknown",
            )
            .detail(detail),
            ImportError::Rejected { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "archive_rejected",
                "Archive rejected",
            )
            .detail(detail),
            ImportError::NoSuchBackup => Problem::new(
                StatusCode::NOT_FOUND,
                "backup_not_found",
                "Backup not found",
            )
            .detail(detail),
            ImportError::Unexpected(e) => Problem::internal(e),
        }
    }
}
