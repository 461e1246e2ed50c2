//! Delivering a claimed batch: load what it needs in its tenant, sign, send every request at
//! once, decide what follows each attempt, record them together.

use std::collections::HashMap;
use std::sync::Arc;

use tenantry_kernel::{Clock, SecretCipher, TenantCtx, Unexpected, WebhookAttemptId, WebhookId};

use crate::delivery::{
    Attempt, AttemptOutcome, Attempted, Delivery, DeliveryQueue, DisablePolicy, Message,
    OutgoingRequest, RetrySchedule, WebhookSender, verdict,
};
use crate::model::Webhook;
use crate::service::open_secrets;
use crate::signature::sign;

/// The `User-Agent` of deliveries.
const USER_AGENT: &str = concat!("Tenantry-Webhooks/", env!("CARGO_PKG_VERSION"));

#[derive(Clone)]
pub struct DeliveryService<Q, S, C> {
    queue: Q,
    sender: S,
    cipher: C,
    clock: Arc<dyn Clock>,
    schedule: RetrySchedule,
    policy: DisablePolicy,
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
        }
    }

    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Attempts every delivery of `batch` (all of `ctx`'s tenant, claimed by `worker`) and
    /// records the attempts.
    pub async fn deliver(
        &self,
        ctx: &TenantCtx,
        worker: &str,
        batch: Vec<Delivery>,
    ) -> Result<(), Unexpected> {
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
        let attempts = batch.into_iter().filter_map(|d| {
            // An endpoint deleted since the claim took its deliveries with it.
            let endpoint = *endpoints.get(&d.endpoint_id)?;
            let message = messages.get(&d.event_id).copied();
            let secrets = secrets.get(&d.endpoint_id);
            Some(async move {
                let outcome = match (message, secrets) {
                    (None, _) => {
                        AttemptOutcome::not_sent("event_expired", "the event is past its retention")
                    }
                    (Some(_), None) => {
                        AttemptOutcome::not_sent("endpoint_disabled", "the endpoint is disabled")
                    }
                    (Some(m), Some(secrets)) => {
                        let refs: Vec<_> = secrets.iter().collect();
                        self.sender
                            .send(request(endpoint, m, &refs, self.clock.now()))
                            .await
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
            })
        });
        let attempted = futures_util::future::join_all(attempts).await;
        self.queue
            .record_attempts(ctx, worker, &attempted, self.policy, self.clock.now())
            .await
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
        url: endpoint.url.url().clone(),
        headers,
        body: message.payload.clone(),
    }
}
