//! The caller's second factor: enrolling a TOTP authenticator, its recovery codes, turning it
//! off, and the second step of a login. Platform-level: no tenant is needed.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_identity::SecondFactor;
use utoipa::ToSchema;

use crate::authn::Authenticated;
use crate::json::ApiJson;
use crate::problem::Problem;
use crate::request_context::origin_of;
use crate::responses::{BodyErrors, Unauthenticated};
use crate::routes::auth::SessionView;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// A code as typed: six digits are a TOTP code, anything else a recovery code.
/// A password and code confirming a destructive request are within their declared bounds
/// (1024 and 64 characters): 422 on the first that is not.
pub fn within_bounds(
    password: &str,
    mfa_code: Option<&str>,
) -> Result<(), crate::problem::Problem> {
    if password.chars().count() > 1024 {
        return Err(crate::problem::Problem::field("password", "too long"));
    }
    if mfa_code.is_some_and(|c| c.chars().count() > 64) {
        return Err(crate::problem::Problem::field("mfa_code", "too long"));
    }
    Ok(())
}

pub fn factor_of(code: String) -> SecondFactor {
    let trimmed = code.trim();
    if trimmed.len() == 6 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        SecondFactor::Code(trimmed.to_owned())
    } else {
        SecondFactor::RecoveryCode(code)
    }
}

/// The caller's second factors.
#[derive(Serialize, ToSchema)]
pub struct MfaStatusView {
    /// A confirmed TOTP authenticator: password logins need a code.
    pub totp_enabled: bool,
    /// An enrolment waits for its first code (`/auth/mfa/totp/confirm`).
    pub totp_pending: bool,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub enabled_at: Option<DateTime<Utc>>,
    /// Unused recovery codes.
    #[schema(example = 10)]
    pub recovery_codes_left: u32,
}

/// A new authenticator's secret, shown once: add it to an app, then confirm with a code.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentView {
    /// The secret in base32, for typing in.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The key URI authenticator apps read (RFC 6238, SHA-1, 6 digits, 30 s).
    #[schema(example = "otpauth://totp/Tenantry:ann%40example.com?secret=JBSW…&issuer=Tenantry")]
    pub otpauth_uri: String,
    /// The URI as a QR code: `data:image/png;base64,…`, ready for an `<img src>`.
    pub qr_code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ConfirmTotpBody {
    /// The authenticator's current six-digit code.
    #[schema(example = "123456")]
    pub code: String,
}

/// One-time recovery codes, shown once: each replaces a TOTP code once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesView {
    #[schema(example = json!(["abcd-efgh-ijkl-mnop"]))]
    pub recovery_codes: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct DisableTotpBody {
    pub password: String,
    /// A TOTP code or a recovery code.
    #[schema(example = "123456")]
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RegenerateCodesBody {
    /// A TOTP code or a recovery code.
    #[schema(example = "123456")]
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyMfaBody {
    /// `mfa_ticket` from the login's `mfa_required` answer.
    pub ticket: String,
    /// The authenticator's six-digit code (or send `recovery_code`).
    #[schema(example = "123456")]
    pub code: Option<String>,
    /// One of the recovery codes, instead of `code`.
    #[schema(example = "abcd-efgh-ijkl-mnop")]
    pub recovery_code: Option<String>,
}

/// The caller's second factors.
#[utoipa::path(
    tag = "mfa",
    security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The caller's MFA state", body = MfaStatusView),
        Unauthenticated,
    )
)]
#[get("/mfa")]
pub async fn mfa_status(
    who: Authenticated,
    state: Data,
) -> Result<web::Json<MfaStatusView>, Problem> {
    let s = state.auth.mfa_status(who.user_id).await?;
    Ok(web::Json(MfaStatusView {
        totp_enabled: s.totp_enabled,
        totp_pending: s.totp_pending,
        enabled_at: s.enabled_at,
        recovery_codes_left: s.recovery_codes_left,
    }))
}

/// Start enrolling a TOTP authenticator.
///
/// Returns a new secret (its URI and QR code); MFA is on once a code from the app confirms it.
/// Starting again replaces a pending secret.
#[utoipa::path(
    tag = "mfa",
    security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The new secret, shown once", body = TotpEnrolmentView),
        (status = 409, description = "An authenticator is already enabled (`mfa_already_enabled`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        Unauthenticated,
    )
)]
#[post("/mfa/totp")]
pub async fn start_totp(
    who: Authenticated,
    state: Data,
) -> Result<web::Json<TotpEnrolmentView>, Problem> {
    who.not_impersonating()?;
    let p = state.auth.start_totp(who.user_id).await?;
    Ok(web::Json(TotpEnrolmentView {
        secret: p.secret,
        otpauth_uri: p.uri,
        qr_code: p.qr_png_data_url,
    }))
}

