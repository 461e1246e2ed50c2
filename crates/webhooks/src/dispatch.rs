//! Delivering a claimed batch: load what it needs in its tenant, sign, send every request at
//! once, decide what follows each attempt, record them together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenantry_kernel::{Clock, SecretCipher, TenantCtx, Unexpected, WebhookAttemptId, WebhookId};

use crate::delivery::{
    Attempt, AttemptOutcome, Attempted, Delivery, DeliveryQueue, DisablePolicy, Message,
    OutgoingRequest, RetrySchedule, Verdict, WebhookSender, verdict,
};
use crate::model::Webhook;
use crate::pace::{Pace, Pacer};
use crate::service::open_secrets;
use crate::signature::sign;

/// The `User-Agent` of deliveries.
const USER_AGENT: &str = concat!("Tenantry-Webhooks/", env!("CARGO_PKG_VERSION"));

/// What became of a batch, for the metrics: each attempt's outcome (`delivered`, `retry`,
/// `failed`, `gone`) and duration, how many deliveries went back for their turn, and how long
/// each phase took (`load`: endpoints, events and secrets; `send`; `record`).
#[derive(Clone, Debug, Default)]
pub struct BatchReport {
    pub attempts: Vec<(&'static str, Duration)>,
    pub deferred: usize,
    pub phases: Vec<(&'static str, Duration)>,
}

#[derive(Clone)]
pub struct DeliveryService<Q, S, C> {
    queue: Q,
    sender: S,
    cipher: C,
    clock: Arc<dyn Clock>,
    schedule: RetrySchedule,
    policy: DisablePolicy,
    /// Endpoints' rate limits, kept across batches.
    pacer: Arc<Mutex<Pacer>>,
}

impl<Q: DeliveryQueue, S: WebhookSender, C: SecretCipher> DeliveryService<Q, S, C> {
    pub fn new(
        queue: Q,
        sender: S,
        cipher: C,
        clock: Arc<dyn Clock>,
        schedule: RetrySchedule,
        policy: DisablePolicy,
    ) -> Self {
        Self {
            queue,
            sender,
            cipher,
            clock,
            schedule,
            policy,
            pacer: Arc::default(),
        }
    }

    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Attempts every delivery of `batch` (all of `ctx`'s tenant, claimed by `worker`) and
    /// records the attempts; what became of them.
    pub async fn deliver(
        &self,
        ctx: &TenantCtx,
        worker: &str,
        batch: Vec<Delivery>,
    ) -> Result<BatchReport, Unexpected> {
        let started = std::time::Instant::now();
        let mut endpoint_ids: Vec<WebhookId> = batch.iter().map(|d| d.endpoint_id).collect();
        endpoint_ids.sort();
        endpoint_ids.dedup();
        let mut event_ids: Vec<_> = batch.iter().map(|d| d.event_id).collect();
        event_ids.sort();
        event_ids.dedup();
        let (endpoints, messages) = self
            .queue
            .delivery_material(ctx, &endpoint_ids, &event_ids)
            .await?;
        let now = self.clock.now();
        let mut secrets = HashMap::new();
        for w in &endpoints {
            if w.enabled() {
                secrets.insert(w.id, open_secrets(&self.cipher, ctx, w, now).await?);
            }
        }
        let endpoints: HashMap<WebhookId, &Webhook> = endpoints.iter().map(|w| (w.id, w)).collect();
        let messages: HashMap<_, &Message> = messages.iter().map(|m| (m.event_id, m)).collect();
        // An endpoint deleted since the claim took its deliveries with it.
        let batch: Vec<(Delivery, &Webhook)> = batch
            .into_iter()
            .filter_map(|d| endpoints.get(&d.endpoint_id).map(|w| (d, *w)))
            .collect();
        let (paced, deferred) = self.pace(batch, now);
        let loaded = std::time::Instant::now();
        let attempts = paced.into_iter().map(|(d, endpoint, delay)| {
            let message = messages.get(&d.event_id).copied();
            let secrets = secrets.get(&d.endpoint_id);
            async move {
                let outcome = match (message, secrets) {
                    (None, _) => {
                        AttemptOutcome::not_sent("event_expired", "the event is past its retention")
                    }
                    (Some(_), None) => {
                        AttemptOutcome::not_sent("endpoint_disabled", "the endpoint is disabled")
                    }
                    (Some(m), Some(secrets)) => {
                        let refs: Vec<_> = secrets.iter().collect();
                        let at = self.clock.now()
                            + chrono::Duration::from_std(delay).unwrap_or_default();
                        let mut req = request(endpoint, m, &refs, at);
                        req.delay = delay;
                        self.sender.send(req).await
                    }
                };
                let now = self.clock.now();
                let verdict = verdict(&d, &outcome, &self.schedule, now);
                let attempt = Attempt {
                    id: WebhookAttemptId::new(),
                    endpoint_id: d.endpoint_id,
                    event_id: d.event_id,
                    event_type: message.map_or_else(String::new, |m| m.event_type.clone()),
                    attempt: d.attempt,
                    trigger: d.trigger,
                    succeeded: outcome.succeeded(),
                    status_code: outcome.status,
                    duration_ms: u32::try_from(outcome.duration.as_millis()).unwrap_or(u32::MAX),
                    response_body: outcome.body.clone(),
                    error: outcome.error.as_ref().map(|(code, detail)| {
                        if detail.is_empty() {
                            (*code).to_owned()
                        } else {
                            format!("{code}: {detail}")
                        }
                    }),
                    attempted_at: now,
                };
                Attempted {
                    delivery: d,
                    attempt,
                    verdict,
                }
            }
        });
        let attempted = futures_util::future::join_all(attempts).await;
        let sent = std::time::Instant::now();
        self.queue
            .record_attempts(
                ctx,
                worker,
                &attempted,
                &deferred,
                self.policy,
                self.clock.now(),
            )
            .await?;
        Ok(BatchReport {
            attempts: attempted
                .iter()
                .map(|a| {
                    let outcome = match a.verdict {
                        Verdict::Delivered => "delivered",
                        Verdict::RetryAt(_) => "retry",
                        Verdict::Failed => "failed",
                        Verdict::Gone => "gone",
                    };
                    (
                        outcome,
                        Duration::from_millis(u64::from(a.attempt.duration_ms)),
                    )
                })
                .collect(),
            deferred: deferred.len(),
            phases: vec![
                ("load", loaded - started),
                ("send", sent - loaded),
                ("record", sent.elapsed()),
            ],
        })
    }

    /// Each delivery with the wait its endpoint's rate limit asks for, and those sent back to
    /// the queue for later.
    #[allow(clippy::type_complexity)]
    fn pace<'w>(
        &self,
        batch: Vec<(Delivery, &'w Webhook)>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (
        Vec<(Delivery, &'w Webhook, Duration)>,
        Vec<(Delivery, chrono::DateTime<chrono::Utc>)>,
    ) {
        let mut pacer = self.pacer.lock().unwrap_or_else(|p| p.into_inner());
        let mut sent_back: HashMap<WebhookId, u32> = HashMap::new();
        let mut paced = Vec::with_capacity(batch.len());
        let mut deferred = Vec::new();
        for (d, w) in batch {
            let back = sent_back.get(&w.id).copied().unwrap_or(0);
            match pacer.pace(w.id, w.rate_limit, now, back) {
                Pace::After(wait) => paced.push((d, w, wait)),
                Pace::Later(at) => {
                    sent_back.insert(w.id, back + 1);
                    deferred.push((d, at));
                }
            }
        }
        (paced, deferred)
    }
}

/// The signed request of `message` to `endpoint`.
fn request(
    endpoint: &Webhook,
    message: &Message,
    secrets: &[&crate::signature::WebhookSecret],
    now: chrono::DateTime<chrono::Utc>,
) -> OutgoingRequest {
    let id = message.event_id.to_string();
    let timestamp = now.timestamp();
    let signatures = sign(&id, timestamp, message.payload.as_bytes(), secrets);
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("user-agent".to_owned(), USER_AGENT.to_owned()),
        ("webhook-id".to_owned(), id),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        ("webhook-signature".to_owned(), signatures.standard),
        ("x-hub-signature-256".to_owned(), signatures.hub),
    ];
    headers.extend(
        endpoint
            .headers
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    OutgoingRequest {
        delay: Duration::ZERO,
        url: endpoint.url.url().clone(),
        headers,
        body: message.payload.clone(),
    }
}
