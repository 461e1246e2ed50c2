//! problem+json for files and products' images: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_files::{BucketError, ContentError, DeleteFileError, StorageError, UploadError};
use tenantry_products::{ImageError, MAX_IMAGES};

use super::Problem;
use super::products::product_not_found;

pub fn file_not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "file_not_found", "File not found")
        .detail("No file with this id exists in this tenant")
}

/// A storage outage (or a tenant bucket refusing its credentials): worth retrying later.
pub(crate) fn storage_unavailable(e: &StorageError) -> Problem {
    let mut p = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "File storage unavailable",
    )
    .detail("The file storage could not be reached or refused the operation; try again later");
    p.retry_after = Some(30);
    tracing::warn!(error = %e, "file storage failed");
    p
}

/// A `Range` none of whose bytes exist: `Content-Range: bytes */<size>`.
pub fn range_not_satisfiable(size: u64) -> Problem {
    let mut p = Problem::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
        "Range not satisfiable",
    )
    .detail(format!("The file has {size} bytes"));
    p.content_range = Some(format!("bytes */{size}"));
    p
}

impl From<UploadError> for Problem {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::NotAllowed { content_type } => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "file_type_not_allowed",
                "File type not allowed",
            )
            .detail(format!(
                "The content is {content_type}; accepted are images, PDF, plain text, \
                 archives, office documents, MP3 and MP4"
            )),
            UploadError::TooLarge { limit } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                "File too large",
            )
            .detail(format!(
                "A file may have at most {limit} bytes on this plan"
            )),
            UploadError::Quota(q) => q.into(),
            UploadError::Storage(s) => storage_unavailable(&s),
            UploadError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<DeleteFileError> for Problem {
    fn from(e: DeleteFileError) -> Self {
        match e {
            DeleteFileError::NotFound => file_not_found(),
            DeleteFileError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<ContentError> for Problem {
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::NotFound => file_not_found(),
            ContentError::Storage(s) => storage_unavailable(&s),
            ContentError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<ImageError> for Problem {
    fn from(e: ImageError) -> Self {
        match e {
            ImageError::ProductNotFound => product_not_found(),
            ImageError::FileNotFound => Problem::field("file_id", "no such file in this tenant"),
            ImageError::NotAnImage { content_type } => Problem::field(
                "file_id",
                format!("the file is a {content_type}, not an image"),
            ),
            ImageError::AlreadyAttached => Problem::new(
                StatusCode::CONFLICT,
                "image_already_attached",
                "Image already attached",
            )
            .detail("The file is already one of this product's images"),
            ImageError::TooMany => {
                Problem::new(StatusCode::CONFLICT, "too_many_images", "Too many images")
                    .detail(format!("A product holds at most {MAX_IMAGES} images"))
            }
            ImageError::NotAttached => {
                Problem::new(StatusCode::NOT_FOUND, "image_not_found", "Image not found")
                    .detail("The file is not one of this product's images")
            }
            ImageError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<BucketError> for Problem {
    fn from(e: BucketError) -> Self {
        match e {
            BucketError::NotConfigured => Problem::new(
                StatusCode::NOT_FOUND,
                "storage_not_configured",
                "No bucket of its own",
            )
            .detail("This tenant's files are in the platform's storage"),
            BucketError::Refused(why) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "storage_check_failed",
                "The bucket could not be used",
            )
            .detail(format!(
                "A test object could not be written, read back and removed: {why}; nothing was saved"
            )),
            BucketError::Unexpected(u) => Problem::internal(u),
        }
    }
}
