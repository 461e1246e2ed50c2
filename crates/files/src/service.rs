//! Files' use cases. An upload is driven chunk by chunk by the caller (the HTTP adapter reads
//! the request body): the first [`SNIFF_BYTES`] are held to learn what the file is, then
//! every chunk goes straight on to storage, so memory stays bounded whatever the size.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tenantry_kernel::{Clock, FileId, Page, QuotaError, TenantCtx, Unexpected};

use crate::error::{ContentError, DeleteFileError, UploadError};
use crate::model::{FileName, FileQuery, STORAGE_QUOTA, StoredFile, object_key};
use crate::ports::{ByteStream, FileRepository, ObjectStorage, ObjectWriter};
use crate::sniff::{SNIFF_BYTES, allowed, sniff};

/// The longest a download link may live.
pub const MAX_LINK_TTL: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct FileService<R> {
    repo: R,
    storage: Arc<dyn ObjectStorage>,
    clock: Arc<dyn Clock>,
}

/// An upload under way. Drive it with [`FileService::write`], then [`FileService::finish`]
/// or [`FileService::abort`]; an error from either leaves nothing behind.
pub struct Upload {
    id: FileId,
    key: String,
    name: FileName,
    max_file: u64,
    /// The quota's use and limit when the upload began (the write itself is checked again).
    quota: Option<(u64, u64)>,
    head: Vec<u8>,
    content_type: Option<&'static str>,
    writer: Option<Box<dyn ObjectWriter>>,
    size: u64,
    digest: Sha256,
}

