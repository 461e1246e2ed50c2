//! problem+json for projects and tasks: each error's status and stable code.

use actix_web::http::StatusCode;
use tenantry_projects::{ProjectError, TaskError};

use super::Problem;

pub(crate) fn project_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "project_not_found",
        "Project not found",
    )
    .detail("No project with this id exists in this tenant")
}

pub(crate) fn task_not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "task_not_found", "Task not found")
        .detail("No task with this id exists in this tenant")
}

impl From<ProjectError> for Problem {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::NotFound => project_not_found(),
            ProjectError::Quota(q) => q.into(),
            ProjectError::Unexpected(u) => Problem::internal(u),
        }
    }
}

/// Task errors; `missing` is the answer when the record the path names is not there (404) — a
/// project named in the body is a field error (422).
pub(crate) fn task_problem(e: TaskError, missing: fn() -> Problem) -> Problem {
    match e {
        TaskError::NotFound => missing(),
        TaskError::ProjectNotFound => Problem::field(
            "project_id",
            "no project with this id exists in this tenant",
        ),
        TaskError::AssigneeNotMember => Problem::field(
            "assignee_id",
            "the assignee must be a member of this tenant",
        ),
        TaskError::Quota(q) => q.into(),
        TaskError::Unexpected(u) => Problem::internal(u),
    }
}
