//! Outgoing webhooks: a tenant's endpoints receive the events they subscribe to, signed the
//! Standard Webhooks way (and GitHub's), retried on a schedule, every attempt logged.
//!
//! - [`Webhook`]: an endpoint — target URL (https, checked by the [`AddressPolicy`] guard),
//!   event types, custom headers, a rate limit, and signing secrets sealed at rest through
//!   [`tenantry_kernel::SecretCipher`] (shown once, rotated with a 24-hour overlap).
//! - [`WebhookService`]: the endpoints' use cases; [`WebhookRepository`]: their storage.
//! - [`sign`]: the signature headers of a delivery.

mod delivery;
mod dispatch;
mod error;
mod guard;
mod log;
mod model;
mod pace;
mod ports;
mod service;
mod signature;
mod view;

pub use delivery::{
    Attempt, AttemptOutcome, Attempted, Claim, ClaimLimits, Delivery, DeliveryQueue, DisablePolicy,
    Message, OutgoingRequest, RetrySchedule, Trigger, Verdict, WebhookSender, verdict,
};
pub use dispatch::{BatchReport, DeliveryService};
pub use error::{CreateWebhookError, ManualDeliveryError, WebhookError};
pub use guard::{AddressPolicy, Blocked, blocked_range};
pub use log::{
    AttemptCounts, AttemptFilter, AttemptStatus, LATENCY_BUCKETS_MS, LatencyStats, Recovered,
    Resend, TEST_EVENT_TYPE, TestSent, WebhookStats,
};
pub use model::{
    CustomHeaders, Description, DisabledReason, EventTypes, InvalidValue, MAX_EVENT_TYPES,
    MAX_HEADERS, MAX_URL_LEN, NewWebhook, RateLimit, SealedSecrets, TargetRules, Webhook,
    WebhookPatch, WebhookUrl, actions,
};
pub use pace::{PACE_HORIZON, Pace, Pacer};
pub use ports::WebhookRepository;
pub use service::{ROTATION_OVERLAP, WebhookService};
pub use signature::{Signatures, WebhookSecret, sign};
pub use view::{AttemptView, WebhookView};
