//! The tenant's own exports: requesting one, the job that writes its archive into the
//! platform's store, the download, and the expiry.

use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tenantry_files::{ByteStream, ObjectWriter};
use tenantry_kernel::{ExportId, Page, PageRequest, TenantCtx, Unexpected};
use tokio::sync::mpsc;

use crate::container::{self, Sealing};
use crate::error::ExportError;
use crate::exports::{
    DataExport, ExportChange, ExportDownloadError, ExportRepository, ExportStatus, MAX_RECIPIENTS,
    RequestExportError,
};
use crate::format::{ArchiveKind, Manifest};
use crate::ports::{ArchiveStore, KeyEscrow};
use crate::service::{ArchiveService, Progress};

/// What the archive's writer hands the storage at a time.
const CHUNK: usize = 1 << 20;
/// How often a running export saves its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Why an export's job did not succeed.
#[derive(Debug)]
pub enum ExportJobError {
    /// Worth another attempt (the database or the storage away).
    Retry(String),
    /// Will fail the same way again.
    Permanent(String),
}

impl From<Unexpected> for ExportJobError {
    fn from(e: Unexpected) -> Self {
        Self::Retry(e.to_string())
    }
}

/// The archive's bytes, from the writer's blocking thread to the storage's async writer, a
/// chunk at a time (the channel is bounded: memory stays flat however large the tenant).
struct ToStorage {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ToStorage {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::other("the storage stopped taking the archive"))
    }
}

