//! Following changes made by other processes (another instance, the CLI): the platform's
//! change counters are polled, and each cache that depends on a counter that moved is
//! dropped or brought up to date.

use std::time::Duration;

use actix_web::web;
use tenantry_kernel::ChangeVersions;

use crate::state::AppState;

/// How often the change counters are read.
pub const CHANGE_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Reads the sessions revoked while this process was not running: before serving, so that no
/// request is answered with a token another instance revoked. (The poller's first look does
/// the same again; this one makes start-up wait for it and fail when it cannot be made.)
pub async fn catch_up(state: &AppState) -> Result<(), tenantry_kernel::Unexpected> {
    let now = state.reads.change_versions().await?;
    state.auth.learn_revocations(now.access).await
}

/// Runs until the task is dropped. When the tenancy counter moves, tenant resolution and
/// the tenants' standings are dropped; when the access counter moves, the membership cache is dropped and the revoked
/// sessions are read. Read errors are logged; the caches' TTLs remain the backstop for
/// tenancy and membership, and the next successful read catches up on revocations.
pub async fn follow_changes(state: web::Data<AppState>) {
    let mut seen: Option<ChangeVersions> = None;
    let mut ticker = tokio::time::interval(CHANGE_POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = match state.reads.change_versions().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the platform change counters");
                continue;
            }
        };
        // The first look cannot tell what changed since the caches were filled (requests may
        // be served before it): it drops them.
        if seen.is_none_or(|s| s.tenancy != now.tenancy) {
            state.resolver.invalidate();
            state.standings.invalidate();
        }
        // The first look reads every revocation whose tokens may still be unexpired.
        if seen.is_none_or(|s| s.access != now.access) {
            state.members.invalidate();
            if let Err(e) = state.auth.learn_revocations(now.access).await {
                tracing::warn!(error = %e, "cannot read the revoked sessions");
                continue;
            }
        }
        seen = Some(now);
    }
}
