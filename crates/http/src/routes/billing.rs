//! Plans (public list, operator CRUD), the tenant's subscription and quotas, and the
//! operator's hand on both.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use tenantry_billing::{
    Access, Chooser, FeatureValue, Features, NewPlan, PlanCode, PlanDescription, PlanName,
    PlanPatch, PlanView, Prices, ProviderReceipt, QuotaLimits, QuotaView, Standing,
    SubscriptionStatus, SubscriptionUpdate, SubscriptionView, check_plan_numbers,
};
use tenantry_kernel::{Currency, TenantCtx};
use utoipa::ToSchema;

use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, JsonBody, present};
use crate::operator::Operator;
use crate::paging::page_of;
use crate::problem::billing::{invalid_signature, plan_not_found};
use crate::problem::{Fields, Problem, ProblemBody};
use crate::responses::{BodyErrors, MemberErrors, OperatorErrors, TenantNotFound};
use crate::state::AppState;

type Data = web::Data<AppState>;

/// A short list as one page (no cursor).
pub(crate) fn whole<T>(items: Vec<T>) -> tenantry_kernel::Page<T> {
    tenantry_kernel::Page {
        items,
        next_cursor: None,
    }
}

page_of!(
    /// Plans, cheapest first (one page: the whole list).
    PlanPage of PlanView
);

page_of!(
    /// Every countable resource of the tenant (one page: the whole list).
    QuotaPage of QuotaView
);

/// How far the subscription lets the tenant in now.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessView {
    /// Everything.
    Full,
    /// Past due beyond the grace period: reads and billing only (`subscription_past_due`).
    ReadOnly,
    /// Canceled: billing only (`subscription_canceled`).
    Blocked,
}

/// The tenant's subscription with its plan.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionDetailView {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    pub access: AccessView,
    /// The plan subscribed to: its quotas, rate tier and features.
    pub plan_details: PlanView,
}

impl From<&Standing> for SubscriptionDetailView {
    fn from(s: &Standing) -> Self {
        Self {
            subscription: SubscriptionView::from(&s.subscription),
            access: match s.access {
                Access::Full => AccessView::Full,
                Access::ReadOnly => AccessView::ReadOnly,
                Access::Blocked => AccessView::Blocked,
            },
            plan_details: PlanView::from(&s.plan),
        }
    }
}

/// A plan to move to.
#[derive(Deserialize, ToSchema)]
pub struct ChangePlanBody {
    #[schema(example = "professional", pattern = "^[a-z][a-z0-9_-]{0,39}$")]
    pub plan: String,
}

/// The plans anyone may see: a pricing page's data (no sign-in).
#[utoipa::path(
    tag = "billing",
    responses((status = 200, description = "The public plans, cheapest first", body = PlanPage))
)]
#[get("")]
pub async fn public_plans(state: Data) -> Result<web::Json<PlanPage>, Problem> {
    let plans = state
        .billing
        .public_plans()
        .await
        .map_err(Problem::internal)?;
    Ok(web::Json(PlanPage::of(whole(plans))))
}

async fn standing_of(state: &AppState, ctx: &TenantCtx) -> Result<Standing, Problem> {
    state
        .billing
        .standing(ctx)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(|| {
            Problem::internal(tenantry_kernel::Unexpected::msg(
                "the tenant has no subscription",
            ))
        })
}

/// The tenant's subscription: plan, status, trial and period ends, and what it allows now.
#[utoipa::path(
    extensions(("x-permission" = json!("billing:read"))),
    tag = "billing", security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionDetailView),
        MemberErrors,
    )
)]
#[get("/subscription")]
pub async fn get_subscription(
    m: Member,
    state: Data,
) -> Result<web::Json<SubscriptionDetailView>, Problem> {
    let standing = standing_of(&state, &m.ctx).await?;
    Ok(web::Json(SubscriptionDetailView::from(&standing)))
}

fn plan_code(raw: &str) -> Result<PlanCode, Problem> {
    PlanCode::parse(raw).map_err(|e| Problem::field("plan", e.0))
}

/// Move the tenant to another public plan. Every quota the operator has not overridden takes
/// the new plan's limit in the same transaction. A plan below current usage is allowed: creates
/// of that resource are then refused (`quota_exceeded`) until usage fits.
#[utoipa::path(
    extensions(("x-permission" = json!("billing:manage"))),
    tag = "billing", security(("bearer_token" = [])),
    request_body = ChangePlanBody,
    responses(
        (status = 200, description = "The subscription on its new plan", body = SubscriptionView),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("/change-plan")]
