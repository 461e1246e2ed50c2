//! The tenant's events (`events:read`): every change of its data as consumers see it, newest
//! first, the pull API a consumer catches up with after downtime; and the catalogue of event
//! types with a JSON Schema each, built from the same view types the API returns.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenantry_audit::{Event, EventFilter, EventKind, EventTypePattern};
use tenantry_kernel::{EventId, PageRequest};
use utoipa::{IntoParams, ToSchema};

use crate::dates::Timestamp;
use crate::guard::Member;
use crate::json::{ApiPath, ApiQuery};
use crate::problem::{Problem, ProblemBody};
use crate::responses::MemberErrors;
use crate::state::AppState;

type Data = web::Data<AppState>;

/// Every kind of entity whose changes are events, in the catalogue's order.
pub fn event_kinds() -> Vec<EventKind> {
    vec![
        EventKind::of::<tenantry_tenancy::TenantSettings>(),
        EventKind::of::<tenantry_tenancy::Domain>(),
        EventKind::of::<tenantry_tenancy::SmtpSettings>(),
        EventKind::of::<tenantry_rbac::Membership>(),
        EventKind::of::<tenantry_rbac::Role>(),
        EventKind::of::<tenantry_identity::Invitation>(),
        EventKind::of::<tenantry_identity::ApiKey>(),
        EventKind::of::<tenantry_identity::SsoProvider>(),
        EventKind::of::<tenantry_identity::ScimToken>(),
        EventKind::of::<tenantry_identity::ScimUser>(),
        EventKind::of::<tenantry_webhooks::Webhook>(),
        EventKind::of::<tenantry_products::Product>(),
        EventKind::of::<tenantry_products::ProductImage>(),
        EventKind::of::<tenantry_files::StoredFile>(),
        EventKind::of::<tenantry_files::BucketSettings>(),
        EventKind::of::<tenantry_archive::DataExport>(),
        EventKind::of::<tenantry_archive::TenantDeletion>(),
        EventKind::of::<tenantry_projects::Project>(),
        EventKind::of::<tenantry_projects::Task>(),
        EventKind::of::<tenantry_billing::Subscription>(),
        EventKind::of::<tenantry_billing::Quota>(),
    ]
}

/// The resources quotas count: every entity of [`event_kinds`] that declares one
/// (`tenantry_audit::Audited::QUOTA`).
pub fn quota_resources() -> tenantry_billing::QuotaCatalogue {
    tenantry_billing::QuotaCatalogue::new(event_kinds().iter().filter_map(|k| k.quota).collect())
}

/// Who made the change.
#[derive(Serialize, ToSchema)]
pub struct EventActorView {
    /// `user`, `api_key`, `platform_admin`, `operator`, `directory` (SCIM) or `system`.
    #[serde(rename = "type")]
    #[schema(example = "user")]
    pub kind: String,
    /// The person acting (for an API key: the user it acts for).
    pub id: Option<uuid::Uuid>,
    pub api_key_id: Option<uuid::Uuid>,
}

/// The object as the API returns it and, for an update, the old values of what changed.
#[derive(Serialize, ToSchema)]
pub struct EventDataView {
    /// The entity after the change (before it, for a deletion).
    #[schema(value_type = Object)]
    pub object: Value,
    /// For updates: each changed field's previous value.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, example = json!({"price_minor": 1999}))]
    pub previous_attributes: Option<serde_json::Map<String, Value>>,
}

