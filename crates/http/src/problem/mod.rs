//! RFC 9457 problem details: the only error format the API speaks. Domain errors become HTTP
//! statuses and stable codes in one module per domain area below, and nowhere else.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tenantry_kernel::Unexpected;
use tenantry_tenancy::InvalidValue;
use utoipa::ToSchema;

pub mod archives;
pub mod billing;
pub mod files;
pub mod identity;
pub mod onboarding;
mod page;
pub mod products;
pub mod projects;
pub mod rbac;
pub mod sso;
pub mod tenancy;
pub mod webhooks;

pub use tenancy::MAINTENANCE_RETRY_AFTER_SECS;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field in the request (`slug`, `branding.logo_url`); empty for the body
    /// as a whole.
    pub field: String,
    pub message: String,
    /// The 1-based row of a bulk import the error belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            row: None,
        }
    }
}

/// An RFC 9457 problem. `code` is stable and meant for programs; `title` and `detail` are
/// for people.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    /// Seconds, sent as `Retry-After`.
    pub retry_after: Option<u32>,
    /// `Allow` header of a 405.
    pub allow: Option<String>,
    /// `WWW-Authenticate` header of a 401.
    pub challenge: Option<&'static str>,
    /// `Content-Range` header of a 416 (`bytes */<length>`).
    pub content_range: Option<String>,
    /// The tenant's message, on `tenant_maintenance`.
    pub maintenance_message: Option<String>,
    /// The cause of a 5xx: logged with the request id, never sent.
    pub cause: Option<Unexpected>,
    /// Members some problems add (a quota's numbers, a missing feature); boxed, as most
    /// problems have none.
    pub extra: Option<Box<ProblemExtra>>,
}

/// Members some problems carry beside the standard ones.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct ProblemExtra {
    /// On `quota_exceeded`: the resource whose quota is full.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "products")]
    pub resource: Option<String>,
    /// On `quota_exceeded`: the quota's limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 100)]
    pub limit: Option<u64>,
    /// On `quota_exceeded`: how many are used.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 100)]
    pub used: Option<u64>,
    /// On `feature_not_in_plan`: the feature the route needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "webhooks")]
    pub feature: Option<String>,
    /// On `feature_not_in_plan`: the public plans that have it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["professional", "enterprise"]))]
    pub plans: Option<Vec<String>>,
    /// On a tenant's gates (`tenant_inactive`, `tenant_maintenance`, `ip_not_allowed`,
    /// `rate_limited`, `subscription_*`): who the tenant is to its users, so a client can
    /// show a branded page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantBrand>,
    /// On `mfa_required` after a right password: the ticket to send with a code to
    /// `/api/v1/auth/mfa/verify`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_ticket: Option<String>,
    /// On `mfa_required`: when the ticket expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_ticket_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// On `last_owner` when an account is deleted: the organisations (slugs) whose last
    /// owner it is — each needs another owner, or to be deleted, first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["acme"]))]
    pub owned_tenants: Option<Vec<String>>,
}

/// A tenant's public face, on the problems its gates answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TenantBrand {
    /// The display name, else the tenant's name.
    #[schema(example = "Acme")]
    pub display_name: String,
    pub logo_url: Option<String>,
    #[schema(example = "#0055ff")]
    pub primary_color: Option<String>,
    pub support_email: Option<String>,
    pub support_url: Option<String>,
}

impl TenantBrand {
    pub fn of(
        tenant: &tenantry_tenancy::Tenant,
        settings: &tenantry_tenancy::TenantSettings,
    ) -> Self {
        let b = &settings.branding;
        Self {
            display_name: b
                .display_name
                .as_ref()
                .unwrap_or(&tenant.name)
                .as_str()
                .to_owned(),
            logo_url: b.logo_url.as_ref().map(|v| v.as_str().to_owned()),
            primary_color: b.primary_color.as_ref().map(|v| v.as_str().to_owned()),
            support_email: b.support_email.as_ref().map(|v| v.as_str().to_owned()),
            support_url: b.support_url.as_ref().map(|v| v.as_str().to_owned()),
        }
    }
}