pub async fn change_plan(
    m: Member,
    state: Data,
    body: ApiJson<ChangePlanBody>,
) -> Result<web::Json<SubscriptionView>, Problem> {
    let code = plan_code(&body.0.plan)?;
    let s = state
        .billing
        .change_plan(&m.ctx, &code, Chooser::Tenant)
        .await?;
    state.standings.invalidate();
    Ok(web::Json(SubscriptionView::from(&s)))
}

/// Every countable resource: its limit, how many are used and how many remain.
#[utoipa::path(
    extensions(("x-permission" = json!("billing:read"))),
    tag = "billing", security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The quotas", body = QuotaPage),
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_quotas(m: Member, state: Data) -> Result<web::Json<QuotaPage>, Problem> {
    let quotas = state
        .billing
        .quotas(&m.ctx)
        .await
        .map_err(Problem::internal)?;
    Ok(web::Json(QuotaPage::of(whole(quotas))))
}

/// A plan as the operator writes it.
#[derive(Deserialize, ToSchema)]
pub struct CreatePlanBody {
    #[schema(example = "team", pattern = "^[a-z][a-z0-9_-]{0,39}$")]
    pub code: String,
    #[schema(example = "Team", min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// ISO 4217.
    #[schema(example = "USD", value_type = String, min_length = 3, max_length = 3)]
    pub currency: String,
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub price_monthly_minor: i64,
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub price_yearly_minor: i64,
    /// `max_<resource>`: a limit, or `null` for none (`GET /api/v1/quotas` names the
    /// resources).
    #[serde(default)]
    #[schema(example = json!({"max_members": 10, "max_products": 1000}))]
    pub quotas: BTreeMap<String, Option<u64>>,
    /// Requests per hour for the whole tenant; `null`: not limited.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub requests_per_hour: Option<u64>,
    /// Flags and numbers: `{"webhooks": true, "audit_retention_days": 90}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub features: BTreeMap<String, FeatureValue>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 365)]
    pub trial_days: u32,
    /// Listed publicly and open to tenants' own plan changes (default true).
    pub public: Option<bool>,
    /// New tenants start on it (another default stops being one).
    #[serde(default)]
    pub default: bool,
}

/// Changes to a plan: absent fields stay; `quotas` and `features` replace the whole map.
#[derive(Deserialize, ToSchema)]
pub struct PlanPatchBody {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// With both prices.
    #[schema(value_type = Option<String>, min_length = 3, max_length = 3)]
    pub currency: Option<String>,
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub price_monthly_minor: Option<i64>,
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub price_yearly_minor: Option<i64>,
    pub quotas: Option<BTreeMap<String, Option<u64>>>,
    /// `null`: not limited.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1_000_000_000)]
    pub requests_per_hour: Option<Option<u64>>,
    #[schema(value_type = Option<Object>)]
    pub features: Option<BTreeMap<String, FeatureValue>>,
    #[schema(minimum = 0, maximum = 365)]
    pub trial_days: Option<u32>,
    pub public: Option<bool>,
    /// `true` makes it the default plan; the default stays one until another takes over.
    pub default: Option<bool>,
}

fn new_plan(state: &AppState, b: CreatePlanBody) -> Result<NewPlan, Problem> {
    let mut f = Fields::default();
    let code = f.take("code", PlanCode::parse(&b.code));
    let name = f.take("name", PlanName::parse(&b.name));
    let description = f.take(
        "description",
        PlanDescription::parse(b.description.as_deref().unwrap_or_default()),
    );
    let currency = f.take("currency", Currency::parse(&b.currency));
    let prices = currency.and_then(|c| {
        f.take(
            "price_monthly_minor",
            Prices::new(c, b.price_monthly_minor, b.price_yearly_minor),
        )
    });
    let quotas = f.take(
        "quotas",
        QuotaLimits::parse(&b.quotas, state.billing.catalogue()),
    );
    let features = f.take("features", Features::parse(b.features));
    let numbers = f.take(
        "trial_days",
        check_plan_numbers(b.trial_days, b.requests_per_hour),
    );
    f.finish()?;
    match (code, name, description, prices, quotas, features, numbers) {
        (
            Some(code),
            Some(name),
            Some(description),
            Some(prices),
            Some(quotas),
            Some(features),
            Some(()),
        ) => Ok(NewPlan {
            code,
            name,
            description,
            prices,
            quotas,
            requests_per_hour: b.requests_per_hour,
            features,
            trial_days: b.trial_days,
            public: b.public.unwrap_or(true),
            is_default: b.default,
        }),
        _ => Err(Problem::validation(Vec::new())),
    }
}

