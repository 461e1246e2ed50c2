//! Usage metering: tenants report usage events and read their aggregates; the operator defines
//! billable metrics and reads every tenant's totals for a period (the invoicing run).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tenantry_billing::{
    Aggregation, Granularity, Metric, MetricCode, Period, PlanName, ReportedUsage, UsageOutcome,
};
use tenantry_kernel::{PageRequest, TenantId};
use tenantry_tenancy::TenantFilter;
use utoipa::{IntoParams, ToSchema};

use crate::dates::Timestamp;
use crate::guard::Member;
use crate::json::{ApiJson, ApiQuery, JsonBody};
use crate::operator::Operator;
use crate::paging::wants_csv;
use crate::problem::{Fields, Problem, ProblemBody};
use crate::responses::{BodyErrors, MemberErrors, OperatorErrors, QueryErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

/// One usage event.
#[derive(Deserialize, ToSchema)]
pub struct UsageEventBody {
    /// Your id for the event: sending it again counts once.
    #[schema(example = "evt_2026_11_29_0001", min_length = 1, max_length = 128)]
    pub transaction_id: String,
    /// A billable metric's code (`GET /api/v1/platform/metrics`).
    #[schema(example = "storage_gb")]
    pub metric: String,
    /// When it happened: at most 5 minutes ahead, at most 35 days ago.
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: Timestamp,
    /// What the metric aggregates reads (e.g. `{"gb": 1.5}` for a sum of `gb`).
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"gb": 1.5}))]
    pub properties: Map<String, Value>,
}

/// A batch of usage events.
#[derive(Deserialize, ToSchema)]
pub struct UsageBatchBody {
    /// 1 to 100 events.
    #[schema(min_items = 1, max_items = 100)]
    pub events: Vec<UsageEventBody>,
}

