//! Single sign-on over OpenID Connect: a tenant's providers (`sso:manage`, plan feature
//! `sso`), the browser flow (authorize → provider → callback → the client's redirect URI with
//! a one-time code) and the code's exchange for a session.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use tenantry_identity::{
    SsoProviderDraft, SsoProviderView, parse_email_domain, parse_issuer, parse_redirect_uri,
    parse_token,
};
use tenantry_kernel::SsoProviderId;
use utoipa::{IntoParams, ToSchema};

use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody};
use crate::paging::PageQuery;
use crate::problem::{Fields, Problem};
use crate::request_context::origin_of;
use crate::resolve::TenantScope;
use crate::responses::{BodyErrors, MemberErrors, QueryErrors};
use crate::routes::auth::SessionView;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// A provider's settings; a replacement sends them all (the secret only to change it).
#[derive(Deserialize, ToSchema)]
pub struct SsoProviderBody {
    #[schema(example = "Acme Okta", min_length = 1, max_length = 100)]
    pub name: String,
    /// The issuer (its `/.well-known/openid-configuration` is read when saving): https, or
    /// http on a loopback address.
    #[schema(example = "https://acme.okta.com", max_length = 500)]
    pub issuer: String,
    #[schema(example = "0oa1b2c3d4", min_length = 1, max_length = 255)]
    pub client_id: String,
    /// Required when creating; stored sealed, never returned.
    #[schema(min_length = 1, max_length = 512)]
    pub client_secret: Option<String>,
    /// Besides `openid` (default `email profile`).
    #[schema(example = json!(["email", "profile"]), max_items = 20)]
    pub scopes: Option<Vec<String>>,
    /// E-mail domains whose people may sign in (at least one).
    #[schema(example = json!(["acme.com"]), min_items = 1, max_items = 50)]
    pub allowed_domains: Vec<String>,
    /// Where a client may ask to be sent back with its one-time code (exact match): https,
    /// http on a loopback address, or an app's scheme (`com.acme.app:/sso`).
    #[schema(example = json!(["https://app.acme.com/sso/done"]), min_items = 1, max_items = 20)]
    pub redirect_uris: Vec<String>,
    /// The role of members created just in time (default `member`).
    #[schema(example = "member")]
    pub default_role: Option<String>,
    /// Create accounts and memberships on first sign-in (default false).
    #[serde(default)]
    pub jit: bool,
    /// People of `allowed_domains` may use this tenant only through SSO (default false).
    #[serde(default)]
    pub enforce: bool,
}

impl SsoProviderBody {
    fn parse(self, creating: bool) -> Result<SsoProviderDraft, Problem> {
        let mut f = Fields::default();
        let name = f.take(
            "name",
            tenantry_identity::DisplayName::parse(&self.name).map(|n| n.as_str().to_owned()),
        );
        let issuer = f.take("issuer", parse_issuer(&self.issuer));
        let client_id = f.take("client_id", parse_token(&self.client_id, 255, "client_id"));
        let client_secret = match self.client_secret {
            Some(s) => f
                .take("client_secret", parse_token(&s, 512, "client_secret"))
                .map(Some),
            None if creating => f.take::<Option<String>, _>("client_secret", Err("required")),
            None => Some(None),
        };
        let scopes = self
            .scopes
            .unwrap_or_else(|| vec!["email".into(), "profile".into()]);
        let scopes: Vec<String> = scopes.into_iter().filter(|s| s != "openid").collect();
        let scopes = list(&mut f, "scopes", &scopes, 0..=20, |s| {
            parse_token(s, 64, "a scope")
        });
        let allowed_domains = list(
            &mut f,
            "allowed_domains",
            &self.allowed_domains,
            1..=50,
            parse_email_domain,
        );
        let redirect_uris = list(
            &mut f,
            "redirect_uris",
            &self.redirect_uris,
            1..=20,
            parse_redirect_uri,
        );
        let default_role = self.default_role.unwrap_or_else(|| "member".into());
        f.finish()?;
        match (
            name,
            issuer,
            client_id,
            client_secret,
            scopes,
            allowed_domains,
            redirect_uris,
        ) {
            (
                Some(name),
                Some(issuer),
                Some(client_id),
                Some(client_secret),
                Some(scopes),
                Some(allowed_domains),
                Some(redirect_uris),
            ) => Ok(SsoProviderDraft {
                name,
                issuer,
                client_id,
                client_secret,
                scopes,
                allowed_domains,
                redirect_uris,
                default_role,
                jit: self.jit,
                enforce: self.enforce,
            }),
            _ => Err(Problem::internal(tenantry_kernel::Unexpected::msg(
                "a field was refused without an error",
            ))),
        }
    }
}

