//! Tenant archives: the one format (`docs/archive-format.md`) behind a tenant's export, the
//! operator's archive that moves a tenant between instances (SQLite ⇄ PostgreSQL), and
//! backups; and the service that writes and imports them.

mod backup_service;
pub mod backups;
mod container;
mod error;
mod export_service;
pub mod exports;
mod format;
mod ports;
pub mod purge;
mod purge_service;
mod service;

pub use backups::{Backup, BackupRepository};
pub use container::{ArchiveWriter, Piece, Sealing, Unsealing, Want, read, recipients};
pub use error::{ArchiveError, ExportError, ImportError};
pub use export_service::ExportJobError;
pub use exports::{
    DataExport, ExportChange, ExportDownloadError, ExportRepository, ExportStatus, ExportView,
    RequestExportError,
};
pub use format::{
    ArchiveKind, EntityTotals, FORMAT, FileTotals, Header, Manifest, PART_BYTES, PART_ROWS,
    TenantRef, VERSION,
};
pub use ports::{
    ArchiveStore, ImportCheck, Incoming, KeyEscrow, LoadPlan, LoadReport, RowPart, StoredKey,
};
pub use purge::{
    DeletionError, DeletionRepository, DeletionView, Purge, PurgeView, TenantDeletion,
};
pub use service::{ArchiveConfig, ArchiveService, Imported, KEY_ENTITY, PlatformKeys};

/// Age's secret type, for passphrases.
pub use age::secrecy::SecretString;

impl<S: tenantry_secrets::DataKeyStore> KeyEscrow for tenantry_secrets::Vault<S> {
    async fn export_key(
        &self,
        tenant: tenantry_kernel::TenantId,
    ) -> Result<Option<Vec<u8>>, tenantry_kernel::Unexpected> {
        Ok(self.export_data_key(tenant).await?.map(|k| k.to_vec()))
    }

    fn wrap_key(&self, key: &[u8]) -> Result<StoredKey, tenantry_kernel::Unexpected> {
        let wrapped = self.wrap_data_key(key)?;
        Ok(StoredKey {
            kek_id: wrapped.kek_id,
            wrapped: wrapped.wrapped,
        })
    }

    fn forget_key(&self, tenant: tenantry_kernel::TenantId) {
        self.forget(tenant);
    }
}
