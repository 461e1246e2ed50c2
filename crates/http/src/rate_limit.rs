//! Request limits: each tenant's plan tier (requests per hour), optionally each caller's share
//! of it (a user or an API key), and anonymous calls per client address — with GCRA (the
//! generic cell rate algorithm: one timestamp per key, smooth, exact; see decision 0031).
//!
//! Every limited response carries the IETF headers (draft-ietf-httpapi-ratelimit-headers):
//! `RateLimit-Policy: "tenant";q=1000;w=3600` and `RateLimit: "tenant";r=998;t=3540`; over a
//! limit the answer is 429 `rate_limited` with `Retry-After`. The member guard checks the
//! tenant and caller policies (it knows both); the middleware here checks anonymous calls and
//! writes the headers of whatever was checked.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
pub use tenantry_limits::{InProcess, Policy, RateStore, Verdict, gcra};

use crate::problem::Problem;
use crate::state::AppState;

/// How requests are limited.
#[derive(Clone, Debug)]
pub struct RateLimitConfig {
    /// Off: no limit, no headers.
    pub enabled: bool,
    /// Anonymous calls per client address per hour (`None`: not limited).
    pub anonymous_per_hour: Option<u64>,
    /// A user's or API key's share of its tenant's tier, in percent (100: no separate limit).
    pub caller_percent: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            anonymous_per_hour: Some(50),
            caller_percent: 100,
        }
    }
}

/// The limiter: its configuration and where its counters live.
#[derive(Clone)]
pub struct RateLimits {
    pub config: RateLimitConfig,
    pub store: Arc<dyn RateStore>,
}

impl RateLimits {
    pub fn in_process(config: RateLimitConfig) -> Self {
        Self {
            config,
            store: Arc::new(InProcess::default()),
        }
    }
}

fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// What was checked for this request, for the headers (filled by the guard or here).
#[derive(Clone, Default)]
pub struct Checked(Arc<std::sync::Mutex<Vec<Verdict>>>);

impl Checked {
    fn push(&self, v: Verdict) {
        if let Ok(mut all) = self.0.lock() {
            all.push(v);
        }
    }

    fn taken(&self) -> Vec<Verdict> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// The refusal of a request over a limit.
fn rate_limited(v: &Verdict) -> Problem {
    let mut p = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
    )
    .detail(format!(
        "The {} limit of {} requests per {} seconds is used up; retry in {} s",
        v.policy.name, v.policy.quota, v.policy.window_secs, v.retry_after_secs
    ));
    p.retry_after = Some(u32::try_from(v.retry_after_secs).unwrap_or(u32::MAX));
    p
}

/// Checks `policies` in order under their keys, recording each verdict; the first refusal
/// stops the request. A store that fails lets the request through (logged and counted): an
/// outage of the limiter must not become an outage of the API.
pub async fn enforce(
    limits: &RateLimits,
    checked: Option<&Checked>,
    policies: &[(String, Policy)],
) -> Result<(), Problem> {
    let now = now_ms();
    for (key, policy) in policies {
        match limits.store.check(key, *policy, now).await {
            Ok(v) => {
                if let Some(c) = checked {
                    c.push(v);
                }
                if !v.allowed {
                    metrics::counter!("tenantry_rate_limited_total", "policy" => policy.name)
                        .increment(1);
                    return Err(rate_limited(&v));
                }
            }
            Err(e) => {
                metrics::counter!("tenantry_rate_limit_errors_total").increment(1);
                tracing::warn!(error = %e, "rate limit store unavailable: request let through");
            }
        }
    }
    Ok(())
}

/// The caller's share of its tenant's tier (when configured), then the tier: the narrower
/// limit first, so a caller over its share does not spend the tenant's budget.
pub fn member_policies(
    config: &RateLimitConfig,
    tenant: tenantry_kernel::TenantId,
    caller: &str,
    per_hour: Option<u64>,
) -> Vec<(String, Policy)> {
    let Some(per_hour) = per_hour.filter(|_| config.enabled) else {
        return Vec::new();
    };
    let mut policies = Vec::with_capacity(2);
    if config.caller_percent < 100 {
        policies.push((
            format!("c:{tenant}:{caller}"),
            Policy {
                name: "caller",
                quota: (per_hour * config.caller_percent / 100).max(1),
                window_secs: 3600,
            },
        ));
    }
    policies.push((
        format!("t:{tenant}"),
        Policy {
            name: "tenant",
            quota: per_hour,
            window_secs: 3600,
        },
    ));
    policies
}

