//! Taking, keeping and restoring a tenant's backups.

use std::io::Write as _;
use std::path::PathBuf;

use age::secrecy::ExposeSecret as _;
use futures_util::StreamExt as _;
use tenantry_kernel::{Actor, BackupId, SecretCipher, TenantCtx, Unexpected};

use crate::backups::{Backup, BackupRepository, DEFAULT_RETENTION_DAYS, identity_slot};
use crate::container::{Sealing, Unsealing};
use crate::error::{ArchiveError, ImportError};
use crate::export_service::ExportJobError;
use crate::format::ArchiveKind;
use crate::ports::{ArchiveStore, KeyEscrow};
use crate::service::{ArchiveService, Imported, Progress, Replacing};

/// A temporary file removed when dropped.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

impl<S, K> ArchiveService<S, K>
where
    S: ArchiveStore + BackupRepository,
    K: KeyEscrow + SecretCipher,
{
    /// Writes a backup of `ctx`'s tenant (an operator's archive) into the platform's store,
    /// records it, then deletes the backups older than the plan keeps.
    pub async fn back_up(&self, ctx: &TenantCtx) -> Result<Backup, ExportJobError> {
        let id = BackupId::new();
        let (sealing, identity) = if self.config.backups_encrypted {
            let key = age::x25519::Identity::generate();
            let secret = key.to_string();
            let sealed = SecretCipher::seal(
                &self.keys,
                ctx,
                identity_slot(&id.to_string()),
                secret.expose_secret().as_bytes(),
            )
            .await?;
            (Sealing::Recipients(vec![key.to_public()]), Some(sealed))
        } else {
            (Sealing::None, None)
        };
        let key = format!("backups/{}/{id}", ctx.tenant_id());
        let (manifest, size, sha256) = self
            .archive_into_storage(
                ctx,
                &key,
                ArchiveKind::Operator,
                sealing,
                &Progress::default(),
            )
            .await?;
        let backup = Backup {
            id,
            tenant_id: ctx.tenant_id(),
            created_at: self.clock.now(),
            size,
            sha256,
            rows: manifest.entities.values().map(|e| e.rows).sum(),
            files: manifest.files.count,
            identity,
        };
        if let Err(e) = self.store.record_backup(ctx, &backup).await {
            self.storage.delete(ctx, None, &key).await.ok();
            return Err(e.into());
        }
        self.prune_backups(ctx).await?;
        Ok(backup)
    }

    /// Deletes the tenant's backups older than its plan's retention (the newest always stays).
    pub async fn prune_backups(&self, ctx: &TenantCtx) -> Result<usize, Unexpected> {
        let days = self
            .store
            .backup_retention_days(ctx)
            .await?
            .unwrap_or(DEFAULT_RETENTION_DAYS);
        let before = self.clock.now() - chrono::Duration::days(i64::from(days));
        let mut pruned = 0;
        for old in self
            .store
            .backups(ctx)
            .await?
            .into_iter()
            .skip(1)
            .filter(|b| b.created_at < before)
        {
            self.storage
                .delete(ctx, None, &old.object_key())
                .await
                .map_err(Unexpected::new)?;
            self.store.forget_backup(ctx, old.id).await?;
            pruned += 1;
        }
        Ok(pruned)
    }

    pub async fn backups(&self, ctx: &TenantCtx) -> Result<Vec<Backup>, Unexpected> {
        self.store.backups(ctx).await
    }

    /// Replaces `ctx`'s tenant's data with backup `id`'s, in one transaction: every row the
    /// archive carries (accounts already here stay as they are; the tenant record — slug,
    /// name, status — too), a `tenant restored` entry appended to the restored chain. Other
    /// tenants are not touched. Files the backup does not have are deleted after.
    pub async fn restore(
        &self,
        ctx: &TenantCtx,
        id: BackupId,
        actor: Actor,
    ) -> Result<Imported, ImportError> {
        let backup = self
            .store
            .backups(ctx)
            .await?
            .into_iter()
            .find(|b| b.id == id)
            .ok_or(ImportError::NoSuchBackup)?;
        let unsealing = match &backup.identity {
            Some(sealed) => {
                let open =
                    SecretCipher::open(&self.keys, ctx, identity_slot(&id.to_string()), sealed)
                        .await?;
                Unsealing::identity_file(&String::from_utf8_lossy(&open))?
            }
            None => Unsealing::None,
        };
        let spool = Spool(std::env::temp_dir().join(format!(
            "tenantry-restore-{}.archive",
            uuid::Uuid::now_v7().simple()
        )));
        let mut content = self
            .storage
            .read(ctx, None, &backup.object_key(), None)
            .await
            .map_err(|e| ArchiveError::Storage(e.to_string()))?;
        let mut file = std::fs::File::create(&spool.0).map_err(ArchiveError::Io)?;
        while let Some(chunk) = content.next().await {
            let chunk = chunk.map_err(|e| ArchiveError::Storage(e.to_string()))?;
            file.write_all(&chunk).map_err(ArchiveError::Io)?;
        }
        file.sync_all().map_err(ArchiveError::Io)?;
        drop(file);
        let tenant = self
            .store
            .archived_tenant(&ctx.tenant_id().to_string())
            .await?
            .ok_or_else(|| Unexpected::msg("the tenant is gone"))?;
        let replacing = Replacing {
            tenant: ctx.tenant_id(),
            files: self.store.file_locations(ctx).await?,
            backup: id,
        };
        self.import_as(
            &spool.0,
            unsealing,
            Some(tenant.slug),
            actor,
            Some(replacing),
        )
        .await
    }
}
