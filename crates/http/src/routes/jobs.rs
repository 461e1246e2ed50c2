//! The job queue as operators see it (`tenantry jobs list|retry|cancel` act on it).

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_jobs::{JobInfo, QueueSummary};
use utoipa::ToSchema;

use crate::operator::Operator;
use crate::problem::Problem;
use crate::responses::OperatorErrors;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct JobView {
    pub id: uuid::Uuid,
    #[schema(example = "invitation_mail")]
    pub kind: String,
    /// The tenant it runs for; null for a platform job.
    pub tenant_id: Option<uuid::Uuid>,
    /// `queued`, `running` or `dead`.
    #[schema(example = "dead")]
    pub state: &'static str,
    pub attempts: u32,
    pub max_attempts: u32,
    /// When it runs (next).
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub run_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// What the last failed attempt said.
    pub last_error: Option<String>,
    /// The job's arguments (ids only, never tenant data).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<JobInfo> for JobView {
    fn from(j: JobInfo) -> Self {
        Self {
            id: *j.id.as_uuid(),
            kind: j.kind,
            tenant_id: j.tenant_id.map(|t| *t.as_uuid()),
            state: j.state.as_str(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            created_at: j.created_at,
            last_error: j.last_error,
            payload: serde_json::from_str(&j.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct JobCountView {
    pub kind: String,
    pub state: &'static str,
    pub count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct QueueView {
    /// How many jobs of each kind are in each state.
    pub counts: Vec<JobCountView>,
    /// Since when the job that has waited longest has been runnable; null when none waits.
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub oldest_waiting_since: Option<DateTime<Utc>>,
    /// Seconds it has waited.
    pub oldest_waiting_secs: Option<i64>,
    /// Dead jobs (every attempt failed), newest first, at most 100: `tenantry jobs retry`
    /// queues one again, `tenantry jobs cancel` drops it.
    pub dead: Vec<JobView>,
}

impl QueueView {
    fn new(s: QueueSummary, now: DateTime<Utc>) -> Self {
        Self {
            counts: s
                .counts
                .into_iter()
                .map(|c| JobCountView {
                    kind: c.kind,
                    state: c.state.as_str(),
                    count: c.count,
                })
                .collect(),
            oldest_waiting_secs: s
                .oldest_waiting_since
                .map(|t| (now - t).num_seconds().max(0)),
            oldest_waiting_since: s.oldest_waiting_since,
            dead: s.dead.into_iter().map(JobView::from).collect(),
        }
    }
}

/// The job queue: counts by kind and state, the oldest wait, and the dead jobs with their
/// last error.
#[utoipa::path(
    tag = "platform",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The queue at a glance", body = QueueView),
        OperatorErrors,
    )
)]
#[get("/jobs")]
pub async fn queue(
    _op: Operator,
    state: web::Data<AppState>,
) -> Result<web::Json<QueueView>, Problem> {
    let now = state.auth.now();
    let summary = state.reads.queue_summary(now).await?;
    Ok(web::Json(QueueView::new(summary, now)))
}
