//! API calls metered per tenant per day (the `api_calls` metric) without a database write per
//! request: the guard counts each call that reached a tenant in memory; a flush every minute
//! writes one usage event per tenant and day, and the server flushes once more when it stops.
//! A failed flush keeps its counts for the next one. A flush costs about 2 ms of CPU per
//! tenant called (decision 0060), so its interval, not the request rate, sets its price.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use tenantry_billing::{API_CALLS, ReportedUsage};
use tenantry_kernel::{Actor, Origin, TenantCtx, TenantId};

use crate::state::AppState;

/// How often the counts are written (decision 0060).
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(60);

/// Calls counted since the last flush, by tenant and UTC day.
#[derive(Clone, Default)]
pub struct ApiCallMeter {
    counts: Arc<Mutex<HashMap<(TenantId, NaiveDate), u64>>>,
}

impl ApiCallMeter {
    /// One call into `tenant`, now.
    pub fn record(&self, tenant: TenantId) {
        let day = Utc::now().date_naive();
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((tenant, day)).or_default() += 1;
        }
    }

    fn take(&self) -> HashMap<(TenantId, NaiveDate), u64> {
        self.counts
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    fn put_back(&self, tenant: TenantId, day: NaiveDate, n: u64) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((tenant, day)).or_default() += n;
        }
    }
}

/// Writes what was counted: one `api_calls` event per tenant and day, `{"calls": n}`, dated
/// now (or, for a day that has ended, its last millisecond). Idempotent by construction: each
/// event has a fresh transaction id and its count left memory when it was taken.
pub async fn flush(state: &AppState) {
    let counted = state.api_calls.take();
    if counted.is_empty() {
        return;
    }
    let now = Utc::now();
    for ((tenant, day), n) in counted {
        let at = if day == now.date_naive() {
            now
        } else {
            day.and_hms_milli_opt(23, 59, 59, 999)
                .map_or(now, |t| t.and_utc())
        };
        let ctx = TenantCtx::for_request(
            &state.edges,
            tenant,
            Actor::System,
            Arc::new(Origin {
                request_id: Some("api-call-meter".to_owned()),
                ..Origin::default()
            }),
        );
        let event = ReportedUsage {
            transaction_id: format!("{API_CALLS}:{}", uuid::Uuid::now_v7()),
            metric: API_CALLS.to_owned(),
            timestamp: at,
            properties: serde_json::Map::from_iter([("calls".to_owned(), serde_json::json!(n))]),
        };
        if let Err(e) = state.metering.ingest(&ctx, vec![event]).await {
            tracing::warn!(error = %e, %tenant, calls = n, "cannot write metered API calls; kept for the next flush");
            state.api_calls.put_back(tenant, day, n);
        }
    }
}

/// Flushes every [`FLUSH_INTERVAL`] until dropped.
pub async fn keep_flushing(state: actix_web::web::Data<AppState>) {
    let mut ticker = tokio::time::interval(FLUSH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        flush(&state).await;
    }
}
