//! Prometheus metrics: the recorder, what the request middleware records, and the scrape
//! endpoint (served on its own listener, see decision 0024).
//!
//! Every series is labelled by bounded values only — a route *pattern*, a method, a status,
//! a job kind, a problem code — never by a raw path, a tenant or a user, so the number of
//! series does not grow with the data.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Latency buckets, in seconds: 1 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use (one per process: the `metrics` facade
/// has one global recorder, shared by every server and worker in it).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        "tenantry_http_requests_total",
        "HTTP requests answered, by method, route pattern and status"
    );
    describe_histogram!(
        "tenantry_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method and route pattern"
    );
    describe_gauge!(
        "tenantry_db_pool_connections",
        "Database connections by state: in_use, idle, max"
    );
    describe_gauge!(
        "tenantry_db_pool_waiting",
        "Requests waiting for a database connection"
    );
    describe_histogram!(
        "tenantry_db_pool_wait_seconds",
        metrics::Unit::Seconds,
        "Time spent waiting for a database connection"
    );
    describe_gauge!("tenantry_jobs", "Jobs in the queue by kind and state");
    describe_gauge!(
        "tenantry_jobs_oldest_wait_seconds",
        "How long the job that has waited longest has been runnable"
    );
    describe_counter!(
        "tenantry_jobs_finished_total",
        "Job runs by kind and outcome: done, retry, dead"
    );
    describe_counter!(
        "tenantry_webhook_attempts_total",
        "Webhook delivery attempts by outcome: delivered, retry (failed, tried again later), \
         failed (out of attempts), gone (410: the endpoint was disabled)"
    );
    describe_histogram!(
        "tenantry_webhook_attempt_seconds",
        metrics::Unit::Seconds,
        "Time a webhook receiver took to answer an attempt"
    );
    describe_histogram!(
        "tenantry_webhook_batch_seconds",
        metrics::Unit::Seconds,
        "Time to deliver and record one tenant's batch of deliveries"
    );
    describe_histogram!(
        "tenantry_webhook_phase_seconds",
        metrics::Unit::Seconds,
        "Time the dispatcher spends per phase: claim (every claim, empty ones too), and per \
         batch load (endpoints, events, secrets), send, record"
    );
    describe_counter!(
        "tenantry_webhook_deferred_total",
        "Deliveries sent back to the queue for their turn (an endpoint's rate limit)"
    );
    describe_counter!(
        "tenantry_cache_lookups_total",
        "Cache lookups by cache (tenant, member, access_token) and result (hit, miss)"
    );
    describe_counter!(
        "tenantry_logins_total",
        "Password logins by outcome: success, or the refusal's problem code \
         (invalid_credentials, account_locked, too_many_attempts, ...)"
    );
}

/// Records one answered request. `route` is the matched pattern (`/api/v1/products/{id}`),
/// or `unmatched` for requests no route took.
pub fn observe_request(method: &str, route: Option<&str>, status: u16, elapsed: Duration) {
    let route = route.unwrap_or("unmatched").to_owned();
    let method = method.to_owned();
    counter!(
        "tenantry_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    histogram!(
        "tenantry_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(elapsed.as_secs_f64());
}

/// Records a cache lookup.
pub fn cache_lookup(cache: &'static str, hit: bool) {
    counter!(
        "tenantry_cache_lookups_total",
        "cache" => cache,
        "result" => if hit { "hit" } else { "miss" }
    )
    .increment(1);
}

/// Records a password login's outcome (`success` or the problem code).
pub fn login(outcome: &'static str) {
    counter!("tenantry_logins_total", "outcome" => outcome).increment(1);
}

/// Drains the histograms' raw samples into their buckets; run every few seconds so memory
/// stays flat between scrapes.
pub async fn upkeep() {
    let handle = handle();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// `GET /metrics`: the gauges read now (pool, queue), then everything in Prometheus' text
/// format.
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.reads.pool_status();
    gauge!("tenantry_db_pool_connections", "state" => "in_use")
        .set(pool.size.saturating_sub(pool.available) as f64);
    gauge!("tenantry_db_pool_connections", "state" => "idle").set(pool.available as f64);
    gauge!("tenantry_db_pool_connections", "state" => "max").set(pool.max_size as f64);
    gauge!("tenantry_db_pool_waiting").set(pool.waiting as f64);
    let now = chrono::Utc::now();
    match state.reads.queue_summary(now).await {
        Ok(summary) => {
            // Every kind and state, zeros included, so a drained queue reads 0, not "gone".
            let kinds = tenantry_jobs::Job::KINDS.iter().map(|k| (*k).to_owned());
            let stored = summary.counts.iter().map(|c| c.kind.clone());
            let mut all: Vec<String> = kinds.chain(stored).collect();
            all.sort();
            all.dedup();
            for kind in all {
                for state in tenantry_jobs::JobState::ALL {
                    let n = summary
                        .counts
                        .iter()
                        .find(|c| c.kind == kind && c.state == state)
                        .map_or(0, |c| c.count);
                    gauge!("tenantry_jobs", "kind" => kind.clone(), "state" => state.as_str())
                        .set(n as f64);
                }
            }
            let age = summary
                .oldest_waiting_since
                .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
            gauge!("tenantry_jobs_oldest_wait_seconds").set(age);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the job queue"),
    }
    let handle = handle();
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}