/// The request's verdict slot, for the guard.
pub fn checked_of(req: &actix_web::HttpRequest) -> Option<Checked> {
    req.extensions().get::<Checked>().cloned()
}

/// Anonymous API calls (no credentials) outside sign-up and sign-in, which keep their own
/// throttles.
fn anonymous_call(req: &ServiceRequest) -> bool {
    let path = req.path();
    path.starts_with("/api/v1/")
        && !path.starts_with("/api/v1/auth/")
        && path != "/api/v1/onboard"
        && !path.starts_with("/api/v1/billing/webhooks/")
        && !req.headers().contains_key(AUTHORIZATION)
        && !req.headers().contains_key("x-api-key")
}

fn header_values(verdicts: &[Verdict]) -> (String, String) {
    let policy = verdicts
        .iter()
        .map(|v| {
            format!(
                "\"{}\";q={};w={}",
                v.policy.name, v.policy.quota, v.policy.window_secs
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let state = verdicts
        .iter()
        .map(|v| format!("\"{}\";r={};t={}", v.policy.name, v.remaining, v.reset_secs))
        .collect::<Vec<_>>()
        .join(", ");
    (policy, state)
}

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Limits anonymous calls and writes the headers of every policy checked for the request.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .filter(|s| s.rate_limits.config.enabled);
    // Limits off: nothing to check, no slot to allocate, no headers.
    if state.is_none() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let checked = Checked::default();
    req.extensions_mut().insert(checked.clone());
    let anonymous = state
        .filter(|_| anonymous_call(&req))
        .and_then(|s| s.rate_limits.config.anonymous_per_hour.map(|n| (s, n)));
    if let Some((state, per_hour)) = anonymous {
        let ip = crate::client::ClientAddr::of(&req)
            .map(|c| c.ip)
            .or_else(|| req.peer_addr().map(|a| a.ip()))
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let policy = Policy {
            name: "anonymous",
            quota: per_hour,
            window_secs: 3600,
        };
        let refused = enforce(
            &state.rate_limits,
            Some(&checked),
            &[(format!("ip:{ip}"), policy)],
        )
        .await
        .err();
        if let Some(problem) = refused {
            let (policy, state) = header_values(&checked.taken());
            let mut res = req.error_response(problem);
            set_headers(res.headers_mut(), &policy, &state);
            return Ok(res.map_into_right_body());
        }
    }
    let mut res = next.call(req).await?;
    let verdicts = checked.taken();
    if !verdicts.is_empty() {
        let (policy, state) = header_values(&verdicts);
        set_headers(res.headers_mut(), &policy, &state);
    }
    Ok(res.map_into_left_body())
}

/// Documents the 429 every limited operation may answer: each one under `/api/v1/` except
/// sign-in and sign-up (a call without credentials counts as anonymous wherever it goes).
pub(crate) fn document(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    for (path, item) in api.paths.paths.iter_mut() {
        if !path.starts_with("/api/v1/")
            || path.starts_with("/api/v1/auth/")
            || path.starts_with("/api/v1/billing/webhooks/")
            || path == "/api/v1/onboard"
        {
            continue;
        }
        for op in crate::permissions::operations_mut(item)
            .into_iter()
            .flatten()
        {
            op.responses
                .responses
                .entry("429".to_owned())
                .or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(
                                "A request limit is used up (`rate_limited`), with `Retry-After`; \
                             limited answers carry `RateLimit-Policy` and `RateLimit`",
                            )
                            .content(
                                crate::problem::PROBLEM_JSON,
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("Problem")))
                                    .build(),
                            )
                            .build(),
                    )
                });
        }
    }
}

fn set_headers(headers: &mut actix_web::http::header::HeaderMap, policy: &str, state: &str) {
    if let (Ok(p), Ok(s)) = (HeaderValue::from_str(policy), HeaderValue::from_str(state)) {
        headers.insert(RATELIMIT_POLICY, p);
        headers.insert(RATELIMIT, s);
    }
}