fn plan_patch(
    state: &AppState,
    old_prices: Prices,
    b: PlanPatchBody,
) -> Result<PlanPatch, Problem> {
    let mut f = Fields::default();
    let name = f.opt("name", b.name, PlanName::parse);
    let description = f.opt("description", b.description, PlanDescription::parse);
    let prices = if b.currency.is_some()
        || b.price_monthly_minor.is_some()
        || b.price_yearly_minor.is_some()
    {
        let currency = match &b.currency {
            Some(c) => f.take("currency", Currency::parse(c)),
            None => Some(old_prices.currency()),
        };
        currency.and_then(|c| {
            f.take(
                "price_monthly_minor",
                Prices::new(
                    c,
                    b.price_monthly_minor.unwrap_or(old_prices.monthly_minor()),
                    b.price_yearly_minor.unwrap_or(old_prices.yearly_minor()),
                ),
            )
        })
    } else {
        None
    };
    let quotas = b
        .quotas
        .as_ref()
        .and_then(|q| f.take("quotas", QuotaLimits::parse(q, state.billing.catalogue())));
    let features = b
        .features
        .and_then(|x| f.take("features", Features::parse(x)));
    f.take(
        "trial_days",
        check_plan_numbers(b.trial_days.unwrap_or(0), b.requests_per_hour.flatten()),
    );
    f.finish()?;
    Ok(PlanPatch {
        name,
        description,
        prices,
        quotas,
        requests_per_hour: b.requests_per_hour,
        features,
        trial_days: b.trial_days,
        public: b.public,
        is_default: b.default,
    })
}

/// Every plan, hidden ones included, cheapest first.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    responses(
        (status = 200, description = "Every plan", body = PlanPage),
        OperatorErrors,
    )
)]
#[get("/plans")]
pub async fn list_plans(_op: Operator, state: Data) -> Result<web::Json<PlanPage>, Problem> {
    let plans = state.billing.plans().await.map_err(Problem::internal)?;
    Ok(web::Json(PlanPage::of(whole(plans))))
}

/// Create a plan.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    request_body = CreatePlanBody,
    responses(
        (status = 201, description = "The plan", body = PlanView),
        (status = 409, description = "The code is taken (`plan_exists`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
        BodyErrors,
    )
)]
#[post("/plans")]
pub async fn create_plan(
    _op: Operator,
    state: Data,
    body: ApiJson<CreatePlanBody>,
) -> Result<HttpResponse, Problem> {
    let new = new_plan(&state, body.0)?;
    let plan = state.billing.create_plan(new).await?;
    state.standings.invalidate();
    Ok(HttpResponse::Created().json_body(PlanView::from(&plan)))
}

fn code_in_path(raw: &str) -> Result<PlanCode, Problem> {
    PlanCode::parse(raw).map_err(|_| plan_not_found())
}

/// One plan.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("code" = String, Path, description = "The plan's code")),
    responses(
        (status = 200, description = "The plan", body = PlanView),
        (status = 404, description = "No such plan (`plan_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[get("/plans/{code}")]
pub async fn get_plan(
    _op: Operator,
    state: Data,
    path: ApiPath<String>,
) -> Result<web::Json<PlanView>, Problem> {
    let code = code_in_path(&path.into_inner())?;
    let plan = state
        .billing
        .plan(&code)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(plan_not_found)?;
    Ok(web::Json(PlanView::from(&plan)))
}

/// Change a plan. Its subscribers' quotas follow at their next plan change (or the
/// operator's re-sync with `POST /api/v1/platform/tenants/{tenant}/change-plan`).
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("code" = String, Path, description = "The plan's code")),
    request_body = PlanPatchBody,
    responses(
        (status = 200, description = "The plan", body = PlanView),
        (status = 404, description = "No such plan (`plan_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The default plan cannot stop being the default (`default_plan_required`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
        BodyErrors,
    )
)]
#[patch("/plans/{code}")]
pub async fn update_plan(
    _op: Operator,
    state: Data,
    path: ApiPath<String>,
    body: ApiJson<PlanPatchBody>,
) -> Result<web::Json<PlanView>, Problem> {
    let code = code_in_path(&path.into_inner())?;
    let old = state
        .billing
        .plan(&code)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(plan_not_found)?;
    let patch = plan_patch(&state, old.prices, body.0)?;
    let plan = state.billing.update_plan(&code, &patch).await?;
    state.standings.invalidate();
    Ok(web::Json(PlanView::from(&plan)))
}