impl Write for ToStorage {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ToStorage {
    fn drop(&mut self) {
        // The writer flushes when it finishes; this only matters after a failure, when what
        // follows is thrown away anyway.
        let _ = self.send();
    }
}

/// Copies the archive's chunks into `object`, counting its size and SHA-256.
async fn pump(
    mut rx: mpsc::Receiver<Bytes>,
    object: &mut Box<dyn ObjectWriter>,
) -> Result<(u64, String), String> {
    let mut size = 0u64;
    let mut sha = Sha256::new();
    while let Some(chunk) = rx.recv().await {
        size += chunk.len() as u64;
        sha.update(&chunk);
        object.write(chunk).await.map_err(|e| e.to_string())?;
    }
    Ok((size, container::hex(&sha.finalize())))
}

impl<S: ArchiveStore, K: KeyEscrow> ArchiveService<S, K> {
    /// Writes an archive of `kind` of `ctx`'s tenant into the platform's store under `key`,
    /// streamed; gives its manifest, size and SHA-256. Nothing is left under `key` on failure.
    pub(crate) async fn archive_into_storage(
        &self,
        ctx: &TenantCtx,
        key: &str,
        kind: ArchiveKind,
        sealing: Sealing,
        progress: &Progress,
    ) -> Result<(Manifest, u64, String), ExportJobError> {
        let mut object = self
            .storage
            .writer(ctx, None, key)
            .await
            .map_err(|e| ExportJobError::Retry(format!("storage: {e}")))?;
        let (tx, rx) = mpsc::channel::<Bytes>(4);
        let out = ToStorage {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let tenant = ctx.tenant_id().to_string();
        let written =
            self.export_counted(&tenant, kind, Box::new(out), sealing, ctx.actor(), progress);
        let copied = pump(rx, &mut object);
        let (written, copied) = futures_util::future::join(written, copied).await;
        let outcome = match (written, copied) {
            (Ok(manifest), Ok(sum)) => Ok((manifest, sum)),
            (Err(ExportError::NoSuchTenant), _) => {
                Err(ExportJobError::Permanent("the tenant is gone".to_owned()))
            }
            (Err(e), _) => Err(ExportJobError::Retry(e.to_string())),
            (Ok(_), Err(e)) => Err(ExportJobError::Retry(format!("storage: {e}"))),
        };
        let (manifest, (size, sha256)) = match outcome {
            Ok(o) => o,
            Err(e) => {
                object.abort().await;
                return Err(e);
            }
        };
        object
            .finish()
            .await
            .map_err(|e| ExportJobError::Retry(format!("storage: {e}")))?;
        Ok((manifest, size, sha256))
    }
}

impl<S, K> ArchiveService<S, K>
where
    S: ArchiveStore + ExportRepository,
    K: KeyEscrow,
{
    /// Queues an export of `ctx`'s tenant, encrypted to `recipients` (age X25519 public keys)
    /// when there are any. One at a time per tenant.
    pub async fn request_export(
        &self,
        ctx: &TenantCtx,
        recipients: Vec<String>,
    ) -> Result<DataExport, RequestExportError> {
        if recipients.len() > MAX_RECIPIENTS {
            return Err(RequestExportError::TooManyRecipients);
        }
        let recipients: Vec<String> = recipients.iter().map(|r| r.trim().to_owned()).collect();
        container::recipients(recipients.iter().map(String::as_str))
            .map_err(|e| RequestExportError::InvalidRecipient(e.to_string()))?;
        if self.store.export_pending(ctx).await? {
            return Err(RequestExportError::InProgress);
        }
        let export = DataExport::queued(ctx, recipients, self.clock.now());
        // The check above is the quick answer; the database's one-pending-export index is the
        // guarantee when two requests race.
        if !self.store.create_export(ctx, &export).await? {
            return Err(RequestExportError::InProgress);
        }
        Ok(export)
    }

    pub async fn exports(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> Result<Page<DataExport>, Unexpected> {
        self.store.exports(ctx, page).await
    }

    pub async fn find_export(
        &self,
        ctx: &TenantCtx,
        id: ExportId,
    ) -> Result<Option<DataExport>, Unexpected> {
        self.store.export(ctx, id).await
    }

    /// The archive of a completed export whose link has not expired.
    pub async fn export_content(
        &self,
        ctx: &TenantCtx,
        id: ExportId,
    ) -> Result<(DataExport, ByteStream), ExportDownloadError> {
        let export = self
            .store
            .export(ctx, id)
            .await?
            .ok_or(ExportDownloadError::NotFound)?;
        match export.status {
            ExportStatus::Completed if export.downloadable(self.clock.now()) => {}
            ExportStatus::Completed | ExportStatus::Expired => {
                return Err(ExportDownloadError::Expired);
            }
            other => return Err(ExportDownloadError::NotReady(other.as_str())),
        }
        let content = self
            .storage
            .read(ctx, None, &export.object_key(), None)
            .await
            .map_err(|e| ExportDownloadError::Storage(e.to_string()))?;
        Ok((export, content))
    }

    /// The job: writes the export's archive into the platform's store, saving its progress
    /// every second; completes it (`export.completed`) or, on the last attempt, fails it
    /// (`export.failed`). An export that is no longer pending is left alone.
    pub async fn run_export(
        &self,
        ctx: &TenantCtx,
        id: ExportId,
        last_attempt: bool,
    ) -> Result<(), ExportJobError> {
        let Some(export) = self.store.export(ctx, id).await? else {
            return Ok(());
        };
        if !export.status.pending() {
            return Ok(());
        }
        let running = DataExport {
            status: ExportStatus::Running,
            started_at: Some(self.clock.now()),
            rows: 0,
            files: 0,
            ..export
        };
        self.store
            .update_export(ctx, &running, ExportChange::Started)
            .await?;
        match self.write_export(ctx, &running).await {
            Ok(done) => {
                self.store
                    .update_export(ctx, &done, ExportChange::Completed)
                    .await?;
                Ok(())
            }
            Err(e) => {
                let message = match &e {
                    ExportJobError::Retry(m) | ExportJobError::Permanent(m) => m.clone(),
                };
                if last_attempt || matches!(e, ExportJobError::Permanent(_)) {
                    let failed = DataExport {
                        status: ExportStatus::Failed,
                        completed_at: Some(self.clock.now()),
                        error: Some(message),
                        ..running
                    };
                    self.store
                        .update_export(ctx, &failed, ExportChange::Failed)
                        .await?;
                }
                Err(e)
            }
        }
    }

    async fn write_export(
        &self,
        ctx: &TenantCtx,
        export: &DataExport,
    ) -> Result<DataExport, ExportJobError> {
        let sealing = if export.encrypted() {
            Sealing::Recipients(
                container::recipients(export.recipients.iter().map(String::as_str))
                    .map_err(|e| ExportJobError::Permanent(e.to_string()))?,
            )
        } else {
            Sealing::None
        };
        let progress = Progress::default();
        let key = export.object_key();
        let written = self.archive_into_storage(ctx, &key, ArchiveKind::Export, sealing, &progress);
        let mut written = std::pin::pin!(written);
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.tick().await;
        let (manifest, size, sha256) = loop {
            tokio::select! {
                done = &mut written => break done?,
                _ = tick.tick() => {
                    let now = DataExport {
                        rows: progress.rows.load(Ordering::Relaxed),
                        files: progress.files.load(Ordering::Relaxed),
                        ..export.clone()
                    };
                    if let Err(e) = self.store.update_export(ctx, &now, ExportChange::Progress).await {
                        tracing::warn!(error = %e, "an export's progress was not saved");
                    }
                }
            }
        };
        let now = self.clock.now();
        Ok(DataExport {
            status: ExportStatus::Completed,
            completed_at: Some(now),
            expires_at: Some(now + self.config.export_ttl),
            rows: manifest.entities.values().map(|e| e.rows).sum(),
            files: manifest.files.count,
            size: Some(size),
            sha256: Some(sha256),
            error: None,
            ..export.clone()
        })
    }

    /// The expiry's job: deletes the archive of an export whose link expired.
    pub async fn expire_export(&self, ctx: &TenantCtx, id: ExportId) -> Result<(), ExportJobError> {
        let Some(export) = self.store.export(ctx, id).await? else {
            return Ok(());
        };
        if export.status != ExportStatus::Completed {
            return Ok(());
        }
        if export.downloadable(self.clock.now()) {
            return Err(ExportJobError::Retry("not expired yet".to_owned()));
        }
        self.storage
            .delete(ctx, None, &export.object_key())
            .await
            .map_err(|e| ExportJobError::Retry(format!("storage: {e}")))?;
        let expired = DataExport {
            status: ExportStatus::Expired,
            ..export
        };
        self.store
            .update_export(ctx, &expired, ExportChange::Expired)
            .await?;
        Ok(())
    }
}
