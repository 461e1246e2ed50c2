//! RFC 9457 problem details: the only error format the API speaks, and the one place domain
//! errors become HTTP statuses and stable codes.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tenantry_identity::{
    ChangePasswordError, CreateUserError, LoginError, RefreshError, UserError,
};
use tenantry_kernel::Unexpected;
use tenantry_onboarding::OnboardError;
use tenantry_rbac::{MemberError, RoleError};
use tenantry_tenancy::{
    AddDomainError, ChangeDomainError, CreateTenantError, FindTenantError, Gate, InvalidValue,
    TransitionError, UpdateTenantError,
};
use utoipa::ToSchema;

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
    /// The tenant's message, on `tenant_maintenance`.
    pub maintenance_message: Option<String>,
    /// The cause of a 5xx: logged with the request id, never sent.
    pub cause: Option<Unexpected>,
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
            maintenance_message: None,
            cause: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found")
            .detail("No resource exists at this path")
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
            maintenance_message: self.maintenance_message.clone(),
            cause: None,
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
        }
    }

    /// The full response; the request-id middleware calls this with the request's path and id.
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
    raw.map(|c| {
        tenantry_kernel::Cursor::parse(&c)
            .ok()
            .filter(|c| c.key().parse::<K>().is_ok())
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

impl From<CreateTenantError> for Problem {
    fn from(e: CreateTenantError) -> Self {
        match e {
            CreateTenantError::SlugTaken { slug } => {
                Self::new(StatusCode::CONFLICT, "slug_taken", "Slug already taken")
                    .detail(format!("A tenant with slug '{slug}' already exists"))
            }
            CreateTenantError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<FindTenantError> for Problem {
    fn from(e: FindTenantError) -> Self {
        match e {
            FindTenantError::NotFound => {
                Self::tenant_not_found().detail("No tenant has this id or slug")
            }
            FindTenantError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<UpdateTenantError> for Problem {
    fn from(e: UpdateTenantError) -> Self {
        match e {
            UpdateTenantError::NotFound => FindTenantError::NotFound.into(),
            UpdateTenantError::Transition(t) => {
                let code = match t {
                    TransitionError::AlreadySuspended => "already_suspended",
                    TransitionError::AlreadyActive => "already_active",
                };
                Self::new(StatusCode::CONFLICT, code, "Invalid lifecycle transition")
                    .detail(t.to_string())
            }
            UpdateTenantError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<AddDomainError> for Problem {
    fn from(e: AddDomainError) -> Self {
        match e {
            AddDomainError::TenantNotFound => FindTenantError::NotFound.into(),
            AddDomainError::HostnameTaken { .. } => Self::new(
                StatusCode::CONFLICT,
                "hostname_taken",
                "Hostname already in use",
            )
            .detail(e.to_string()),
            AddDomainError::HostnameReserved { .. } => {
                let mut p = Self::field("hostname", e.to_string());
                p.code = "hostname_reserved";
                p
            }
            AddDomainError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<ChangeDomainError> for Problem {
    fn from(e: ChangeDomainError) -> Self {
        match e {
            ChangeDomainError::TenantNotFound => FindTenantError::NotFound.into(),
            ChangeDomainError::DomainNotFound { .. } => Self::new(
                StatusCode::NOT_FOUND,
                "domain_not_found",
                "Domain not found",
            )
            .detail(e.to_string()),
            ChangeDomainError::NotVerified { .. } => Self::new(
                StatusCode::CONFLICT,
                "domain_not_verified",
                "Domain not verified",
            )
            .detail(e.to_string()),
            ChangeDomainError::Unexpected(u) => Self::internal(u),
        }
    }
}

/// `Retry-After` of a tenant in maintenance (the tenant record has no end time yet).
pub const MAINTENANCE_RETRY_AFTER_SECS: u32 = 300;

impl From<Gate> for Problem {
    fn from(gate: Gate) -> Self {
        match gate {
            Gate::Inactive => {
                Self::new(StatusCode::FORBIDDEN, "tenant_inactive", "Tenant inactive")
                    .detail("This tenant is suspended")
            }
            Gate::Maintenance { message } => {
                let mut p = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tenant_maintenance",
                    "Tenant in maintenance",
                )
                .detail(
                    message
                        .clone()
                        .unwrap_or_else(|| "This tenant is under maintenance".into()),
                );
                p.retry_after = Some(MAINTENANCE_RETRY_AFTER_SECS);
                p.maintenance_message = message;
                p
            }
        }
    }
}

impl From<LoginError> for Problem {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            )
            .detail("The e-mail address or the password is wrong"),
            LoginError::Locked { retry_after_secs } => {
                let mut p = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "account_locked",
                    "Account locked",
                )
                .detail("Too many failed logins for this account; try again later");
                p.retry_after = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
                p
            }
            LoginError::TooManyAttempts { retry_after_secs } => {
                let mut p = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "Too many attempts",
                )
                .detail("Too many failed logins from this address; try again later");
                p.retry_after = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
                p
            }
            LoginError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<RefreshError> for Problem {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::InvalidToken => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "Invalid refresh token",
            )
            .detail("The refresh token is unknown, expired, revoked or already used; log in again"),
            RefreshError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<UserError> for Problem {
    fn from(e: UserError) -> Self {
        match e {
            // A valid token for a user that no longer exists.
            UserError::NotFound => Self::unauthorized("The account no longer exists"),
            UserError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<ChangePasswordError> for Problem {
    fn from(e: ChangePasswordError) -> Self {
        match e {
            ChangePasswordError::WrongPassword => {
                Self::new(StatusCode::FORBIDDEN, "wrong_password", "Wrong password")
                    .detail("The current password is wrong")
            }
            ChangePasswordError::Throttled(e) => e.into(),
            ChangePasswordError::Invalid(v) => Self::field("new_password", v.0),
            ChangePasswordError::NotFound => Self::unauthorized("The account no longer exists"),
            ChangePasswordError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<CreateUserError> for Problem {
    fn from(e: CreateUserError) -> Self {
        match e {
            CreateUserError::EmailTaken => {
                Self::new(StatusCode::CONFLICT, "email_taken", "E-mail taken")
                    .detail("An account with this e-mail address already exists")
            }
            CreateUserError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<RoleError> for Problem {
    fn from(e: RoleError) -> Self {
        let detail = e.to_string();
        match e {
            RoleError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, "role_not_found", "Role not found").detail(detail)
            }
            RoleError::NameTaken { .. } => {
                Self::new(StatusCode::CONFLICT, "role_name_taken", "Role name taken").detail(detail)
            }
            RoleError::OwnerRoleLocked => Self::new(
                StatusCode::CONFLICT,
                "owner_role_locked",
                "Owner role locked",
            )
            .detail(detail),
            RoleError::SystemRole => {
                Self::new(StatusCode::CONFLICT, "system_role", "System role").detail(detail)
            }
            RoleError::CorePermission { .. } => {
                Self::new(StatusCode::CONFLICT, "core_permission", "Core permission").detail(detail)
            }
            RoleError::Escalation { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "permission_denied",
                "Permission denied",
            )
            .detail(detail),
            RoleError::InUse { .. } => {
                Self::new(StatusCode::CONFLICT, "role_in_use", "Role in use").detail(detail)
            }
            RoleError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<MemberError> for Problem {
    fn from(e: MemberError) -> Self {
        let detail = e.to_string();
        match e {
            MemberError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "member_not_found",
                "Member not found",
            )
            .detail(detail),
            MemberError::RoleNotFound => {
                let mut p = Self::field("role_id", detail);
                p.code = "role_not_found";
                p
            }
            MemberError::LastOwner => {
                Self::new(StatusCode::CONFLICT, "last_owner", "Last owner").detail(detail)
            }
            MemberError::Escalation { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "permission_denied",
                "Permission denied",
            )
            .detail(detail),
            MemberError::AlreadyMember => {
                Self::new(StatusCode::CONFLICT, "already_member", "Already a member").detail(detail)
            }
            MemberError::Unexpected(u) => Self::internal(u),
        }
    }
}

impl From<OnboardError> for Problem {
    fn from(e: OnboardError) -> Self {
        match e {
            OnboardError::SlugTaken { slug } => CreateTenantError::SlugTaken { slug }.into(),
            OnboardError::EmailTaken => CreateUserError::EmailTaken.into(),
            OnboardError::InvalidCredentials => LoginError::InvalidCredentials.into(),
            OnboardError::Throttled(e) => e.into(),
            OnboardError::WeakPassword(message) => Self::field("password", message),
            OnboardError::Unexpected(u) => Self::internal(u),
        }
    }
}
