//! Signing up an organisation, and the permission catalogue.

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use tenantry_identity::DisplayName;
use tenantry_kernel::Email;
use tenantry_onboarding::Onboard;
use tenantry_rbac::CATALOGUE;
use tenantry_tenancy::{InvalidValue, Slug, TenantName};
use utoipa::ToSchema;

use crate::json::{ApiJson, ApiQuery, JsonBody};
use crate::paging::{PageQuery, page_of};
use crate::problem::{Problem, field_errors};
use crate::responses::{BodyErrors, QueryErrors};
use crate::routes::auth::SessionView;
use crate::routes::platform::TenantView;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct PermissionView {
    #[schema(example = "members:read")]
    pub name: &'static str,
    pub description: &'static str,
}

#[derive(Deserialize, ToSchema)]
pub struct OnboardBody {
    #[schema(example = "Acme Inc", min_length = 1, max_length = 100)]
    pub organisation_name: String,
    /// 3–63 characters of `a-z0-9-`; becomes the subdomain.
    #[schema(
        example = "acme",
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$",
        min_length = 3,
        max_length = 63
    )]
    pub slug: String,
    #[schema(example = "ann@acme.test", format = Email, max_length = 254)]
    pub owner_email: String,
    #[schema(example = "Ann Lee", min_length = 1, max_length = 100)]
    pub owner_name: String,
    /// For a new account: 10–128 characters, not common, not the e-mail. For an existing
    /// account: its current password.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    /// For an existing account with MFA on: a code from its authenticator (or one of its
    /// recovery codes).
    #[schema(example = "123456")]
    pub mfa_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OnboardedView {
    pub tenant: TenantView,
    #[schema(example = "acme.example.com")]
    pub primary_domain: String,
    /// False when an existing account became the owner.
    pub owner_created: bool,
    pub session: SessionView,
}

/// Sign up an organisation: its tenant and subdomain, its owner (a new account, or an existing
/// one after checking its password), the default roles and the owner's membership — all or
/// nothing — and a session for the owner.
#[utoipa::path(
    tag = "onboarding",
    request_body = OnboardBody,
    responses(
        (status = 201, description = "The tenant and the owner's session", body = OnboardedView),
        (status = 401, description = "The e-mail has an account and this is not its password (`invalid_credentials`), or the account has MFA on and no `mfa_code` came (`mfa_required`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "The account's `mfa_code` is wrong or used (`invalid_mfa_code`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Slug or e-mail taken (`slug_taken`, `email_taken`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "The existing account is locked (`account_locked`) or the address limited (`too_many_attempts`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        BodyErrors,
    )
)]
#[post("")]
pub async fn onboard(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<OnboardBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.0;
    let organisation = TenantName::parse(&b.organisation_name);
    let slug = Slug::parse(&b.slug);
    let email = Email::parse(&b.owner_email).map_err(|e| InvalidValue(e.to_string()));
    let name = DisplayName::parse(&b.owner_name).map_err(|e| InvalidValue(e.0));
    let (Ok(organisation), Ok(slug), Ok(email), Ok(name)) = (&organisation, &slug, &email, &name)
    else {
        return Err(Problem::validation(field_errors([
            ("organisation_name", organisation.as_ref().err()),
            ("slug", slug.as_ref().err()),
            ("owner_email", email.as_ref().err()),
            ("owner_name", name.as_ref().err()),
        ])));
    };
    let done = state
        .onboarding
        .onboard(Onboard {
            organisation: organisation.clone(),
            slug: slug.clone(),
            owner_email: email.clone(),
            owner_name: name.clone(),
            password: b.password,
            second_factor: b.mfa_code.map(crate::routes::mfa::factor_of),
            origin: (*crate::request_context::origin_of(&req)).clone(),
        })
        .await?;
    state.members.invalidate();
    Ok(HttpResponse::Created().json_body(OnboardedView {
        primary_domain: state
            .tenants
            .base_domain()
            .subdomain(&done.tenant.slug)
            .to_string(),
        tenant: TenantView::from(&done.tenant),
        owner_created: done.owner_created,
        session: SessionView::new(&done.session),
    }))
}

page_of!(
    /// One page of the permission catalogue.
    PermissionPage of PermissionView
);

impl From<&&'static (&'static str, &'static str)> for PermissionView {
    fn from((name, description): &&'static (&'static str, &'static str)) -> Self {
        Self { name, description }
    }
}

/// Every permission roles and API keys can grant, in the catalogue's order.
#[utoipa::path(
    tag = "team",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of the catalogue", body = PermissionPage),
        QueryErrors,
    )
)]
#[get("")]
pub async fn permissions(query: ApiQuery<PageQuery>) -> Result<web::Json<PermissionPage>, Problem> {
    let position = |name: &str| CATALOGUE.iter().position(|(n, _)| *n == name);
    let page = query.0.request(|k| position(k).is_some())?;
    let start = page
        .after
        .as_ref()
        .and_then(|c| position(&c.key()))
        .map_or(0, |i| i + 1);
    let rows = CATALOGUE[start..]
        .iter()
        .take(page.limit.get() as usize + 1)
        .collect();
    let found = tenantry_kernel::Page::from_rows(rows, page.limit, |(name, _)| (*name).to_owned());
    Ok(web::Json(PermissionPage::of(found)))
}
