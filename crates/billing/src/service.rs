//! Billing's use cases.

use std::sync::Arc;

use chrono::Duration;
use tenantry_kernel::{Clock, TenantCtx, TenantId, Unexpected};

use crate::error::{
    ChangePlanError, CreatePlanError, DeletePlanError, SetQuotaError, UpdatePlanError,
};
use crate::model::{
    Access, InvalidValue, MAX_QUOTA_LIMIT, NewPlan, Plan, PlanCode, PlanPatch, Quota,
    QuotaCatalogue, Subscription, SubscriptionStatus, SubscriptionUpdate, TrialEnd,
};
use crate::ports::{PlanRepository, ProviderEventLog, QuotaRepository, SubscriptionRepository};
use crate::provider::{ProviderChange, ProviderEvent};

/// How subscriptions' states bite.
#[derive(Clone, Copy, Debug)]
pub struct BillingPolicy {
    /// How long a past-due tenant keeps writing before it turns read-only.
    pub past_due_grace: Duration,
    /// Where a trial that ended without a payment goes.
    pub trial_end: TrialEnd,
}

impl Default for BillingPolicy {
    fn default() -> Self {
        Self {
            past_due_grace: Duration::days(7),
            trial_end: TrialEnd::PastDue,
        }
    }
}

/// A tenant's subscription with its plan: what the request gate reads.
#[derive(Clone, Debug)]
pub struct Standing {
    pub subscription: Subscription,
    pub plan: Plan,
    pub access: Access,
    /// When time alone will change `access` (see [`Subscription::access_changes_in`]): a
    /// cached standing must not outlive it.
    pub access_changes_in: Option<Duration>,
}

/// What became of a provider's event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderReceipt {
    /// Seen before (by its id): not applied again.
    Duplicate,
    /// It names no tenant Tenantry knows: noted, nothing changed.
    NoTenant,
    /// A type Tenantry does not follow, or nothing to change.
    Ignored,
    /// The tenant's subscription changed.
    Applied,
}

/// Who asks for a plan change: the tenant may choose public plans only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chooser {
    Tenant,
    Operator,
}

#[derive(Clone)]
pub struct BillingService<R> {
    repo: R,
    clock: Arc<dyn Clock>,
    policy: BillingPolicy,
    catalogue: QuotaCatalogue,
}