/// What became of one event.
#[derive(Serialize, ToSchema)]
pub struct UsageResultView {
    pub transaction_id: String,
    /// `accepted` (counted, now or when first sent) or `rejected` (see `error`).
    #[schema(example = "accepted")]
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Each event's outcome, in the order sent.
#[derive(Serialize, ToSchema)]
pub struct UsageBatchView {
    pub accepted: usize,
    pub rejected: usize,
    pub results: Vec<UsageResultView>,
}

/// Report usage events (at most 100). Each is checked on its own; the valid ones are stored
/// together. Idempotent on `transaction_id`: a replay is accepted again and counts once.
#[utoipa::path(
    extensions(("x-permission" = json!("usage:write"))),
    tag = "billing", security(("bearer_token" = [])),
    request_body = UsageBatchBody,
    responses(
        (status = 200, description = "Each event's outcome", body = UsageBatchView),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn report_usage(
    m: Member,
    state: Data,
    body: ApiJson<UsageBatchBody>,
) -> Result<web::Json<UsageBatchView>, Problem> {
    let events = body.0.events;
    let ids: Vec<String> = events.iter().map(|e| e.transaction_id.clone()).collect();
    let batch = events
        .into_iter()
        .map(|e| ReportedUsage {
            transaction_id: e.transaction_id,
            metric: e.metric,
            timestamp: e.timestamp.0,
            properties: e.properties,
        })
        .collect();
    let outcomes = state.metering.ingest(&m.ctx, batch).await?;
    let results: Vec<UsageResultView> = ids
        .into_iter()
        .zip(outcomes)
        .map(|(transaction_id, o)| match o {
            UsageOutcome::Accepted => UsageResultView {
                transaction_id,
                status: "accepted",
                error: None,
            },
            UsageOutcome::Rejected(why) => UsageResultView {
                transaction_id,
                status: "rejected",
                error: Some(why),
            },
        })
        .collect();
    let accepted = results.iter().filter(|r| r.error.is_none()).count();
    Ok(web::Json(UsageBatchView {
        accepted,
        rejected: results.len() - accepted,
        results,
    }))
}

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GranularityDto {
    Day,
    Month,
}

/// Which usage to aggregate.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// The metric's code.
    #[param(example = "api_calls")]
    pub metric: String,
    /// From this time (inclusive; default: the start of the current month, UTC).
    pub from: Option<Timestamp>,
    /// Until this time (exclusive; default: now).
    pub to: Option<Timestamp>,
    /// Buckets: `day` (default) or `month`, UTC.
    #[param(inline)]
    pub granularity: Option<GranularityDto>,
}

/// One bucket.
#[derive(Serialize, ToSchema)]
pub struct UsageBucketView {
    /// `YYYY-MM-DD` (day) or `YYYY-MM` (month).
    #[schema(example = "2026-11-29")]
    pub period: String,
    #[schema(example = 42.0)]
    pub value: f64,
}

/// A metric's usage per bucket (buckets without events are left out).
#[derive(Serialize, ToSchema)]
pub struct UsageReportView {
    pub metric: String,
    /// `count`, `unique_count`, `sum`, `max` or `latest`.
    pub aggregation: &'static str,
    /// The property aggregated (none for a count).
    pub field: Option<String>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub from: chrono::DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub to: chrono::DateTime<Utc>,
    pub items: Vec<UsageBucketView>,
}

fn month_start(now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// The tenant's usage of one metric, aggregated per day or month.
#[utoipa::path(
    extensions(("x-permission" = json!("billing:read"))),
    tag = "billing", security(("bearer_token" = [])),
    params(UsageQuery),
    responses(
        (status = 200, description = "The buckets, oldest first", body = UsageReportView),
        (status = 404, description = "No such metric (`metric_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn get_usage(
    m: Member,
    state: Data,
    query: ApiQuery<UsageQuery>,
) -> Result<web::Json<UsageReportView>, Problem> {
    let q = query.0;
    let now = state.auth.now();
    let from = q.from.map_or_else(|| month_start(now), |t| t.0);
    let to = q.to.map_or(now, |t| t.0);
    let granularity = match q.granularity.unwrap_or(GranularityDto::Day) {
        GranularityDto::Day => Granularity::Day,
        GranularityDto::Month => Granularity::Month,
    };
    let (metric, buckets) = state
        .metering
        .usage(&m.ctx, &q.metric, from, to, granularity)
        .await?;
    Ok(web::Json(UsageReportView {
        metric: metric.code.as_str().to_owned(),
        aggregation: metric.aggregation.kind(),
        field: metric.aggregation.field().map(str::to_owned),
        from,
        to,
        items: buckets
            .into_iter()
            .map(|b| UsageBucketView {
                period: b.period,
                value: b.value,
            })
            .collect(),
    }))
}

/// A billable metric.
#[derive(Serialize, ToSchema)]
pub struct MetricView {
    #[schema(example = "storage_gb")]
    pub code: String,
    #[schema(example = "Storage (GB)")]
    pub name: String,
    /// `count`, `unique_count`, `sum`, `max` or `latest`.
    #[schema(example = "sum")]
    pub aggregation: &'static str,
    /// The property aggregated (none for a count).
    #[schema(example = "gb")]
    pub field: Option<String>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: chrono::DateTime<Utc>,
}

impl From<&Metric> for MetricView {
    fn from(m: &Metric) -> Self {
        Self {
            code: m.code.as_str().to_owned(),
            name: m.name.as_str().to_owned(),
            aggregation: m.aggregation.kind(),
            field: m.aggregation.field().map(str::to_owned),
            created_at: m.created_at,
        }
    }
}

crate::paging::page_of!(
    /// Every billable metric (one page).
    MetricPage of MetricView
);

#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AggregationDto {
    Count,
    UniqueCount,
    Sum,
    Max,
    Latest,
}

/// A billable metric as the operator defines it.
#[derive(Deserialize, ToSchema)]
pub struct CreateMetricBody {
    #[schema(example = "storage_gb", pattern = "^[a-z][a-z0-9_.-]{0,63}$")]
    pub code: String,
    #[schema(example = "Storage (GB)", min_length = 1, max_length = 100)]
    pub name: String,
    pub aggregation: AggregationDto,
    /// The property aggregated: required except for `count` (which ignores it).
    #[schema(example = "gb", max_length = 64)]
    pub field: Option<String>,
}

/// Every billable metric.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    responses(
        (status = 200, description = "The metrics", body = MetricPage),
        OperatorErrors,
    )
)]
#[get("/metrics")]
pub async fn list_metrics(_op: Operator, state: Data) -> Result<web::Json<MetricPage>, Problem> {
    let metrics = state.metering.metrics().await.map_err(Problem::internal)?;
    Ok(web::Json(MetricPage::of(super::billing::whole(metrics))))
}

