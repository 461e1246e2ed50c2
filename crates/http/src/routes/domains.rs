//! The current tenant's domains (`domains:manage`): custom hostnames with the records that
//! prove them, checks (now, or by the worker on a schedule), the primary hostname. Changes
//! are audited and evented (`domain.*`).

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_kernel::Page;
use tenantry_tenancy::{
    CHALLENGE_LABEL, CHALLENGE_PATH, Domain, DomainConfig, DomainKind, DomainView, Hostname,
};
use utoipa::ToSchema;

use crate::guard::Member;
use crate::json::{ApiJson, ApiQuery, JsonBody};
use crate::paging::{PageQuery, page_of};
use crate::problem::{Problem, field_errors};
use crate::responses::{BodyErrors, MemberErrors, QueryErrors};
use crate::routes::platform::hostname_in_path;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// A DNS record to publish.
#[derive(Serialize, ToSchema)]
pub struct DnsRecord {
    #[schema(example = "_tenantry-challenge.portal.acme.com")]
    pub name: String,
    #[schema(example = "TXT")]
    pub r#type: String,
    pub value: String,
}

/// A file to serve over plain http on the hostname.
#[derive(Serialize, ToSchema)]
pub struct HttpChallenge {
    #[schema(example = "http://portal.acme.com/.well-known/tenantry-challenge/3vQ…")]
    pub url: String,
    /// The whole body (a 200 answer; surrounding whitespace is ignored).
    pub body: String,
}

/// What to publish for a custom domain: the TXT record **or** the HTTP file proves the
/// hostname is the tenant's; the CNAME (or the DNS provider's ALIAS at a zone apex) sends its
/// traffic here.
#[derive(Serialize, ToSchema)]
pub struct DomainRecords {
    pub txt: DnsRecord,
    pub http: HttpChallenge,
    pub cname: DnsRecord,
}

/// A domain of the tenant, with what to publish while it waits.
#[derive(Serialize, ToSchema)]
pub struct TenantDomain {
    #[serde(flatten)]
    pub domain: DomainView,
    /// Custom domains only.
    pub records: Option<DomainRecords>,
    /// A verified domain whose proof disappeared stops routing at this time unless the proof
    /// comes back.
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub routing_until: Option<DateTime<Utc>>,
}

impl TenantDomain {
    pub fn of(d: &Domain, config: &DomainConfig) -> Self {
        let records = (d.kind == DomainKind::Custom).then(|| {
            let token = d.verification_token.clone().unwrap_or_default();
            DomainRecords {
                txt: DnsRecord {
                    name: format!("{CHALLENGE_LABEL}.{}", d.hostname),
                    r#type: "TXT".into(),
                    value: token.clone(),
                },
                http: HttpChallenge {
                    url: format!("http://{}{CHALLENGE_PATH}{token}", d.hostname),
                    body: token,
                },
                cname: DnsRecord {
                    name: d.hostname.to_string(),
                    r#type: "CNAME".into(),
                    value: config.cname_target.clone(),
                },
            }
        });
        Self {
            domain: DomainView::from(d),
            records,
            routing_until: d.lost_at.map(|lost| lost + config.policy.grace),
        }
    }
}

page_of!(
    /// One page of the tenant's domains.
    TenantDomainPage of TenantDomain
);

#[derive(Deserialize, ToSchema)]
pub struct NewDomainBody {
    /// A hostname the tenant controls (IDN allowed); not under the platform's domain, not a
    /// public suffix, not an IP address.
    #[schema(example = "portal.acme.com", max_length = 253)]
    pub hostname: String,
}

/// The tenant's domains, primary first (then by hostname).
#[utoipa::path(
    extensions(("x-permission" = json!("domains:manage"))),
    tag = "tenant", security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of domains", body = TenantDomainPage),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_tenant_domains(
    m: Member,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<TenantDomainPage>, Problem> {
    // A handful per tenant: the page is cut from the whole list by its key (0 for the
    // primary, 1 for the others, then the hostname).
    let key = |d: &Domain| format!("{}|{}", u8::from(!d.is_primary), d.hostname);
    let page = query
        .0
        .request(|k| matches!(k.split_once('|'), Some(("0" | "1", _))))?;
    let mut domains = state.domains.list(&m.ctx).await?;
    domains.sort_by_key(key);
    let page = Page::from_sorted(domains, &page, key);
    let config = state.domains.config();
    Ok(web::Json(TenantDomainPage::map(page, |d| {
        TenantDomain::of(d, config)
    })))
}