impl<R> BillingService<R>
where
    R: PlanRepository + SubscriptionRepository + QuotaRepository,
{
    pub fn new(
        repo: R,
        clock: Arc<dyn Clock>,
        policy: BillingPolicy,
        catalogue: QuotaCatalogue,
    ) -> Self {
        Self {
            repo,
            clock,
            policy,
            catalogue,
        }
    }

    pub fn catalogue(&self) -> &QuotaCatalogue {
        &self.catalogue
    }

    pub fn policy(&self) -> BillingPolicy {
        self.policy
    }

    pub async fn plans(&self) -> Result<Vec<Plan>, Unexpected> {
        self.repo.plans().await
    }

    /// The plans a pricing page lists.
    pub async fn public_plans(&self) -> Result<Vec<Plan>, Unexpected> {
        let mut plans = self.repo.plans().await?;
        plans.retain(|p| p.public);
        Ok(plans)
    }

    pub async fn plan(&self, code: &PlanCode) -> Result<Option<Plan>, Unexpected> {
        self.repo.plan(code).await
    }

    /// The public plans that have `feature` (what a refusal names).
    pub async fn plans_with(&self, feature: &str) -> Result<Vec<PlanCode>, Unexpected> {
        Ok(self
            .public_plans()
            .await?
            .into_iter()
            .filter(|p| p.features.has(feature))
            .map(|p| p.code)
            .collect())
    }

    pub async fn create_plan(&self, new: NewPlan) -> Result<Plan, CreatePlanError> {
        let plan = new.build(self.clock.now());
        self.repo.create_plan(&plan).await?;
        Ok(plan)
    }

    pub async fn update_plan(
        &self,
        code: &PlanCode,
        patch: &PlanPatch,
    ) -> Result<Plan, UpdatePlanError> {
        let old = self
            .repo
            .plan(code)
            .await?
            .ok_or(UpdatePlanError::NotFound)?;
        if old.is_default && patch.is_default == Some(false) {
            return Err(UpdatePlanError::DefaultRequired);
        }
        let plan = patch.apply(&old, self.clock.now());
        self.repo.save_plan(&plan).await?;
        Ok(plan)
    }

    pub async fn delete_plan(&self, code: &PlanCode) -> Result<(), DeletePlanError> {
        self.repo.delete_plan(code).await
    }

    /// The tenant's subscription, its plan and how far it lets the tenant in now.
    pub async fn standing(&self, ctx: &TenantCtx) -> Result<Option<Standing>, Unexpected> {
        let Some(subscription) = self.repo.subscription(ctx).await? else {
            return Ok(None);
        };
        let plan = self.repo.plan(&subscription.plan).await?.ok_or_else(|| {
            Unexpected::msg(format!(
                "the subscription names a missing plan '{}'",
                subscription.plan
            ))
        })?;
        let (now, grace) = (self.clock.now(), self.policy.past_due_grace);
        Ok(Some(Standing {
            access: subscription.access(now, grace),
            access_changes_in: subscription.access_changes_in(now, grace),
            subscription,
            plan,
        }))
    }

    /// Moves the tenant to the plan `code` and re-syncs every quota the operator has not
    /// overridden to the new plan's limits, in one transaction.
    pub async fn change_plan(
        &self,
        ctx: &TenantCtx,
        code: &PlanCode,
        by: Chooser,
    ) -> Result<Subscription, ChangePlanError> {
        let unknown = || ChangePlanError::UnknownPlan {
            code: code.as_str().to_owned(),
        };
        let plan = self.repo.plan(code).await?.ok_or_else(unknown)?;
        if by == Chooser::Tenant && !plan.public {
            return Err(unknown());
        }
        let old = self
            .repo
            .subscription(ctx)
            .await?
            .ok_or(ChangePlanError::NoSubscription)?;
        let mut new = old.clone();
        new.change_plan(&plan, self.clock.now());
        let limits: Vec<(&'static str, Option<u64>)> = self
            .catalogue
            .resources()
            .iter()
            .map(|r| (*r, plan.quotas.limit(r)))
            .collect();
        self.repo
            .save_subscription(ctx, &old, &new, Some(&limits))
            .await?;
        Ok(new)
    }

    /// The operator's (or a billing provider's) word on the subscription: status, trial end,
    /// period end, cancellation at period end. Recorded and evented like every change.
    pub async fn update_subscription(
        &self,
        ctx: &TenantCtx,
        update: &SubscriptionUpdate,
    ) -> Result<Subscription, ChangePlanError> {
        let old = self
            .repo
            .subscription(ctx)
            .await?
            .ok_or(ChangePlanError::NoSubscription)?;
        let mut new = old.clone();
        new.apply(update, self.clock.now());
        self.repo.save_subscription(ctx, &old, &new, None).await?;
        Ok(new)
    }

    /// Every countable resource with its limit, usage and what remains: a resource without a
    /// row yet has the plan's limit and no usage.
    pub async fn quotas(&self, ctx: &TenantCtx) -> Result<Vec<Quota>, Unexpected> {
        let rows = self.repo.quotas(ctx).await?;
        let plan = match self.standing(ctx).await? {
            Some(s) => Some(s.plan),
            None => None,
        };
        Ok(self
            .catalogue
            .resources()
            .iter()
            .map(|r| {
                rows.iter()
                    .find(|q| q.resource == *r)
                    .cloned()
                    .unwrap_or_else(|| Quota {
                        resource: (*r).to_owned(),
                        limit: plan.as_ref().and_then(|p| p.quotas.limit(r)),
                        used: 0,
                        overridden: false,
                    })
            })
            .collect())
    }

    fn resource(&self, raw: &str) -> Result<&'static str, SetQuotaError> {
        self.catalogue
            .find(raw)
            .ok_or_else(|| SetQuotaError::UnknownResource {
                resource: raw.to_owned(),
            })
    }

    /// The operator's limit for one resource of this tenant (`None`: unlimited); plan changes
    /// keep it until [`Self::clear_quota_override`].
    pub async fn override_quota(
        &self,
        ctx: &TenantCtx,
        resource: &str,
        limit: Option<u64>,
    ) -> Result<Quota, SetQuotaError> {
        let resource = self.resource(resource)?;
        if limit.is_some_and(|l| l > MAX_QUOTA_LIMIT) {
            return Err(SetQuotaError::Invalid(InvalidValue(format!(
                "limit must be between 0 and {MAX_QUOTA_LIMIT}, or null for no limit"
            ))));
        }
        Ok(self
            .repo
            .set_quota_limit(ctx, resource, limit, true)
            .await?)
    }

    /// Gives one resource of this tenant back to its plan's limit.
    pub async fn clear_quota_override(
        &self,
        ctx: &TenantCtx,
        resource: &str,
    ) -> Result<Quota, SetQuotaError> {
        let resource = self.resource(resource)?;
        let limit = self
            .standing(ctx)
            .await?
            .and_then(|s| s.plan.quotas.limit(resource));
        Ok(self
            .repo
            .set_quota_limit(ctx, resource, limit, false)
            .await?)
    }

    /// Tenants with a scheduled subscription transition due now.
    pub async fn due(&self) -> Result<Vec<TenantId>, Unexpected> {
        self.repo.subscriptions_due(self.clock.now()).await
    }

    /// Applies the scheduled transitions due now to the tenant's subscription (an ended trial,
    /// a cancellation at period end); the change is recorded and evented. Whether it changed.
    pub async fn advance(&self, ctx: &TenantCtx) -> Result<bool, Unexpected> {
        let Some(old) = self.repo.subscription(ctx).await? else {
            return Ok(false);
        };
        let mut new = old.clone();
        if !new.advance(self.clock.now(), self.policy.trial_end) {
            return Ok(false);
        }
        self.repo.save_subscription(ctx, &old, &new, None).await?;
        Ok(true)
    }
}