/// Delete a plan nobody subscribes to (never the default).
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("code" = String, Path, description = "The plan's code")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such plan (`plan_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The default plan (`default_plan_required`), or a plan tenants subscribe to (`plan_in_use`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[delete("/plans/{code}")]
pub async fn delete_plan(
    _op: Operator,
    state: Data,
    path: ApiPath<String>,
) -> Result<HttpResponse, Problem> {
    let code = code_in_path(&path.into_inner())?;
    state.billing.delete_plan(&code).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A tenant's subscription.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionDetailView),
        TenantNotFound,
        OperatorErrors,
    )
)]
#[get("/{tenant}/subscription")]
pub async fn platform_subscription(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<SubscriptionDetailView>, Problem> {
    let ctx = op.ctx_in(&state, &req, &path).await?;
    let standing = standing_of(&state, &ctx).await?;
    Ok(web::Json(SubscriptionDetailView::from(&standing)))
}

/// What the operator (manual billing) says about a subscription; absent fields stay.
#[derive(Deserialize, ToSchema)]
pub struct SubscriptionPatchBody {
    pub status: Option<SubscriptionStatus>,
    /// `null` clears.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub trial_ends_at: Option<Option<crate::dates::Timestamp>>,
    /// `null` clears.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub current_period_end: Option<Option<crate::dates::Timestamp>>,
    pub cancel_at_period_end: Option<bool>,
}

/// Change a tenant's subscription by hand: its status (a past-due or canceled tenant is
/// restricted at once), trial end, period end, cancellation at period end.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = SubscriptionPatchBody,
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
        TenantNotFound,
        OperatorErrors,
        BodyErrors,
    )
)]
#[patch("/{tenant}/subscription")]
pub async fn update_subscription(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    body: ApiJson<SubscriptionPatchBody>,
) -> Result<web::Json<SubscriptionView>, Problem> {
    let ctx = op.ctx_in(&state, &req, &path).await?;
    let b = body.0;
    let update = SubscriptionUpdate {
        status: b.status,
        trial_ends_at: b.trial_ends_at.map(|t| t.map(|t| t.0)),
        current_period_end: b.current_period_end.map(|t| t.map(|t| t.0)),
        cancel_at_period_end: b.cancel_at_period_end,
    };
    let s = state.billing.update_subscription(&ctx, &update).await?;
    state.standings.invalidate();
    Ok(web::Json(SubscriptionView::from(&s)))
}

/// Move a tenant to any plan (hidden ones included), re-syncing its quotas that are not
/// overridden.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    request_body = ChangePlanBody,
    responses(
        (status = 200, description = "The subscription on its new plan", body = SubscriptionView),
        TenantNotFound,
        OperatorErrors,
        BodyErrors,
    )
)]
#[post("/{tenant}/change-plan")]
pub async fn platform_change_plan(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    body: ApiJson<ChangePlanBody>,
) -> Result<web::Json<SubscriptionView>, Problem> {
    let ctx = op.ctx_in(&state, &req, &path).await?;
    let code = plan_code(&body.0.plan)?;
    let s = state
        .billing
        .change_plan(&ctx, &code, Chooser::Operator)
        .await?;
    state.standings.invalidate();
    Ok(web::Json(SubscriptionView::from(&s)))
}

/// A tenant's quotas.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, description = "The quotas", body = QuotaPage),
        TenantNotFound,
        OperatorErrors,
    )
)]
#[get("/{tenant}/quotas")]
pub async fn platform_quotas(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<QuotaPage>, Problem> {
    let ctx = op.ctx_in(&state, &req, &path).await?;
    let quotas = state
        .billing
        .quotas(&ctx)
        .await
        .map_err(Problem::internal)?;
    Ok(web::Json(QuotaPage::of(whole(quotas))))
}

/// A quota limit set by the operator.
#[derive(Deserialize, ToSchema)]
pub struct QuotaLimitBody {
    /// `null`: unlimited.
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub limit: Option<u64>,
}

/// Override one quota of a tenant: plan changes keep it until the override is deleted.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(
        ("tenant" = String, Path, description = "Tenant id or slug"),
        ("resource" = String, Path, description = "The quota's resource, e.g. `products`"),
    ),
    request_body = QuotaLimitBody,
    responses(
        (status = 200, description = "The quota", body = QuotaView),
        (status = 404, description = "No tenant (`tenant_not_found`) or no such quota (`quota_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
        BodyErrors,
    )
)]
#[put("/{tenant}/quotas/{resource}")]
pub async fn override_quota(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<(String, String)>,
    body: ApiJson<QuotaLimitBody>,
) -> Result<web::Json<QuotaView>, Problem> {
    let (tenant, resource) = path.into_inner();
    let ctx = op.ctx_in(&state, &req, &tenant).await?;
    let q = state
        .billing
        .override_quota(&ctx, &resource, body.0.limit)
        .await?;
    Ok(web::Json(QuotaView::from(&q)))
}

