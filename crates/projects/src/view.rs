//! Projects and tasks as the API returns them and as their events carry them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{Project, Task};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProjectView {
    pub id: uuid::Uuid,
    #[schema(example = "Website relaunch")]
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub created_by: Option<uuid::Uuid>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Project> for ProjectView {
    fn from(p: &Project) -> Self {
        Self {
            id: *p.id.as_uuid(),
            name: p.name.as_str().to_owned(),
            description: p.description.as_str().to_owned(),
            archived: p.archived,
            created_by: p.created_by.map(|u| *u.as_uuid()),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub id: uuid::Uuid,
    pub project_id: uuid::Uuid,
    #[schema(example = "Write the launch post")]
    pub title: String,
    pub notes: String,
    pub is_done: bool,
    pub due_date: Option<NaiveDate>,
    /// A member of the tenant.
    pub assignee_id: Option<uuid::Uuid>,
    pub created_by: Option<uuid::Uuid>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Task> for TaskView {
    fn from(t: &Task) -> Self {
        Self {
            id: *t.id.as_uuid(),
            project_id: *t.project_id.as_uuid(),
            title: t.title.as_str().to_owned(),
            notes: t.notes.as_str().to_owned(),
            is_done: t.is_done,
            due_date: t.due_date,
            assignee_id: t.assignee_id.map(|u| *u.as_uuid()),
            created_by: t.created_by.map(|u| *u.as_uuid()),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}
