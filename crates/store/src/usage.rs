//! Billable metrics (platform rows) and usage events (tenant rows, idempotent on the tenant's
//! transaction id), aggregated per day or month by the database.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_billing::{
    Aggregation, BucketAggregates, Coverage, CreateMetricError, Granularity, MeteringRepository,
    Metric, MetricCode, PlanName, UsageEvent,
};
use tenantry_kernel::{TenantCtx, Unexpected};

use crate::db::{Db, SqliteConn};
use crate::error::StoreError;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
struct MetricRow {
    code: String,
    name: String,
    aggregation: String,
    field: Option<String>,
    #[diesel(deserialize_as = DbInstant)]
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
/// tenant already has; gives the events inserted.
trait InsertUsage {
    fn insert_usage<'e>(
        &mut self,
        ctx: &TenantCtx,
        events: &'e [UsageEvent],
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<Vec<&'e UsageEvent>, StoreError>> + Send;

    /// Notes each distinct value a unique count reads (sorted: concurrent batches take their
    /// row locks in one order), skipping those noted before.
    fn insert_uniques(
        &mut self,
        ctx: &TenantCtx,
        uniques: &BTreeSet<(&str, String, &str)>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

/// A unique value's columns for INSERT.
macro_rules! unique_values {
    ($u:expr) => {{
        let (metric, period, key) = $u;
        (
            usage_uniques::metric.eq(*metric),
            usage_uniques::period.eq(period.as_str()),
            usage_uniques::unique_key.eq(*key),
        )
    }};
}

impl InsertUsage for diesel_async::AsyncPgConnection {
    /// One multi-row statement per chunk.
    async fn insert_usage<'e>(
        &mut self,
        ctx: &TenantCtx,
        events: &'e [UsageEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<&'e UsageEvent>, StoreError> {
        use crate::schema::pg::*;
        let mut inserted = Vec::with_capacity(events.len());
        for chunk in events.chunks(crate::db::INSERT_CHUNK) {
            let rows: Vec<_> = chunk.iter().map(|e| usage_values!(e, now)).collect();
            let new: HashSet<String> = usage_events::insert_many(ctx, rows)
                .on_conflict_do_nothing()
                .returning(usage_events::transaction_id)
                .get_results::<String>(self)
                .await?
                .into_iter()
                .collect();
            inserted.extend(
                chunk
                    .iter()
                    .filter(|e| new.contains(e.transaction_id.as_str())),
            );
        }
        Ok(inserted)
    }

    async fn insert_uniques(
        &mut self,
        ctx: &TenantCtx,
        uniques: &BTreeSet<(&str, String, &str)>,
    ) -> Result<(), StoreError> {
        use crate::schema::pg::*;
        let uniques: Vec<_> = uniques.iter().collect();
        for chunk in uniques.chunks(crate::db::INSERT_CHUNK) {
            let rows: Vec<_> = chunk.iter().map(|u| unique_values!(u)).collect();
            usage_uniques::insert_many(ctx, rows)
                .on_conflict_do_nothing()
                .execute(self)
                .await?;
        }
        Ok(())
    }
}

impl InsertUsage for SqliteConn {
    /// Row by row (in process, inside the one write transaction).
    async fn insert_usage<'e>(
        &mut self,
        ctx: &TenantCtx,
        events: &'e [UsageEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<&'e UsageEvent>, StoreError> {
        use crate::schema::sqlite::*;
        let mut inserted = Vec::with_capacity(events.len());
        for e in events {
            let n = usage_events::insert(ctx, usage_values!(e, now))
                .on_conflict_do_nothing()
                .execute(self)
                .await?;
            if n > 0 {
                inserted.push(e);
            }
        }
        Ok(inserted)
    }

    async fn insert_uniques(
        &mut self,
        ctx: &TenantCtx,
        uniques: &BTreeSet<(&str, String, &str)>,
    ) -> Result<(), StoreError> {
        use crate::schema::sqlite::*;
        for u in uniques {
            usage_uniques::insert(ctx, unique_values!(u))
                .on_conflict_do_nothing()
                .execute(self)
                .await?;
        }
        Ok(())
    }
}

/// Shards per tenant, metric and day in `usage_rollups`.
const ROLLUP_SHARDS: u64 = 16;

/// What a batch adds to one day's rollup of one metric.
struct DayRollup<'e> {
    metric: &'e str,
    day: String,
    events: i64,
    total: Option<f64>,
    maximum: Option<f64>,
    /// The newest event: its time, transaction id and value.
    latest: (DateTime<Utc>, &'e str, Option<f64>),
}

fn add(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

fn greater(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The inserted events rolled up per metric and day, in key order (so concurrent batches
/// lock rollup rows in one order).
fn day_rollups<'e>(events: &[&'e UsageEvent]) -> Vec<DayRollup<'e>> {
    let mut out: BTreeMap<(&'e str, String), DayRollup<'e>> = BTreeMap::new();
    for e in events {
        let day = e.day().format("%Y-%m-%d").to_string();
        let newest = (e.timestamp, e.transaction_id.as_str(), e.value);
        let r = out
            .entry((e.metric.as_str(), day.clone()))
            .or_insert_with(|| DayRollup {
                metric: e.metric.as_str(),
                day,
                events: 0,
                total: None,
                maximum: None,
                latest: newest,
            });
        r.events += 1;
        r.total = add(r.total, e.value);
        r.maximum = greater(r.maximum, e.value);
        if (newest.0, newest.1) > (r.latest.0, r.latest.1) {
            r.latest = newest;
        }
    }
    out.into_values().collect()
}

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
        use diesel::dsl::sql;
        use diesel::sql_types::{BigInt, Double, Nullable, SmallInt, Text};
        let now = Utc::now();
        // Through the pipeline's transaction, recording nothing: usage is data, not a change
        // to audit. The rollups change with the events, in the same transaction.
        mutate!(self, ctx, |conn, _log| {
            let inserted = conn.insert_usage(ctx, events, now).await?;
            let Some(first) = <[_]>::first(&inserted) else {
                return Ok(());
            };
            let shard = {
                use std::hash::{Hash, Hasher};
                let mut h = std::hash::DefaultHasher::new();
                first.transaction_id.as_str().hash(&mut h);
                i16::try_from(h.finish() % ROLLUP_SHARDS).unwrap_or(0)
            };
            for r in day_rollups(&inserted) {
                sql::<BigInt>(
                    "INSERT INTO usage_rollups (tenant_id, metric, day, shard, events, total, \
                     maximum, latest_at, latest_id, latest) VALUES (",
                )
                .bind::<DbId, _>(DbUuid::from(ctx.tenant_id()))
                .sql(", ")
                .bind::<Text, _>(r.metric)
                .sql(", ")
                .bind::<Text, _>(r.day.as_str())
                .sql(", ")
                .bind::<SmallInt, _>(shard)
                .sql(", ")
                .bind::<BigInt, _>(r.events)
                .sql(", ")
                .bind::<Nullable<Double>, _>(r.total)
                .sql(", ")
                .bind::<Nullable<Double>, _>(r.maximum)
                .sql(", ")
                .bind::<DbTime, _>(r.latest.0)
                .sql(", ")
                .bind::<Text, _>(r.latest.1)
                .sql(", ")
                .bind::<Nullable<Double>, _>(r.latest.2)
                .sql(concat!(
                    ") ON CONFLICT (tenant_id, metric, day, shard) DO UPDATE SET ",
                    "events = usage_rollups.events + excluded.events, ",
                    "total = COALESCE(usage_rollups.total + excluded.total, usage_rollups.total, ",
                    "excluded.total), ",
                    "maximum = CASE WHEN excluded.maximum > usage_rollups.maximum ",
                    "THEN excluded.maximum ELSE COALESCE(usage_rollups.maximum, excluded.maximum) END, ",
                    "latest = CASE WHEN (excluded.latest_at, excluded.latest_id) > ",
                    "(usage_rollups.latest_at, usage_rollups.latest_id) ",
                    "THEN excluded.latest ELSE usage_rollups.latest END, ",
                    "latest_id = CASE WHEN (excluded.latest_at, excluded.latest_id) > ",
                    "(usage_rollups.latest_at, usage_rollups.latest_id) ",
                    "THEN excluded.latest_id ELSE usage_rollups.latest_id END, ",
                    "latest_at = CASE WHEN (excluded.latest_at, excluded.latest_id) > ",
                    "(usage_rollups.latest_at, usage_rollups.latest_id) ",
                    "THEN excluded.latest_at ELSE usage_rollups.latest_at END",
                ))
                .execute(conn)
                .await?;
            }
            let mut uniques = BTreeSet::new();
            for e in &inserted {
                if let Some(key) = e.unique.as_deref() {
                    let day = e.day().format("%Y-%m-%d").to_string();
                    uniques.insert((e.metric.as_str(), day[..7].to_owned(), key));
                    uniques.insert((e.metric.as_str(), day, key));
                }
            }
            if !uniques.is_empty() {
                conn.insert_uniques(ctx, &uniques).await?;
            }
            Ok(())
        })
    }

    /// A metric's aggregates per bucket over `[from, to)`: the whole days from the rollups,
    /// the parts of days at the ends from the events; a count of distinct values from the
    /// month's own set when the month is whole, else from the days' sets and the ends' events
    /// together.
    async fn aggregates(
        &self,
        ctx: &TenantCtx,
        metric: &Metric,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
    ) -> Result<Vec<BucketAggregates>, StoreError> {
        use diesel::dsl::{count_star, sql};
        use diesel::sql_types::{BigInt, Double, Nullable, Text};
        let n = granularity.prefix_len();
        let cover = Coverage::of(from, to);
        let code = metric.code.as_str();
        let tenant = DbUuid::from(ctx.tenant_id());
        let latest = matches!(metric.aggregation, Aggregation::Latest(_));
        let unique = matches!(metric.aggregation, Aggregation::UniqueCount(_));
        // `$q` continued with the tenant, the metric and one interval of time: a range of the
        // index (`tenant, metric, occurred_at`); two intervals are two statements or a UNION,
        // never an OR, which PostgreSQL answers by scanning the metric's every event.
        macro_rules! within {
            ($q:expr, $interval:expr) => {{
                let (start, end): (DateTime<Utc>, DateTime<Utc>) = $interval;
                $q.bind::<DbId, _>(tenant)
                    .sql(" AND metric = ")
                    .bind::<Text, _>(code)
                    .sql(" AND occurred_at >= ")
                    .bind::<DbTime, _>(start)
                    .sql(" AND occurred_at < ")
                    .bind::<DbTime, _>(end)
            }};
        }
        tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut parts: BTreeMap<String, Part> = BTreeMap::new();
            if cover.has_days() {
                let rows: Vec<RollupRow> = usage_rollups::of(ctx)
                    .filter(usage_rollups::metric.eq(code))
                    .filter(usage_rollups::day.ge(day_name(cover.days.0)))
                    .filter(usage_rollups::day.lt(day_name(cover.days.1)))
                    .select((
                        usage_rollups::day,
                        usage_rollups::events,
                        usage_rollups::total,
                        usage_rollups::maximum,
                        usage_rollups::latest_at,
                        usage_rollups::latest_id,
                        usage_rollups::latest,
                    ))
                    .load(conn)
                    .await?;
                for (day, count, sum, max, at, id, value) in rows {
                    parts.entry(day[..n].to_owned()).or_default().add(Part {
                        count,
                        sum,
                        max,
                        latest: Some((at, id, value)),
                        unique: None,
                    });
                }
            }
            for &edge in &cover.edges {
                // The grouping expression is the day's prefix, which the DSL cannot group by:
                // the statement is a literal, every value in it a bind.
                let rows: Vec<EdgeRow> = diesel::select(
                    within!(
                        sql::<(Text, BigInt, BigInt, Nullable<Double>, Nullable<Double>)>(
                            &format!(
                                "substr(day, 1, {n}) AS period, COUNT(*), \
                                 COUNT(DISTINCT unique_key), SUM(value), MAX(value) \
                                 FROM usage_events WHERE tenant_id = "
                            )
                        ),
                        edge
                    )
                    .sql(" GROUP BY period"),
                )
                .load(conn)
                .await?;
                for (period, count, distinct, sum, max) in rows {
                    parts.entry(period).or_default().add(Part {
                        count,
                        sum,
                        max,
                        latest: None,
                        // An end lies inside one day: its distinct values are that day's.
                        unique: (granularity == Granularity::Day).then_some(distinct),
                    });
                }
                if latest {
                    let rows: Vec<(String, DateTime<Utc>, String, Option<f64>)> = diesel::select(
                        within!(
                            sql::<(Text, DbTime, Text, Nullable<Double>)>(
                                "day, occurred_at, transaction_id, value FROM usage_events \
                                 WHERE tenant_id = "
                            ),
                            edge
                        )
                        .sql(" ORDER BY occurred_at DESC, transaction_id DESC LIMIT 1"),
                    )
                    .load(conn)
                    .await?;
                    for (day, at, id, value) in rows {
                        parts.entry(day[..n].to_owned()).or_default().add(Part {
                            latest: Some((at, id, value)),
                            ..Part::default()
                        });
                    }
                }
            }
            if unique {
                let counted = |period: String, n: i64, parts: &mut BTreeMap<String, Part>| {
                    if let Some(p) = parts.get_mut(&period) {
                        p.unique = Some(n);
                    }
                };
                let sets = usage_uniques::of(ctx)
                    .filter(usage_uniques::metric.eq(code))
                    .group_by(usage_uniques::period)
                    .select((usage_uniques::period, count_star()));
                match granularity {
                    Granularity::Day if cover.has_days() => {
                        let rows: Vec<(String, i64)> = sets
                            .filter(usage_uniques::period.ge(day_name(cover.days.0)))
                            .filter(usage_uniques::period.lt(day_name(cover.days.1)))
                            .filter(usage_uniques::period.like("____-__-__"))
                            .load(conn)
                            .await?;
                        for (period, n) in rows {
                            counted(period, n, &mut parts);
                        }
                    }
                    Granularity::Day => {}
                    Granularity::Month => {
                        let months = cover.months();
                        // A month is read from its own set when the range holds all of it, or
                        // all of its events (a month to date: nothing after `to` yet).
                        let mut whole: Vec<String> = Vec::new();
                        let mut partial = Vec::new();
                        for m in &months {
                            let (start, end) = m.period.bounds();
                            let outside: Vec<_> = [(start, m.part.from), (m.part.to, end)]
                                .into_iter()
                                .filter(|(a, b)| a < b)
                                .collect();
                            let mut holds_all = true;
                            for &interval in outside.iter().filter(|_| !m.whole) {
                                let found: i64 = diesel::select(
                                    within!(
                                        sql::<BigInt>(
                                            "COUNT(*) FROM (SELECT 1 AS one FROM usage_events \
                                             WHERE tenant_id = "
                                        ),
                                        interval
                                    )
                                    .sql(" LIMIT 1) outside"),
                                )
                                .get_result(conn)
                                .await?;
                                if found > 0 {
                                    holds_all = false;
                                    break;
                                }
                            }
                            if holds_all {
                                whole.push(m.period.name());
                            } else {
                                partial.push(m);
                            }
                        }
                        if !whole.is_empty() {
                            let rows: Vec<(String, i64)> = sets
                                .filter(usage_uniques::period.eq_any(&whole))
                                .load(conn)
                                .await?;
                            for (period, n) in rows {
                                counted(period, n, &mut parts);
                            }
                        }
                        for m in partial {
                            let part = &m.part;
                            let edge =
                                |i: usize| part.edges.get(i).copied().unwrap_or((from, from));
                            let n: i64 = diesel::select(
                                within!(
                                    within!(
                                        sql::<BigInt>(
                                            "COUNT(DISTINCT k) FROM (SELECT unique_key AS k \
                                             FROM usage_uniques WHERE tenant_id = "
                                        )
                                        .bind::<DbId, _>(tenant)
                                        .sql(" AND metric = ")
                                        .bind::<Text, _>(code)
                                        .sql(" AND period LIKE '____-__-__' AND period >= ")
                                        .bind::<Text, _>(day_name(part.days.0))
                                        .sql(" AND period < ")
                                        .bind::<Text, _>(day_name(part.days.1))
                                        .sql(
                                            " UNION ALL SELECT unique_key FROM usage_events \
                                             WHERE tenant_id = "
                                        ),
                                        edge(0)
                                    )
                                    .sql(
                                        " UNION ALL SELECT unique_key FROM usage_events \
                                         WHERE tenant_id = "
                                    ),
                                    edge(1)
                                )
                                .sql(") u"),
                            )
                            .get_result(conn)
                            .await?;
                            counted(m.period.name(), n, &mut parts);
                        }
                    }
                }
            }
            Ok(parts
                .into_iter()
                .filter(|(_, p)| p.count > 0)
                .map(|(period, p)| p.into_bucket(period))
                .collect())
        })
    }
}