/// The body as documented in the OpenAPI spec.
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// A URI naming the problem type: `urn:tenantry:problem:<code>`.
    #[schema(example = "urn:tenantry:problem:tenant_not_found")]
    pub r#type: String,
    #[schema(example = "Tenant not found")]
    pub title: String,
    #[schema(example = 404)]
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    pub instance: String,
    /// Stable machine-readable code.
    #[schema(example = "tenant_not_found")]
    pub code: String,
    /// The request id (also in the `X-Request-Id` response header).
    pub request_id: String,
    /// Field errors of a 422.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The tenant's maintenance message, on `tenant_maintenance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_message: Option<String>,
    #[serde(flatten)]
    pub extra: ProblemExtra,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self {
            status,
            code,
            title,
            detail: None,
            errors: Vec::new(),
            retry_after: None,
            allow: None,
            challenge: None,
            content_range: None,
            maintenance_message: None,
            cause: None,
            extra: None,
        }
    }

    /// The extra members, to fill in.
    pub fn extra_mut(&mut self) -> &mut ProblemExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The same problem, carrying the tenant's brand (one of its gates refused the request).
    pub fn branded(mut self, brand: TenantBrand) -> Self {
        self.extra_mut().tenant = Some(brand);
        self
    }

    /// Whether it carries a tenant's brand (and may be shown as a branded page).
    pub fn brand(&self) -> Option<&TenantBrand> {
        self.extra.as_ref().and_then(|e| e.tenant.as_ref())
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found")
            .detail("No resource exists at this path")
    }

    /// The tenant's IP allowlist refused the client (nothing of the tenant is revealed).
    pub fn ip_not_allowed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
            "Address not allowed",
        )
        .detail("This tenant accepts requests only from the networks it allows")
    }

    pub fn tenant_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "tenant_not_found",
            "Tenant not found",
        )
        .detail("No tenant matches this host or the X-Tenant-ID header")
    }

    pub fn method_not_allowed(allow: String) -> Self {
        let mut p = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
        )
        .detail(format!("This path accepts: {allow}"));
        p.allow = Some(allow);
        p
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON").detail(detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Request body too large",
        )
        .detail(format!("The body must be at most {limit} bytes"))
    }

    /// The body did not arrive within `limit` (a slow or stalled client).
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "Request timeout",
        )
        .detail(format!(
            "The request body did not arrive within {} seconds",
            limit.as_secs()
        ))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
        )
        .detail("Send the body as application/json")
    }

    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "Invalid query parameters",
        )
        .detail(detail)
    }

    /// A 400 for a `cursor` this service did not issue (or issued for another list order).
    pub fn invalid_cursor(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_cursor", "Invalid cursor").detail(detail)
    }

    /// A 422 for one invalid field.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: name.to_owned(),
            message: message.into(),
            row: None,
        }])
    }

    /// A 422 listing every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Validation failed",
        )
        .detail("One or more fields are invalid");
        p.errors = errors;
        p
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
        )
        .detail(detail);
        p.challenge = Some("Bearer");
        p
    }

    pub fn internal(cause: Unexpected) -> Self {
        if cause.is_unavailable() {
            let mut p = Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "Service unavailable",
            )
            .detail("The database cannot be reached right now; try again shortly");
            p.retry_after = Some(1);
            p.cause = Some(cause);
            return p;
        }
        let mut p = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
        .detail("Something went wrong on our side; quote the request id when reporting it");
        p.cause = Some(cause);
        p
    }

    /// The same problem without its (unsendable, already logged) cause.
    pub fn without_cause(&self) -> Self {
        Self {
            status: self.status,
            code: self.code,
            title: self.title,
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            retry_after: self.retry_after,
            allow: self.allow.clone(),
            challenge: self.challenge,
            content_range: self.content_range.clone(),
            maintenance_message: self.maintenance_message.clone(),
            cause: None,
            extra: self.extra.clone(),
        }
    }

    /// A problem for an error response that did not come from our code (actix's own).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found(),
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(status, "payload_too_large", "Request body too large")
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                Self::new(status, "method_not_allowed", "Method not allowed")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::unsupported_media_type(),
            s if s.is_server_error() => Self::new(s, "internal_error", "Internal server error"),
            s => Self::new(s, "bad_request", "Bad request"),
        }
    }

    pub fn body(&self, instance: &str, request_id: &str) -> ProblemBody {
        ProblemBody {
            r#type: format!("urn:tenantry:problem:{}", self.code),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            instance: instance.to_owned(),
            code: self.code.to_owned(),
            request_id: request_id.to_owned(),
            errors: self.errors.clone(),
            maintenance_message: self.maintenance_message.clone(),
            extra: self.extra.as_deref().cloned().unwrap_or_default(),
        }
    }

    /// The full response; the request-id middleware calls this with the request's path and
    /// id. A branded problem is a small HTML page instead for a client that prefers HTML
    /// (`html`).
    pub fn render_for(&self, instance: &str, request_id: &str, html: bool) -> HttpResponse {
        match self.brand() {
            Some(brand) if html => {
                let mut res = HttpResponse::build(self.status);
                if let Some(secs) = self.retry_after {
                    res.insert_header((header::RETRY_AFTER, secs.to_string()));
                }
                res.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                    .body(page::branded(self, brand, request_id))
            }
            _ => self.render(instance, request_id),
        }
    }

    /// The full response as problem+json.
    pub fn render(&self, instance: &str, request_id: &str) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(allow) = &self.allow {
            res.insert_header((header::ALLOW, allow.clone()));
        }
        if let Some(challenge) = self.challenge {
            res.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(range) = &self.content_range {
            res.insert_header((header::CONTENT_RANGE, range.clone()));
        }
        let body = serde_json::to_vec(&self.body(instance, request_id)).unwrap_or_default();
        res.body(body)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, self.status)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    /// Rendered again, with instance and request id, by the request-id middleware.
    fn error_response(&self) -> HttpResponse {
        self.render("", "")
    }
}