/// Add a custom domain. It is `pending` (it does not route) until its TXT record or HTTP
/// file is found: the worker looks every minute at first, then less often, for 30 days
/// before marking it `failed`; `POST …/verify` looks at once. A hostname another tenant
/// verified is taken; one another tenant only claimed is not (the first verified wins).
#[utoipa::path(
    extensions(("x-permission" = json!("domains:manage")), ("x-feature" = json!("custom_domains"))),
    tag = "tenant", security(("bearer_token" = [])),
    request_body = NewDomainBody,
    responses(
        (status = 201, description = "The domain, pending, with the records to publish", body = TenantDomain),
        (status = 409, description = "Verified by another tenant (`hostname_taken`), already added (`domain_exists`) or too many (`domain_limit_reached`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn add_tenant_domain(
    m: Member,
    state: Data,
    body: ApiJson<NewDomainBody>,
) -> Result<HttpResponse, Problem> {
    let hostname = Hostname::parse(&body.0.hostname)
        .map_err(|e| Problem::validation(field_errors([("hostname", Some(&e))])))?;
    let domain = state.domains.add(&m.ctx, hostname).await?;
    Ok(HttpResponse::Created().json_body(TenantDomain::of(&domain, state.domains.config())))
}

/// One of the tenant's domains.
#[utoipa::path(
    extensions(("x-permission" = json!("domains:manage"))),
    tag = "tenant", security(("bearer_token" = [])),
    params(("hostname" = String, Path, description = "One of the tenant's hostnames")),
    responses(
        (status = 200, description = "The domain", body = TenantDomain),
        (status = 404, description = "No such domain (`domain_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{hostname}")]
pub async fn get_tenant_domain(
    m: Member,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<TenantDomain>, Problem> {
    let domain = state.domains.get(&m.ctx, &hostname_in_path(&path)?).await?;
    Ok(web::Json(TenantDomain::of(&domain, state.domains.config())))
}

/// Look for the domain's TXT record or HTTP file now.
#[utoipa::path(
    extensions(("x-permission" = json!("domains:manage")), ("x-feature" = json!("custom_domains"))),
    tag = "tenant", security(("bearer_token" = [])),
    params(("hostname" = String, Path, description = "One of the tenant's hostnames")),
    responses(
        (status = 200, description = "The domain after the check: `verified`, or still `pending` with `check_error` saying what was missing", body = TenantDomain),
        (status = 404, description = "No such domain (`domain_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[post("/{hostname}/verify")]
pub async fn verify_tenant_domain(
    m: Member,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<TenantDomain>, Problem> {
    let domain = state
        .domains
        .verify_now(&m.ctx, &hostname_in_path(&path)?)
        .await?;
    Ok(web::Json(TenantDomain::of(&domain, state.domains.config())))
}

/// Make a verified domain the tenant's canonical hostname: browsers on its other hostnames
/// are redirected there.
#[utoipa::path(
    extensions(("x-permission" = json!("domains:manage"))),
    tag = "tenant", security(("bearer_token" = [])),
    params(("hostname" = String, Path, description = "One of the tenant's hostnames")),
    responses(
        (status = 200, description = "The domain, primary", body = TenantDomain),
        (status = 404, description = "No such domain (`domain_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Not verified (`domain_not_verified`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[post("/{hostname}/primary")]
pub async fn set_primary_tenant_domain(
    m: Member,
    state: Data,
    path: web::Path<String>,
) -> Result<web::Json<TenantDomain>, Problem> {
    let domain = state
        .domains
        .set_primary(&m.ctx, &hostname_in_path(&path)?)
        .await?;
    Ok(web::Json(TenantDomain::of(&domain, state.domains.config())))
}

/// Remove a custom domain (the subdomain stays). A primary one hands the role back to the
/// subdomain.
#[utoipa::path(
    extensions(("x-permission" = json!("domains:manage"))),
    tag = "tenant", security(("bearer_token" = [])),
    params(("hostname" = String, Path, description = "One of the tenant's hostnames")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such domain (`domain_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The subdomain (`subdomain_required`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{hostname}")]
pub async fn remove_tenant_domain(
    m: Member,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state
        .domains
        .remove(&m.ctx, &hostname_in_path(&path)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