/// Confirm the pending authenticator with a code.
///
/// MFA is then on: the caller's other sessions end, and ten one-time recovery codes are
/// returned (shown once). Wrong codes count with failed logins toward the lock.
#[utoipa::path(
    tag = "mfa",
    security(("bearer_token" = [])),
    request_body = ConfirmTotpBody,
    responses(
        (status = 200, description = "MFA is on; the recovery codes", body = RecoveryCodesView),
        (status = 403, description = "Wrong code (`invalid_mfa_code`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "No enrolment to confirm (`mfa_enrollment_not_started`) or already enabled (`mfa_already_enabled`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes or passwords (`account_locked`, `too_many_attempts`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        Unauthenticated,
        BodyErrors,
    )
)]
#[post("/mfa/totp/confirm")]
pub async fn confirm_totp(
    req: HttpRequest,
    who: Authenticated,
    state: Data,
    body: ApiJson<ConfirmTotpBody>,
) -> Result<web::Json<RecoveryCodesView>, Problem> {
    who.not_impersonating()?;
    let codes = state
        .auth
        .confirm_totp(who.user_id, who.session, &body.0.code, &origin_of(&req))
        .await?;
    Ok(web::Json(RecoveryCodesView {
        recovery_codes: codes,
    }))
}

/// Turn TOTP off.
///
/// Needs the password and a code (or a recovery code); the caller's other sessions end.
#[utoipa::path(
    tag = "mfa",
    security(("bearer_token" = [])),
    request_body = DisableTotpBody,
    responses(
        (status = 204, description = "MFA is off"),
        (status = 403, description = "Wrong password (`wrong_password`) or code (`invalid_mfa_code`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "MFA is not on (`mfa_not_enabled`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes or passwords (`account_locked`, `too_many_attempts`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        Unauthenticated,
        BodyErrors,
    )
)]
#[post("/mfa/totp/disable")]
pub async fn disable_totp(
    req: HttpRequest,
    who: Authenticated,
    state: Data,
    body: ApiJson<DisableTotpBody>,
) -> Result<HttpResponse, Problem> {
    who.not_impersonating()?;
    let b = body.0;
    state
        .auth
        .disable_totp(
            who.user_id,
            who.session,
            &b.password,
            &factor_of(b.code),
            &origin_of(&req),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replace the recovery codes (a code proves the caller holds the authenticator).
#[utoipa::path(
    tag = "mfa",
    security(("bearer_token" = [])),
    request_body = RegenerateCodesBody,
    responses(
        (status = 200, description = "The new recovery codes; the old ones no longer work", body = RecoveryCodesView),
        (status = 403, description = "Wrong code (`invalid_mfa_code`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "MFA is not on (`mfa_not_enabled`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes (`account_locked`, `too_many_attempts`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        Unauthenticated,
        BodyErrors,
    )
)]
#[post("/mfa/recovery-codes")]
pub async fn regenerate_recovery_codes(
    req: HttpRequest,
    who: Authenticated,
    state: Data,
    body: ApiJson<RegenerateCodesBody>,
) -> Result<web::Json<RecoveryCodesView>, Problem> {
    who.not_impersonating()?;
    let codes = state
        .auth
        .regenerate_recovery_codes(who.user_id, &factor_of(body.0.code), &origin_of(&req))
        .await?;
    Ok(web::Json(RecoveryCodesView {
        recovery_codes: codes,
    }))
}

/// The second step of a login with MFA on: the ticket and a code open the session.
///
/// A code works once; wrong codes count with failed logins toward the lock. The ticket lasts
/// five minutes and works for one session.
#[utoipa::path(
    tag = "mfa",
    request_body = VerifyMfaBody,
    responses(
        (status = 200, description = "A new session", body = SessionView),
        (status = 401, description = "Unknown, expired or spent ticket (`invalid_mfa_ticket`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Wrong, replayed or expired code, or unknown or spent recovery code (`invalid_mfa_code`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes or passwords (`account_locked`, `too_many_attempts`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("/mfa/verify")]
pub async fn verify_mfa(
    req: HttpRequest,
    state: Data,
    body: ApiJson<VerifyMfaBody>,
) -> Result<web::Json<SessionView>, Problem> {
    let b = body.0;
    let factor = match (b.code, b.recovery_code) {
        (Some(code), None) => SecondFactor::Code(code.trim().to_owned()),
        (None, Some(code)) => SecondFactor::RecoveryCode(code),
        _ => {
            return Err(Problem::field(
                "code",
                "send either code or recovery_code (one of them)",
            ));
        }
    };
    let session = state
        .auth
        .verify_mfa(&b.ticket, &factor, &origin_of(&req))
        .await
        .map_err(Problem::from)
        .inspect_err(|p| crate::metrics::login(p.code))?;
    crate::metrics::login("success");
    Ok(web::Json(SessionView::new(&session)))
}