impl From<Unexpected> for Problem {
    fn from(e: Unexpected) -> Self {
        Self::internal(e)
    }
}

/// Collects every invalid field of a request body while it is parsed into domain values.
#[derive(Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    /// The value, or `None` with the error recorded under `field`.
    pub fn take<T, E: std::fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| self.0.push(FieldError::new(field, e.to_string())))
            .ok()
    }

    /// An optional field: absent stays `None`; present is parsed (an error is recorded).
    pub fn opt<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        v: Option<String>,
        parse: fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        v.and_then(|v| self.take(field, parse(&v)))
    }

    /// A nullable field of a patch: absent stays `None`, `null` is `Some(None)` (clear),
    /// a value is parsed (an error is recorded).
    pub fn nullable<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        v: Option<Option<String>>,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        match v {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => self.take(field, parse(&raw)).map(Some),
        }
    }

    /// 422 listing every recorded error, or Ok when there is none.
    pub fn finish(self) -> Result<(), Problem> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.0))
        }
    }
}

/// The `limit` query parameter: default 20, 1–100, else 400 `invalid_query`.
pub fn limit_param(limit: Option<u32>) -> Result<tenantry_kernel::Limit, Problem> {
    limit.map_or(Ok(tenantry_kernel::Limit::default()), |n| {
        tenantry_kernel::Limit::parse(n).map_err(|e| Problem::invalid_query(e.to_string()))
    })
}

/// A `cursor` query parameter whose key must parse as `K` (a sequence number, an id), else
/// 400 `invalid_cursor`.
pub fn keyed_cursor<K: std::str::FromStr>(
    raw: Option<String>,
) -> Result<Option<tenantry_kernel::Cursor>, Problem> {
    cursor_param(raw, |key| key.parse::<K>().is_ok())
}

/// A `cursor` query parameter whose key `valid` accepts, else 400 `invalid_cursor`.
pub fn cursor_param(
    raw: Option<String>,
    valid: impl Fn(&str) -> bool,
) -> Result<Option<tenantry_kernel::Cursor>, Problem> {
    raw.map(|c| {
        tenantry_kernel::Cursor::parse(&c)
            .ok()
            .filter(|c| valid(&c.key()))
            .ok_or_else(|| Problem::invalid_cursor("cursor is not one this service issued"))
    })
    .transpose()
}

/// Collects field errors from parsing a body into domain values.
pub fn field_errors<const N: usize>(fields: [(&str, Option<&InvalidValue>); N]) -> Vec<FieldError> {
    fields
        .into_iter()
        .filter_map(|(field, err)| {
            err.map(|e| FieldError {
                field: field.to_owned(),
                message: e.0.clone(),
                row: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_database_is_a_503_and_anything_else_a_500() {
        let down = Problem::internal(Unexpected::unavailable("connection refused"));
        assert_eq!(
            (down.status.as_u16(), down.code, down.retry_after),
            (503, "database_unavailable", Some(1))
        );
        assert!(down.cause.is_some(), "the cause is kept for the log");
        let bug = Problem::internal(Unexpected::msg("invariant broken"));
        assert_eq!((bug.status.as_u16(), bug.code), (500, "internal_error"));
    }
}
