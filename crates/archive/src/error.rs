//! What can go wrong with an archive, and with importing one.

use tenantry_kernel::Unexpected;

/// Reading or writing the container.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read or write the archive: {0}")]
    Io(#[from] std::io::Error),
    #[error("the archive is encrypted: give the identity file or passphrase it was made for")]
    Encrypted,
    #[error("the archive does not open with the identity or passphrase given")]
    WrongKey,
    #[error("bad key: {0}")]
    Key(String),
    #[error("not a Tenantry archive: {0}")]
    Malformed(String),
    #[error("archive format version {0} is not one this build reads (it reads version {v})", v = crate::format::VERSION)]
    Version(u32),
    #[error("the archive is damaged: {0}")]
    Damaged(String),
    #[error("file storage: {0}")]
    Storage(String),
}

/// Exporting a tenant.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no such tenant")]
    NoSuchTenant,
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// Importing an archive: every variant leaves the instance as it was.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("this is a tenant's own export (no credentials): only an operator's archive imports")]
    NotImportable,
    #[error("tenant {0} already exists on this instance")]
    TenantExists(String),
    #[error("the slug {0} is taken on this instance (choose another with --slug)")]
    SlugTaken(String),
    #[error("{0}: {1}")]
    InvalidSlug(String, String),
    #[error("the domain {0} belongs to another tenant on this instance")]
    DomainTaken(String),
    #[error(
        "{email} is another account on this instance (id {existing}); the archive's is {archived}"
    )]
    UserConflict {
        email: String,
        existing: String,
        archived: String,
    },
    #[error("the plan {0} does not exist on this instance")]
    PlanUnknown(String),
    #[error("no backup of this tenant has that id")]
    NoSuchBackup,
    #[error("the archive's {entity} rows do not fit this instance: {detail}")]
    Rejected { entity: String, detail: String },
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
