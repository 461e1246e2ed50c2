//! The outermost middleware: gives every request an id and a tracing span, and makes every
//! error response a problem+json body carrying that id.

use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use tracing::{Instrument, field};

use crate::problem::{PROBLEM_JSON, Problem};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request: the client's `X-Request-Id` when sane, else a new uuid.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl FromRequest for RequestId {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req.extensions().get::<RequestId>().cloned();
        ready(Ok(id.unwrap_or_else(|| {
            RequestId(uuid::Uuid::now_v7().to_string())
        })))
    }
}

/// Accepts 1–128 characters of `A-Za-z0-9._:-`: enough for uuids, trace ids and ULIDs, and
/// nothing that could forge log lines or headers.
fn sane_incoming_id(req: &ServiceRequest) -> Option<String> {
    let raw = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let ok = (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| raw.to_owned())
}

pub async fn request_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = sane_incoming_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    if let Some(state) = req.app_data::<actix_web::web::Data<crate::state::AppState>>() {
        crate::client::record(&req, &state.config.trusted_proxies);
    }
    let path = req.path().to_owned();
    // The `otel.*`, `http.*` fields name and describe the span for an OpenTelemetry export
    // (the semantic conventions for an HTTP server); logs show them as plain fields.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %loggable_path(&path),
        tenant_id = field::Empty,
        user_id = field::Empty,
        http.route = field::Empty,
        http.response.status_code = field::Empty,
        otel.name = %req.method(),
        otel.kind = "server",
        otel.status_code = field::Empty,
    );
    tenantry_telemetry::continue_trace(&span, |name| {
        req.headers().get(name).and_then(|v| v.to_str().ok())
    });
    // HEAD is GET without the body: the route answers as for GET, and the connection (which
    // saw HEAD) sends the head only. The log above keeps the method the client sent.
    let method = req.method().clone();
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    let started = Instant::now();
    let html = prefers_html(&req);
    let https = crate::client::ClientAddr::of(&req).is_some_and(|c| c.https);
    // The handler runs as its own task: a client that hangs up mid-request drops this future,
    // not the handler's, so no database call is cancelled half-way (an embedded SQLite call
    // cannot be abandoned on actix's single-threaded workers).
    let task = actix_web::rt::spawn(async move { next.call(req).await }.instrument(span.clone()));
    let result = match task.await {
        Ok(result) => result,
        Err(join) => Err(Problem::internal(tenantry_kernel::Unexpected::msg(format!(
            "request handler failed: {join}"
        )))
        .into()),
    };
    let _entered = span.enter();
    if let Ok(res) = &result
        && let Some(route) = res.request().match_pattern()
    {
        tenantry_telemetry::rename(&span, || format!("{} {route}", method.as_str()));
        span.record("http.route", route);
    }

    let mut res = match result {
        Ok(res) => as_problem_if_error(res.map_into_boxed_body(), &path, &request_id, html),
        Err(err) => {
            // The request is gone with the error: hand actix a ready-made response instead.
            let problem = problem_of(&err);
            log_failure(&problem, Some(&err));
            let mut rendered = problem.render_for(&path, &request_id, html);
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                rendered.headers_mut().insert(REQUEST_ID_HEADER, v);
            }
            crate::edge::secure(rendered.headers_mut(), &path, https, None);
            record_status(&span, problem.status.as_u16());
            tracing::info!(status = problem.status.as_u16(), "request completed");
            crate::metrics::observe_request(
                method.as_str(),
                None,
                problem.status.as_u16(),
                started.elapsed(),
            );
            return Err(
                actix_web::error::InternalError::from_response(problem.code, rendered).into(),
            );
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let tenant = res
        .request()
        .extensions()
        .get::<crate::edge::TenantEdge>()
        .map(|e| e.settings.clone());
    crate::edge::secure(res.headers_mut(), &path, https, tenant.as_deref());
    let elapsed = started.elapsed();
    record_status(&span, res.status().as_u16());
    tracing::info!(
        status = res.status().as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request completed"
    );
    crate::metrics::observe_request(
        method.as_str(),
        res.request().match_pattern().as_deref(),
        res.status().as_u16(),
        elapsed,
    );
    Ok(res)
}

/// The status on the span; a server error marks it failed (a client error is the client's).
fn record_status(span: &tracing::Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// The path with secrets cut out: invitation tokens travel in the path and must not reach
/// the logs.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for marker in ["/invitations/lookup/", "/invitations/accept/"] {
        if let Some(i) = path.find(marker) {
            return format!("{}{}<token>", &path[..i], marker).into();
        }
    }
    path.into()
}

fn problem_of(err: &Error) -> Problem {
    match err.as_error::<Problem>() {
        Some(p) => p.without_cause(),
        None => {
            let status = err.as_response_error().status_code();
            let p = Problem::from_status(status);
            // actix's own client-error messages are safe to show; server errors are not.
            if status.is_client_error() {
                p.detail(err.to_string())
            } else {
                p
            }
        }
    }
}

fn log_failure(problem: &Problem, err: Option<&Error>) {
    if problem.status.is_server_error() {
        let cause = err
            .and_then(|e| e.as_error::<Problem>())
            .and_then(|p| p.cause.as_ref())
            .map(ToString::to_string)
            .or_else(|| err.map(ToString::to_string))
            .unwrap_or_default();
        tracing::error!(code = problem.code, cause = %cause, "request failed");
    }
}

/// Rewrites error responses into problem bodies with the request's path and id.
fn as_problem_if_error(
    res: ServiceResponse<BoxBody>,
    path: &str,
    request_id: &str,
    html: bool,
) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    // SCIM answers its own error bodies (RFC 7644 §3.12), already logged.
    let is_scim = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == crate::scim::SCIM_JSON.as_bytes());
    if is_scim {
        return res;
    }
    let problem = match res.response().error() {
        Some(err) => {
            let p = problem_of(err);
            log_failure(&p, Some(err));
            p
        }
        None => {
            let is_problem = res
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
            if is_problem {
                return res;
            }
            let p = Problem::from_status(status);
            log_failure(&p, None);
            p
        }
    };
    let mut rendered = problem.render_for(path, request_id, html);
    // Keep headers the handler set on purpose (e.g. Retry-After is re-rendered from the problem).
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !rendered.headers().contains_key(name)
        {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    res.into_response(rendered)
}

/// Whether the client ranks HTML first (a browser): a tenant's gates then answer a branded
/// page instead of problem+json.
fn prefers_html(req: &ServiceRequest) -> bool {
    use actix_web::http::header::{Accept, Header as _};
    Accept::parse(req).is_ok_and(|accept| {
        accept
            .ranked()
            .first()
            .is_some_and(|m| m.essence_str() == "text/html")
    })
}

/// Where a request came from, as the change pipeline records it: request id, the client's
/// address ([`crate::client`]: the peer, or what trusted proxies say) and the user agent
/// (first 512 bytes).
pub fn origin_of(req: &HttpRequest) -> std::sync::Arc<tenantry_kernel::Origin> {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| {
            let mut end = ua.len().min(512);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_owned()
        });
    std::sync::Arc::new(tenantry_kernel::Origin {
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        ip: crate::client::ClientAddr::of(req)
            .map(|c| c.ip)
            .or_else(|| req.peer_addr().map(|a| a.ip()))
            .map(|ip| ip.to_string()),
        user_agent,
    })
}
