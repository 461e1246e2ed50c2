//! problem+json for plans, subscriptions and quotas: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_billing::{
    ChangePlanError, CreatePlanError, DeletePlanError, SetQuotaError, UpdatePlanError,
};
use tenantry_kernel::QuotaError;

use super::Problem;

impl From<QuotaError> for Problem {
    fn from(e: QuotaError) -> Self {
        let detail = e.to_string();
        let QuotaError::Exceeded {
            resource,
            limit,
            used,
            ..
        } = e;
        let mut p =
            Problem::new(StatusCode::FORBIDDEN, "quota_exceeded", "Quota exceeded").detail(detail);
        let extra = p.extra_mut();
        extra.resource = Some(resource);
        extra.limit = Some(limit);
        extra.used = Some(used);
        p
    }
}

/// A billing provider's webhook without a valid signature.
pub(crate) fn invalid_signature(detail: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_signature",
        "Invalid signature",
    )
    .detail(detail)
}

pub(crate) fn plan_not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "plan_not_found", "Plan not found")
        .detail("No plan with this code exists")
}

/// A feature the tenant's plan does not include; names the public plans that do.
pub(crate) fn feature_not_in_plan(feature: &str, plans: Vec<String>) -> Problem {
    let detail = if plans.is_empty() {
        format!("The '{feature}' feature is not in this tenant's plan")
    } else {
        format!(
            "The '{feature}' feature is not in this tenant's plan; these plans have it: {}",
            plans.join(", ")
        )
    };
    let mut p = Problem::new(
        StatusCode::FORBIDDEN,
        "feature_not_in_plan",
        "Feature not in plan",
    )
    .detail(detail);
    let extra = p.extra_mut();
    extra.feature = Some(feature.to_owned());
    extra.plans = Some(plans);
    p
}

pub(crate) fn subscription_past_due() -> Problem {
    Problem::new(
        StatusCode::PAYMENT_REQUIRED,
        "subscription_past_due",
        "Subscription past due",
    )
    .detail(
        "The subscription is past due and its grace period is over: the tenant is read-only \
         until it is paid (billing routes still work)",
    )
}

pub(crate) fn subscription_canceled() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "subscription_canceled",
        "Subscription canceled",
    )
    .detail("The subscription is canceled: only the billing routes answer until it is renewed")
}

impl From<CreatePlanError> for Problem {
    fn from(e: CreatePlanError) -> Self {
        match e {
            CreatePlanError::Duplicate { code } => {
                Problem::new(StatusCode::CONFLICT, "plan_exists", "Plan exists")
                    .detail(format!("A plan with code '{code}' exists"))
            }
            CreatePlanError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<UpdatePlanError> for Problem {
    fn from(e: UpdatePlanError) -> Self {
        match e {
            UpdatePlanError::NotFound => plan_not_found(),
            e @ UpdatePlanError::DefaultRequired => Problem::new(
                StatusCode::CONFLICT,
                "default_plan_required",
                "A default plan is required",
            )
            .detail(e.to_string()),
            UpdatePlanError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<DeletePlanError> for Problem {
    fn from(e: DeletePlanError) -> Self {
        match e {
            DeletePlanError::NotFound => plan_not_found(),
            e @ DeletePlanError::IsDefault => Problem::new(
                StatusCode::CONFLICT,
                "default_plan_required",
                "A default plan is required",
            )
            .detail(e.to_string()),
            e @ DeletePlanError::InUse { .. } => {
                Problem::new(StatusCode::CONFLICT, "plan_in_use", "Plan in use")
                    .detail(e.to_string())
            }
            DeletePlanError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<ChangePlanError> for Problem {
    fn from(e: ChangePlanError) -> Self {
        match e {
            e @ ChangePlanError::UnknownPlan { .. } => Problem::field("plan", e.to_string()),
            ChangePlanError::NoSubscription => Problem::internal(tenantry_kernel::Unexpected::msg(
                "the tenant has no subscription",
            )),
            ChangePlanError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<SetQuotaError> for Problem {
    fn from(e: SetQuotaError) -> Self {
        match e {
            e @ SetQuotaError::UnknownResource { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "quota_not_found", "Quota not found")
                    .detail(e.to_string())
            }
            SetQuotaError::Invalid(v) => Problem::field("limit", v.0),
            SetQuotaError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<tenantry_billing::CreateMetricError> for Problem {
    fn from(e: tenantry_billing::CreateMetricError) -> Self {
        match e {
            e @ tenantry_billing::CreateMetricError::Duplicate { .. } => {
                Problem::new(StatusCode::CONFLICT, "metric_exists", "Metric exists")
                    .detail(e.to_string())
            }
            tenantry_billing::CreateMetricError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<tenantry_billing::IngestUsageError> for Problem {
    fn from(e: tenantry_billing::IngestUsageError) -> Self {
        match e {
            e @ tenantry_billing::IngestUsageError::BatchSize { .. } => {
                Problem::field("events", e.to_string())
            }
            tenantry_billing::IngestUsageError::Unexpected(u) => Problem::internal(u),
        }
    }
}

impl From<tenantry_billing::UsageQueryError> for Problem {
    fn from(e: tenantry_billing::UsageQueryError) -> Self {
        match e {
            e @ tenantry_billing::UsageQueryError::UnknownMetric { .. } => Problem::new(
                StatusCode::NOT_FOUND,
                "metric_not_found",
                "Metric not found",
            )
            .detail(e.to_string()),
            tenantry_billing::UsageQueryError::Invalid(v) => Problem::invalid_query(v.0),
            tenantry_billing::UsageQueryError::Unexpected(u) => Problem::internal(u),
        }
    }
}
