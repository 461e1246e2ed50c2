//! Billable metrics (platform rows) and usage events (tenant rows, idempotent on the tenant's
//! transaction id), aggregated per day or month by the database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_billing::{
    Aggregation, BucketAggregates, CreateMetricError, Granularity, MeteringRepository, Metric,
    MetricCode, PlanName, UsageEvent,
};
use tenantry_kernel::{TenantCtx, Unexpected};

use crate::db::{Db, SqliteConn};
use crate::error::StoreError;
use crate::types::DbUuid;

#[derive(Queryable)]
struct MetricRow {
    code: String,
    name: String,
    aggregation: String,
    field: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<MetricRow> for Metric {
    type Error = StoreError;

    fn try_from(r: MetricRow) -> Result<Self, StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(format!("metric {}: {e}", r.code));
        Ok(Metric {
            code: MetricCode::parse(&r.code).map_err(|e| corrupt(e.0))?,
            name: PlanName::parse(&r.name).map_err(|e| corrupt(e.0))?,
            aggregation: Aggregation::parse(&r.aggregation, r.field.as_deref())
                .map_err(|e| corrupt(e.0))?,
            created_at: r.created_at,
        })
    }
}

/// A usage event's columns for INSERT (the tenant comes from the context).
macro_rules! usage_values {
    ($e:expr, $now:expr) => {{
        let e: &UsageEvent = $e;
        (
            usage_events::transaction_id.eq(e.transaction_id.as_str()),
            usage_events::metric.eq(e.metric.as_str()),
            usage_events::occurred_at.eq(e.timestamp),
            usage_events::day.eq(e.day().format("%Y-%m-%d").to_string()),
            usage_events::value.eq(e.value),
            usage_events::unique_key.eq(e.unique.as_deref()),
            usage_events::properties
                .eq(serde_json::Value::Object(e.properties.clone()).to_string()),
            usage_events::received_at.eq($now),
        )
    }};
}