fn day_name(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An end's events as read: bucket, events, distinct values, sum, max.
type EdgeRow = (String, i64, i64, Option<f64>, Option<f64>);

/// A day's rollup as read: day, events, total, maximum, newest event's time, id and value.
type RollupRow = (
    String,
    i64,
    Option<f64>,
    Option<f64>,
    DateTime<Utc>,
    String,
    Option<f64>,
);

/// Part of one bucket's aggregates (a day's rollup, an end's events), added up.
#[derive(Default)]
struct Part {
    count: i64,
    sum: Option<f64>,
    max: Option<f64>,
    /// The newest event: time, transaction id, value.
    latest: Option<(DateTime<Utc>, String, Option<f64>)>,
    /// Distinct values, when counted for the whole bucket.
    unique: Option<i64>,
}

impl Part {
    fn add(&mut self, other: Part) {
        self.count += other.count;
        self.sum = add(self.sum, other.sum);
        self.max = greater(self.max, other.max);
        if let Some(l) = other.latest {
            let newer = self
                .latest
                .as_ref()
                .is_none_or(|(at, id, _)| (l.0, l.1.as_str()) > (*at, id.as_str()));
            if newer {
                self.latest = Some(l);
            }
        }
        if other.unique.is_some() {
            self.unique = other.unique;
        }
    }

    fn into_bucket(self, period: String) -> BucketAggregates {
        BucketAggregates {
            period,
            count: self.count,
            unique: self.unique.unwrap_or(0),
            sum: self.sum,
            max: self.max,
            latest: self.latest.and_then(|(_, _, v)| v),
        }
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