/// Define a billable metric.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    request_body = CreateMetricBody,
    responses(
        (status = 201, description = "The metric", body = MetricView),
        (status = 409, description = "The code is taken (`metric_exists`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
        BodyErrors,
    )
)]
#[post("/metrics")]
pub async fn create_metric(
    _op: Operator,
    state: Data,
    body: ApiJson<CreateMetricBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.0;
    let mut f = Fields::default();
    let code = f.take("code", MetricCode::parse(&b.code));
    let name = f.take("name", PlanName::parse(&b.name));
    let kind = match b.aggregation {
        AggregationDto::Count => "count",
        AggregationDto::UniqueCount => "unique_count",
        AggregationDto::Sum => "sum",
        AggregationDto::Max => "max",
        AggregationDto::Latest => "latest",
    };
    let aggregation = f.take("field", Aggregation::parse(kind, b.field.as_deref()));
    f.finish()?;
    let (Some(code), Some(name), Some(aggregation)) = (code, name, aggregation) else {
        return Err(Problem::validation(Vec::new()));
    };
    let metric = state
        .metering
        .create_metric(code, name, aggregation)
        .await?;
    Ok(HttpResponse::Created().json_body(MetricView::from(&metric)))
}

/// The invoicing period to total.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// A calendar month, `YYYY-MM` (UTC).
    #[param(example = "2026-11")]
    pub period: String,
}

/// One tenant's total of one metric.
#[derive(Serialize, ToSchema)]
pub struct TenantUsageView {
    pub tenant_id: uuid::Uuid,
    pub tenant_slug: String,
    pub metric: String,
    pub value: f64,
}

/// Every tenant's totals for a period.
#[derive(Serialize, ToSchema)]
pub struct PeriodUsageView {
    #[schema(example = "2026-11")]
    pub period: String,
    pub items: Vec<TenantUsageView>,
}

/// Every tenant's total of every metric for one month: the invoicing run's input (as CSV with
/// `Accept: text/csv`). Tenants and metrics without usage are left out.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, description = "The totals (or, as CSV, one row per tenant and metric)", content(
            (PeriodUsageView = "application/json"),
            (String = "text/csv"),
        )),
        QueryErrors,
        OperatorErrors,
    )
)]
#[get("/usage")]
pub async fn period_usage(
    op: Operator,
    req: HttpRequest,
    state: Data,
    query: ApiQuery<PeriodQuery>,
) -> Result<HttpResponse, Problem> {
    let period = Period::parse(&query.0.period).map_err(|e| Problem::invalid_query(e.0))?;
    let (from, to) = period.bounds();
    let metrics = state.metering.metrics().await.map_err(Problem::internal)?;
    let mut items = Vec::new();
    let mut page = PageRequest {
        limit: tenantry_kernel::Limit::MAX,
        after: None,
    };
    // Tenant by tenant, each read in its own tenant's scope.
    loop {
        let tenants = state
            .tenants
            .list(&TenantFilter::default(), &page)
            .await
            .map_err(Problem::internal)?;
        for t in &tenants.items {
            let ctx = op.ctx_for(t.id, &req);
            for metric in &metrics {
                let (_, buckets) = state
                    .metering
                    .usage(&ctx, metric.code.as_str(), from, to, Granularity::Month)
                    .await?;
                if let Some(total) = buckets.first() {
                    items.push(TenantUsageView {
                        tenant_id: TenantId::into(t.id),
                        tenant_slug: t.slug.as_str().to_owned(),
                        metric: metric.code.as_str().to_owned(),
                        value: total.value,
                    });
                }
            }
        }
        match tenants
            .next_cursor
            .as_deref()
            .map(tenantry_kernel::Cursor::parse)
        {
            Some(Ok(c)) => page.after = Some(c),
            _ => break,
        }
    }
    if wants_csv(&req) {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        let _ = w.write_record(["period", "tenant_id", "tenant_slug", "metric", "value"]);
        for i in &items {
            let _ = w.write_record([
                period.name(),
                i.tenant_id.to_string(),
                i.tenant_slug.clone(),
                i.metric.clone(),
                i.value.to_string(),
            ]);
        }
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"usage-{}.csv\"", period.name()),
            ))
            .body(w.into_inner().unwrap_or_default()));
    }
    Ok(HttpResponse::Ok().json_body(PeriodUsageView {
        period: period.name(),
        items,
    }))
}
