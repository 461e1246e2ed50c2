//! What the tenant's subscription lets a request do, checked by the member guard after the
//! permission: a canceled subscription answers only the billing routes (403
//! `subscription_canceled`), a past-due one beyond its grace period reads but does not write
//! (402 `subscription_past_due`), and a route that declares a plan feature (`x-feature`)
//! answers 403 `feature_not_in_plan` to a tenant whose plan lacks it.
//!
//! Each tenant's standing (subscription and plan) is cached like tenant resolution: dropped on
//! every change in this process and when the platform's tenancy counter moves (another
//! instance), with a TTL as the backstop — and never kept past the moment time alone changes
//! it (a past-due subscription's grace ending).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use moka::future::Cache;
use tenantry_billing::{Access, Standing};
use tenantry_kernel::{TenantCtx, TenantId, Unexpected};

use crate::changes::CACHE_BACKSTOP;
use crate::problem::Problem;
use crate::problem::billing::{feature_not_in_plan, subscription_canceled, subscription_past_due};
use crate::state::AppState;

/// The routes a tenant reaches whatever its subscription's state: where it pays.
pub const BILLING_PREFIX: &str = "/api/v1/billing/";

type Entry = Option<Arc<Standing>>;

/// Each tenant's subscription and plan, cached.
#[derive(Clone)]
pub struct StandingCache {
    cache: Cache<TenantId, Entry>,
    generation: Arc<AtomicU64>,
}

impl Default for StandingCache {
    fn default() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(100_000)
                .expire_after(UntilTimeTurnsIt)
                .build(),
            generation: Arc::default(),
        }
    }
}

/// A standing lives [`CACHE_BACKSTOP`], or less when time alone changes it sooner.
struct UntilTimeTurnsIt;

impl UntilTimeTurnsIt {
    fn life(entry: &Entry) -> Option<Duration> {
        let turns_in = entry.as_ref().and_then(|s| s.access_changes_in);
        Some(turns_in.map_or(CACHE_BACKSTOP, |d| {
            d.to_std().unwrap_or_default().min(CACHE_BACKSTOP)
        }))
    }
}

impl moka::Expiry<TenantId, Entry> for UntilTimeTurnsIt {
    fn expire_after_create(&self, _: &TenantId, entry: &Entry, _: Instant) -> Option<Duration> {
        Self::life(entry)
    }

    fn expire_after_update(
        &self,
        _: &TenantId,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Self::life(entry)
    }
}

impl StandingCache {
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate_all();
    }

    async fn get(&self, state: &AppState, ctx: &TenantCtx) -> Result<Entry, Unexpected> {
        let key = ctx.tenant_id();
        let cached = self.cache.get(&key).await;
        crate::metrics::cache_lookup("standing", cached.is_some());
        if let Some(hit) = cached {
            return Ok(hit);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let entry = state.billing.standing(ctx).await?.map(Arc::new);
        if self.generation.load(Ordering::SeqCst) == generation {
            self.cache.insert(key, entry.clone()).await;
            if self.generation.load(Ordering::SeqCst) != generation {
                self.cache.invalidate(&key).await;
            }
        }
        Ok(entry)
    }
}

fn reads_only(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A number the tenant's plan sets among its features (`max_file_bytes`); `None` when the
/// tenant has no subscription or its plan does not say.
pub async fn plan_number(
    state: &AppState,
    ctx: &TenantCtx,
    feature: &str,
) -> Result<Option<u64>, Problem> {
    let standing = state
        .standings
        .get(state, ctx)
        .await
        .map_err(Problem::internal)?;
    Ok(
        standing.and_then(|s| match s.plan.features.as_map().get(feature) {
            Some(tenantry_billing::FeatureValue::Number(n)) => Some(*n),
            _ => None,
        }),
    )
}

/// Lets the request through, or says why its tenant's subscription does not; gives the
/// tenant's rate tier (requests per hour; `None`: not limited).
pub async fn check(
    state: &AppState,
    ctx: &TenantCtx,
    method: &Method,
    pattern: &str,
    feature: Option<&str>,
) -> Result<Option<u64>, Problem> {
    let Some(standing) = state
        .standings
        .get(state, ctx)
        .await
        .map_err(Problem::internal)?
    else {
        return Ok(None);
    };
    // Billing routes stay open whatever the state: they are how a tenant gets back in.
    if !pattern.starts_with(BILLING_PREFIX) {
        match standing.access {
            Access::Full => {}
            Access::ReadOnly if reads_only(method) => {}
            Access::ReadOnly => return Err(subscription_past_due()),
            Access::Blocked => return Err(subscription_canceled()),
        }
    }
    if let Some(feature) = feature.filter(|f| !standing.plan.features.has(f)) {
        let plans = state
            .billing
            .plans_with(feature)
            .await
            .map_err(Problem::internal)?;
        return Err(feature_not_in_plan(
            feature,
            plans.iter().map(|p| p.as_str().to_owned()).collect(),
        ));
    }
    Ok(standing.plan.requests_per_hour)
}
