//! Plans, subscriptions and quotas as the API returns them (and as events carry them).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{FeatureValue, Plan, Quota, Subscription, SubscriptionStatus};

/// A plan: prices, quotas, request rate and features.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PlanView {
    #[schema(example = "starter")]
    pub code: String,
    #[schema(example = "Starter")]
    pub name: String,
    pub description: String,
    /// ISO 4217.
    #[schema(example = "USD")]
    pub currency: String,
    /// Per month, in minor units.
    #[schema(example = 0)]
    pub price_monthly_minor: i64,
    /// Per year, in minor units.
    #[schema(example = 0)]
    pub price_yearly_minor: i64,
    /// `max_<resource>`: a limit, or `null` for none; a resource not named has no limit.
    #[schema(example = json!({"max_members": 5, "max_products": 100}))]
    pub quotas: BTreeMap<String, Option<u64>>,
    /// The rate tier: requests per hour for the whole tenant (`null`: not limited).
    #[schema(example = 100)]
    pub requests_per_hour: Option<u64>,
    /// Flags (`true`/`false`) and numbers (`audit_retention_days`).
    #[schema(value_type = Object, example = json!({"webhooks": false, "audit_retention_days": 30}))]
    pub features: BTreeMap<String, FeatureValue>,
    pub trial_days: u32,
    /// Listed publicly and open to tenants' own plan changes.
    pub public: bool,
    /// New tenants start on it.
    pub default: bool,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Plan> for PlanView {
    fn from(p: &Plan) -> Self {
        Self {
            code: p.code.as_str().to_owned(),
            name: p.name.as_str().to_owned(),
            description: p.description.as_str().to_owned(),
            currency: p.prices.currency().as_str().to_owned(),
            price_monthly_minor: p.prices.monthly_minor(),
            price_yearly_minor: p.prices.yearly_minor(),
            quotas: p.quotas.to_map(),
            requests_per_hour: p.requests_per_hour,
            features: p.features.as_map().clone(),
            trial_days: p.trial_days,
            public: p.public,
            default: p.is_default,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A tenant's subscription.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub tenant_id: uuid::Uuid,
    /// The plan's code.
    #[schema(example = "starter")]
    pub plan: String,
    pub status: SubscriptionStatus,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub trial_ends_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    /// When it fell past due (writes stop after the grace period).
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub past_due_since: Option<DateTime<Utc>>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub canceled_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Subscription> for SubscriptionView {
    fn from(s: &Subscription) -> Self {
        Self {
            tenant_id: s.tenant_id.into(),
            plan: s.plan.as_str().to_owned(),
            status: s.status,
            trial_ends_at: s.trial_ends_at,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            past_due_since: s.past_due_since,
            canceled_at: s.canceled_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// One resource's quota in the tenant.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QuotaView {
    #[schema(example = "products")]
    pub resource: String,
    /// `null`: unlimited.
    #[schema(example = 100)]
    pub limit: Option<u64>,
    #[schema(example = 42)]
    pub used: u64,
    /// `null` when unlimited; zero when usage is above a lowered limit (creates are refused
    /// until it fits again).
    #[schema(example = 58)]
    pub remaining: Option<u64>,
    /// Set by the operator for this tenant: plan changes keep it.
    pub overridden: bool,
}

impl From<&Quota> for QuotaView {
    fn from(q: &Quota) -> Self {
        Self {
            resource: q.resource.clone(),
            limit: q.limit,
            used: q.used,
            remaining: q.remaining(),
            overridden: q.overridden,
        }
    }
}