/// Inserts usage events inside the caller's tenant transaction, skipping transaction ids the
/// tenant already has.
trait InsertUsage {
    fn insert_usage(
        &mut self,
        ctx: &TenantCtx,
        events: &[UsageEvent],
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

impl InsertUsage for diesel_async::AsyncPgConnection {
    /// One multi-row statement per chunk.
    async fn insert_usage(
        &mut self,
        ctx: &TenantCtx,
        events: &[UsageEvent],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        use crate::schema::pg::*;
        for chunk in events.chunks(crate::db::INSERT_CHUNK) {
            let rows: Vec<_> = chunk.iter().map(|e| usage_values!(e, now)).collect();
            usage_events::insert_many(ctx, rows)
                .on_conflict_do_nothing()
                .execute(self)
                .await?;
        }
        Ok(())
    }
}

impl InsertUsage for SqliteConn {
    /// Row by row (in process, inside the one write transaction).
    async fn insert_usage(
        &mut self,
        ctx: &TenantCtx,
        events: &[UsageEvent],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        use crate::schema::sqlite::*;
        for e in events {
            usage_events::insert(ctx, usage_values!(e, now))
                .on_conflict_do_nothing()
                .execute(self)
                .await?;
        }
        Ok(())
    }
}

type Aggregates = (String, i64, i64, Option<f64>, Option<f64>);

impl Db {
    async fn load_metrics(&self) -> Result<Vec<Metric>, StoreError> {
        let rows: Vec<MetricRow> = tx!(self, read, tenant = None, |conn| {
            Ok(billable_metrics::table
                .order(billable_metrics::code.asc())
                .load(conn)
                .await?)
        })?;
        rows.into_iter().map(Metric::try_from).collect()
    }

    async fn insert_metric(&self, m: &Metric) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            diesel::insert_into(billable_metrics::table)
                .values((
                    billable_metrics::code.eq(m.code.as_str()),
                    billable_metrics::name.eq(m.name.as_str()),
                    billable_metrics::aggregation.eq(m.aggregation.kind()),
                    billable_metrics::field.eq(m.aggregation.field()),
                    billable_metrics::created_at.eq(m.created_at),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn insert_usage_events(
        &self,
        ctx: &TenantCtx,
        events: &[UsageEvent],
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        // Through the pipeline's transaction, recording nothing: usage is data, not a change
        // to audit.
        mutate!(self, ctx, |conn, _log| {
            conn.insert_usage(ctx, events, now).await?;
            Ok(())
        })
    }

    async fn aggregates(
        &self,
        ctx: &TenantCtx,
        metric: &Metric,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
    ) -> Result<Vec<BucketAggregates>, StoreError> {
        use diesel::dsl::sql;
        use diesel::sql_types::{BigInt, Double, Nullable, Text};
        let n = granularity.prefix_len();
        let latest = matches!(metric.aggregation, Aggregation::Latest(_));
        tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            // One statement, its FROM inside the literal: the grouping expression is the
            // day's prefix, which the DSL cannot group by; every value is a bind.
            let rows: Vec<Aggregates> = diesel::select(
                sql::<(Text, BigInt, BigInt, Nullable<Double>, Nullable<Double>)>(&format!(
                    "substr(day, 1, {n}) AS period, COUNT(*), COUNT(DISTINCT unique_key), \
                     SUM(value), MAX(value) FROM usage_events WHERE tenant_id = "
                ))
                .bind::<DbId, _>(DbUuid::from(ctx.tenant_id()))
                .sql(" AND metric = ")
                .bind::<Text, _>(metric.code.as_str())
                .sql(" AND occurred_at >= ")
                .bind::<DbTime, _>(from)
                .sql(" AND occurred_at < ")
                .bind::<DbTime, _>(to)
                .sql(" GROUP BY period ORDER BY period"),
            )
            .load(conn)
            .await?;
            let mut buckets: Vec<BucketAggregates> = rows
                .into_iter()
                .map(|(period, count, unique, sum, max)| BucketAggregates {
                    period,
                    count,
                    unique,
                    sum,
                    max,
                    latest: None,
                })
                .collect();
            if latest {
                // The newest event's value in each bucket.
                let newest: Vec<(String, Option<f64>)> = diesel::select(
                    sql::<(Text, Nullable<Double>)>(&format!(
                        "period, value FROM (SELECT substr(day, 1, {n}) AS period, value, \
                         ROW_NUMBER() OVER (PARTITION BY substr(day, 1, {n}) \
                         ORDER BY occurred_at DESC, transaction_id DESC) AS rn \
                         FROM usage_events WHERE tenant_id = "
                    ))
                    .bind::<DbId, _>(DbUuid::from(ctx.tenant_id()))
                    .sql(" AND metric = ")
                    .bind::<Text, _>(metric.code.as_str())
                    .sql(" AND occurred_at >= ")
                    .bind::<DbTime, _>(from)
                    .sql(" AND occurred_at < ")
                    .bind::<DbTime, _>(to)
                    .sql(") newest WHERE rn = 1"),
                )
                .load(conn)
                .await?;
                for b in &mut buckets {
                    b.latest = newest
                        .iter()
                        .find(|(p, _)| *p == b.period)
                        .and_then(|(_, v)| *v);
                }
            }
            Ok(buckets)
        })
    }
}

impl MeteringRepository for Db {
    async fn metrics(&self) -> Result<Vec<Metric>, Unexpected> {
        Ok(self.load_metrics().await?)
    }

    async fn create_metric(&self, metric: &Metric) -> Result<(), CreateMetricError> {
        match self.insert_metric(metric).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_unique_violation() => Err(CreateMetricError::Duplicate {
                code: metric.code.as_str().to_owned(),
            }),
            Err(e) => Err(CreateMetricError::Unexpected(e.into())),
        }
    }

    async fn record_usage(&self, ctx: &TenantCtx, events: &[UsageEvent]) -> Result<(), Unexpected> {
        Ok(self.insert_usage_events(ctx, events).await?)
    }

    async fn aggregate_usage(
        &self,
        ctx: &TenantCtx,
        metric: &Metric,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
    ) -> Result<Vec<BucketAggregates>, Unexpected> {
        Ok(self.aggregates(ctx, metric, from, to, granularity).await?)
    }
}