impl Upload {
    pub fn id(&self) -> FileId {
        self.id
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl<R: FileRepository> FileService<R> {
    pub fn new(repo: R, storage: Arc<dyn ObjectStorage>, clock: Arc<dyn Clock>) -> Self {
        Self {
            repo,
            storage,
            clock,
        }
    }

    /// Starts an upload of a file called `name`, at most `max_file` bytes (the plan's limit).
    pub async fn begin(
        &self,
        ctx: &TenantCtx,
        name: FileName,
        max_file: u64,
    ) -> Result<Upload, UploadError> {
        let id = FileId::new();
        Ok(Upload {
            id,
            key: object_key(ctx.tenant_id(), id),
            name,
            max_file,
            quota: self.repo.storage_quota(ctx).await?,
            head: Vec::with_capacity(SNIFF_BYTES),
            content_type: None,
            writer: None,
            size: 0,
            digest: Sha256::new(),
        })
    }

    /// Adds the next chunk of content. On an error the upload is aborted.
    pub async fn write(
        &self,
        ctx: &TenantCtx,
        up: &mut Upload,
        chunk: Bytes,
    ) -> Result<(), UploadError> {
        let result = self.write_inner(ctx, up, chunk).await;
        if result.is_err() {
            self.abort(up).await;
        }
        result
    }

    async fn write_inner(
        &self,
        ctx: &TenantCtx,
        up: &mut Upload,
        chunk: Bytes,
    ) -> Result<(), UploadError> {
        up.size += chunk.len() as u64;
        if up.size > up.max_file {
            return Err(UploadError::TooLarge { limit: up.max_file });
        }
        if let Some((used, limit)) = up.quota
            && used.saturating_add(up.size) > limit
        {
            return Err(over_quota(used, limit, up.size));
        }
        up.digest.update(&chunk);
        match up.writer.as_mut() {
            Some(w) => Ok(w.write(chunk).await?),
            None => {
                up.head.extend_from_slice(&chunk);
                if up.head.len() >= SNIFF_BYTES {
                    self.open(ctx, up).await?;
                }
                Ok(())
            }
        }
    }

    /// Decides what the file is from its first bytes and starts the object with them.
    async fn open(&self, ctx: &TenantCtx, up: &mut Upload) -> Result<(), UploadError> {
        let kind = sniff(&up.head);
        if !allowed(kind) {
            return Err(UploadError::NotAllowed {
                content_type: kind.to_owned(),
            });
        }
        up.content_type = Some(kind);
        let mut writer = self.storage.writer(ctx, &up.key).await?;
        let head = Bytes::from(std::mem::take(&mut up.head));
        if let Err(e) = writer.write(head).await {
            writer.abort().await;
            return Err(e.into());
        }
        up.writer = Some(writer);
        Ok(())
    }

    /// Completes the object and records the file (its bytes counted against the quota in the
    /// same transaction); if the record is refused, the object is removed again.
    pub async fn finish(&self, ctx: &TenantCtx, mut up: Upload) -> Result<StoredFile, UploadError> {
        if up.writer.is_none()
            && let Err(e) = self.open(ctx, &mut up).await
        {
            return Err(e);
        }
        let (Some(writer), Some(content_type)) = (up.writer.take(), up.content_type) else {
            return Err(Unexpected::msg("an opened upload has a writer and a type").into());
        };
        writer.finish().await?;
        let file = StoredFile {
            id: up.id,
            tenant_id: ctx.tenant_id(),
            name: up.name,
            content_type: content_type.to_owned(),
            size: up.size,
            sha256: hex(&up.digest.finalize()),
            created_by: ctx.actor().user_id(),
            created_at: self.clock.now(),
        };
        if let Err(e) = self.repo.create(ctx, &file).await {
            if let Err(gone) = self.storage.delete(ctx, &up.key).await {
                tracing::warn!(key = %up.key, error = %gone, "an unrecorded upload's object could not be removed");
            }
            return Err(e.into());
        }
        Ok(file)
    }

    /// Drops an upload: whatever was written disappears.
    pub async fn abort(&self, up: &mut Upload) {
        if let Some(w) = up.writer.take() {
            w.abort().await;
        }
    }

    pub async fn get(&self, ctx: &TenantCtx, id: FileId) -> Result<Option<StoredFile>, Unexpected> {
        self.repo.get(ctx, id).await
    }

    pub async fn list(
        &self,
        ctx: &TenantCtx,
        query: &FileQuery,
    ) -> Result<Page<StoredFile>, Unexpected> {
        self.repo.list(ctx, query).await
    }

    /// The content of `file` (one of this tenant's, as [`FileService::get`] returned it), or
    /// the bytes of `range` (end exclusive, already checked against its size).
    pub async fn content(
        &self,
        ctx: &TenantCtx,
        file: &StoredFile,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, ContentError> {
        Ok(self.storage.read(ctx, &file.key(), range).await?)
    }

    /// A link that downloads `id` without credentials for `ttl` (at most
    /// [`MAX_LINK_TTL`]), and when it expires; `None` where the storage cannot sign links.
    pub async fn link(
        &self,
        ctx: &TenantCtx,
        id: FileId,
        ttl: Duration,
    ) -> Result<Option<(String, DateTime<Utc>)>, ContentError> {
        let file = self
            .repo
            .get(ctx, id)
            .await?
            .ok_or(ContentError::NotFound)?;
        let ttl = ttl.min(MAX_LINK_TTL);
        let url = self
            .storage
            .presign(
                ctx,
                &file.key(),
                ttl,
                &file.content_type,
                file.name.as_str(),
            )
            .await?;
        let expires = self.clock.now()
            + chrono::Duration::from_std(ttl).map_err(|e| Unexpected::msg(e.to_string()))?;
        Ok(url.map(|u| (u, expires)))
    }

    /// Deletes the file: the record at once (its bytes freed), the content by a job.
    pub async fn delete(&self, ctx: &TenantCtx, id: FileId) -> Result<StoredFile, DeleteFileError> {
        self.repo.delete(ctx, id).await
    }

    /// Removes the content of a deleted file (the job the delete queued); already gone is
    /// done.
    pub async fn erase_content(&self, ctx: &TenantCtx, id: FileId) -> Result<(), Unexpected> {
        Ok(self
            .storage
            .delete(ctx, &object_key(ctx.tenant_id(), id))
            .await?)
    }
}

fn over_quota(used: u64, limit: u64, requested: u64) -> UploadError {
    UploadError::Quota(QuotaError::Exceeded {
        resource: STORAGE_QUOTA.to_owned(),
        limit,
        used,
        requested,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
