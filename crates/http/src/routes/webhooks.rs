//! Webhook endpoints of the current tenant (`webhooks:manage`): where the tenant's events are
//! delivered, signed (view and error mapping in `tenantry_webhooks` and `problem::webhooks`).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use tenantry_kernel::{EventId, PageRequest, WebhookId};
use tenantry_webhooks::{
    AttemptFilter, AttemptStatus, AttemptView, CustomHeaders, Description, EventTypes, NewWebhook,
    RateLimit, Recovered, Resend, WebhookPatch, WebhookStats, WebhookUrl, WebhookView,
};
use utoipa::{IntoParams, ToSchema};

use crate::dates::Timestamp;
use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody, present};
use crate::paging::{PageQuery, page_of};
use crate::problem::{Fields, Problem, ProblemBody};
use crate::responses::{BodyErrors, MemberErrors, QueryErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

page_of!(
    /// One page of webhook endpoints.
    WebhookPage of WebhookView
);

/// An event type or a family of them.
#[derive(ToSchema)]
#[schema(
    as = EventTypeFilter,
    example = "product.*",
    pattern = r"^[a-z0-9_]{1,50}\.([a-z0-9_]{1,50}|\*)$"
)]
pub struct EventTypeFilter(#[allow(dead_code)] String);

/// A header value sent with every delivery.
#[derive(ToSchema)]
#[schema(as = WebhookHeaderValue, max_length = 1000, example = "Bearer receiver-token")]
pub struct WebhookHeaderValue(#[allow(dead_code)] String);

#[derive(Deserialize, ToSchema)]
pub struct CreateWebhookBody {
    /// Where events are POSTed: `https://` (plain `http://` only where the operator allows
    /// it); a literal private or loopback address is refused.
    #[schema(example = "https://hooks.example.com/tenantry", max_length = 2048)]
    pub url: String,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: String,
    /// Exact types (`product.created`) or families (`product.*`); empty or absent: every
    /// event.
    #[serde(default)]
    #[schema(value_type = Vec<EventTypeFilter>, max_items = 100)]
    pub event_types: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Up to 20 extra headers for every delivery; not `Host`, hop-by-hop, framing or
    /// signature headers.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, WebhookHeaderValue>)]
    pub headers: BTreeMap<String, String>,
    /// At most this many deliveries per second (1–10,000); absent: no limit.
    #[schema(minimum = 1, maximum = 10000)]
    pub rate_limit: Option<i64>,
}

impl CreateWebhookBody {
    fn into_domain(self, state: &AppState) -> Result<NewWebhook, Problem> {
        let mut f = Fields::default();
        let url = f.take("url", WebhookUrl::parse(&self.url, state.webhooks.rules()));
        let description = f.take("description", Description::parse(&self.description));
        let event_types = f.take("event_types", EventTypes::parse(&self.event_types));
        let headers = f.take("headers", CustomHeaders::parse(&self.headers));
        let rate_limit = self
            .rate_limit
            .map(|n| f.take("rate_limit", RateLimit::parse(n)));
        f.finish()?;
        let (Some(url), Some(description), Some(event_types), Some(headers)) =
            (url, description, event_types, headers)
        else {
            return Err(Problem::field("", "invalid webhook endpoint"));
        };
        Ok(NewWebhook {
            url,
            description,
            event_types,
            enabled: self.enabled.unwrap_or(true),
            headers,
            rate_limit: rate_limit.flatten(),
        })
    }
}

/// Fields to change; absent fields stay, `rate_limit: null` removes the limit. Enabling an
/// endpoint that was disabled (by hand, by a 410 or by failures) starts it afresh.
#[derive(Deserialize, ToSchema)]
pub struct UpdateWebhookBody {
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    #[schema(value_type = Option<Vec<EventTypeFilter>>, max_items = 100)]
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    #[schema(value_type = Option<BTreeMap<String, WebhookHeaderValue>>)]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10000)]
    pub rate_limit: Option<Option<i64>>,
}

impl UpdateWebhookBody {
    fn into_domain(self, state: &AppState) -> Result<WebhookPatch, Problem> {
        let mut f = Fields::default();
        let rules = state.webhooks.rules();
        let patch = WebhookPatch {
            url: self
                .url
                .and_then(|u| f.take("url", WebhookUrl::parse(&u, rules))),
            description: f.opt("description", self.description, Description::parse),
            event_types: self
                .event_types
                .and_then(|t| f.take("event_types", EventTypes::parse(&t))),
            enabled: self.enabled,
            headers: self
                .headers
                .and_then(|h| f.take("headers", CustomHeaders::parse(&h))),
            rate_limit: self
                .rate_limit
                .map(|r| r.and_then(|n| f.take("rate_limit", RateLimit::parse(n)))),
        };
        f.finish()?;
        Ok(patch)
    }
}

/// An endpoint with its signing secret: the only time the secret is shown.
#[derive(Serialize, ToSchema)]
pub struct WebhookWithSecret {
    /// `whsec_` and base64 of 32 random bytes. Receivers verify `webhook-signature` with it
    /// (Standard Webhooks) or `X-Hub-Signature-256` (HMAC-SHA256 of the body keyed with this
    /// whole string).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
    #[serde(flatten)]
    pub webhook: WebhookView,
}

fn endpoint_id(path: ApiPath<uuid::Uuid>) -> WebhookId {
    WebhookId::from_uuid(path.into_inner())
}

/// Register a webhook endpoint. The response holds its signing secret, which is never
/// shown again. Changes to the endpoint are audited and are events themselves
/// (`webhook_endpoint.*`).
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    request_body = CreateWebhookBody,
    responses(
        (status = 201, description = "The endpoint, with its signing secret", body = WebhookWithSecret),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn create_webhook(
    m: Member,
    state: Data,
    body: ApiJson<CreateWebhookBody>,
) -> Result<HttpResponse, Problem> {
    let new = body.0.into_domain(&state)?;
    let (webhook, secret) = state.webhooks.create(&m.ctx, new).await?;
    Ok(HttpResponse::Created().json_body(WebhookWithSecret {
        secret: secret.expose().to_owned(),
        webhook: WebhookView::from(&webhook),
    }))
}

/// The tenant's webhook endpoints (never their secrets), oldest first.
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of endpoints", body = WebhookPage),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_webhooks(
    m: Member,
    state: Data,
    query: ApiQuery<PageQuery>,
) -> Result<web::Json<WebhookPage>, Problem> {
    let page = state.webhooks.list(&m.ctx, &query.0.by_id()?).await?;
    Ok(web::Json(WebhookPage::of(page)))
}

/// One webhook endpoint.
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "No such endpoint here (`webhook_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}")]
pub async fn get_webhook(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<WebhookView>, Problem> {
    let w = state.webhooks.get(&m.ctx, endpoint_id(path)).await?;
    Ok(web::Json(WebhookView::from(&w)))
}

/// Change a webhook endpoint.
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    request_body = UpdateWebhookBody,
    responses(
        (status = 200, description = "The endpoint as it is now", body = WebhookView),
        (status = 404, description = "No such endpoint here (`webhook_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[patch("/{id}")]
pub async fn update_webhook(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<UpdateWebhookBody>,
) -> Result<web::Json<WebhookView>, Problem> {
    let patch = body.0.into_domain(&state)?;
    let w = state
        .webhooks
        .update(&m.ctx, endpoint_id(path), &patch)
        .await?;
    Ok(web::Json(WebhookView::from(&w)))
}

/// Delete a webhook endpoint, with its pending deliveries and its delivery log.
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint here (`webhook_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{id}")]
pub async fn delete_webhook(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    state.webhooks.delete(&m.ctx, endpoint_id(path)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Make a new signing secret, returned here and never again. For 24 hours deliveries carry
/// signatures with both the new and the previous secret, so receivers can switch without
/// missing one.
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint, with its new signing secret", body = WebhookWithSecret),
        (status = 404, description = "No such endpoint here (`webhook_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[post("/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<WebhookWithSecret>, Problem> {
    let (webhook, secret) = state
        .webhooks
        .rotate_secret(&m.ctx, endpoint_id(path))
        .await?;
    Ok(web::Json(WebhookWithSecret {
        secret: secret.expose().to_owned(),
        webhook: WebhookView::from(&webhook),
    }))
}

page_of!(
    /// One page of the delivery log, newest first.
    AttemptPage of AttemptView
);

/// Which attempts.
#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatusParam {
    Succeeded,
    Failed,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAttemptsQuery {
    /// Only the attempts that succeeded, or only those that failed.
    #[param(inline)]
    pub status: Option<AttemptStatusParam>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListAttemptsQuery {
    fn split(self) -> Result<(Option<AttemptStatus>, PageRequest), Problem> {
        let status = self.status.map(|s| match s {
            AttemptStatusParam::Succeeded => AttemptStatus::Succeeded,
            AttemptStatusParam::Failed => AttemptStatus::Failed,
        });
        let page = PageQuery {
            limit: self.limit,
            cursor: self.cursor,
        }
        .by_id()?;
        Ok((status, page))
    }
}

/// The endpoint's delivery log, newest first: every attempt, what came back and how long it
/// took. Kept for `TENANTRY_WEBHOOK_LOG_RETENTION_DAYS` (30 days unless the operator says
/// otherwise).
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id"), ListAttemptsQuery),
    responses(
        (status = 200, description = "One page of attempts", body = AttemptPage),
        (status = 404, description = "No such endpoint here (`webhook_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("/{id}/attempts")]
pub async fn list_webhook_attempts(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    query: ApiQuery<ListAttemptsQuery>,
) -> Result<web::Json<AttemptPage>, Problem> {
    let (status, page) = query.0.split()?;
    let filter = AttemptFilter::Endpoint(endpoint_id(path), status);
    let attempts = state.webhooks.attempts(&m.ctx, filter, &page).await?;
    Ok(web::Json(AttemptPage::of(attempts)))
}

/// Every attempt to deliver one event, to every endpoint, newest first (empty for an event
/// no endpoint was sent).
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The event's id"), ListAttemptsQuery),
    responses(
        (status = 200, description = "One page of attempts", body = AttemptPage),
        (status = 404, description = "No such event here, or no longer kept (`event_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("/{id}/attempts")]
pub async fn list_event_attempts(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    query: ApiQuery<ListAttemptsQuery>,
) -> Result<web::Json<AttemptPage>, Problem> {
    let (status, page) = query.0.split()?;
    let filter = AttemptFilter::Event(EventId::from_uuid(path.into_inner()), status);
    let attempts = state.webhooks.attempts(&m.ctx, filter, &page).await?;
    Ok(web::Json(AttemptPage::of(attempts)))
}

/// How the endpoint fared over the last 24 hours: attempts, success rate, response times,
/// and what is waiting or failed now.
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint's last 24 hours", body = WebhookStats),
        (status = 404, description = "No such endpoint here (`webhook_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}/stats")]
pub async fn webhook_stats(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<WebhookStats>, Problem> {
    Ok(web::Json(
        state.webhooks.stats(&m.ctx, endpoint_id(path)).await?,
    ))
}

/// What a resend did.
#[derive(Serialize, ToSchema)]
pub struct ResendView {
    /// `queued`: one manual attempt is queued; `hurried`: the event was waiting for a
    /// scheduled retry, which is due now (the schedule goes on if it fails); `in_flight`: an
    /// attempt is being made right now, nothing more was queued.
    pub result: Resend,
}

/// Send one event to the endpoint again (or for the first time: any event it subscribes to
/// that is still kept). The attempt appears in the delivery log with trigger `manual`.
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The endpoint's id"),
        ("event_id" = uuid::Uuid, Path, description = "The event's id"),
    ),
    responses(
        (status = 202, description = "Queued", body = ResendView),
        (status = 404, description = "No such endpoint or event here (`webhook_not_found`, `event_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The endpoint is disabled (`webhook_disabled`) or does not subscribe to the event's type (`event_not_subscribed`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[post("/{id}/events/{event_id}/resend")]
pub async fn resend_webhook_event(
    m: Member,
    state: Data,
    path: ApiPath<(uuid::Uuid, uuid::Uuid)>,
) -> Result<HttpResponse, Problem> {
    let (id, event) = path.into_inner();
    let result = state
        .webhooks
        .resend(&m.ctx, WebhookId::from_uuid(id), EventId::from_uuid(event))
        .await?;
    Ok(HttpResponse::Accepted().json_body(ResendView { result }))
}

#[derive(Deserialize, ToSchema)]
pub struct RecoverBody {
    /// Failed deliveries of events from this time on are sent again.
    #[schema(value_type = String, format = DateTime, example = "2026-11-28T09:00:00Z")]
    pub since: Timestamp,
}

/// Send again every delivery to the endpoint that failed for good (out of retries, or failed
/// while the endpoint was disabled) of an event since a time: one manual attempt each. The
/// usual step after a receiver's outage: enable the endpoint, then recover.
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    request_body = RecoverBody,
    responses(
        (status = 202, description = "How many deliveries were queued", body = Recovered),
        (status = 404, description = "No such endpoint here (`webhook_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The endpoint is disabled (`webhook_disabled`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("/{id}/recover")]
pub async fn recover_webhook(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<RecoverBody>,
) -> Result<HttpResponse, Problem> {
    let recovered = state
        .webhooks
        .recover(&m.ctx, endpoint_id(path), body.0.since.0)
        .await?;
    Ok(HttpResponse::Accepted().json_body(recovered))
}

/// A test sent.
#[derive(Serialize, ToSchema)]
pub struct TestSentView {
    /// The `webhook.test` event: its delivery shows in `GET /api/v1/events/{id}/attempts`.
    pub event_id: uuid::Uuid,
}

/// Send a `webhook.test` event to this endpoint, and to no other, whatever it subscribes to
/// (signed like every delivery; one attempt, no retries). The event is recorded like any
/// other, so it also appears in `GET /api/v1/events`.
#[utoipa::path(
    extensions(("x-permission" = json!("webhooks:manage")), ("x-feature" = json!("webhooks"))),
    tag = "webhooks", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 202, description = "The test event, queued", body = TestSentView),
        (status = 404, description = "No such endpoint here (`webhook_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The endpoint is disabled (`webhook_disabled`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[post("/{id}/test")]
pub async fn test_webhook(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    let sent = state.webhooks.send_test(&m.ctx, endpoint_id(path)).await?;
    Ok(HttpResponse::Accepted().json_body(TestSentView {
        event_id: *sent.event_id.as_uuid(),
    }))
}
