//! The webhook dispatcher: claims due deliveries fairly across tenants and endpoints, and
//! delivers each tenant's share as one batch (loaded, sent and recorded together), many
//! batches at once.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tenantry_kernel::{Clock, Edges, JobId, SecretCipher, TenantCtx};
use tenantry_webhooks::{
    Claim, ClaimLimits, Delivery, DeliveryQueue, DeliveryService, WebhookSender,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::runner::{backoff, drain};

/// How a dispatcher runs.
#[derive(Clone, Debug)]
pub struct DispatcherConfig {
    /// This dispatcher's name in the queue (`locked_by`).
    pub name: String,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// At most this many of one tenant's per claim.
    pub per_tenant: u32,
    /// At most this many of one endpoint's in flight (across dispatchers).
    pub per_endpoint: u32,
    /// How long a claim holds a delivery (longer than an attempt's timeout).
    pub lease: Duration,
    /// The longest wait between claims without a notification.
    pub backstop: Duration,
    /// How long batches in flight may finish after shutdown was asked for.
    pub grace: Duration,
}

impl DispatcherConfig {
    pub fn new(concurrency: usize) -> Self {
        Self {
            name: format!("{}-{}-webhooks", std::process::id(), JobId::new()),
            concurrency: concurrency.max(1),
            per_tenant: 100,
            per_endpoint: 100,
            lease: Duration::from_secs(60),
            backstop: Duration::from_secs(5),
            grace: Duration::from_secs(20),
        }
    }
}

pub struct Dispatcher<Q, S, C> {
    service: DeliveryService<Q, S, C>,
    clock: Arc<dyn Clock>,
    config: DispatcherConfig,
    edges: Edges,
}

impl<Q: DeliveryQueue, S: WebhookSender, C: SecretCipher> Dispatcher<Q, S, C> {
    pub fn new(
        service: DeliveryService<Q, S, C>,
        clock: Arc<dyn Clock>,
        config: DispatcherConfig,
        edges: Edges,
    ) -> Self {
        Self {
            service,
            clock,
            config,
            edges,
        }
    }

    /// Runs until `shutdown` resolves, then lets batches in flight finish for the grace
    /// period (what is cut short is delivered again after its lease).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        let mut running: JoinSet<()> = JoinSet::new();
        let mut failures = 0u32;
        tracing::info!(dispatcher = %self.config.name, concurrency = self.config.concurrency, "webhook dispatcher started");
        loop {
            while running.try_join_next().is_some() {}
            let free = u32::try_from(permits.available_permits()).unwrap_or(u32::MAX);
            if free == 0 {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = running.join_next() => continue,
                }
            }
            let limits = ClaimLimits {
                max: free,
                per_tenant: self.config.per_tenant,
                per_endpoint: self.config.per_endpoint,
            };
            let claiming = std::time::Instant::now();
            let claimed = self
                .service
                .queue()
                .claim_deliveries(
                    &self.config.name,
                    limits,
                    self.config.lease,
                    self.clock.now(),
                )
                .await;
            metrics::histogram!("tenantry_webhook_phase_seconds", "phase" => "claim")
                .record(claiming.elapsed().as_secs_f64());
            let Claim {
                deliveries: claimed,
                more,
            } = match claimed {
                Ok(c) => {
                    failures = 0;
                    c
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "dispatcher: cannot claim deliveries");
                    let wait = backoff(failures);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            let mut by_tenant: BTreeMap<_, Vec<Delivery>> = BTreeMap::new();
            for d in claimed {
                by_tenant.entry(d.tenant_id).or_default().push(d);
            }
            for (tenant, batch) in by_tenant {
                let n = u32::try_from(batch.len()).unwrap_or(u32::MAX);
                let Ok(permit) = permits.clone().acquire_many_owned(n).await else {
                    break;
                };
                let service = self.service.clone();
                let worker = self.config.name.clone();
                let ctx = TenantCtx::for_delivery(&self.edges, tenant, &self.config.name);
                let span = tracing::info_span!(
                    "webhook.deliver",
                    tenant_id = %tenant,
                    deliveries = batch.len(),
                    otel.name = "webhook deliver",
                    otel.kind = "producer",
                );
                running.spawn(
                    async move {
                        let started = std::time::Instant::now();
                        let n = batch.len();
                        match service.deliver(&ctx, &worker, batch).await {
                            Ok(report) => {
                                for (outcome, took) in report.attempts {
                                    metrics::counter!("tenantry_webhook_attempts_total", "outcome" => outcome).increment(1);
                                    metrics::histogram!("tenantry_webhook_attempt_seconds").record(took.as_secs_f64());
                                }
                                metrics::counter!("tenantry_webhook_deferred_total").increment(report.deferred as u64);
                                for (phase, took) in report.phases {
                                    metrics::histogram!("tenantry_webhook_phase_seconds", "phase" => phase).record(took.as_secs_f64());
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, deliveries = n, "dispatcher: a batch failed; it is attempted again after its lease"),
                        }
                        metrics::histogram!("tenantry_webhook_batch_seconds")
                            .record(started.elapsed().as_secs_f64());
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
            if more {
                continue;
            }
            // Nothing more can be claimed now: claim again when a batch ends (its endpoint's
            // room, its immediate retries), when deliveries are queued, or when the next is
            // due (what is held back by room elsewhere: after a short wait).
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.service.queue().wait_for_deliveries(self.config.backstop) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        drain(running, self.config.grace).await;
        tracing::info!(dispatcher = %self.config.name, "webhook dispatcher stopped");
    }
}
