//! Projects' and tasks' use cases.

use std::sync::Arc;

use tenantry_kernel::{Clock, Page, ProjectId, TaskId, TenantCtx, Unexpected};

use crate::error::{ProjectError, TaskError};
use crate::model::{
    NewProject, NewTask, Project, ProjectPatch, ProjectQuery, Task, TaskPatch, TaskQuery,
};
use crate::ports::ProjectRepository;

#[derive(Clone)]
pub struct ProjectService<R> {
    repo: R,
    clock: Arc<dyn Clock>,
}

impl<R: ProjectRepository> ProjectService<R> {
    pub fn new(repo: R, clock: Arc<dyn Clock>) -> Self {
        Self { repo, clock }
    }

    pub async fn create_project(
        &self,
        ctx: &TenantCtx,
        new: NewProject,
    ) -> Result<Project, ProjectError> {
        let now = self.clock.now();
        let project = Project {
            id: ProjectId::new(),
            tenant_id: ctx.tenant_id(),
            name: new.name,
            description: new.description,
            archived: false,
            created_by: ctx.actor().user_id(),
            created_at: now,
            updated_at: now,
        };
        self.repo.create_project(ctx, &project).await?;
        Ok(project)
    }

    pub async fn project(
        &self,
        ctx: &TenantCtx,
        id: ProjectId,
    ) -> Result<Option<Project>, Unexpected> {
        self.repo.project(ctx, id).await
    }

    pub async fn projects(
        &self,
        ctx: &TenantCtx,
        q: &ProjectQuery,
    ) -> Result<Page<Project>, Unexpected> {
        self.repo.projects(ctx, q).await
    }

    pub async fn update_project(
        &self,
        ctx: &TenantCtx,
        id: ProjectId,
        patch: &ProjectPatch,
    ) -> Result<Project, ProjectError> {
        self.repo
            .update_project(ctx, id, patch, self.clock.now())
            .await
    }

    pub async fn delete_project(&self, ctx: &TenantCtx, id: ProjectId) -> Result<(), ProjectError> {
        self.repo.delete_project(ctx, id).await
    }

    pub async fn create_task(
        &self,
        ctx: &TenantCtx,
        project: ProjectId,
        new: NewTask,
    ) -> Result<Task, TaskError> {
        let now = self.clock.now();
        let task = Task {
            id: TaskId::new(),
            tenant_id: ctx.tenant_id(),
            project_id: project,
            title: new.title,
            notes: new.notes,
            is_done: false,
            due_date: new.due_date,
            assignee_id: new.assignee_id,
            created_by: ctx.actor().user_id(),
            created_at: now,
            updated_at: now,
        };
        self.repo.create_task(ctx, &task).await?;
        Ok(task)
    }

    pub async fn task(&self, ctx: &TenantCtx, id: TaskId) -> Result<Option<Task>, Unexpected> {
        self.repo.task(ctx, id).await
    }

    pub async fn tasks(
        &self,
        ctx: &TenantCtx,
        project: ProjectId,
        q: &TaskQuery,
    ) -> Result<Option<Page<Task>>, Unexpected> {
        self.repo.tasks(ctx, project, q).await
    }

    pub async fn update_task(
        &self,
        ctx: &TenantCtx,
        id: TaskId,
        patch: TaskPatch,
    ) -> Result<Task, TaskError> {
        let now = self.clock.now();
        self.repo
            .update_task(
                ctx,
                id,
                tenantry_audit::actions::UPDATED,
                &move |_| patch.clone(),
                now,
            )
            .await
    }

    /// Flips `is_done` inside the transaction that reads the task (two toggles never cancel
    /// into one).
    pub async fn toggle_task(&self, ctx: &TenantCtx, id: TaskId) -> Result<Task, TaskError> {
        let now = self.clock.now();
        self.repo
            .update_task(ctx, id, crate::model::TOGGLED, &TaskPatch::toggle, now)
            .await
    }

    pub async fn delete_task(&self, ctx: &TenantCtx, id: TaskId) -> Result<(), TaskError> {
        self.repo.delete_task(ctx, id).await
    }
}
