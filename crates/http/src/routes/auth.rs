//! Sessions and the caller's own account. Platform-level: no tenant is needed.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_audit::{SecurityEvent, SecurityEventFilter, SecurityEventKind};
use tenantry_identity::{DisplayName, RefreshSecret};
use tenantry_kernel::{PageRequest, UserId};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::authn::Authenticated;
use crate::json::{ApiJson, ApiQuery};
use crate::paging::{PageQuery, page_of};
use crate::problem::{Problem, field_errors};
use crate::request_context::origin_of;
use crate::responses::{BodyErrors, QueryErrors, Unauthenticated};
use crate::state::AppState;

#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatusDto {
    Active,
    Disabled,
}

/// A person, as they see themselves.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    #[schema(example = "ann@example.com")]
    pub email: String,
    #[schema(example = "Ann Lee")]
    pub display_name: String,
    pub status: UserStatusDto,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<&tenantry_identity::User> for UserView {
    fn from(u: &tenantry_identity::User) -> Self {
        Self {
            id: *u.id.as_uuid(),
            email: u.email.as_str().to_owned(),
            display_name: u.display_name.as_str().to_owned(),
            status: match u.status {
                tenantry_identity::UserStatus::Active => UserStatusDto::Active,
                tenantry_identity::UserStatus::Disabled => UserStatusDto::Disabled,
            },
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    #[schema(example = "ann@example.com")]
    pub email: String,
    pub password: String,
}

/// A new session: a short-lived access token and the refresh token that renews it.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// An EdDSA-signed JWT (verify with `/.well-known/jwks.json`).
    pub access_token: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub access_expires_at: DateTime<Utc>,
    /// Opaque; exchange it at `/api/v1/auth/refresh`. Each one works once.
    pub refresh_token: String,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub refresh_expires_at: DateTime<Utc>,
    pub user: UserView,
}

impl SessionView {
    pub fn new(s: &tenantry_identity::Session) -> Self {
        Self {
            token_type: "Bearer",
            access_token: s.access_token.clone(),
            expires_in: (s.access_expires_at - s.issued_at).num_seconds().max(0),
            access_expires_at: s.access_expires_at,
            refresh_token: s.refresh_token.0.clone(),
            refresh_expires_at: s.refresh_expires_at,
            user: UserView::from(&s.user),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateMeBody {
    #[schema(example = "Ann Lee", min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordBody {
    pub current_password: String,
    /// 10–128 characters, not a common password, not your e-mail address.
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

/// The public keys that verify access tokens (RFC 7517).
#[derive(Serialize, ToSchema)]
pub struct JwksView {
    pub keys: Vec<JwkView>,
}

#[derive(Serialize, ToSchema)]
pub struct JwkView {
    #[schema(example = "OKP")]
    pub kty: String,
    #[schema(example = "Ed25519")]
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: String,
    #[schema(example = "EdDSA")]
    pub alg: String,
}

/// A tenant the caller belongs to.
#[derive(Serialize, ToSchema)]
pub struct UserTenantView {
    pub id: Uuid,
    #[schema(example = "Acme Inc")]
    pub name: String,
    #[schema(example = "acme")]
    pub slug: String,
    #[schema(example = "active")]
    pub status: String,
    #[schema(example = "acme.example.com")]
    pub primary_domain: Option<String>,
    #[schema(example = "owner")]
    pub role: String,
}

impl From<&tenantry_rbac::UserTenant> for UserTenantView {
    fn from(t: &tenantry_rbac::UserTenant) -> Self {
        Self {
            id: *t.tenant_id.as_uuid(),
            name: t.name.clone(),
            slug: t.slug.clone(),
            status: t.status.clone(),
            primary_domain: t.primary_domain.clone(),
            role: t.role_name.clone(),
        }
    }
}

type Data = web::Data<AppState>;

/// Log in with e-mail and password.
///
/// An unknown e-mail and a wrong password get the same answer. Five failures for one account
/// within 15 minutes lock it for 15 minutes; one address is limited too. An account with MFA
/// on answers `mfa_required` with an `mfa_ticket`: send it with a code to
/// `/api/v1/auth/mfa/verify`.
#[utoipa::path(
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "A new session", body = SessionView),
        (status = 401, description = "Wrong e-mail or password (`invalid_credentials`), or the password is right and a second factor is needed (`mfa_required`, with `mfa_ticket` and `mfa_ticket_expires_at`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Account locked (`account_locked`) or address limited (`too_many_attempts`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("/login")]
pub async fn login(
    req: HttpRequest,
    state: Data,
    body: ApiJson<LoginBody>,
) -> Result<web::Json<SessionView>, Problem> {
    let origin = origin_of(&req);
    let session = state
        .auth
        .login(&body.0.email, &body.0.password, &origin)
        .await
        .map_err(Problem::from)
        .inspect_err(|p| crate::metrics::login(p.code))?;
    crate::metrics::login("success");
    Ok(web::Json(SessionView::new(&session)))
}

/// Exchange a refresh token for a new session.
///
/// Each refresh token works once. Presenting one that was already used revokes every token
/// descending from the same login: whoever holds them must log in again.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new session", body = SessionView),
        (status = 401, description = "Unknown, expired, revoked or reused token (`invalid_refresh_token`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("/refresh")]
pub async fn refresh(
    req: HttpRequest,
    state: Data,
    body: ApiJson<RefreshBody>,
) -> Result<web::Json<SessionView>, Problem> {
    let session = state
        .auth
        .refresh(&RefreshSecret(body.0.refresh_token), &origin_of(&req))
        .await?;
    Ok(web::Json(SessionView::new(&session)))
}

/// End the session a refresh token belongs to. Unknown tokens are accepted silently.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 204, description = "The session is over"),
        BodyErrors,
    )
)]
#[post("/logout")]
pub async fn logout(
    req: HttpRequest,
    state: Data,
    body: ApiJson<RefreshBody>,
) -> Result<HttpResponse, Problem> {
    state
        .auth
        .logout(&RefreshSecret(body.0.refresh_token), &origin_of(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's account.
#[utoipa::path(
    tag = "auth",
    security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The caller", body = UserView),
        Unauthenticated,
    )
)]
#[get("/me")]
pub async fn me(who: Authenticated, state: Data) -> Result<web::Json<UserView>, Problem> {
    let user = state.auth.me(who.user_id).await?;
    Ok(web::Json(UserView::from(&user)))
}

#[derive(Deserialize, ToSchema)]
pub struct DeleteMeBody {
    /// The caller's password.
    #[schema(max_length = 1024)]
    pub password: String,
    /// A TOTP or recovery code, when the account has MFA on.
    #[schema(max_length = 64)]
    pub mfa_code: Option<String>,
}

/// Delete the caller's account (GDPR erasure). Its memberships are removed (each recorded in
/// its organisation's audit trail), every session ends and the account is deleted. What the
/// audit trails and the security log kept of the person — the IP address and user agent of
/// their actions, the e-mail of their security events — was sealed under their own key, which
/// goes with the account: those fields read `erased` from then on, and the audit chains still
/// verify. The last owner of an organisation must hand it over (or delete it) first: 409
/// `last_owner` names each such organisation in `owned_tenants`, and nothing changes. Needs
/// the password and, with MFA on, a code.
#[utoipa::path(
    tag = "auth",
    security(("bearer_token" = [])),
    request_body = DeleteMeBody,
    responses(
        (status = 204, description = "The account is deleted"),
        (status = 403, description = "Wrong password or code (`wrong_password`, `invalid_mfa_code`), or an administrator impersonating (`not_while_impersonating`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The last owner of an organisation (`last_owner`, with `owned_tenants`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords or codes (`account_locked`, `too_many_attempts`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        Unauthenticated,
        BodyErrors,
    )
)]
#[delete("/me")]
pub async fn delete_me(
    req: HttpRequest,
    who: Authenticated,
    state: Data,
    body: ApiJson<DeleteMeBody>,
) -> Result<HttpResponse, Problem> {
    who.not_impersonating()?;
    let body = body.0;
    crate::routes::mfa::within_bounds(&body.password, body.mfa_code.as_deref())?;
    let factor = body.mfa_code.map(crate::routes::mfa::factor_of);
    state
        .erasure
        .erase_self(
            who.user_id,
            &body.password,
            factor.as_ref(),
            &origin_of(&req),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change the caller's profile.
#[utoipa::path(
    tag = "auth",
    security(("bearer_token" = [])),
    request_body = UpdateMeBody,
    responses(
        (status = 200, description = "The caller", body = UserView),
        Unauthenticated,
        BodyErrors,
    )
)]
#[patch("/me")]
pub async fn update_me(
    who: Authenticated,
    state: Data,
    body: ApiJson<UpdateMeBody>,
) -> Result<web::Json<UserView>, Problem> {
    let user = match body.0.display_name {
        Some(raw) => {
            let name = DisplayName::parse(&raw).map_err(|e| {
                let e = tenantry_tenancy::InvalidValue(e.0);
                Problem::validation(field_errors([("display_name", Some(&e))]))
            })?;
            state.auth.rename(who.user_id, &name).await?
        }
        None => state.auth.me(who.user_id).await?,
    };
    Ok(web::Json(UserView::from(&user)))
}

/// Change the caller's password. Needs the current one; every other session ends.
#[utoipa::path(
    tag = "auth",
    security(("bearer_token" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 204, description = "Changed; other sessions are revoked"),
        (status = 403, description = "The current password is wrong (`wrong_password`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords, counted with failed logins: account locked (`account_locked`) or address limited (`too_many_attempts`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        Unauthenticated,
        BodyErrors,
    )
)]
#[post("/password")]
pub async fn change_password(
    req: HttpRequest,
    who: Authenticated,
    state: Data,
    body: ApiJson<ChangePasswordBody>,
) -> Result<HttpResponse, Problem> {
    who.not_impersonating()?;
    let b = body.0;
    state
        .auth
        .change_password(
            who.user_id,
            who.session,
            &b.current_password,
            &b.new_password,
            &origin_of(&req),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One of the caller's sessions: a login and the refresh tokens descending from it.
#[derive(Serialize, ToSchema)]
pub struct SessionInfoView {
    pub id: Uuid,
    /// `password`, `mfa` (password and a second factor) or `sign_up`.
    #[schema(example = "password")]
    pub method: String,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// The last refresh.
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub last_used_at: DateTime<Utc>,
    /// Where it was last used from.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session of the token that asks.
    pub current: bool,
}

page_of!(
    /// One page of the caller's sessions.
    SessionPage of SessionInfoView
);

/// The caller's live sessions, oldest first.
#[utoipa::path(
    tag = "auth",
    security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of the caller's live sessions", body = SessionPage),
        QueryErrors,
        Unauthenticated,
    )
)]
#[get("/sessions")]
pub async fn my_sessions(
    who: Authenticated,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<SessionPage>, Problem> {
    let page = query.0.by_id()?;
    let sessions = state.auth.sessions(who.user_id).await?;
    let found = tenantry_kernel::Page::from_sorted(sessions, &page, |s| s.id.as_uuid().to_string());
    Ok(web::Json(SessionPage::map(found, |s| SessionInfoView {
        id: *s.id.as_uuid(),
        method: s.method.as_str().to_owned(),
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        ip: s.ip.clone(),
        user_agent: s.user_agent.clone(),
        current: s.id == who.session,
    })))
}

/// End one of the caller's sessions (the current one too: that is a logout). Its tokens stop
/// working at once, on every instance.
#[utoipa::path(
    tag = "auth",
    security(("bearer_token" = [])),
    params(("id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 204, description = "The session is over"),
        (status = 404, description = "No live session of the caller has this id (`session_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        Unauthenticated,
    )
)]
#[delete("/sessions/{id}")]
pub async fn end_my_session(
    req: HttpRequest,
    who: Authenticated,
    state: Data,
    id: crate::json::ApiPath<Uuid>,
) -> Result<HttpResponse, Problem> {
    who.not_impersonating()?;
    state
        .auth
        .end_session(
            who.user_id,
            tenantry_identity::FamilyId::from_uuid(id.into_inner()),
            &origin_of(&req),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The public keys that verify access tokens, for other services.
#[utoipa::path(tag = "auth", responses((status = 200, description = "The key set", body = JwksView)))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: Data) -> web::Json<JwksView> {
    web::Json(JwksView {
        keys: state
            .jwks
            .keys
            .iter()
            .map(|k| JwkView {
                kty: k.kty.to_owned(),
                crv: k.crv.to_owned(),
                x: k.x.clone(),
                kid: k.kid.clone(),
                use_: k.use_.to_owned(),
                alg: k.alg.to_owned(),
            })
            .collect(),
    })
}

/// The tenant switcher: every tenant where the caller is an active member, with their role.
#[utoipa::path(
    tag = "auth",
    security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of the caller's tenants, oldest first", body = UserTenantPage),
        QueryErrors,
        Unauthenticated,
    )
)]
#[get("/tenants")]
pub async fn my_tenants(
    who: Authenticated,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<UserTenantPage>, Problem> {
    let tenants = state
        .rbac
        .tenants_of(who.user_id, &query.0.by_id()?)
        .await?;
    Ok(web::Json(UserTenantPage::of(tenants)))
}

page_of!(
    /// One page of the caller's tenants.
    UserTenantPage of UserTenantView
);

/// The caller's own account events (logins, failed logins, lockouts, logouts, password
/// changes, refresh-token reuse), newest first.
#[utoipa::path(
    tag = "auth",
    security(("bearer_token" = [])),
    params(SecurityEventsQuery),
    responses(
        (status = 200, description = "One page of events", body = SecurityEventPage),
        (status = 400, description = "Bad query (`invalid_query`, `invalid_cursor`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        Unauthenticated,
    )
)]
#[get("/me/security-events")]
pub async fn my_security_events(
    who: Authenticated,
    state: Data,
    query: web::Query<SecurityEventsQuery>,
) -> Result<web::Json<SecurityEventPage>, Problem> {
    let (mut filter, page) = query.into_inner().into_domain()?;
    filter.user_id = Some(who.user_id);
    security_events(&state, &filter, &page).await
}