/// A list field: between `count` items, each parsed by `parse`.
fn list(
    f: &mut Fields,
    field: &str,
    items: &[String],
    count: std::ops::RangeInclusive<usize>,
    parse: impl Fn(&str) -> Result<String, tenantry_identity::InvalidValue>,
) -> Option<Vec<String>> {
    if !count.contains(&items.len()) {
        let (min, max) = count.into_inner();
        return f.take::<Vec<String>, _>(field, Err(format!("{min}–{max} items")));
    }
    f.take(
        field,
        items
            .iter()
            .map(|i| parse(i))
            .collect::<Result<Vec<_>, _>>(),
    )
}

/// The issuer must answer its discovery before a provider is saved.
async fn discovered(state: &AppState, draft: &SsoProviderDraft) -> Result<(), Problem> {
    if let Err(why) = state.sso.check_issuer(&draft.issuer).await {
        let mut f = Fields::default();
        f.take::<(), _>("issuer", Err(why));
        f.finish()?;
    }
    Ok(())
}

crate::paging::page_of!(
    /// One page of the tenant's SSO providers.
    SsoProviderPage of SsoProviderView
);

/// The tenant's SSO providers, oldest first.
#[utoipa::path(
    extensions(("x-permission" = json!("sso:manage"))),
    tag = "sso", security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of providers", body = SsoProviderPage),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("/providers")]
pub async fn list_sso_providers(
    m: Member,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<SsoProviderPage>, Problem> {
    let page = query.0.by_id()?;
    let providers = state.sso.list(&m.ctx).await?;
    let page = tenantry_kernel::Page::from_sorted(providers, &page, |p| p.id.as_uuid().to_string());
    Ok(web::Json(SsoProviderPage::of(page)))
}

/// Add an OpenID Connect provider. Register `callback_url` (from `GET /api/v1/sso/providers`'s
/// provider answers, and `/api/v1/sso/callback` under the public URL) at the provider.
#[utoipa::path(
    extensions(("x-permission" = json!("sso:manage")), ("x-feature" = json!("sso"))),
    tag = "sso", security(("bearer_token" = [])),
    request_body = SsoProviderBody,
    responses(
        (status = 201, description = "The provider (never its secret)", body = SsoProviderView),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("/providers")]
pub async fn create_sso_provider(
    m: Member,
    state: Data,
    body: ApiJson<SsoProviderBody>,
) -> Result<HttpResponse, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    let draft = body.0.parse(true)?;
    discovered(&state, &draft).await?;
    let provider = state.sso.create(&m.ctx, draft).await?;
    state.sso_enforced.invalidate(m.ctx.tenant_id()).await;
    Ok(HttpResponse::Created().json_body(SsoProviderView::from(&provider)))
}

/// One SSO provider.
#[utoipa::path(
    extensions(("x-permission" = json!("sso:manage"))),
    tag = "sso", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The provider's id")),
    responses(
        (status = 200, description = "The provider", body = SsoProviderView),
        (status = 404, description = "No such provider (`sso_provider_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/providers/{id}")]