/// One event. `GET /api/v1/event-types` gives each type's exact schema.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub id: uuid::Uuid,
    /// `<entity>.<action>`.
    #[serde(rename = "type")]
    #[schema(example = "product.updated")]
    pub event_type: String,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub occurred_at: DateTime<Utc>,
    pub tenant_id: uuid::Uuid,
    pub actor: EventActorView,
    pub data: EventDataView,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: *e.id.as_uuid(),
            event_type: e.event_type,
            occurred_at: e.occurred_at,
            tenant_id: *e.tenant_id.as_uuid(),
            actor: EventActorView {
                kind: e.actor.kind,
                id: e.actor.id.map(|u| *u.as_uuid()),
                api_key_id: e.actor.api_key_id.map(|k| *k.as_uuid()),
            },
            data: EventDataView {
                object: e.data.object,
                previous_attributes: e.data.previous_attributes,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// One type (`product.created`) or a family (`product.*`).
    #[serde(rename = "type")]
    #[param(example = "product.*")]
    pub event_type: Option<String>,
    /// At or after this time.
    pub since: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The tenant's events, newest first. Kept for the retention period
/// (`TENANTRY_EVENT_RETENTION_DAYS`, 30 days unless the operator says otherwise).
#[utoipa::path(
    extensions(("x-permission" = json!("events:read"))),
    tag = "events", security(("bearer_token" = [])),
    params(ListEventsQuery),
    responses(
        (status = 200, description = "One page of events", body = EventPage),
        (status = 400, description = "Bad query (`invalid_query`, `invalid_cursor`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_events(
    m: Member,
    state: Data,
    query: ApiQuery<ListEventsQuery>,
) -> Result<web::Json<EventPage>, Problem> {
    let q = query.0;
    let limit = crate::problem::limit_param(q.limit)?;
    let after = crate::problem::keyed_cursor::<uuid::Uuid>(q.cursor)?;
    let types = q
        .event_type
        .map(|t| EventTypePattern::parse(&t).map_err(Problem::invalid_query))
        .transpose()?;
    let filter = EventFilter {
        types,
        since: q.since.map(|t| t.0),
        until: q.until.map(|t| t.0),
    };
    let page = state
        .events
        .list(&m.ctx, &filter, &PageRequest { limit, after })
        .await?;
    Ok(web::Json(EventPage {
        items: page.items.into_iter().map(EventView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One event.
#[utoipa::path(
    extensions(("x-permission" = json!("events:read"))),
    tag = "events", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 404, description = "No such event here, or no longer kept (`event_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}")]
pub async fn get_event(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<EventView>, Problem> {
    let id = EventId::from_uuid(path.into_inner());
    let event = state.events.get(&m.ctx, id).await?.ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND, "event_not_found", "Event not found")
            .detail("No event with this id is kept for this tenant")
    })?;
    Ok(web::Json(event.into()))
}

/// One type of event.
#[derive(Serialize, ToSchema)]
pub struct EventTypeView {
    #[serde(rename = "type")]
    #[schema(example = "product.created")]
    pub event_type: String,
    #[schema(example = "A product was created.")]
    pub description: String,
    /// JSON Schema (2020-12) of the whole event, self-contained.
    #[schema(value_type = Object)]
    pub schema: Value,
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeList {
    pub items: Vec<EventTypeView>,
    /// Always null: the catalogue is one page.
    pub next_cursor: Option<String>,
}

/// Every event type, each with the JSON Schema of its events (the same schemas the OpenAPI
/// document lists under `webhooks`).
#[utoipa::path(tag = "events", responses((status = 200, description = "The catalogue", body = EventTypeList)))]
#[get("")]
pub async fn event_types(documents: web::Data<crate::Documents>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(documents.served().event_types.clone())
}

const COMPONENTS: &str = "#/components/schemas/";

/// An event of `event_type` carrying an object of schema `object`, as an OpenAPI schema
/// referring to the document's components.
fn payload_schema(event_type: &str, object: &str) -> Value {
    json!({
        "allOf": [
            {"$ref": format!("{COMPONENTS}EventView")},
            {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": [event_type]},
                    "data": {
                        "type": "object",
                        "properties": {"object": {"$ref": format!("{COMPONENTS}{object}")}}
                    }
                }
            }
        ]
    })
}

/// Adds every event's schema to the document: the objects' views as components, and one
/// OpenAPI 3.1 `webhooks` entry per event type (what a subscriber receives).
pub fn document(api: &mut utoipa::openapi::OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    let mut webhooks = serde_json::Map::new();
    for kind in event_kinds() {
        for (name, schema) in &kind.schemas {
            components
                .schemas
                .entry(name.clone())
                .or_insert_with(|| schema.clone());
        }
        for (event_type, description) in kind.types() {
            webhooks.insert(
                event_type.clone(),
                json!({"post": {
                    "tags": ["events"],
                    "summary": description,
                    "operationId": format!("event_{}", event_type.replace('.', "_")),
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": payload_schema(&event_type, &kind.object_schema)
                    }}},
                    "responses": {"200": {"description": "Received"}}
                }}),
            );
        }
    }
    match serde_json::from_value(Value::Object(webhooks)) {
        Ok(paths) => api.webhooks = Some(paths),
        Err(e) => tracing::error!(error = %e, "cannot document the event types"),
    }
}

/// The catalogue of event types as served: each type's schema made self-contained (the
/// components it refers to, directly or not, become its `$defs`). Built once, on the first
/// request (`crate::Documents`), and kept as the response's body: it never changes while the
/// process runs, and as JSON text (170 KB) it is a tenth of the size of the same schemas held
/// as `Value` trees (1.6 MB).
pub(crate) fn catalogue(api: &utoipa::openapi::OpenApi) -> web::Bytes {
    let components: BTreeMap<String, Value> = api
        .components
        .as_ref()
        .map(|c| {
            c.schemas
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), serde_json::to_value(v).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut items = Vec::new();
    for kind in event_kinds() {
        for (event_type, description) in kind.types() {
            let mut schema = payload_schema(&event_type, &kind.object_schema);
            let mut defs = serde_json::Map::new();
            let mut todo = refs(&schema);
            while let Some(name) = todo.pop() {
                if defs.contains_key(&name) {
                    continue;
                }
                let Some(def) = components.get(&name) else {
                    continue;
                };
                todo.extend(refs(def));
                defs.insert(name, def.clone());
            }
            if let Value::Object(map) = &mut schema {
                map.insert(
                    "$schema".into(),
                    json!("https://json-schema.org/draft/2020-12/schema"),
                );
                map.insert("title".into(), json!(event_type));
                map.insert("$defs".into(), Value::Object(defs));
            }
            items.push(EventTypeView {
                event_type,
                description,
                schema: relink(schema),
            });
        }
    }
    let list = EventTypeList {
        items,
        next_cursor: None,
    };
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(&list).unwrap_or_default().into()
}

/// The component names `value` refers to.
fn refs(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref")
                    && let Some(name) = r.strip_prefix(COMPONENTS)
                {
                    out.push(name.to_owned());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// `value` with its component references pointing at its own `$defs`.
fn relink(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        let local = match r.strip_prefix(COMPONENTS) {
                            Some(name) => format!("#/$defs/{name}"),
                            None => r,
                        };
                        (k, Value::String(local))
                    }
                    (_, v) => (k, relink(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(relink).collect()),
        other => other,
    }
}
