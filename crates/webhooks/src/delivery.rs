//! Delivering events: what a dispatcher claims, what one attempt gives, what follows it, and
//! the ports of the queue and of the HTTP client.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tenantry_kernel::{EventId, TenantCtx, TenantId, Unexpected, WebhookAttemptId, WebhookId};

use crate::model::Webhook;

/// Who asked for an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The fan-out of a change, and its retries.
    Scheduled,
    /// A resend, a recovery or a test, through the API: one attempt, no retries.
    Manual,
}

impl Trigger {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(Self::Scheduled),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }
}

/// One event owed to one endpoint, claimed by a dispatcher for this attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub tenant_id: TenantId,
    pub endpoint_id: WebhookId,
    pub event_id: EventId,
    /// This attempt's number, from 1.
    pub attempt: u32,
    pub trigger: Trigger,
}

/// An event as it is sent: its type and the JSON body (the event as stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub event_id: EventId,
    pub event_type: String,
    pub payload: String,
}

/// What one attempt gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The response's status, when one came.
    pub status: Option<u16>,
    pub duration: Duration,
    /// The first 4 KiB of the response body (lossy UTF-8).
    pub body: Option<String>,
    /// Why no usable response came: `timeout`, `connection_refused`, `ssrf_blocked`, `dns`,
    /// `tls`, `connection`, `endpoint_disabled`, `event_expired`.
    pub error: Option<(&'static str, String)>,
    /// `Retry-After` of a 429 or 503.
    pub retry_after: Option<Duration>,
}

impl AttemptOutcome {
    /// A 2xx, with no error.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// An attempt that was not made, for `code`.
    pub fn not_sent(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            error: Some((code, detail.into())),
            ..Self::default()
        }
    }
}

/// When failed attempts are tried again: the Svix schedule by default — immediately, then
/// after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (eight attempts) — each wait with up to
/// ±10 % jitter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    waits: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            waits: vec![
                s(5),
                s(300),
                s(1800),
                s(7200),
                s(18_000),
                s(36_000),
                s(36_000),
            ],
        }
    }
}

impl RetrySchedule {
    /// Waits after each failed attempt: `5s,5m,30m,2h,5h,10h,10h` (units ms, s, m, h).
    pub fn parse(list: &str) -> Result<Self, String> {
        let waits = list
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|w| {
                let (n, unit) =
                    w.split_at(w.find(|c: char| !c.is_ascii_digit()).unwrap_or(w.len()));
                let n: u64 = n
                    .parse()
                    .map_err(|_| format!("'{w}' is not a wait such as 5s"))?;
                Ok(match unit {
                    "ms" => Duration::from_millis(n),
                    "s" => Duration::from_secs(n),
                    "m" => Duration::from_secs(n * 60),
                    "h" => Duration::from_secs(n * 3600),
                    _ => return Err(format!("'{w}': the unit must be ms, s, m or h")),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { waits })
    }

    /// Attempts in all: the first and one per wait.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.waits.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The wait after attempt `attempt` (from 1) failed, jittered by `seed`; `None` after the
    /// last.
    pub fn wait_after(&self, attempt: u32, seed: u64) -> Option<Duration> {
        let base = *self
            .waits
            .get(usize::try_from(attempt).ok()?.checked_sub(1)?)?;
        // splitmix64: a well-spread fraction in [0.9, 1.1) from the seed.
        let mut x = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let fraction = 0.9 + (x >> 11) as f64 / (1u64 << 53) as f64 / 5.0;
        Some(base.mul_f64(fraction))
    }
}

/// What follows an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Done: the delivery leaves the queue.
    Delivered,
    /// Tried again at this time.
    RetryAt(DateTime<Utc>),
    /// No more attempts: kept as failed (a recovery can send it again).
    Failed,
    /// The receiver answered 410 Gone: failed, and the endpoint is disabled.
    Gone,
}

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What follows `outcome` of `delivery` at `now`.
pub fn verdict(
    delivery: &Delivery,
    outcome: &AttemptOutcome,
    schedule: &RetrySchedule,
    now: DateTime<Utc>,
) -> Verdict {
    if outcome.succeeded() {
        return Verdict::Delivered;
    }
    if outcome.status == Some(410) {
        return Verdict::Gone;
    }
    let permanent = matches!(
        outcome.error.as_ref().map(|(c, _)| *c),
        Some("endpoint_disabled" | "event_expired")
    );
    if permanent || delivery.trigger == Trigger::Manual {
        return Verdict::Failed;
    }
    let seed = (delivery.event_id.as_uuid().as_u128() as u64)
        ^ (delivery.endpoint_id.as_uuid().as_u128() as u64).rotate_left(17)
        ^ u64::from(delivery.attempt);
    match schedule.wait_after(delivery.attempt, seed) {
        None => Verdict::Failed,
        Some(wait) => {
            let wait = outcome
                .retry_after
                .map_or(wait, |r| wait.max(r.min(MAX_RETRY_AFTER)));
            Verdict::RetryAt(
                now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
            )
        }
    }
}

/// One attempt as the delivery log keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub id: WebhookAttemptId,
    pub endpoint_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    pub attempt: u32,
    pub trigger: Trigger,
    pub succeeded: bool,
    pub status_code: Option<u16>,
    pub duration_ms: u32,
    pub response_body: Option<String>,
    /// `code: detail`.
    pub error: Option<String>,
    pub attempted_at: DateTime<Utc>,
}

