//! Following changes made by other processes (another instance, the CLI): the platform's
//! change counters are polled, and each cache that depends on a counter that moved is
//! dropped or brought up to date.
//!
//! Every change a request-path cache depends on moves a counter in its own transaction, so
//! the counters, not the caches' time-to-live, bound how stale an answer may be: about one
//! poll. While the counters cannot be read, that bound is kept by dropping the caches on
//! every poll once [`STALE_AFTER`] has passed without a read. The caches' TTL
//! ([`CACHE_BACKSTOP`]) is a backstop against a change that forgot its counter.

use std::time::{Duration, Instant};

use actix_web::web;
use tenantry_kernel::ChangeVersions;

use crate::state::AppState;

/// How often the change counters are read.
pub const CHANGE_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How long the request-path caches (tenant resolution, settings, primary hosts, standings,
/// memberships, SSO enforcement) keep an answer that no counter has dropped.
pub const CACHE_BACKSTOP: Duration = Duration::from_secs(60);

/// How long the caches are trusted without a successful read of the counters.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// Reads the sessions revoked while this process was not running: before serving, so that no
/// request is answered with a token another instance revoked. (The poller's first look does
/// the same again; this one makes start-up wait for it and fail when it cannot be made.)
pub async fn catch_up(state: &AppState) -> Result<(), tenantry_kernel::Unexpected> {
    let now = state.reads.change_versions().await?;
    state.auth.learn_revocations(now.access).await
}

/// Runs until the task is dropped. When the tenancy counter moves, tenant resolution and
/// the tenants' standings are dropped; when the access counter moves, the memberships and
/// SSO enforcement are dropped and the revoked sessions are read. Read errors are logged;
/// after [`STALE_AFTER`] without a read every poll drops the caches, and the next successful
/// read catches up on revocations.
pub async fn follow_changes(state: web::Data<AppState>) {
    let mut seen: Option<ChangeVersions> = None;
    let mut last_read = Instant::now();
    let mut ticker = tokio::time::interval(CHANGE_POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = match state.reads.change_versions().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the platform change counters");
                if last_read.elapsed() >= STALE_AFTER {
                    drop_tenancy(&state);
                    drop_access(&state);
                }
                continue;
            }
        };
        last_read = Instant::now();
        // The first look cannot tell what changed since the caches were filled (requests may
        // be served before it): it drops them.
        if seen.is_none_or(|s| s.tenancy != now.tenancy) {
            drop_tenancy(&state);
        }
        // The first look reads every revocation whose tokens may still be unexpired.
        if seen.is_none_or(|s| s.access != now.access) {
            drop_access(&state);
            if let Err(e) = state.auth.learn_revocations(now.access).await {
                tracing::warn!(error = %e, "cannot read the revoked sessions");
                continue;
            }
        }
        seen = Some(now);
    }
}

/// What follows the tenancy counter: tenants, their domains and settings, their standings.
fn drop_tenancy(state: &AppState) {
    state.resolver.invalidate();
    state.standings.invalidate();
}

/// What follows the access counter: memberships and roles, SSO enforcement.
fn drop_access(state: &AppState) {
    state.members.invalidate();
    state.sso_enforced.invalidate_all();
}
