//! What files need: a repository for what the database knows, and object storage for the
//! content. Every call takes the tenant context: the store scopes its rows by it, the
//! storage picks the tenant's bucket by it (its own, when it has one).

use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use tenantry_kernel::{BucketId, FileId, Page, TenantCtx, Unexpected};

use crate::error::DeleteFileError;
use crate::model::{FileQuery, StoredFile};

pub trait FileRepository: Clone + Send + Sync + 'static {
    /// Records an uploaded file; its bytes count against `storage_bytes` in the same
    /// transaction (`StoreError::Quota` refused as `CreateFileError::Quota`).
    fn create(
        &self,
        ctx: &TenantCtx,
        file: &StoredFile,
    ) -> impl Future<Output = Result<(), crate::error::CreateFileError>> + Send;

    fn get(
        &self,
        ctx: &TenantCtx,
        id: FileId,
    ) -> impl Future<Output = Result<Option<StoredFile>, Unexpected>> + Send;

    fn list(
        &self,
        ctx: &TenantCtx,
        query: &FileQuery,
    ) -> impl Future<Output = Result<Page<StoredFile>, Unexpected>> + Send;

    /// Deletes the record, detaches it from every resource, frees its bytes and queues the
    /// removal of its content ([`tenantry_jobs::Job::DeleteFileContent`]), all in one
    /// transaction. `NotFound` for an unknown id.
    fn delete(
        &self,
        ctx: &TenantCtx,
        id: FileId,
    ) -> impl Future<Output = Result<StoredFile, DeleteFileError>> + Send;

    /// Records that the content of `file` now lives `at`; false when the file is gone.
    fn relocate(
        &self,
        ctx: &TenantCtx,
        file: FileId,
        at: Location,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// The tenant's `storage_bytes` use and limit (`None`: no limit).
    fn storage_quota(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Option<(u64, u64)>, Unexpected>> + Send;
}

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No object under that key.
    #[error("no such object")]
    NotFound,
    /// The storage refused our credentials or this operation.
    #[error("storage refused access: {0}")]
    Denied(String),
    #[error("storage failed: {0}")]
    Failed(String),
}

impl From<StorageError> for Unexpected {
    fn from(e: StorageError) -> Self {
        Unexpected::new(e)
    }
}

/// Object content, streamed.
pub type ByteStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// Where content lives: `None` is the platform's store, `Some` one of the tenant's own
/// buckets (a record of [`crate::buckets::BucketRepository`]).
pub type Location = Option<BucketId>;

/// The stores content lives in.
pub trait ObjectStorage: Send + Sync + 'static {
    /// Starts writing `key`; nothing is visible under it until [`ObjectWriter::finish`].
    fn writer<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        at: Location,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>, StorageError>>;

    /// The object's bytes, or those of `range` (end exclusive, within the object).
    fn read<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        at: Location,
        key: &'a str,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, Result<ByteStream, StorageError>>;

    /// Removes the object; an object already gone is no error.
    fn delete<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        at: Location,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// A URL that downloads the object without credentials until `expires_in` has passed,
    /// answering with `content_type` and as an attachment named `filename`; `None` where the
    /// storage cannot sign one (local disk).
    fn presign<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        at: Location,
        key: &'a str,
        expires_in: Duration,
        content_type: &'a str,
        filename: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StorageError>>;
}

/// An object being written, part by part, with bounded memory.
pub trait ObjectWriter: Send {
    /// Appends `chunk`; waits while earlier parts are still being sent.
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, Result<(), StorageError>>;
    /// Makes the object visible under its key.
    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<(), StorageError>>;
    /// Drops what was written; nothing appears under the key.
    fn abort(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Opens a tenant's bucket record for the storage adapter (the settings with the secret).
pub trait BucketLookup: Send + Sync + 'static {
    fn access<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        id: BucketId,
    ) -> BoxFuture<'a, Result<Option<crate::buckets::BucketAccess>, Unexpected>>;
}
