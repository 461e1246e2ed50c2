//! The tenant's edge, around every route: browsers' cross-origin calls (CORS) answered with
//! the tenant's own origins, browsers on a secondary hostname sent to the tenant's primary
//! one, and the security headers every response carries (the tenant's CSP on its own).

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use tenantry_tenancy::{HostClass, Tenant, TenantSettings, classify_host};

use crate::client::ClientAddr;
use crate::state::AppState;

/// A request that opts out of the redirect to the tenant's primary hostname.
pub const NO_REDIRECT_HEADER: HeaderName = HeaderName::from_static("x-tenantry-no-redirect");

/// What a tenant route's resolution found, for the response's headers.
#[derive(Clone)]
pub struct TenantEdge {
    pub settings: Arc<TenantSettings>,
}

/// The CSP of responses that are not a tenant's own (JSON needs no sources at all).
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// Swagger UI's page: its own scripts and styles (its styles are partly inline), the spec
/// from this origin, its images as data URLs.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
                        style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                        connect-src 'self'; object-src 'none'; base-uri 'self'; \
                        frame-ancestors 'none'";
/// A year, subdomains included (tenants' subdomains are the platform's).
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The headers every response carries: no sniffing, no referrer, no framing (unless the
/// tenant's CSP names who may frame it), same-origin resources, a CSP (the tenant's on its
/// routes, Swagger UI's on `/docs`, `default-src 'none'` elsewhere), and HSTS when the
/// client came over https through a trusted proxy.
pub fn secure(headers: &mut HeaderMap, path: &str, https: bool, tenant: Option<&TenantSettings>) {
    let set = |h: &mut HeaderMap, name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(
        headers,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    let csp = tenant.and_then(|s| s.security.csp.as_ref());
    let csp_value = match csp {
        Some(csp) => csp.header_value(),
        None if path == "/docs" || path.starts_with("/docs/") => DOCS_CSP.to_owned(),
        None => API_CSP.to_owned(),
    };
    set(headers, header::CONTENT_SECURITY_POLICY, &csp_value);
    // frame-ancestors says it for browsers that read it; X-Frame-Options for older ones,
    // unless the tenant allows some framing.
    if csp.is_none_or(|c| c.frame_ancestors.is_empty()) {
        set(headers, header::X_FRAME_OPTIONS, "DENY");
    }
    if https {
        set(headers, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
}

/// Headers a browser may read from a cross-origin answer.
const EXPOSED: &str = "X-Request-Id, RateLimit, RateLimit-Policy, Retry-After, Location";
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
const PREFLIGHT_MAX_AGE: &str = "600";

/// The middleware: preflights, the canonical redirect, CORS headers on answers.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        // A preflight carries no custom header: the host alone names the tenant.
        let allowed = match (&origin, &host) {
            (Some(o), Some(h)) => allowed_origin(&state, o, Some(h), None).await,
            _ => false,
        };
        let mut res = HttpResponse::NoContent();
        res.insert_header((
            header::VARY,
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ));
        if let (true, Some(o)) = (allowed, &origin) {
            res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, o.as_str()));
            res.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS));
            if let Some(asked) = req
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
            {
                res.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, asked));
            }
            res.insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
        }
        return Ok(req.into_response(res.finish()));
    }
    if let Some(location) = canonical_redirect(&state, &req, host.as_deref()).await {
        let res = HttpResponse::MovedPermanently()
            .insert_header((header::LOCATION, location))
            .insert_header((header::VARY, "Host"))
            .finish();
        return Ok(req.into_response(res));
    }
    let tenant_header = req
        .headers()
        .get(crate::resolve::TENANT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut res = next.call(req).await?.map_into_boxed_body();
    if let Some(o) = origin {
        let allowed = allowed_origin(&state, &o, host.as_deref(), tenant_header.as_deref()).await;
        let headers = res.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if allowed && let Ok(v) = HeaderValue::from_str(&o) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED),
            );
        }
    }
    Ok(res)
}

/// Whether a browser page at `origin` may call the tenant the request names: one of the
/// tenant's CORS origins, or an https page on one of the tenant's own verified hostnames.
async fn allowed_origin(
    state: &AppState,
    origin: &str,
    host: Option<&str>,
    tenant_header: Option<&str>,
) -> bool {
    let Ok(Some(tenant)) = state.resolver.resolve(host, tenant_header).await else {
        return false;
    };
    if tenant.gate().is_err() {
        return false;
    }
    let Ok(settings) = settings_of(state, &tenant).await else {
        return false;
    };
    if settings.security.allows_origin(origin) {
        return true;
    }
    // The tenant's own hostnames, over https.
    match origin.strip_prefix("https://") {
        Some(origin_host) if !origin_host.contains('/') => matches!(
            state.resolver.resolve(Some(origin_host), None).await,
            Ok(Some(t)) if t.id == tenant.id
        ),
        _ => false,
    }
}

async fn settings_of(
    state: &AppState,
    tenant: &Tenant,
) -> Result<Arc<TenantSettings>, tenantry_kernel::Unexpected> {
    let ctx = tenantry_kernel::TenantCtx::for_request(
        &state.edges,
        tenant.id,
        tenantry_kernel::Actor::System,
        Arc::default(),
    );
    state
        .resolver
        .settings_of(tenant.id, state.settings.get(&ctx))
        .await
}

/// Where a browser on one of a tenant's other hostnames is sent: the same path and query on
/// the primary hostname, permanently. Only GET and HEAD, only without credentials (an
/// `Authorization` or `X-API-Key` header: HTTP clients drop credentials on a redirect to
/// another host, so an API call would fail where it stands), and not when the request says
/// `X-Tenantry-No-Redirect`. OPTIONS and every other method are never redirected.
async fn canonical_redirect(
    state: &AppState,
    req: &ServiceRequest,
    host: Option<&str>,
) -> Option<String> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let h = req.headers();
    if h.contains_key(header::AUTHORIZATION)
        || h.contains_key("x-api-key")
        || h.contains_key(NO_REDIRECT_HEADER)
    {
        return None;
    }
    let host = host?;
    if matches!(
        classify_host(host, &state.config.base_domain),
        HostClass::Platform
    ) {
        return None;
    }
    let tenant = state.resolver.resolve(Some(host), None).await.ok()??;
    let primary = state
        .resolver
        .primary_host(tenant.id, async {
            state
                .tenants
                .domains(&tenantry_tenancy::TenantRef::Id(tenant.id))
                .await
                .map_err(|e| tenantry_kernel::Unexpected::msg(e.to_string()))
        })
        .await
        .ok()??;
    let (bare, port) = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (host, None),
    };
    if bare.eq_ignore_ascii_case(primary.as_str()) {
        return None;
    }
    let https = ClientAddr::of(req).is_some_and(|c| c.https);
    let target = match (https, port) {
        (true, _) | (false, None) => primary.to_string(),
        // Plain http on a port: a development server, where every hostname is the same one.
        (false, Some(p)) => format!("{primary}:{p}"),
    };
    let scheme = if https { "https" } else { "http" };
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    Some(format!("{scheme}://{target}{path}"))
}
