//! What projects and tasks need from storage. Every method takes the tenant context; the
//! store adds the tenant predicate, takes `tenant_id` from the context and records each
//! change through the mutation pipeline in the same transaction.

use std::future::Future;

use chrono::{DateTime, Utc};
use tenantry_kernel::{Page, ProjectId, TaskId, TenantCtx, Unexpected};

use crate::error::{ProjectError, TaskError};
use crate::model::{Project, ProjectPatch, ProjectQuery, Task, TaskPatch, TaskQuery};

pub trait ProjectRepository: Clone + Send + Sync + 'static {
    fn create_project(
        &self,
        ctx: &TenantCtx,
        project: &Project,
    ) -> impl Future<Output = Result<(), ProjectError>> + Send;

    fn project(
        &self,
        ctx: &TenantCtx,
        id: ProjectId,
    ) -> impl Future<Output = Result<Option<Project>, Unexpected>> + Send;

    fn projects(
        &self,
        ctx: &TenantCtx,
        query: &ProjectQuery,
    ) -> impl Future<Output = Result<Page<Project>, Unexpected>> + Send;

    fn update_project(
        &self,
        ctx: &TenantCtx,
        id: ProjectId,
        patch: &ProjectPatch,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Project, ProjectError>> + Send;

    /// Deletes the project and its tasks, recording each deletion.
    fn delete_project(
        &self,
        ctx: &TenantCtx,
        id: ProjectId,
    ) -> impl Future<Output = Result<(), ProjectError>> + Send;

    /// `NotFound` when the project is not this tenant's; `AssigneeNotMember` when the
    /// assignee is not an active member.
    fn create_task(
        &self,
        ctx: &TenantCtx,
        task: &Task,
    ) -> impl Future<Output = Result<(), TaskError>> + Send;

    fn task(
        &self,
        ctx: &TenantCtx,
        id: TaskId,
    ) -> impl Future<Output = Result<Option<Task>, Unexpected>> + Send;

    /// `None` when the project is not this tenant's.
    fn tasks(
        &self,
        ctx: &TenantCtx,
        project: ProjectId,
        query: &TaskQuery,
    ) -> impl Future<Output = Result<Option<Page<Task>>, Unexpected>> + Send;

    /// Reads, patches (`patch(old)`) and writes in one transaction, checking a new project
    /// and a new assignee.
    fn update_task(
        &self,
        ctx: &TenantCtx,
        id: TaskId,
        action: &'static str,
        patch: &(dyn Fn(&Task) -> TaskPatch + Sync),
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Task, TaskError>> + Send;

    fn delete_task(
        &self,
        ctx: &TenantCtx,
        id: TaskId,
    ) -> impl Future<Output = Result<(), TaskError>> + Send;
}