/// An attempt made, and what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempted {
    pub delivery: Delivery,
    pub attempt: Attempt,
    pub verdict: Verdict,
}

/// How many deliveries a claim takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimLimits {
    pub max: u32,
    /// At most this many of one tenant's (one tenant's flood cannot fill a claim).
    pub per_tenant: u32,
    /// At most this many of one endpoint's, in flight across every dispatcher (a slow
    /// receiver holds no more than these).
    pub per_endpoint: u32,
}

/// What a claim took.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    pub deliveries: Vec<Delivery>,
    /// Due deliveries were left that had room (the claim's `max` or a tenant's share ran
    /// out): claiming again at once finds more. False when all that is due was taken or is
    /// held back by its endpoint's room.
    pub more: bool,
}

/// When an endpoint whose deliveries keep failing is disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisablePolicy {
    /// Every attempt failed for this long (5 days by default).
    pub failing_for: chrono::Duration,
}

impl Default for DisablePolicy {
    fn default() -> Self {
        Self {
            failing_for: chrono::Duration::days(5),
        }
    }
}

/// The delivery queue, shared by every dispatcher of every instance.
pub trait DeliveryQueue: Clone + Send + Sync + 'static {
    /// Claims due deliveries for `worker` until `now + lease`, fairly across tenants and
    /// endpoints (see [`ClaimLimits`]); deliveries whose claim ended unfinished (a dispatcher
    /// died) come due again. Each claim counts an attempt.
    fn claim_deliveries(
        &self,
        worker: &str,
        limits: ClaimLimits,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim, Unexpected>> + Send;

    /// Resolves when deliveries may have been queued (a notification, a commit of this
    /// process, the earliest retry or lease coming due) or after `at_most`.
    fn wait_for_deliveries(&self, at_most: Duration) -> impl Future<Output = ()> + Send;

    /// The endpoints and events of a claimed batch, in the batch's tenant.
    fn delivery_material(
        &self,
        ctx: &TenantCtx,
        endpoints: &[WebhookId],
        events: &[EventId],
    ) -> impl Future<Output = Result<(Vec<Webhook>, Vec<Message>), Unexpected>> + Send;

    /// Records attempts of one tenant's deliveries held by `worker`, in one transaction: the
    /// log, the queue (delivered rows leave it), the endpoints' failing state — disabling an
    /// endpoint that answered 410 or failed past `policy` (audited, an event, and an e-mail
    /// to the tenant's owners). `deferred` deliveries were not attempted (an endpoint's rate
    /// limit): they go back to the queue, due at the time given, their claim not counted.
    fn record_attempts(
        &self,
        ctx: &TenantCtx,
        worker: &str,
        attempts: &[Attempted],
        deferred: &[(Delivery, DateTime<Utc>)],
        policy: DisablePolicy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;
}

/// A request to a receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// How long to wait before sending (an endpoint's rate limit); not part of the attempt's
    /// duration.
    pub delay: Duration,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The HTTP client deliveries go through: it refuses addresses the guard refuses (after
/// resolving, connecting to the address it checked), follows no redirect, gives up after the
/// timeout and reads at most 4 KiB of the response.
pub trait WebhookSender: Clone + Send + Sync + 'static {
    fn send(&self, request: OutgoingRequest) -> impl Future<Output = AttemptOutcome> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(attempt: u32, trigger: Trigger) -> Delivery {
        Delivery {
            tenant_id: TenantId::new(),
            endpoint_id: WebhookId::new(),
            event_id: EventId::new(),
            attempt,
            trigger,
        }
    }

    fn status(code: u16) -> AttemptOutcome {
        AttemptOutcome {
            status: Some(code),
            ..AttemptOutcome::default()
        }
    }

    #[test]
    fn the_svix_schedule_with_jitter() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 8);
        let expected = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
        for (i, secs) in expected.iter().enumerate() {
            let full = Duration::from_secs(*secs);
            let w = s
                .wait_after(u32::try_from(i).unwrap() + 1, 42 + i as u64)
                .unwrap();
            assert!(
                w >= full.mul_f64(0.9) && w < full.mul_f64(1.1),
                "{i}: {w:?}"
            );
        }
        assert_eq!(s.wait_after(8, 1), None);
        assert_eq!(s.wait_after(0, 1), None);
        assert_eq!(RetrySchedule::parse("5s,5m,30m,2h,5h,10h,10h").unwrap(), s);
        assert_eq!(RetrySchedule::parse("100ms, 1s").unwrap().attempts(), 3);
        assert!(RetrySchedule::parse("5 parsecs").is_err());
        assert!(RetrySchedule::parse("x").is_err());
    }

    #[test]
    fn verdicts() {
        let now = Utc::now();
        let s = RetrySchedule::default();
        let first = delivery(1, Trigger::Scheduled);
        assert_eq!(verdict(&first, &status(204), &s, now), Verdict::Delivered);
        assert_eq!(verdict(&first, &status(410), &s, now), Verdict::Gone);
        assert!(matches!(verdict(&first, &status(500), &s, now), Verdict::RetryAt(at) if at > now));
        assert!(
            matches!(verdict(&first, &status(302), &s, now), Verdict::RetryAt(_)),
            "redirects are not followed"
        );
        let timeout = AttemptOutcome::not_sent("timeout", "15 s");
        assert!(matches!(
            verdict(&first, &timeout, &s, now),
            Verdict::RetryAt(_)
        ));
        assert_eq!(
            verdict(&delivery(8, Trigger::Scheduled), &status(500), &s, now),
            Verdict::Failed
        );
        assert_eq!(
            verdict(&delivery(1, Trigger::Manual), &status(500), &s, now),
            Verdict::Failed
        );
        let gone = AttemptOutcome::not_sent("endpoint_disabled", "");
        assert_eq!(verdict(&first, &gone, &s, now), Verdict::Failed);
        // Retry-After: honoured when longer than the schedule's wait, capped at a day.
        let busy = AttemptOutcome {
            retry_after: Some(Duration::from_secs(120)),
            ..status(429)
        };
        let Verdict::RetryAt(at) = verdict(&first, &busy, &s, now) else {
            panic!()
        };
        assert_eq!(at - now, chrono::Duration::seconds(120));
        let forever = AttemptOutcome {
            retry_after: Some(Duration::from_secs(10 * 86_400)),
            ..status(503)
        };
        let Verdict::RetryAt(at) = verdict(&first, &forever, &s, now) else {
            panic!()
        };
        assert_eq!(at - now, chrono::Duration::days(1));
    }
}