/// Give one quota of a tenant back to its plan's limit.
#[utoipa::path(
    tag = "platform", security(("operator_token" = [])),
    params(
        ("tenant" = String, Path, description = "Tenant id or slug"),
        ("resource" = String, Path, description = "The quota's resource, e.g. `products`"),
    ),
    responses(
        (status = 200, description = "The quota, on its plan's limit", body = QuotaView),
        (status = 404, description = "No tenant (`tenant_not_found`) or no such quota (`quota_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        OperatorErrors,
    )
)]
#[delete("/{tenant}/quotas/{resource}")]
pub async fn clear_quota_override(
    op: Operator,
    req: HttpRequest,
    state: Data,
    path: web::Path<(String, String)>,
) -> Result<web::Json<QuotaView>, Problem> {
    let (tenant, resource) = path.into_inner();
    let ctx = op.ctx_in(&state, &req, &tenant).await?;
    let q = state.billing.clear_quota_override(&ctx, &resource).await?;
    Ok(web::Json(QuotaView::from(&q)))
}

/// What became of a provider's event.
#[derive(Serialize, ToSchema)]
pub struct ProviderEventReceipt {
    pub received: bool,
    /// Seen before (by its id): not applied again.
    pub duplicate: bool,
    /// Changed a tenant's subscription (false: a type Tenantry does not follow, or no tenant
    /// named in its metadata).
    pub applied: bool,
}

/// Stripe's webhook endpoint: subscription events (`customer.subscription.created|updated|deleted`,
/// `invoice.paid`, `invoice.payment_failed`) move the tenant named in the object's metadata
/// (`tenant_id`: id or slug; optional `plan`: a plan code). Verifies `Stripe-Signature`
/// (HMAC-SHA256 of `t.payload` with `TENANTRY_STRIPE_WEBHOOK_SECRET`, 5 minutes of tolerance,
/// any of several `v1`); applies each event id once.
#[utoipa::path(
    tag = "billing",
    request_body(content = Object, content_type = "application/json", description = "A Stripe event, as Stripe sends it"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256>`")),
    responses(
        (status = 200, description = "Received", body = ProviderEventReceipt),
        (status = 400, description = "Missing, stale or wrong signature (`invalid_signature`), or not a Stripe event (`malformed_json`); nothing recorded", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No Stripe secret is configured (`not_found`)", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/stripe")]
pub async fn stripe_webhook(
    req: HttpRequest,
    state: Data,
    body: web::Bytes,
) -> Result<web::Json<ProviderEventReceipt>, Problem> {
    const PROVIDER: &str = "stripe";
    // Unsigned is refused first, configured or not.
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| invalid_signature("the Stripe-Signature header is missing"))?;
    let secrets = &state.config.stripe_webhook_secrets;
    if secrets.is_empty() {
        return Err(Problem::not_found());
    }
    tenantry_billing::stripe::verify(header, &body, secrets, state.auth.now())
        .map_err(|e| invalid_signature(&e.to_string()))?;
    let event = tenantry_billing::stripe::parse(&body)
        .map_err(|e| Problem::malformed_json(e.to_string()))?;
    let tenant = match event
        .tenant
        .as_deref()
        .and_then(tenantry_tenancy::TenantRef::parse)
    {
        Some(r) => state.tenants.find(&r).await.ok(),
        None => None,
    };
    let target = tenant.map(|t| {
        TenantCtx::for_request(
            &state.edges,
            t.id,
            tenantry_kernel::Actor::System,
            crate::request_context::origin_of(&req),
        )
    });
    let receipt = state
        .billing
        .receive_provider_event(PROVIDER, &event, target.as_ref())
        .await?;
    match receipt {
        ProviderReceipt::Applied => state.standings.invalidate(),
        ProviderReceipt::NoTenant => {
            tracing::warn!(event = %event.id, kind = %event.kind, "a billing event names no known tenant");
        }
        ProviderReceipt::Duplicate | ProviderReceipt::Ignored => {}
    }
    Ok(web::Json(ProviderEventReceipt {
        received: true,
        duplicate: receipt == ProviderReceipt::Duplicate,
        applied: receipt == ProviderReceipt::Applied,
    }))
}
