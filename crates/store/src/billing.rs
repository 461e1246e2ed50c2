//! Plans (platform rows), subscriptions (one platform row per tenant, changed through the
//! tenant's pipeline) and quotas: limits, and usage counted by the [`QuotaCounters`] sink.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_billing::{
    CreatePlanError, DeletePlanError, Features, Plan, PlanCode, PlanDescription, PlanName,
    PlanRepository, Prices, Quota, QuotaLimits, QuotaRepository, Subscription,
    SubscriptionRepository, SubscriptionStatus, UpdatePlanError,
};
use tenantry_kernel::{Currency, QuotaError, TenantCtx, TenantId, Unexpected};

use crate::db::{Db, SqliteConn};
use crate::error::StoreError;
use crate::pipeline::{Change, Sink};
use crate::tenancy::bump_tenancy_version;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
pub(crate) struct PlanRow {
    code: String,
    name: String,
    description: String,
    currency: String,
    price_monthly_minor: i64,
    price_yearly_minor: i64,
    quotas: String,
    requests_per_hour: Option<i64>,
    features: String,
    trial_days: i32,
    public: bool,
    is_default: bool,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

impl TryFrom<PlanRow> for Plan {
    type Error = StoreError;

    fn try_from(r: PlanRow) -> Result<Self, StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(format!("plan {}: {e}", r.code));
        Ok(Plan {
            code: PlanCode::parse(&r.code).map_err(|e| corrupt(e.0))?,
            name: PlanName::parse(&r.name).map_err(|e| corrupt(e.0))?,
            description: PlanDescription::parse(&r.description).map_err(|e| corrupt(e.0))?,
            prices: Prices::new(
                Currency::parse(&r.currency).map_err(|e| corrupt(e.to_string()))?,
                r.price_monthly_minor,
                r.price_yearly_minor,
            )
            .map_err(|e| corrupt(e.0))?,
            quotas: QuotaLimits::from_json(&r.quotas).map_err(|e| corrupt(e.0))?,
            requests_per_hour: r
                .requests_per_hour
                .map(|n| u64::try_from(n).map_err(|e| corrupt(e.to_string())))
                .transpose()?,
            features: Features::from_json(&r.features).map_err(|e| corrupt(e.0))?,
            trial_days: u32::try_from(r.trial_days).map_err(|e| corrupt(e.to_string()))?,
            public: r.public,
            is_default: r.is_default,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct SubscriptionRow {
    tenant_id: DbUuid,
    plan: String,
    status: String,
    trial_ends_at: Option<DateTime<Utc>>,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    past_due_since: Option<DateTime<Utc>>,
    canceled_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = StoreError;

    fn try_from(r: SubscriptionRow) -> Result<Self, StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(format!("subscription: {e}"));
        Ok(Subscription {
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            plan: PlanCode::parse(&r.plan).map_err(|e| corrupt(e.0))?,
            status: SubscriptionStatus::parse(&r.status)
                .ok_or_else(|| corrupt(format!("status {}", r.status)))?,
            trial_ends_at: r.trial_ends_at,
            current_period_end: r.current_period_end,
            cancel_at_period_end: r.cancel_at_period_end,
            past_due_since: r.past_due_since,
            canceled_at: r.canceled_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct QuotaRow {
    _tenant_id: DbUuid,
    resource: String,
    limit_value: Option<i64>,
    used: i64,
    overridden: bool,
    #[diesel(deserialize_as = DbInstant)]
    _updated_at: DateTime<Utc>,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<QuotaRow> for Quota {
    fn from(r: QuotaRow) -> Self {
        Quota {
            resource: r.resource,
            limit: r.limit_value.map(count),
            used: count(r.used),
            overridden: r.overridden,
        }
    }
}

/// The columns of a plan, for an insert or an update.
macro_rules! plan_values {
    ($p:expr) => {{
        let p: &Plan = $p;
        (
            plans::name.eq(p.name.as_str()),
            plans::description.eq(p.description.as_str()),
            plans::currency.eq(p.prices.currency().as_str()),
            plans::price_monthly_minor.eq(p.prices.monthly_minor()),
            plans::price_yearly_minor.eq(p.prices.yearly_minor()),
            plans::quotas.eq(p.quotas.to_json()),
            plans::requests_per_hour.eq(p.requests_per_hour.map(stored)),
            plans::features.eq(p.features.to_json()),
            plans::trial_days.eq(i32::try_from(p.trial_days).unwrap_or(i32::MAX)),
            plans::public.eq(p.public),
            plans::is_default.eq(p.is_default),
            plans::updated_at.eq(p.updated_at),
        )
    }};
}

/// The columns of a subscription that change.
macro_rules! subscription_values {
    ($s:expr) => {{
        let s: &tenantry_billing::Subscription = $s;
        (
            subscriptions::plan.eq(s.plan.as_str()),
            subscriptions::status.eq(s.status.as_str()),
            subscriptions::trial_ends_at.eq(s.trial_ends_at),
            subscriptions::current_period_end.eq(s.current_period_end),
            subscriptions::cancel_at_period_end.eq(s.cancel_at_period_end),
            subscriptions::past_due_since.eq(s.past_due_since),
            subscriptions::canceled_at.eq(s.canceled_at),
            subscriptions::updated_at.eq(s.updated_at),
        )
    }};
}

pub(crate) use subscription_values;

/// Starts the new tenant's subscription on the default plan, in the tenant's creation
/// transaction, and records it.
macro_rules! start_subscription {
    ($conn:ident, $log:ident, $tenant:expr) => {{
        let row: Option<$crate::billing::PlanRow> = plans::table
            .filter(plans::is_default.eq(true))
            .first($conn)
            .await
            .optional()?;
        $crate::billing::start_subscription!(@on $conn, $log, $tenant, row, "no default plan")
    }};
    // On the plan with this code.
    ($conn:ident, $log:ident, $tenant:expr, plan = $code:expr) => {{
        let code: &str = $code;
        let row: Option<$crate::billing::PlanRow> = plans::table
            .filter(plans::code.eq(code))
            .first($conn)
            .await
            .optional()?;
        $crate::billing::start_subscription!(@on $conn, $log, $tenant, row, "no such plan")
    }};
    (@on $conn:ident, $log:ident, $tenant:expr, $row:expr, $missing:expr) => {{
        let tenant: &tenantry_tenancy::Tenant = $tenant;
        let plan: tenantry_billing::Plan = $row
            .ok_or_else(|| $crate::error::StoreError::Corrupt($missing.into()))?
            .try_into()?;
        let s = tenantry_billing::Subscription::start(tenant.id, &plan, tenant.created_at);
        diesel::insert_into(subscriptions::table)
            .values((
                subscriptions::tenant_id.eq(DbUuid::from(s.tenant_id)),
                subscriptions::created_at.eq(s.created_at),
                $crate::billing::subscription_values!(&s),
            ))
            .execute($conn)
            .await?;
        $log.created(&s);
    }};
}
pub(crate) use start_subscription;

/// Adds `delta` to the tenant's usage of `resource`; refuses an increase past the limit. The
/// first use of a resource creates its row with the plan's limit. Runs under the tenant's
/// chain-head lock (every change of the tenant holds it), so no two changes of one tenant
/// count at once.
macro_rules! count_usage {
    ($conn:ident, $ctx:expr, $resource:expr, $delta:expr, $at:expr) => {{
        let (ctx, resource, delta): (&TenantCtx, &'static str, i64) = ($ctx, $resource, $delta);
        let counted: Option<(i64, Option<i64>)> = $crate::db::Cached::new(
            diesel::update(tenant_quotas::of(ctx).filter(tenant_quotas::resource.eq(resource)))
                .set((
                    tenant_quotas::used.eq(tenant_quotas::used + delta),
                    tenant_quotas::updated_at.eq($at),
                ))
                .returning((tenant_quotas::used, tenant_quotas::limit_value)),
        )
        .get_result($conn)
        .await
        .optional()?;
        let (used, limit) = match counted {
            Some(c) => c,
            None => {
                let quotas: Option<String> = subscriptions::table
                    .inner_join(plans::table)
                    .filter(subscriptions::tenant_id.eq(DbUuid::from(ctx.tenant_id())))
                    .select(plans::quotas)
                    .first($conn)
                    .await
                    .optional()?;
                let limit = quotas
                    .map(|q| QuotaLimits::from_json(&q))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(e.0))?
                    .and_then(|q| q.limit(resource))
                    .map(stored);
                let used = delta.max(0);
                tenant_quotas::insert(
                    ctx,
                    (
                        tenant_quotas::resource.eq(resource),
                        tenant_quotas::limit_value.eq(limit),
                        tenant_quotas::used.eq(used),
                        tenant_quotas::overridden.eq(false),
                        tenant_quotas::updated_at.eq($at),
                    ),
                )
                .execute($conn)
                .await?;
                (used, limit)
            }
        };
        refuse_over(resource, delta, used, limit)?;
    }};
}

/// The refusal of an increase that took usage past the limit (the transaction rolls back).
fn refuse_over(
    resource: &str,
    delta: i64,
    used: i64,
    limit: Option<i64>,
) -> Result<(), StoreError> {
    match limit {
        Some(limit) if delta > 0 && used > limit => Err(StoreError::Quota(QuotaError::Exceeded {
            resource: resource.to_owned(),
            limit: count(limit),
            used: count(used - delta),
            requested: count(delta),
        })),
        _ => Ok(()),
    }
}

/// Counts what each change adds to or frees from the tenant's quotas, refusing one that goes
/// over a limit: quotas are enforced in the transaction of the write, so two concurrent
/// creates at `limit − 1` cannot both pass.
pub(crate) struct QuotaCounters;

impl<'c> Sink<&'c diesel_async::AsyncPgConnection> for QuotaCounters {
    async fn accept(
        conn: &mut &'c diesel_async::AsyncPgConnection,
        change: &Change<'_>,
    ) -> Result<usize, StoreError> {
        use crate::schema::pg::*;
        for (resource, delta) in &change.usage {
            count_usage!(conn, change.ctx, resource, *delta, change.at);
        }
        Ok(0)
    }
}

impl Sink<SqliteConn> for QuotaCounters {
    async fn accept(conn: &mut SqliteConn, change: &Change<'_>) -> Result<usize, StoreError> {
        use crate::schema::sqlite::*;
        for (resource, delta) in &change.usage {
            count_usage!(conn, change.ctx, resource, *delta, change.at);
        }
        Ok(0)
    }
}

/// Refuses, before anything is written, a batch of `n` new `$entity`s that would not fit its
/// quota (a bulk import checks the whole batch first; the sink still counts it at the end).
macro_rules! check_room {
    ($conn:ident, $ctx:expr, $entity:ty, $n:expr) => {
        if let Some(resource) = <$entity as tenantry_audit::Audited>::QUOTA {
            let (ctx, n): (&TenantCtx, i64) = ($ctx, $n);
            let row: Option<(i64, Option<i64>)> = tenant_quotas::of(ctx)
                .filter(tenant_quotas::resource.eq(resource))
                .select((tenant_quotas::used, tenant_quotas::limit_value))
                .first($conn)
                .await
                .optional()?;
            if let Some((used, limit)) = row {
                $crate::billing::refuse_room(resource, n, used, limit)?;
            }
        }
    };
}
pub(crate) use check_room;

pub(crate) fn refuse_room(
    resource: &str,
    n: i64,
    used: i64,
    limit: Option<i64>,
) -> Result<(), StoreError> {
    refuse_over(resource, n, used + n, limit)
}

impl StoreError {
    /// The quota refusal inside, if that is what this is.
    pub(crate) fn quota(self) -> Result<QuotaError, StoreError> {
        match self {
            StoreError::Quota(q) => Ok(q),
            other => Err(other),
        }
    }

    /// As an operation's error: a quota refusal stays one, anything else is unexpected.
    pub(crate) fn refusal<E: From<QuotaError> + From<Unexpected>>(self) -> E {
        match self.quota() {
            Ok(q) => q.into(),
            Err(e) => Unexpected::from(e).into(),
        }
    }
}

impl Db {
    async fn load_plans(&self) -> Result<Vec<Plan>, StoreError> {
        let rows: Vec<PlanRow> = tx!(self, read, tenant = None, |conn| {
            Ok(plans::table
                .order((plans::price_monthly_minor.asc(), plans::code.asc()))
                .load(conn)
                .await?)
        })?;
        rows.into_iter().map(Plan::try_from).collect()
    }

    async fn load_plan(&self, code: &PlanCode) -> Result<Option<Plan>, StoreError> {
        let row: Option<PlanRow> = tx!(self, read, tenant = None, |conn| {
            Ok(plans::table
                .find(code.as_str())
                .first(conn)
                .await
                .optional()?)
        })?;
        row.map(Plan::try_from).transpose()
    }

    /// Writes a plan (new or changed); a default plan takes the default from the others.
    /// `None` when a changed plan is gone.
    async fn write_plan(&self, p: &Plan, new: bool) -> Result<Option<()>, StoreError> {
        tx!(self, write, platform, |conn| {
            if p.is_default {
                diesel::update(plans::table.filter(plans::code.ne(p.code.as_str())))
                    .set(plans::is_default.eq(false))
                    .execute(conn)
                    .await?;
            }
            let n = if new {
                diesel::insert_into(plans::table)
                    .values((
                        plans::code.eq(p.code.as_str()),
                        plans::created_at.eq(p.created_at),
                        plan_values!(p),
                    ))
                    .execute(conn)
                    .await?
            } else {
                diesel::update(plans::table.find(p.code.as_str()))
                    .set(plan_values!(p))
                    .execute(conn)
                    .await?
            };
            if n == 0 {
                return Ok(None);
            }
            // Every instance drops what it cached of tenants' plans.
            bump_tenancy_version!(conn);
            Ok(Some(()))
        })
    }

    async fn remove_plan(
        &self,
        code: &PlanCode,
    ) -> Result<Result<(), DeletePlanError>, StoreError> {
        tx!(self, write, platform, |conn| {
            let row: Option<bool> = plans::table
                .find(code.as_str())
                .select(plans::is_default)
                .first(conn)
                .await
                .optional()?;
            match row {
                None => return Ok(Err(DeletePlanError::NotFound)),
                Some(true) => return Ok(Err(DeletePlanError::IsDefault)),
                Some(false) => {}
            }
            let subscribers: i64 = subscriptions::table
                .filter(subscriptions::plan.eq(code.as_str()))
                .count()
                .get_result(conn)
                .await?;
            if subscribers > 0 {
                return Ok(Err(DeletePlanError::InUse {
                    subscribers: count(subscribers),
                }));
            }
            diesel::delete(plans::table.find(code.as_str()))
                .execute(conn)
                .await?;
            Ok(Ok(()))
        })
    }

    async fn load_subscription(&self, ctx: &TenantCtx) -> Result<Option<Subscription>, StoreError> {
        let row: Option<SubscriptionRow> =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                Ok(subscriptions::table
                    .find(DbUuid::from(ctx.tenant_id()))
                    .first(conn)
                    .await
                    .optional()?)
            })?;
        row.map(Subscription::try_from).transpose()
    }

    async fn write_subscription(
        &self,
        ctx: &TenantCtx,
        old: &Subscription,
        new: &Subscription,
        limits: Option<&[(&'static str, Option<u64>)]>,
    ) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            diesel::update(subscriptions::table.find(DbUuid::from(ctx.tenant_id())))
                .set(subscription_values!(new))
                .execute(conn)
                .await?;
            for (resource, limit) in limits.unwrap_or_default() {
                diesel::update(
                    tenant_quotas::of(ctx)
                        .filter(tenant_quotas::resource.eq(*resource))
                        .filter(tenant_quotas::overridden.eq(false)),
                )
                .set((
                    tenant_quotas::limit_value.eq(limit.map(stored)),
                    tenant_quotas::updated_at.eq(new.updated_at),
                ))
                .execute(conn)
                .await?;
            }
            // Every instance drops what it cached of the tenant's standing.
            bump_tenancy_version!(conn);
            log.updated(old, new);
            Ok(())
        })
    }

    async fn due_subscriptions(&self, now: DateTime<Utc>) -> Result<Vec<TenantId>, StoreError> {
        let ids: Vec<DbUuid> = tx!(self, read, tenant = None, |conn| {
            let trials = subscriptions::status
                .eq(SubscriptionStatus::Trialing.as_str())
                .and(subscriptions::trial_ends_at.le(now));
            let period_ends = subscriptions::cancel_at_period_end
                .eq(true)
                .and(subscriptions::status.ne(SubscriptionStatus::Canceled.as_str()))
                .and(subscriptions::current_period_end.le(now));
            Ok(subscriptions::table
                .filter(trials.or(period_ends))
                .select(subscriptions::tenant_id)
                .load(conn)
                .await?)
        })?;
        Ok(ids
            .into_iter()
            .map(|id| TenantId::from_uuid(id.0))
            .collect())
    }

    async fn load_quotas(&self, ctx: &TenantCtx) -> Result<Vec<Quota>, StoreError> {
        let rows: Vec<QuotaRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(tenant_quotas::of(ctx)
                .select(tenant_quotas::all_columns)
                .order(tenant_quotas::resource.asc())
                .load(conn)
                .await?)
        })?;
        Ok(rows.into_iter().map(Quota::from).collect())
    }

    async fn write_quota_limit(
        &self,
        ctx: &TenantCtx,
        resource: &'static str,
        limit: Option<u64>,
        overridden: bool,
    ) -> Result<Quota, StoreError> {
        let now = Utc::now();
        mutate!(self, ctx, |conn, log| {
            let target = tenant_quotas::of(ctx).filter(tenant_quotas::resource.eq(resource));
            let old: Option<QuotaRow> = target
                .select(tenant_quotas::all_columns)
                .first(conn)
                .await
                .optional()?;
            let old = old.map(Quota::from).unwrap_or_else(|| Quota {
                resource: resource.to_owned(),
                limit: None,
                used: 0,
                overridden: false,
            });
            let new = Quota {
                limit,
                overridden,
                ..old.clone()
            };
            let n = diesel::update(target)
                .set((
                    tenant_quotas::limit_value.eq(limit.map(stored)),
                    tenant_quotas::overridden.eq(overridden),
                    tenant_quotas::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
            if n == 0 {
                tenant_quotas::insert(
                    ctx,
                    (
                        tenant_quotas::resource.eq(resource),
                        tenant_quotas::limit_value.eq(limit.map(stored)),
                        tenant_quotas::used.eq(0),
                        tenant_quotas::overridden.eq(overridden),
                        tenant_quotas::updated_at.eq(now),
                    ),
                )
                .execute(conn)
                .await?;
            }
            log.updated(&old, &new);
            Ok(new)
        })
    }
}

impl tenantry_billing::ProviderEventLog for Db {
    async fn note_provider_event(
        &self,
        provider: &str,
        event: &tenantry_billing::ProviderEvent,
        tenant: Option<TenantId>,
    ) -> Result<bool, Unexpected> {
        let now = Utc::now();
        let inserted: usize = tx!(self, write, platform, |conn| {
            Ok(diesel::insert_into(billing_events::table)
                .values((
                    billing_events::provider.eq(provider),
                    billing_events::event_id.eq(&event.id),
                    billing_events::event_type.eq(&event.kind),
                    billing_events::tenant_id.eq(tenant.map(DbUuid::from)),
                    billing_events::received_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?)
        })?;
        Ok(inserted == 1)
    }

    async fn forget_provider_event(&self, provider: &str, id: &str) -> Result<(), Unexpected> {
        tx!(self, write, platform, |conn| {
            diesel::delete(
                billing_events::table
                    .filter(billing_events::provider.eq(provider))
                    .filter(billing_events::event_id.eq(id)),
            )
            .execute(conn)
            .await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(())
    }
}

impl PlanRepository for Db {
    async fn plans(&self) -> Result<Vec<Plan>, Unexpected> {
        Ok(self.load_plans().await?)
    }

    async fn plan(&self, code: &PlanCode) -> Result<Option<Plan>, Unexpected> {
        Ok(self.load_plan(code).await?)
    }

    async fn create_plan(&self, plan: &Plan) -> Result<(), CreatePlanError> {
        match self.write_plan(plan, true).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_unique_violation() => Err(CreatePlanError::Duplicate {
                code: plan.code.as_str().to_owned(),
            }),
            Err(e) => Err(CreatePlanError::Unexpected(e.into())),
        }
    }

    async fn save_plan(&self, plan: &Plan) -> Result<(), UpdatePlanError> {
        match self.write_plan(plan, false).await {
            Ok(Some(())) => Ok(()),
            Ok(None) => Err(UpdatePlanError::NotFound),
            Err(e) => Err(UpdatePlanError::Unexpected(e.into())),
        }
    }

    async fn delete_plan(&self, code: &PlanCode) -> Result<(), DeletePlanError> {
        self.remove_plan(code)
            .await
            .map_err(|e| DeletePlanError::Unexpected(e.into()))?
    }
}

impl SubscriptionRepository for Db {
    async fn subscription(&self, ctx: &TenantCtx) -> Result<Option<Subscription>, Unexpected> {
        Ok(self.load_subscription(ctx).await?)
    }

    async fn save_subscription(
        &self,
        ctx: &TenantCtx,
        old: &Subscription,
        new: &Subscription,
        limits: Option<&[(&'static str, Option<u64>)]>,
    ) -> Result<(), Unexpected> {
        Ok(self.write_subscription(ctx, old, new, limits).await?)
    }

    async fn subscriptions_due(&self, now: DateTime<Utc>) -> Result<Vec<TenantId>, Unexpected> {
        Ok(self.due_subscriptions(now).await?)
    }
}

impl QuotaRepository for Db {
    async fn quotas(&self, ctx: &TenantCtx) -> Result<Vec<Quota>, Unexpected> {
        Ok(self.load_quotas(ctx).await?)
    }

    async fn set_quota_limit(
        &self,
        ctx: &TenantCtx,
        resource: &'static str,
        limit: Option<u64>,
        overridden: bool,
    ) -> Result<Quota, Unexpected> {
        Ok(self
            .write_quota_limit(ctx, resource, limit, overridden)
            .await?)
    }
}
