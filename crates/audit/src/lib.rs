//! What changed, who changed it, and proof that the record was not edited afterwards.
//!
//! - [`ChangeLog`] / [`ChangeRecord`]: what one mutation of tenant-owned data changed, built
//!   from the entities themselves ([`Audited`]). The store's mutation pipeline seals a
//!   transaction's change log into audit entries in the same transaction; it is the single
//!   source of change events (the audit trail now, webhooks later).
//! - [`AuditEntry`] and the hash chain: each tenant's entries are numbered and each stores the
//!   hash of its content and of the previous entry, so an edit or a deletion shows in
//!   [`AuditService::verify`].
//! - [`SecurityEvent`]: account-level events with no tenant (logins, lockouts, refresh-token
//!   reuse), kept in the platform security log.

mod chain;
mod change;
mod events;
mod ports;
mod security;
mod service;

pub use chain::{AuditEntry, ChainHead, Verification, Verifier};
pub use change::{
    Audited, ChangeLog, ChangeRecord, EventRecord, FieldChange, LoggedJob, Subject, actions,
    serialized, without,
};
pub use events::{
    Event, EventActor, EventData, EventFilter, EventKind, EventRepository, EventService,
    EventTypePattern,
};
pub use ports::{AuditFilter, AuditRepository, SecurityEventFilter, SecurityLog};
pub use security::{SecurityEvent, SecurityEventKind};
pub use service::AuditService;
