//! Projects and tasks of the current tenant (`projects:read` / `projects:write`).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use tenantry_kernel::{Cursor, Limit, ProjectId, SearchQuery, TaskId, UserId};
use tenantry_projects::{
    CreatedAfter, LongText, NewProject, NewTask, ProjectName, ProjectPatch, ProjectQuery,
    ProjectView, TaskPatch, TaskQuery, TaskTitle, TaskView,
};
use utoipa::{IntoParams, ToSchema};

use crate::dates::Date;
use crate::guard::Member;
use crate::json::{ApiJson, ApiPath, ApiQuery, JsonBody, present};
use crate::problem::projects::{project_not_found, task_not_found, task_problem};
use crate::problem::{Fields, Problem, ProblemBody};
use crate::responses::{BodyErrors, MemberErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

crate::paging::page_of!(
    /// One page of projects.
    ProjectPage of ProjectView
);
crate::paging::page_of!(
    /// One page of a project's tasks.
    TaskPage of TaskView
);

#[derive(Deserialize, ToSchema)]
pub struct CreateProjectBody {
    #[schema(example = "Website relaunch", min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateProjectBody {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    pub archived: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTaskBody {
    #[schema(example = "Write the launch post", min_length = 1, max_length = 500)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub notes: String,
    pub due_date: Option<Date>,
    /// A member of this tenant.
    pub assignee_id: Option<uuid::Uuid>,
}

/// Fields to change; absent fields stay, `null` clears `due_date` or `assignee_id`.
#[derive(Deserialize, ToSchema)]
pub struct UpdateTaskBody {
    /// Moves the task to another project of this tenant.
    pub project_id: Option<uuid::Uuid>,
    #[schema(min_length = 1, max_length = 500)]
    pub title: Option<String>,
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    pub is_done: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Date>)]
    pub due_date: Option<Option<Date>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub assignee_id: Option<Option<uuid::Uuid>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProjectsQuery {
    pub archived: Option<bool>,
    /// Full-text search over name and description (at most 500 characters).
    #[param(min_length = 1, max_length = 500)]
    pub q: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTasksQuery {
    pub is_done: Option<bool>,
    pub assignee_id: Option<uuid::Uuid>,
    /// Full-text search over title and notes (at most 500 characters).
    #[param(min_length = 1, max_length = 500)]
    pub q: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn paging(
    limit: Option<u32>,
    cursor: Option<String>,
    q: Option<String>,
) -> Result<(Limit, Option<CreatedAfter>, Option<SearchQuery>), Problem> {
    let limit = crate::problem::limit_param(limit)?;
    let after = cursor
        .map(|c| {
            Cursor::parse(&c)
                .map_err(|e| e.to_string())
                .and_then(|c| CreatedAfter::parse(&c).map_err(|e| e.0))
                .map_err(Problem::invalid_cursor)
        })
        .transpose()?;
    let search = q
        .as_deref()
        .map(SearchQuery::parse)
        .transpose()
        .map_err(|e| Problem::invalid_query(format!("q: {e}")))?;
    Ok((limit, after, search))
}
/// Create a project.
#[utoipa::path(
    extensions(("x-permission" = json!("projects:write"))),
    tag = "projects", security(("bearer_token" = [])),
    request_body = CreateProjectBody,
    responses(
        (status = 201, description = "The project", body = ProjectView),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("")]
pub async fn create_project(
    m: Member,
    state: Data,
    body: ApiJson<CreateProjectBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.0;
    let mut f = Fields::default();
    let name = f.take("name", ProjectName::parse(&b.name));
    let description = f.take("description", LongText::parse(&b.description));
    f.finish()?;
    let (Some(name), Some(description)) = (name, description) else {
        return Err(Problem::field("", "invalid project"));
    };
    let project = state
        .projects
        .create_project(&m.ctx, NewProject { name, description })
        .await?;
    Ok(HttpResponse::Created().json_body(ProjectView::from(&project)))
}

/// List projects, oldest first.
#[utoipa::path(
    extensions(("x-permission" = json!("projects:read"))),
    tag = "projects", security(("bearer_token" = [])),
    params(ListProjectsQuery),
    responses(
        (status = 200, description = "One page of projects", body = ProjectPage),
        (status = 400, description = "Bad query (`invalid_query`, `invalid_cursor`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("")]
pub async fn list_projects(
    m: Member,
    state: Data,
    query: ApiQuery<ListProjectsQuery>,
) -> Result<web::Json<ProjectPage>, Problem> {
    let q = query.0;
    let (limit, after, search) = paging(q.limit, q.cursor, q.q)?;
    let query = ProjectQuery {
        archived: q.archived,
        search,
        limit,
        after,
    };
    let page = state.projects.projects(&m.ctx, &query).await?;
    Ok(web::Json(ProjectPage::of(page)))
}

/// One project.
#[utoipa::path(
    extensions(("x-permission" = json!("projects:read"))),
    tag = "projects", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The project", body = ProjectView),
        (status = 404, description = "No such project here (`project_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}")]
pub async fn get_project(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<ProjectView>, Problem> {
    let project = state
        .projects
        .project(&m.ctx, ProjectId::from_uuid(path.into_inner()))
        .await?
        .ok_or_else(project_not_found)?;
    Ok(web::Json(ProjectView::from(&project)))
}

/// Change a project (rename, describe, archive).
#[utoipa::path(
    extensions(("x-permission" = json!("projects:write"))),
    tag = "projects", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The project's id")),
    request_body = UpdateProjectBody,
    responses(
        (status = 200, description = "The project after the change", body = ProjectView),
        (status = 404, description = "No such project here (`project_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[patch("/{id}")]
pub async fn update_project(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<UpdateProjectBody>,
) -> Result<web::Json<ProjectView>, Problem> {
    let b = body.0;
    let mut f = Fields::default();
    let patch = ProjectPatch {
        name: f.opt("name", b.name, ProjectName::parse),
        description: f.opt("description", b.description, LongText::parse),
        archived: b.archived,
    };
    f.finish()?;
    let project = state
        .projects
        .update_project(&m.ctx, ProjectId::from_uuid(path.into_inner()), &patch)
        .await?;
    Ok(web::Json(ProjectView::from(&project)))
}

/// Delete a project and all its tasks (each deletion is recorded).
#[utoipa::path(
    extensions(("x-permission" = json!("projects:write"))),
    tag = "projects", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The project's id")),
    responses(
        (status = 204, description = "Deleted, with its tasks"),
        (status = 404, description = "No such project here (`project_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{id}")]
pub async fn delete_project(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    state
        .projects
        .delete_project(&m.ctx, ProjectId::from_uuid(path.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a task to a project.
#[utoipa::path(
    extensions(("x-permission" = json!("projects:write"))),
    tag = "projects", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The project's id")),
    request_body = CreateTaskBody,
    responses(
        (status = 201, description = "The task", body = TaskView),
        (status = 404, description = "No such project here (`project_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[post("/{id}/tasks")]
pub async fn create_task(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<CreateTaskBody>,
) -> Result<HttpResponse, Problem> {
    let b = body.0;
    let mut f = Fields::default();
    let title = f.take("title", TaskTitle::parse(&b.title));
    let notes = f.take("notes", LongText::parse(&b.notes));
    f.finish()?;
    let (Some(title), Some(notes)) = (title, notes) else {
        return Err(Problem::field("", "invalid task"));
    };
    let new = NewTask {
        title,
        notes,
        due_date: b.due_date.map(|d| d.0),
        assignee_id: b.assignee_id.map(UserId::from_uuid),
    };
    let task = state
        .projects
        .create_task(&m.ctx, ProjectId::from_uuid(path.into_inner()), new)
        .await
        .map_err(|e| task_problem(e, project_not_found))?;
    Ok(HttpResponse::Created().json_body(TaskView::from(&task)))
}

/// A project's tasks, oldest first.
#[utoipa::path(
    extensions(("x-permission" = json!("projects:read"))),
    tag = "projects", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The project's id"), ListTasksQuery),
    responses(
        (status = 200, description = "One page of tasks", body = TaskPage),
        (status = 400, description = "Bad query (`invalid_query`, `invalid_cursor`)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such project here (`project_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}/tasks")]
pub async fn list_tasks(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    query: ApiQuery<ListTasksQuery>,
) -> Result<web::Json<TaskPage>, Problem> {
    let q = query.0;
    let (limit, after, search) = paging(q.limit, q.cursor, q.q)?;
    let query = TaskQuery {
        is_done: q.is_done,
        assignee_id: q.assignee_id.map(UserId::from_uuid),
        search,
        limit,
        after,
    };
    let page = state
        .projects
        .tasks(&m.ctx, ProjectId::from_uuid(path.into_inner()), &query)
        .await?
        .ok_or_else(project_not_found)?;
    Ok(web::Json(TaskPage::of(page)))
}

/// One task.
#[utoipa::path(
    extensions(("x-permission" = json!("projects:read"))),
    tag = "projects", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 404, description = "No such task here (`task_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[get("/{id}")]
pub async fn get_task(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<TaskView>, Problem> {
    let task = state
        .projects
        .task(&m.ctx, TaskId::from_uuid(path.into_inner()))
        .await?
        .ok_or_else(task_not_found)?;
    Ok(web::Json(TaskView::from(&task)))
}

/// Change a task (or move it to another project of this tenant).
#[utoipa::path(
    extensions(("x-permission" = json!("projects:write"))),
    tag = "projects", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id")),
    request_body = UpdateTaskBody,
    responses(
        (status = 200, description = "The task after the change", body = TaskView),
        (status = 404, description = "No such task here (`task_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
        BodyErrors,
    )
)]
#[patch("/{id}")]
pub async fn update_task(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
    body: ApiJson<UpdateTaskBody>,
) -> Result<web::Json<TaskView>, Problem> {
    let b = body.0;
    let mut f = Fields::default();
    let patch = TaskPatch {
        project_id: b.project_id.map(ProjectId::from_uuid),
        title: f.opt("title", b.title, TaskTitle::parse),
        notes: f.opt("notes", b.notes, LongText::parse),
        is_done: b.is_done,
        due_date: b.due_date.map(|d| d.map(|d| d.0)),
        assignee_id: b.assignee_id.map(|a| a.map(UserId::from_uuid)),
    };
    f.finish()?;
    let task = state
        .projects
        .update_task(&m.ctx, TaskId::from_uuid(path.into_inner()), patch)
        .await
        .map_err(|e| task_problem(e, task_not_found))?;
    Ok(web::Json(TaskView::from(&task)))
}

/// Mark a task done, or not done again.
#[utoipa::path(
    extensions(("x-permission" = json!("projects:write"))),
    tag = "projects", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task after the toggle", body = TaskView),
        (status = 404, description = "No such task here (`task_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[post("/{id}/toggle")]
pub async fn toggle_task(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<web::Json<TaskView>, Problem> {
    let task = state
        .projects
        .toggle_task(&m.ctx, TaskId::from_uuid(path.into_inner()))
        .await
        .map_err(|e| task_problem(e, task_not_found))?;
    Ok(web::Json(TaskView::from(&task)))
}

/// Delete a task.
#[utoipa::path(
    extensions(("x-permission" = json!("projects:write"))),
    tag = "projects", security(("bearer_token" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such task here (`task_not_found`)", body = ProblemBody, content_type = "application/problem+json"),
        MemberErrors,
    )
)]
#[delete("/{id}")]
pub async fn delete_task(
    m: Member,
    state: Data,
    path: ApiPath<uuid::Uuid>,
) -> Result<HttpResponse, Problem> {
    state
        .projects
        .delete_task(&m.ctx, TaskId::from_uuid(path.into_inner()))
        .await
        .map_err(|e| task_problem(e, task_not_found))?;
    Ok(HttpResponse::NoContent().finish())
}
