//! The tenant's audit trail (`audit:read`): every change of its data, newest first, and a
//! check of the hash chain. There is no route that changes or removes an entry.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_audit::{AuditEntry, AuditFilter, Verification};
use tenantry_kernel::{PageRequest, UserId};
use utoipa::{IntoParams, ToSchema};

use crate::dates::Timestamp;
use crate::guard::Member;
use crate::json::{ApiQuery, JsonBody};
use crate::paging::{csv_download, export_page, page_of, pages, wants_csv};
use crate::problem::Problem;
use crate::responses::{MemberErrors, QueryErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: uuid::Uuid,
    /// Position in the tenant's chain (1, 2, 3…).
    pub seq: i64,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub at: DateTime<Utc>,
    /// `user`, `api_key`, `platform_admin`, `operator`, `directory` (SCIM) or `system`.
    #[schema(example = "user")]
    pub actor_type: String,
    /// The person acting (for an API key: its creator).
    pub actor_id: Option<uuid::Uuid>,
    pub api_key_id: Option<uuid::Uuid>,
    /// The platform administrator who acted as `actor_id` (support impersonation).
    pub impersonator_id: Option<uuid::Uuid>,
    #[schema(example = "product")]
    pub entity_type: String,
    pub entity_id: String,
    /// `created`, `updated`, `deleted`, or an event such as `permission_denied`.
    #[schema(example = "updated")]
    pub action: String,
    /// Changed fields: `{field: {old, new}}` (secrets never appear).
    #[schema(value_type = Object, example = json!({"price_minor": {"old": 1999, "new": 2499}}))]
    pub changes: serde_json::Value,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// SHA-256 of the previous entry ("" for the first).
    pub prev_hash: String,
    /// SHA-256 of this entry's content and `prev_hash`.
    pub hash: String,
}

impl From<&AuditEntry> for AuditEntryView {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: *e.id.as_uuid(),
            seq: e.seq,
            at: e.at,
            actor_type: e.actor_type.clone(),
            actor_id: e.actor_id.map(|u| *u.as_uuid()),
            api_key_id: e.api_key_id.map(|k| *k.as_uuid()),
            impersonator_id: e.impersonator_id.map(|u| *u.as_uuid()),
            entity_type: e.entity_type.clone(),
            entity_id: e.entity_id.clone(),
            action: e.action.clone(),
            changes: serde_json::from_str(&e.changes).unwrap_or(serde_json::Value::Null),
            request_id: e.request_id.clone(),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

page_of!(
    /// One page of audit entries.
    AuditPage of AuditEntryView
);

/// The columns of the audit trail's CSV export (`changes` as JSON text).
const AUDIT_COLUMNS: &[&str] = &[
    "id",
    "seq",
    "at",
    "actor_type",
    "actor_id",
    "api_key_id",
    "impersonator_id",
    "entity_type",
    "entity_id",
    "action",
    "changes",
    "request_id",
    "ip",
    "user_agent",
    "prev_hash",
    "hash",
];

#[derive(Serialize, ToSchema)]
pub struct VerificationView {
    /// True when every entry still has its hash and follows the one before it.
    pub ok: bool,
    pub entries_checked: u64,
    /// The first entry that was edited or no longer follows its predecessor.
    pub first_broken_id: Option<uuid::Uuid>,
}

impl From<Verification> for VerificationView {
    fn from(v: Verification) -> Self {
        Self {
            ok: v.ok,
            entries_checked: v.entries_checked,
            first_broken_id: v.first_broken_id.map(|i| *i.as_uuid()),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAuditQuery {
    /// Only changes made by this user (directly or through their API keys).
    pub actor_id: Option<uuid::Uuid>,
    /// e.g. `product`, `task`, `membership`, `role`, `api_key`.
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// e.g. `created`, `updated`, `deleted`, `permission_denied`.
    pub action: Option<String>,
    /// At or after this time.
    pub from: Option<Timestamp>,
    /// Before this time.
    pub to: Option<Timestamp>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The audit trail, newest first. With `Accept: text/csv`, every entry the filters match
/// from the cursor on, as a streamed CSV download.
#[utoipa::path(
    extensions(("x-permission" = json!("audit:read"))),
    tag = "audit", security(("bearer_token" = [])),
    params(ListAuditQuery),
    responses(
        (status = 200, description = "One page of entries (or, as CSV, every match)", content(
            (AuditPage = "application/json"),
            (String = "text/csv"),
        )),
        QueryErrors,
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_audit_logs(
    m: Member,
    state: Data,
    req: HttpRequest,
    query: ApiQuery<ListAuditQuery>,
) -> Result<HttpResponse, Problem> {
    let q = query.0;
    let limit = crate::problem::limit_param(q.limit)?;
    let after = crate::problem::keyed_cursor::<i64>(q.cursor)?;
    let filter = AuditFilter {
        actor_id: q.actor_id.map(UserId::from_uuid),
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        action: q.action,
        from: q.from.map(|t| t.0),
        to: q.to.map(|t| t.0),
    };
    if wants_csv(&req) {
        let ctx = m.ctx.clone();
        let fetch = pages(move |after| {
            let (state, ctx, filter) = (state.clone(), ctx.clone(), filter.clone());
            async move { Ok(state.audit.list(&ctx, &filter, &export_page(after)).await?) }
        });
        return Ok(csv_download::<_, AuditEntryView>(
            "audit-log",
            AUDIT_COLUMNS,
            after,
            fetch,
        ));
    }
    let page = state
        .audit
        .list(&m.ctx, &filter, &PageRequest { limit, after })
        .await?;
    Ok(HttpResponse::Ok().json_body(AuditPage::of(page)))
}

/// Check the tenant's hash chain from the first entry: reports the first entry that was
/// edited, removed or reordered behind the service's back.
#[utoipa::path(
    extensions(("x-permission" = json!("audit:read"))),
    tag = "audit", security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The result of the check", body = VerificationView),
        MemberErrors,
    )
)]
#[get("/verify")]
pub async fn verify_audit_logs(
    m: Member,
    state: Data,
) -> Result<web::Json<VerificationView>, Problem> {
    Ok(web::Json(state.audit.verify(&m.ctx).await?.into()))
}
