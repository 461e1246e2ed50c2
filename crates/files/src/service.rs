//! Files' use cases. An upload is driven chunk by chunk by the caller (the HTTP adapter reads
//! the request body): the first [`SNIFF_BYTES`] are held to learn what the file is, then
//! every chunk goes straight on to storage, so memory stays bounded whatever the size.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tenantry_kernel::{
    BucketId, Clock, FileId, Page, QuotaError, SecretCipher, TenantCtx, Unexpected,
};

use crate::buckets::{
    BucketAccess, BucketDraft, BucketProbe, BucketRepository, BucketSettings, MoveState,
    secret_slot,
};

use crate::error::{ContentError, DeleteFileError, UploadError};
use crate::model::{FileName, FileQuery, STORAGE_QUOTA, StoredFile, object_key};
use crate::ports::{
    BucketLookup, ByteStream, FileRepository, Location, ObjectStorage, ObjectWriter, StorageError,
};
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
    /// The store it goes to: the tenant's current one.
    location: Location,
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

impl<R: FileRepository + BucketRepository> FileService<R> {
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
            location: self.repo.current_bucket(ctx).await?.map(|b| b.id),
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
        let mut writer = self.storage.writer(ctx, up.location, &up.key).await?;
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
            location: up.location,
        };
        if let Err(e) = self.repo.create(ctx, &file).await {
            if let Err(gone) = self.storage.delete(ctx, up.location, &up.key).await {
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
        Ok(self
            .storage
            .read(ctx, file.location, &file.key(), range)
            .await?)
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
                file.location,
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

    /// Removes the content of a deleted file from where it was (the job the delete queued);
    /// already gone is done.
    pub async fn erase_content(
        &self,
        ctx: &TenantCtx,
        id: FileId,
        at: Location,
    ) -> Result<(), Unexpected> {
        match self
            .storage
            .delete(ctx, at, &object_key(ctx.tenant_id(), id))
            .await
        {
            Ok(()) => Ok(()),
            // Its bucket record is gone (retired, then dropped as empty once the file's row
            // went): nothing left to reach it with.
            Err(StorageError::NotFound) => {
                tracing::warn!(file = %id, "a deleted file's bucket is no longer known; its object stays there");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Moves every file of the tenant to its current store, a few at a time: each copied,
    /// then recorded there, then removed from where it was (a failure leaves it readable
    /// where it was; the job is retried). Then forgets the buckets nothing is in any more.
    pub async fn move_files(&self, ctx: &TenantCtx) -> Result<MoveState, Unexpected> {
        loop {
            let (to, batch) = self.repo.misplaced_files(ctx, MOVE_BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for file in batch {
                let key = file.key();
                self.copy(ctx, file.location, to, &key).await?;
                if self.repo.relocate(ctx, file.id, to).await? {
                    self.storage.delete(ctx, file.location, &key).await?;
                } else {
                    // Deleted meanwhile: its delete job removes it where it was.
                    self.storage.delete(ctx, to, &key).await?;
                }
            }
        }
        self.repo.drop_empty_buckets(ctx).await?;
        self.repo.move_state(ctx).await
    }

    async fn copy(
        &self,
        ctx: &TenantCtx,
        from: Location,
        to: Location,
        key: &str,
    ) -> Result<(), StorageError> {
        use futures_util::StreamExt as _;
        let mut body = self.storage.read(ctx, from, key, None).await?;
        let mut writer = self.storage.writer(ctx, to, key).await?;
        while let Some(chunk) = body.next().await {
            let written = match chunk {
                Ok(chunk) => writer.write(chunk).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                writer.abort().await;
                return Err(e);
            }
        }
        writer.finish().await
    }
}

/// Files moved per round of [`FileService::move_files`].
const MOVE_BATCH: u32 = 16;

#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error("no bucket of its own")]
    NotConfigured,
    #[error("the bucket could not be used: {0}")]
    Refused(String),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// A tenant's own bucket: its settings, checked before they are saved, the secret sealed.
#[derive(Clone)]
pub struct BucketService<R, V, P> {
    repo: R,
    cipher: V,
    probe: Arc<P>,
    clock: Arc<dyn Clock>,
}

impl<R, V, P> BucketService<R, V, P>
where
    R: BucketRepository,
    V: SecretCipher,
    P: BucketProbe,
{
    pub fn new(repo: R, cipher: V, probe: P, clock: Arc<dyn Clock>) -> Self {
        Self {
            repo,
            cipher,
            probe: Arc::new(probe),
            clock,
        }
    }

    /// The current bucket (none: the platform's store) and how far the move to it is.
    pub async fn get(
        &self,
        ctx: &TenantCtx,
    ) -> Result<(Option<BucketSettings>, MoveState), Unexpected> {
        Ok((
            self.repo.current_bucket(ctx).await?,
            self.repo.move_state(ctx).await?,
        ))
    }

    /// Checks the bucket with a test object, then saves it as the tenant's store (the
    /// secret sealed) and queues moving every file there.
    pub async fn put(
        &self,
        ctx: &TenantCtx,
        draft: BucketDraft,
    ) -> Result<(BucketSettings, MoveState), BucketError> {
        self.probe
            .probe(&draft.access)
            .await
            .map_err(|e| BucketError::Refused(e.to_string()))?;
        let a = draft.access;
        let bucket = BucketSettings {
            id: BucketId::new(),
            tenant_id: ctx.tenant_id(),
            endpoint: a.endpoint,
            region: a.region,
            bucket: a.bucket,
            access_key_id: a.access_key_id,
            created_at: self.clock.now(),
        };
        let id = bucket.id.to_string();
        let sealed = self
            .cipher
            .seal(ctx, secret_slot(&id), a.secret_access_key.as_bytes())
            .await?;
        self.repo.save_bucket(ctx, &bucket, &sealed).await?;
        Ok((bucket, self.repo.move_state(ctx).await?))
    }

    /// Back to the platform's store (files move back).
    pub async fn delete(&self, ctx: &TenantCtx) -> Result<MoveState, BucketError> {
        self.repo
            .clear_bucket(ctx)
            .await?
            .ok_or(BucketError::NotConfigured)?;
        Ok(self.repo.move_state(ctx).await?)
    }

    /// A record's settings with the secret opened.
    pub async fn access(
        &self,
        ctx: &TenantCtx,
        id: BucketId,
    ) -> Result<Option<BucketAccess>, Unexpected> {
        let Some((b, sealed)) = self.repo.bucket(ctx, id).await? else {
            return Ok(None);
        };
        let secret = self
            .cipher
            .open(ctx, secret_slot(&b.id.to_string()), &sealed)
            .await?;
        Ok(Some(BucketAccess {
            endpoint: b.endpoint,
            region: b.region,
            bucket: b.bucket,
            access_key_id: b.access_key_id,
            secret_access_key: String::from_utf8(secret)
                .map_err(|e| Unexpected::msg(e.to_string()))?,
        }))
    }
}

impl<R, V, P> BucketLookup for BucketService<R, V, P>
where
    R: BucketRepository,
    V: SecretCipher,
    P: BucketProbe,
{
    fn access<'a>(
        &'a self,
        ctx: &'a TenantCtx,
        id: BucketId,
    ) -> futures_util::future::BoxFuture<'a, Result<Option<BucketAccess>, Unexpected>> {
        Box::pin(BucketService::access(self, ctx, id))
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
