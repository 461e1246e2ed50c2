//! One error enum per operation.

use tenantry_kernel::{QuotaError, Unexpected};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProjectError {
    #[error("project not found")]
    NotFound,
    #[error(transparent)]
    Quota(#[from] QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

#[derive(Debug, Error)]
pub enum TaskError {
    /// The task, or the project named in the path, does not exist in this tenant.
    #[error("not found")]
    NotFound,
    /// The project a task is moved to does not exist in this tenant.
    #[error("no project with this id exists in this tenant")]
    ProjectNotFound,
    #[error("the assignee is not a member of this tenant")]
    AssigneeNotMember,
    #[error(transparent)]
    Quota(#[from] QuotaError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}