impl<R> BillingService<R>
where
    R: PlanRepository + SubscriptionRepository + QuotaRepository + ProviderEventLog,
{
    /// Receives a billing provider's verified event, once per id: noted, then applied to the
    /// subscription of the tenant it names (`target`, resolved by the caller; `None` when it
    /// names no known tenant). An event whose change fails is forgotten again, so the
    /// provider's retry applies it.
    pub async fn receive_provider_event(
        &self,
        provider: &str,
        event: &ProviderEvent,
        target: Option<&TenantCtx>,
    ) -> Result<ProviderReceipt, ChangePlanError> {
        let fresh = self
            .repo
            .note_provider_event(provider, event, target.map(TenantCtx::tenant_id))
            .await?;
        if !fresh {
            return Ok(ProviderReceipt::Duplicate);
        }
        let Some(ctx) = target else {
            return Ok(ProviderReceipt::NoTenant);
        };
        match self.apply_provider_change(ctx, &event.change).await {
            Ok(Some(_)) => Ok(ProviderReceipt::Applied),
            Ok(None) => Ok(ProviderReceipt::Ignored),
            Err(e) => {
                self.repo.forget_provider_event(provider, &event.id).await?;
                Err(e)
            }
        }
    }

    /// What the provider says, applied to the tenant's subscription (recorded and evented like
    /// every change): its plan (any plan, public or not), status, period and trial; a paid
    /// invoice makes a past-due subscription active, a failed payment an active one past due.
    async fn apply_provider_change(
        &self,
        ctx: &TenantCtx,
        change: &ProviderChange,
    ) -> Result<Option<Subscription>, ChangePlanError> {
        let status = |s| SubscriptionUpdate {
            status: Some(s),
            ..SubscriptionUpdate::default()
        };
        let current = || async {
            self.repo
                .subscription(ctx)
                .await?
                .ok_or(ChangePlanError::NoSubscription)
        };
        let update = match change {
            ProviderChange::Ignored => return Ok(None),
            ProviderChange::Subscription {
                status: new_status,
                plan,
                current_period_end,
                cancel_at_period_end,
                trial_ends_at,
            } => {
                if let Some(code) = plan {
                    let code = PlanCode::parse(code)
                        .map_err(|_| ChangePlanError::UnknownPlan { code: code.clone() })?;
                    if current().await?.plan != code {
                        self.change_plan(ctx, &code, Chooser::Operator).await?;
                    }
                }
                SubscriptionUpdate {
                    status: *new_status,
                    trial_ends_at: *trial_ends_at,
                    current_period_end: current_period_end.map(Some),
                    cancel_at_period_end: *cancel_at_period_end,
                }
            }
            ProviderChange::Canceled => status(SubscriptionStatus::Canceled),
            ProviderChange::Paid => match current().await?.status {
                SubscriptionStatus::PastDue | SubscriptionStatus::Trialing => {
                    status(SubscriptionStatus::Active)
                }
                _ => return Ok(None),
            },
            ProviderChange::PaymentFailed => match current().await?.status {
                SubscriptionStatus::Active | SubscriptionStatus::Trialing => {
                    status(SubscriptionStatus::PastDue)
                }
                _ => return Ok(None),
            },
        };
        Ok(Some(self.update_subscription(ctx, &update).await?))
    }
}
