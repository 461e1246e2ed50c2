//! What billing needs from outside: the store implements every port.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{TenantCtx, TenantId, Unexpected};

use crate::error::{CreateMetricError, CreatePlanError, DeletePlanError, UpdatePlanError};
use crate::metering::{BucketAggregates, Granularity, Metric, UsageEvent};
use crate::model::{Plan, PlanCode, Quota, Subscription};
use crate::provider::ProviderEvent;

/// Plans: platform reference data.
pub trait PlanRepository: Clone + Send + Sync + 'static {
    /// Every plan, cheapest first (monthly price, then code).
    fn plans(&self) -> impl Future<Output = Result<Vec<Plan>, Unexpected>> + Send;

    fn plan(
        &self,
        code: &PlanCode,
    ) -> impl Future<Output = Result<Option<Plan>, Unexpected>> + Send;

    /// Returns `CreatePlanError::Duplicate` when the code is taken. A default plan takes the
    /// default from the previous one in the same transaction.
    fn create_plan(&self, plan: &Plan) -> impl Future<Output = Result<(), CreatePlanError>> + Send;

    /// Saves a changed plan; `UpdatePlanError::NotFound` when it is gone. Becoming the default
    /// takes it from the previous one in the same transaction.
    fn save_plan(&self, plan: &Plan) -> impl Future<Output = Result<(), UpdatePlanError>> + Send;

    /// `DeletePlanError::NotFound`, `IsDefault`, or `InUse` while a tenant subscribes to it.
    fn delete_plan(
        &self,
        code: &PlanCode,
    ) -> impl Future<Output = Result<(), DeletePlanError>> + Send;
}

/// Each tenant's subscription (created with the tenant, on the default plan).
pub trait SubscriptionRepository: Clone + Send + Sync + 'static {
    fn subscription(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Option<Subscription>, Unexpected>> + Send;

    /// Saves `new` (the tenant's subscription read as `old`) and records the change. With
    /// `limits` (a plan change), every quota of the tenant the operator has not overridden
    /// takes the limit given for its resource, in the same transaction.
    fn save_subscription(
        &self,
        ctx: &TenantCtx,
        old: &Subscription,
        new: &Subscription,
        limits: Option<&[(&'static str, Option<u64>)]>,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// Tenants whose subscription has a scheduled transition due at `now` (a trial that ended,
    /// a cancellation at a period end that passed).
    fn subscriptions_due(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<TenantId>, Unexpected>> + Send;
}

/// The provider events already received (idempotency on the provider's event id).
pub trait ProviderEventLog: Clone + Send + Sync + 'static {
    /// Notes the event; `false` when `(provider, id)` was noted before.
    fn note_provider_event(
        &self,
        provider: &str,
        event: &ProviderEvent,
        tenant: Option<TenantId>,
    ) -> impl Future<Output = Result<bool, Unexpected>> + Send;

    /// Forgets it (its change could not be applied: the provider's retry will apply it).
    fn forget_provider_event(
        &self,
        provider: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;
}

/// The tenant's quotas: limits, and usage the store counts as changes are recorded.
pub trait QuotaRepository: Clone + Send + Sync + 'static {
    /// The tenant's quota rows (a resource never used may have none yet).
    fn quotas(
        &self,
        ctx: &TenantCtx,
    ) -> impl Future<Output = Result<Vec<Quota>, Unexpected>> + Send;

    /// Sets the limit of `resource` in this tenant, marked as the operator's (`overridden`)
    /// or as the plan's; records the change.
    fn set_quota_limit(
        &self,
        ctx: &TenantCtx,
        resource: &'static str,
        limit: Option<u64>,
        overridden: bool,
    ) -> impl Future<Output = Result<Quota, Unexpected>> + Send;
}

/// Billable metrics and the usage events tenants report.
pub trait MeteringRepository: Clone + Send + Sync + 'static {
    fn metrics(&self) -> impl Future<Output = Result<Vec<Metric>, Unexpected>> + Send;

    /// Returns `CreateMetricError::Duplicate` when the code is taken.
    fn create_metric(
        &self,
        metric: &Metric,
    ) -> impl Future<Output = Result<(), CreateMetricError>> + Send;

    /// Stores the events; one whose transaction id this tenant already reported is left as it
    /// was (it counts once).
    fn record_usage(
        &self,
        ctx: &TenantCtx,
        events: &[UsageEvent],
    ) -> impl Future<Output = Result<(), Unexpected>> + Send;

    /// The aggregates of `metric`'s events in `[from, to)`, per bucket, oldest first.
    fn aggregate_usage(
        &self,
        ctx: &TenantCtx,
        metric: &Metric,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
    ) -> impl Future<Output = Result<Vec<BucketAggregates>, Unexpected>> + Send;
}
