//! problem+json for the tenant's data exports: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_archive::{ExportDownloadError, RequestExportError};

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
