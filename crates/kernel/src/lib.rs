//! The shared vocabulary every Tenantry crate speaks: typed ids, the tenant context,
//! the clock port, pagination and the error kinds that cross crate boundaries.
//!
//! This crate is pure: no database, HTTP or async runtime types.

pub mod clock;
pub mod context;
pub mod error;
pub mod ids;
pub mod instant;
pub mod money;
pub mod page;
pub mod platform;
pub mod quota;
pub mod search;
pub mod secrets;
pub mod text;

pub use clock::{Clock, ManualClock, SystemClock};
pub use context::{Actor, Edges, Origin, TenantCtx};
pub use error::Unexpected;
pub use ids::{
    ApiKeyId, AuditEntryId, BackupId, BucketId, DomainId, EventId, ExportId, FileId, InvitationId,
    JobId, ProductId, ProjectId, PurgeId, RoleId, ScimTokenId, ScimUserId, SecurityEventId,
    SsoProviderId, TaskId, TenantId, UserId, WebhookAttemptId, WebhookId,
};
pub use money::{Currency, InvalidCurrency};
pub use page::{Cursor, Limit, Page, PageRequest};
pub use platform::{ChangeCounters, ChangeVersions, DatabaseHealth, PoolStatus};
pub use quota::QuotaError;
pub use search::{GlobalSearch, InvalidSearch, SearchGroup, SearchHit, SearchKind, SearchQuery};
pub use secrets::{PlatformCipher, SealFuture, SecretCipher, SecretSlot, StatementSigner};
pub use text::{TextShape, bounded_text};
pub mod email;
pub use email::Email;
