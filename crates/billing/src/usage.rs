//! Metering's use cases: billable metrics, usage ingestion, aggregation.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tenantry_kernel::{Clock, TenantCtx, Unexpected};

use crate::error::{CreateMetricError, IngestUsageError, UsageQueryError};
use crate::metering::{
    Aggregation, Granularity, MAX_BATCH, Metric, MetricCode, TransactionId, UsageBucket, UsageEvent,
};
use crate::model::{InvalidValue, PlanName};
use crate::ports::MeteringRepository;

/// A usage event as a tenant sends it.
#[derive(Clone, Debug)]
pub struct ReportedUsage {
    pub transaction_id: String,
    pub metric: String,
    pub timestamp: DateTime<Utc>,
    pub properties: Map<String, Value>,
}

/// What became of one reported event.
#[derive(Clone, Debug, PartialEq)]
pub enum UsageOutcome {
    /// Counted (now, or when this transaction id was first reported).
    Accepted,
    /// Refused, with the reason; nothing was counted.
    Rejected(String),
}

#[derive(Clone)]
pub struct UsageService<R> {
    repo: R,
    clock: Arc<dyn Clock>,
}

impl<R: MeteringRepository> UsageService<R> {
    pub fn new(repo: R, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    pub async fn metrics(&self) -> Result<Vec<Metric>, Unexpected> {
        self.repo.metrics().await
    }

    pub async fn create_metric(
        &self,
        code: MetricCode,
        name: PlanName,
        aggregation: Aggregation,
    ) -> Result<Metric, CreateMetricError> {
        let metric = Metric {
            code,
            name,
            aggregation,
            created_at: self.clock.now(),
        };
        self.repo.create_metric(&metric).await?;
        Ok(metric)
    }

    /// Checks each event on its own and stores the valid ones in one transaction; a
    /// transaction id the tenant already reported counts once (its replay is accepted again).
    pub async fn ingest(
        &self,
        ctx: &TenantCtx,
        batch: Vec<ReportedUsage>,
    ) -> Result<Vec<UsageOutcome>, IngestUsageError> {
        if batch.is_empty() || batch.len() > MAX_BATCH {
            return Err(IngestUsageError::BatchSize {
                got: batch.len(),
                max: MAX_BATCH,
            });
        }
        let metrics = self.repo.metrics().await?;
        let now = self.clock.now();
        let mut accepted = Vec::with_capacity(batch.len());
        let outcomes = batch
            .into_iter()
            .map(|e| {
                let checked = (|| -> Result<UsageEvent, InvalidValue> {
                    let id = TransactionId::parse(&e.transaction_id)?;
                    let metric = metrics
                        .iter()
                        .find(|m| m.code.as_str() == e.metric)
                        .ok_or_else(|| InvalidValue(format!("no metric '{}'", e.metric)))?;
                    UsageEvent::check(id, metric, e.timestamp, e.properties, now)
                })();
                match checked {
                    Ok(event) => {
                        accepted.push(event);
                        UsageOutcome::Accepted
                    }
                    Err(e) => UsageOutcome::Rejected(e.0),
                }
            })
            .collect();
        if !accepted.is_empty() {
            self.repo.record_usage(ctx, &accepted).await?;
        }
        Ok(outcomes)
    }

    /// `metric`'s value per bucket in `[from, to)`, oldest first (buckets without events are
    /// left out).
    pub async fn usage(
        &self,
        ctx: &TenantCtx,
        metric: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
    ) -> Result<(Metric, Vec<UsageBucket>), UsageQueryError> {
        if from >= to {
            return Err(UsageQueryError::Invalid(InvalidValue(
                "from must be before to".to_owned(),
            )));
        }
        let metric = self
            .repo
            .metrics()
            .await?
            .into_iter()
            .find(|m| m.code.as_str() == metric)
            .ok_or_else(|| UsageQueryError::UnknownMetric {
                code: metric.to_owned(),
            })?;
        let buckets = self
            .repo
            .aggregate_usage(ctx, &metric, from, to, granularity)
            .await?
            .iter()
            .map(|b| UsageBucket {
                period: b.period.clone(),
                value: metric.aggregation.value(b),
            })
            .collect();
        Ok((metric, buckets))
    }
}