pub async fn get_sso_provider(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<SsoProviderView>, Problem> {
    let provider = state
        .sso
        .get(&m.ctx, SsoProviderId::from_uuid(path.into_inner()))
        .await?;
    Ok(web::Json(SsoProviderView::from(&provider)))
}

/// Replace an SSO provider's settings (the secret stays unless one is sent).
#[utoipa::path(
    extensions(("x-permission" = json!("sso:manage")), ("x-feature" = json!("sso"))),
    tag = "sso", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The provider's id")),
    request_body = SsoProviderBody,
    responses(
        (status = 200, description = "The provider as saved", body = SsoProviderView),
        (status = 404, description = "No such provider (`sso_provider_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[put("/providers/{id}")]
pub async fn replace_sso_provider(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<SsoProviderBody>,
) -> Result<web::Json<SsoProviderView>, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    let id = SsoProviderId::from_uuid(path.into_inner());
    let draft = body.0.parse(false)?;
    // Another tenant's id (or none) is not found before any provider is asked anything.
    state.sso.get(&m.ctx, id).await?;
    discovered(&state, &draft).await?;
    let provider = state.sso.replace(&m.ctx, id, draft).await?;
    state.sso_enforced.invalidate(m.ctx.tenant_id()).await;
    Ok(web::Json(SsoProviderView::from(&provider)))
}

/// Remove an SSO provider (its people's accounts and memberships stay).
#[utoipa::path(
    extensions(("x-permission" = json!("sso:manage"))),
    tag = "sso", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The provider's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such provider (`sso_provider_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/providers/{id}")]
pub async fn delete_sso_provider(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    crate::authn::refuse_impersonation(m.impersonator)?;
    state
        .sso
        .delete(&m.ctx, SsoProviderId::from_uuid(path.into_inner()))
        .await?;
    state.sso_enforced.invalidate(m.ctx.tenant_id()).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// Where to send the browser back with the one-time code: one of the provider's
    /// `redirect_uris`, exactly.
    pub redirect_uri: String,
    /// Who is signing in, if the client knows (an e-mail): passed on to the provider.
    #[param(max_length = 254)]
    pub login_hint: Option<String>,
}

/// Sign in through one of the tenant's providers: redirects the browser to the provider
/// (with `state`, `nonce` and PKCE S256).
///
/// The browser comes back to `/api/v1/sso/callback`, which sends it on to `redirect_uri`
/// with `code` (one-time, a minute long: exchange it at `/api/v1/auth/sso/exchange`) or with
/// `error` (the refusal's code) and `error_description`.
#[utoipa::path(
    tag = "sso",
    params(("provider_id" = uuid::Uuid, Path, description = "The provider's id"), AuthorizeQuery),
    responses(
        (status = 302, description = "To the provider's authorization endpoint"),
        (status = 400, description = "`redirect_uri` is not one the provider allows (`sso_redirect_uri_not_allowed`), or the provider's discovery failed (`sso_provider_error`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "The plan lacks SSO (`feature_not_in_plan`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant (`tenant_not_found`) or provider (`sso_provider_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        QueryErrors,
    )
)]
#[get("/{provider_id}/authorize")]
pub async fn sso_authorize(
    req: HttpRequest,
    scope: TenantScope,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    query: ApiQuery<AuthorizeQuery>,
) -> Result<HttpResponse, Problem> {
    crate::entitlements::check(
        &state,
        &scope.ctx,
        req.method(),
        "/api/v1/sso/{provider_id}/authorize",
        Some("sso"),
    )
    .await?;
    let q = query.0;
    let hint = q
        .login_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty());
    if hint.is_some_and(|h| h.chars().count() > 254 || h.chars().any(char::is_control)) {
        return Err(Problem::invalid_query(
            "login_hint: at most 254 characters, without control characters",
        ));
    }
    let url = state
        .sso
        .authorize(
            &scope.ctx,
            SsoProviderId::from_uuid(path.into_inner()),
            &q.redirect_uri,
            hint,
            &origin_of(&req),
        )
        .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's refusal (`access_denied`, `login_required`, …).
    pub error: Option<String>,
}

/// Where providers send the browser back (register this URL at each provider). Redirects on
/// to the client's `redirect_uri` with a one-time `code`, or with `error` and
/// `error_description`; an unknown, expired or replayed `state` is answered here.
#[utoipa::path(
    tag = "sso",
    params(CallbackQuery),
    responses(
        (status = 302, description = "To the client's redirect_uri, with `code` or `error`"),
        (status = 400, description = "Unknown, expired or already used state (`sso_state_invalid`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        QueryErrors,
    )
)]
#[get("/callback")]
pub async fn sso_callback(
    req: HttpRequest,
    state: Data,
    query: ApiQuery<CallbackQuery>,
) -> Result<HttpResponse, Problem> {
    let q = query.0;
    let redirect = state
        .sso
        .callback(
            q.state.as_deref().unwrap_or_default(),
            q.code.as_deref(),
            q.error.as_deref(),
            &origin_of(&req),
        )
        .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, redirect.location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

#[derive(Deserialize, ToSchema)]
pub struct SsoExchangeBody {
    /// The one-time `code` the callback sent the browser back with.
    pub code: String,
}

/// Exchange the one-time code from an SSO sign-in for a session. Each code works once, for
/// a minute.
#[utoipa::path(
    tag = "auth",
    request_body = SsoExchangeBody,
    responses(
        (status = 200, description = "A new session", body = SessionView),
        (status = 401, description = "Unknown, expired or already used code (`sso_code_invalid`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("/sso/exchange")]
pub async fn sso_exchange(
    req: HttpRequest,
    state: Data,
    body: ApiJson<SsoExchangeBody>,
) -> Result<web::Json<SessionView>, Problem> {
    let session = state.sso.exchange(&body.0.code, &origin_of(&req)).await?;
    Ok(web::Json(SessionView::new(&session)))
}
