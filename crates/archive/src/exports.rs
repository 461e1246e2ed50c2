//! A tenant's own data export over the API: requested by an owner, written by a job into the
//! platform's store as an archive of kind `export` (no credentials), downloadable until its
//! link expires, then deleted.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_kernel::{ExportId, Page, PageRequest, TenantCtx, TenantId, Unexpected, UserId};

/// The event and audit action of an export whose archive is ready.
pub const COMPLETED: &str = "completed";
/// The event and audit action of an export that could not be written.
pub const FAILED: &str = "failed";
/// Recipients one export may be encrypted to.
pub const MAX_RECIPIENTS: usize = 10;

/// Where an export is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Waiting for a worker.
    Queued,
    /// Being written (`rows` says how far).
    Running,
    /// Ready to download until `expires_at`.
    Completed,
    /// Could not be written (`error` says why); request another.
    Failed,
    /// Its link expired and its archive was deleted.
    Expired,
}

impl ExportStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Completed,
            Self::Failed,
            Self::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Still to be written (queued, or running when a worker stopped).
    pub const fn pending(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// Where an export's archive is, in the platform's store.
pub fn export_key(tenant: TenantId, id: ExportId) -> String {
    format!("tenants/{tenant}/exports/{id}")
}

/// One export of a tenant's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataExport {
    pub id: ExportId,
    pub tenant_id: TenantId,
    pub status: ExportStatus,
    /// The age recipients (`age1…`) the archive is encrypted to; none: not encrypted.
    pub recipients: Vec<String>,
    pub requested_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// When the download stops working and the archive is deleted.
    pub expires_at: Option<DateTime<Utc>>,
    /// Rows written so far (all of them once completed).
    pub rows: u64,
    /// Files written so far.
    pub files: u64,
    /// The archive's size and SHA-256, once completed.
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub error: Option<String>,
}

impl DataExport {
    /// A queued export of `ctx`'s tenant, asked for by its actor.
    pub fn queued(ctx: &TenantCtx, recipients: Vec<String>, now: DateTime<Utc>) -> Self {
        Self {
            id: ExportId::new(),
            tenant_id: ctx.tenant_id(),
            status: ExportStatus::Queued,
            recipients,
            requested_by: ctx.actor().user_id(),
            created_at: now,
            started_at: None,
            completed_at: None,
            expires_at: None,
            rows: 0,
            files: 0,
            size: None,
            sha256: None,
            error: None,
        }
    }

    /// Where its archive is, in the platform's store.
    pub fn object_key(&self) -> String {
        export_key(self.tenant_id, self.id)
    }

    pub fn encrypted(&self) -> bool {
        !self.recipients.is_empty()
    }

    /// The archive's name when downloaded.
    pub fn file_name(&self) -> String {
        let age = if self.encrypted() { ".age" } else { "" };
        format!("tenantry-export-{}.tar.gz{age}", self.id)
    }

    /// Whether its archive may be downloaded at `now`.
    pub fn downloadable(&self, now: DateTime<Utc>) -> bool {
        self.status == ExportStatus::Completed && self.expires_at.is_some_and(|at| now < at)
    }
}

/// An export as the API returns it and its events carry it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ExportView {
    pub id: uuid::Uuid,
    pub status: ExportStatus,
    /// Whether the archive is encrypted (to `recipients`, with age).
    pub encrypted: bool,
    /// The age recipients the archive is encrypted to.
    pub recipients: Vec<String>,
    pub requested_by: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The download works until then; the archive is deleted after.
    pub expires_at: Option<DateTime<Utc>>,
    /// Rows written so far (all of them once completed): the progress.
    pub rows: u64,
    /// Files written so far.
    pub files: u64,
    /// The archive's size in bytes, once completed.
    pub size: Option<u64>,
    /// The archive's SHA-256 (hex), once completed: check the download against it.
    pub sha256: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where to download the archive (with the same credentials), once completed.
    pub download_url: Option<String>,
}

impl From<&DataExport> for ExportView {
    fn from(e: &DataExport) -> Self {
        Self {
            id: *e.id.as_uuid(),
            status: e.status,
            encrypted: e.encrypted(),
            recipients: e.recipients.clone(),
            requested_by: e.requested_by.map(|u| *u.as_uuid()),
            created_at: e.created_at,
            started_at: e.started_at,
            completed_at: e.completed_at,
            expires_at: e.expires_at,
            rows: e.rows,
            files: e.files,
            size: e.size,
            sha256: e.sha256.clone(),
            error: e.error.clone(),
            download_url: (e.status == ExportStatus::Completed)
                .then(|| format!("/api/v1/exports/{}/download", e.id)),
        }
    }
}

impl tenantry_audit::Audited for DataExport {
    const ENTITY: &'static str = "export";
    const EVENT_ACTIONS: &'static [&'static str] =
        &[tenantry_audit::actions::CREATED, COMPLETED, FAILED];
    type View = ExportView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    /// What was asked and how it ended; progress is not a change.
    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(
            self.event_object(),
            &[
                "id",
                "created_at",
                "started_at",
                "rows",
                "files",
                "download_url",
            ],
        )
    }
}

/// What a change of an export is, for the audit trail and the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportChange {
    /// A worker started (or restarted) writing it: not audited.
    Started,
    /// Rows and files written so far: not audited.
    Progress,
    /// `export.completed`, and its expiry queued.
    Completed,
    /// `export.failed`.
    Failed,
    /// Its archive deleted: not audited (its expiry was announced when it completed).
    Expired,
}

/// Exports as the database keeps them.
pub trait ExportRepository: Clone + Send + Sync + 'static {
    /// Records `export` (audited, `export.created`) and queues the job that writes it, in one
    /// transaction; `false` (nothing written) when another export of the tenant is pending.
    fn create_export(
        &self,
        ctx: &TenantCtx,
        export: &DataExport,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    fn export(
        &self,
        ctx: &TenantCtx,
        id: ExportId,
    ) -> impl Future<Output = Result<Option<DataExport>, Unexpected>> + Send;

    /// Newest first.
    fn exports(
        &self,
        ctx: &TenantCtx,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<DataExport>, Unexpected>> + Send;

    /// Whether one of the tenant's exports is queued or running.
    fn export_pending(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Saves `export`'s state; a [`ExportChange::Completed`] also queues
    /// [`tenantry_jobs::Job::ExpireExport`] for its `expires_at`. False when it is gone.
    fn update_export(
        &self,
        ctx: &TenantCtx,
        export: &DataExport,
        change: ExportChange,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;
}

/// Why an export could not be requested.
#[derive(Debug, thiserror::Error)]
pub enum RequestExportError {
    #[error("{0}")]
    InvalidRecipient(String),
    #[error("an export is encrypted to at most {MAX_RECIPIENTS} recipients")]
    TooManyRecipients,
    #[error("an export of this tenant is already under way")]
    InProgress,
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// Why an export's archive cannot be downloaded.
#[derive(Debug, thiserror::Error)]
pub enum ExportDownloadError {
    #[error("no such export")]
    NotFound,
    #[error("the export is not ready: it is {0}")]
    NotReady(&'static str),
    #[error("the export's download expired")]
    Expired,
    #[error("storage: {0}")]
    Storage(String),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
