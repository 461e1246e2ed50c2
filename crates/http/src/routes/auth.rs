//! Sessions and the caller's own account. Platform-level: no tenant is needed.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use tenantry_identity::{DisplayName, RefreshSecret};

use crate::authn::{Authenticated, client_ip};
use crate::dto::{
    ChangePasswordBody, JwkView, JwksView, LoginBody, RefreshBody, SessionView, UpdateMeBody,
    UserTenantView, UserView,
};
use crate::json::ApiJson;
use crate::problem::{Problem, field_errors};
use crate::responses::{BodyErrors, Unauthenticated};
use crate::state::AppState;

type Data = web::Data<AppState>;

/// Log in with e-mail and password.
///
/// An unknown e-mail and a wrong password get the same answer. Five failures for one account
/// within 15 minutes lock it for 15 minutes; one address is limited too.
#[utoipa::path(
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "A new session", body = SessionView),
        (status = 401, description = "Wrong e-mail or password (`invalid_credentials`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Account locked (`account_locked`) or address limited (`too_many_attempts`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("/api/v1/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: Data,
    body: ApiJson<LoginBody>,
) -> Result<web::Json<SessionView>, Problem> {
    let ip = client_ip(&req);
    let session = state
        .auth
        .login(&body.0.email, &body.0.password, ip.as_deref())
        .await?;
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
#[post("/api/v1/auth/refresh")]
pub async fn refresh(
    state: Data,
    body: ApiJson<RefreshBody>,
) -> Result<web::Json<SessionView>, Problem> {
    let session = state
        .auth
        .refresh(&RefreshSecret(body.0.refresh_token))
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
#[post("/api/v1/auth/logout")]
pub async fn logout(state: Data, body: ApiJson<RefreshBody>) -> Result<HttpResponse, Problem> {
    state
        .auth
        .logout(&RefreshSecret(body.0.refresh_token))
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
#[get("/api/v1/auth/me")]
pub async fn me(who: Authenticated, state: Data) -> Result<web::Json<UserView>, Problem> {
    let user = state.auth.me(who.user_id).await?;
    Ok(web::Json(UserView::from(&user)))
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
#[patch("/api/v1/auth/me")]
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
        Unauthenticated,
        BodyErrors,
    )
)]
#[post("/api/v1/auth/password")]
pub async fn change_password(
    who: Authenticated,
    state: Data,
    body: ApiJson<ChangePasswordBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.0;
    state
        .auth
        .change_password(
            who.user_id,
            who.session,
            &b.current_password,
            &b.new_password,
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
    responses(
        (status = 200, description = "The caller's tenants", body = Vec<UserTenantView>),
        Unauthenticated,
    )
)]
#[get("/api/v1/auth/tenants")]
pub async fn my_tenants(
    who: Authenticated,
    state: Data,
) -> Result<web::Json<Vec<UserTenantView>>, Problem> {
    let tenants = state.rbac.tenants_of(who.user_id).await?;
    Ok(web::Json(
        tenants.iter().map(UserTenantView::from).collect(),
    ))
}
