//! The delivery log as a tenant reads it — attempts, an endpoint's health over a day — and
//! what a tenant can ask of the queue by hand: resend one event, recover what failed, send a
//! test.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_kernel::{EventId, WebhookId};
use utoipa::ToSchema;

/// The type of the event `POST /webhooks/{id}/test` sends: delivered to that endpoint only,
/// whatever the other endpoints subscribe to.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// Which attempts to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptStatus {
    Succeeded,
    Failed,
}

impl AttemptStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Attempts of one endpoint, or of one event to every endpoint, maybe of one outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptFilter {
    Endpoint(WebhookId, Option<AttemptStatus>),
    Event(EventId, Option<AttemptStatus>),
}

impl AttemptFilter {
    pub fn status(&self) -> Option<AttemptStatus> {
        match self {
            Self::Endpoint(_, s) | Self::Event(_, s) => *s,
        }
    }
}

/// What a resend did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resend {
    /// A manual attempt is queued (the event had been delivered, had failed, or was never
    /// sent to this endpoint).
    Queued,
    /// The event was still waiting for a scheduled retry: that retry is due now, and the
    /// schedule goes on if it fails.
    Hurried,
    /// An attempt is being made right now; nothing more is queued.
    InFlight,
}

/// Upper bounds (ms) of the latency histogram the stats are estimated from; a last bucket
/// holds the slower ones.
pub const LATENCY_BUCKETS_MS: [u32; 10] = [25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 15_000];

/// Attempts of one endpoint over a stretch, as the store counts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    pub attempts: u64,
    pub succeeded: u64,
    /// Of the attempts that got a response: how many fell in each [`LATENCY_BUCKETS_MS`]
    /// bucket (and one more for slower), their total and their maximum.
    pub latency_buckets: [u64; 11],
    pub latency_total_ms: u64,
    pub latency_max_ms: u32,
    /// Deliveries still owed (waiting for their first or next attempt, or being sent) and
    /// deliveries that failed for good.
    pub pending: u64,
    pub failed: u64,
}

/// An endpoint's health over the last 24 hours.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WebhookStats {
    /// The start of the stretch (24 hours ago); it ends now.
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub since: DateTime<Utc>,
    pub attempts: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Succeeded over attempts, 0 to 1; null without attempts.
    #[schema(example = 0.998)]
    pub success_rate: Option<f64>,
    pub latency: LatencyStats,
    /// Deliveries waiting for an attempt (or being sent) now.
    pub pending_deliveries: u64,
    /// Deliveries that failed for good and are kept for a recovery.
    pub failed_deliveries: u64,
}

/// Response times of the attempts that got a response (null without any). Percentiles are
/// estimated from a histogram (buckets of 25 ms … 15 s), to within their bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct LatencyStats {
    pub responses: u64,
    pub mean_ms: Option<u32>,
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
    pub p99_ms: Option<u32>,
    pub max_ms: Option<u32>,
}

impl WebhookStats {
    pub fn of(counts: &AttemptCounts, since: DateTime<Utc>) -> Self {
        let responses: u64 = counts.latency_buckets.iter().sum();
        let quantile = |q: f64| estimate(&counts.latency_buckets, counts.latency_max_ms, q);
        Self {
            since,
            attempts: counts.attempts,
            succeeded: counts.succeeded,
            failed: counts.attempts.saturating_sub(counts.succeeded),
            success_rate: (counts.attempts > 0)
                .then(|| counts.succeeded as f64 / counts.attempts as f64),
            latency: LatencyStats {
                responses,
                mean_ms: (responses > 0).then(|| {
                    u32::try_from(counts.latency_total_ms / responses).unwrap_or(u32::MAX)
                }),
                p50_ms: quantile(0.50),
                p95_ms: quantile(0.95),
                p99_ms: quantile(0.99),
                max_ms: (responses > 0).then_some(counts.latency_max_ms),
            },
            pending_deliveries: counts.pending,
            failed_deliveries: counts.failed,
        }
    }
}

/// The `q` quantile of a histogram, interpolated linearly inside its bucket (the last bucket
/// ends at the maximum seen); never above the maximum.
fn estimate(buckets: &[u64; 11], max: u32, q: f64) -> Option<u32> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0);
    let mut below = 0u64;
    for (i, &n) in buckets.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let low = if i == 0 { 0 } else { LATENCY_BUCKETS_MS[i - 1] };
            let high = LATENCY_BUCKETS_MS.get(i).copied().unwrap_or(max).max(low);
            let within = (rank - below as f64) / n as f64;
            let v = f64::from(low) + within * f64::from(high - low);
            return Some((v.round() as u32).min(max));
        }
        below += n;
    }
    Some(max)
}

/// What a recovery queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Recovered {
    /// Failed deliveries queued again, each for one manual attempt.
    pub queued: u64,
}

/// What a test queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestSent {
    pub event_id: EventId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_from_the_histogram() {
        let mut b = [0u64; 11];
        assert_eq!(estimate(&b, 0, 0.5), None);
        // 100 responses, all between 50 and 100 ms: the median is about 75.
        b[2] = 100;
        assert_eq!(estimate(&b, 97, 0.5), Some(75));
        assert_eq!(estimate(&b, 97, 0.99), Some(97), "never above the maximum");
        // 99 fast ones and one slow one: p99 is still fast, the maximum is not.
        b = [0; 11];
        b[0] = 99;
        b[10] = 1;
        assert_eq!(estimate(&b, 20_000, 0.99), Some(25));
        assert_eq!(estimate(&b, 20_000, 1.0), Some(20_000));
        let counts = AttemptCounts {
            attempts: 4,
            succeeded: 3,
            latency_buckets: {
                let mut b = [0; 11];
                b[1] = 2;
                b
            },
            latency_total_ms: 80,
            latency_max_ms: 45,
            pending: 1,
            failed: 0,
        };
        let s = WebhookStats::of(&counts, Utc::now());
        assert_eq!(s.failed, 1);
        assert_eq!(s.success_rate, Some(0.75));
        assert_eq!(s.latency.responses, 2);
        assert_eq!(s.latency.mean_ms, Some(40));
        assert_eq!(s.latency.max_ms, Some(45));
        assert_eq!(
            WebhookStats::of(&AttemptCounts::default(), Utc::now()).success_rate,
            None
        );
    }
}