/// One page of the platform security log.
pub async fn security_events(
    state: &AppState,
    filter: &SecurityEventFilter,
    page: &PageRequest,
) -> Result<web::Json<SecurityEventPage>, Problem> {
    let found = state.reads.security_events(filter, page).await?;
    Ok(web::Json(SecurityEventPage::of(found)))
}

#[derive(Serialize, ToSchema)]
pub struct SecurityEventView {
    pub id: uuid::Uuid,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub at: chrono::DateTime<chrono::Utc>,
    /// `login_succeeded`, `login_failed`, `locked_out`, `logout`, `refresh_reuse_detected`,
    /// `password_changed`, `password_check_failed`, `account_disabled`, `account_enabled`,
    /// `mfa_enabled`, `mfa_disabled`, `mfa_failed`, `recovery_code_used`,
    /// `recovery_codes_regenerated`, `session_revoked` or `impersonated`.
    #[schema(example = "login_failed")]
    pub kind: String,
    pub user_id: Option<uuid::Uuid>,
    /// The (normalised) e-mail a login named.
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// In words, when the event says more (`impersonated`: by whom, and why).
    pub detail: Option<String>,
}

impl From<&SecurityEvent> for SecurityEventView {
    fn from(e: &SecurityEvent) -> Self {
        Self {
            id: *e.id.as_uuid(),
            at: e.at,
            kind: e.kind.as_str().to_owned(),
            user_id: e.user_id.map(|u| *u.as_uuid()),
            email: e.email.clone(),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            detail: e.detail.clone(),
        }
    }
}

page_of!(
    /// One page of security events.
    SecurityEventPage of SecurityEventView
);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SecurityEventsQuery {
    /// Only events of this account (platform log only; your own log is always yours).
    pub user_id: Option<uuid::Uuid>,
    /// Only events of this kind.
    pub kind: Option<String>,
    /// At or after this time.
    pub from: Option<crate::dates::Timestamp>,
    /// Before this time.
    pub to: Option<crate::dates::Timestamp>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl SecurityEventsQuery {
    pub fn into_domain(self) -> Result<(SecurityEventFilter, PageRequest), Problem> {
        let limit = crate::problem::limit_param(self.limit)?;
        let after = crate::problem::keyed_cursor::<uuid::Uuid>(self.cursor)?;
        let kind = self
            .kind
            .map(|k| {
                SecurityEventKind::parse(&k)
                    .ok_or_else(|| Problem::invalid_query(format!("kind: unknown kind '{k}'")))
            })
            .transpose()?;
        Ok((
            SecurityEventFilter {
                user_id: self.user_id.map(UserId::from_uuid),
                kind,
                from: self.from.map(|t| t.0),
                to: self.to.map(|t| t.0),
            },
            PageRequest { limit, after },
        ))
    }
}
