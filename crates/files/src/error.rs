//! One error enum per operation.

use tenantry_kernel::{QuotaError, Unexpected};
use thiserror::Error;

use crate::ports::StorageError;

/// Recording an uploaded file (the repository's part of an upload).
#[derive(Debug, Error)]
pub enum CreateFileError {
    #[error(transparent)]
    Quota(#[from] QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum UploadError {
    /// The content is of a kind tenants may not store.
    #[error("files of type {content_type} are not accepted")]
    NotAllowed { content_type: String },
    /// Larger than the plan lets one file be.
    #[error("the file is larger than the {limit} bytes a file may have on this plan")]
    TooLarge { limit: u64 },
    /// Does not fit the tenant's `storage_bytes` quota.
    #[error(transparent)]
    Quota(#[from] QuotaError),
    /// The storage failed or refused (its outage, or the tenant's bucket's credentials).
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

impl From<CreateFileError> for UploadError {
    fn from(e: CreateFileError) -> Self {
        match e {
            CreateFileError::Quota(q) => Self::Quota(q),
            CreateFileError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

#[derive(Debug, Error)]
pub enum DeleteFileError {
    #[error("file not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// Reading a file's content or a link to it.
#[derive(Debug, Error)]
pub enum ContentError {
    #[error("file not found")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
