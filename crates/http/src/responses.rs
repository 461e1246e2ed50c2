//! Error responses shared by many operations, for their OpenAPI descriptions.

#![allow(dead_code)] // The variants exist for the spec; handlers return `Problem`.

use utoipa::IntoResponses;

use crate::problem::ProblemBody;

/// What every operator route can answer before it does anything.
#[derive(IntoResponses)]
pub enum OperatorErrors {
    /// Missing or invalid token (`unauthorized`)
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(ProblemBody),
    /// A valid access token of someone who is not a platform administrator (`platform_admin_required`)
    #[response(status = 403, content_type = "application/problem+json")]
    NotStaff(ProblemBody),
}

/// What a route with a JSON body can answer about the body.
#[derive(IntoResponses)]
pub enum BodyErrors {
    /// Malformed JSON (`malformed_json`)
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(ProblemBody),
    /// Body larger than TENANTRY_BODY_LIMIT (`payload_too_large`)
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(ProblemBody),
    /// Body is not `application/json` (`unsupported_media_type`)
    #[response(status = 415, content_type = "application/problem+json")]
    NotJson(ProblemBody),
    /// Invalid fields, listed in `errors` (`validation_failed`)
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(ProblemBody),
}

/// No tenant has this id or slug (`tenant_not_found`)
#[derive(IntoResponses)]
#[response(status = 404, content_type = "application/problem+json")]
pub struct TenantNotFound(ProblemBody);

/// No tenant has this id or slug, or the tenant has no such domain (`tenant_not_found`, `domain_not_found`)
#[derive(IntoResponses)]
#[response(status = 404, content_type = "application/problem+json")]
pub struct TenantOrDomainNotFound(ProblemBody);

/// Missing, invalid or expired access token (`unauthorized`)
#[derive(IntoResponses)]
#[response(status = 401, content_type = "application/problem+json")]
pub struct Unauthenticated(ProblemBody);

/// What every member-only tenant route can answer before it does anything.
#[derive(IntoResponses)]
pub enum MemberErrors {
    /// Missing, invalid or expired access token, or an API key that is invalid, revoked,
    /// expired or another tenant's (`unauthorized`)
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(ProblemBody),
    /// The subscription is past due beyond its grace period: the tenant reads but does not
    /// write (`subscription_past_due`)
    #[response(status = 402, content_type = "application/problem+json")]
    PastDue(ProblemBody),
    /// Suspended tenant (`tenant_inactive`), a client address outside the tenant's allowlist (`ip_not_allowed`), not a member (`not_a_member`), the role lacks the route's permission (`permission_denied`), the subscription is canceled (`subscription_canceled`), or the plan lacks the route's feature (`feature_not_in_plan`)
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(ProblemBody),
    /// No tenant matches the host or `X-Tenant-ID` (`tenant_not_found`)
    #[response(status = 404, content_type = "application/problem+json")]
    TenantNotFound(ProblemBody),
    /// The tenant's plan tier or the caller's share of it is used up (`rate_limited`), with
    /// `Retry-After`; every limited answer carries `RateLimit-Policy` and `RateLimit`
    #[response(status = 429, content_type = "application/problem+json")]
    RateLimited(ProblemBody),
    /// Tenant in maintenance (`tenant_maintenance`), or the database cannot be reached right
    /// now (`database_unavailable`); both with `Retry-After`
    #[response(status = 503, content_type = "application/problem+json")]
    Maintenance(ProblemBody),
}

/// What a route reaching into a tenant by other means than the request (an invitation's
/// token) answers when that tenant is closed.
#[derive(IntoResponses)]
pub enum TenantClosed {
    /// Suspended tenant (`tenant_inactive`)
    #[response(status = 403, content_type = "application/problem+json")]
    Suspended(ProblemBody),
    /// Tenant in maintenance (`tenant_maintenance`), with `Retry-After`
    #[response(status = 503, content_type = "application/problem+json")]
    Maintenance(ProblemBody),
}

/// A list's query parameters were wrong: a limit out of range or a malformed filter
/// (`invalid_query`), or a cursor this list did not issue (`invalid_cursor`)
#[derive(IntoResponses)]
#[response(status = 400, content_type = "application/problem+json")]
pub struct QueryErrors(ProblemBody);
