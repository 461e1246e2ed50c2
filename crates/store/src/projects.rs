//! Projects and tasks: tenant-scoped queries, full-text search, and every change through the
//! mutation pipeline (deleting a project records each of its tasks' deletion too).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{Page, ProjectId, TaskId, TenantCtx, TenantId, Unexpected, UserId};
use tenantry_projects::{
    LongText, Project, ProjectError, ProjectName, ProjectPatch, ProjectQuery, ProjectRepository,
    Task, TaskError, TaskPatch, TaskQuery, TaskTitle,
};
use tenantry_rbac::MembershipStatus;

use crate::db::{Db, load_first, load_rows};
use crate::error::StoreError;
use crate::search_words::SearchShape;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
pub(crate) struct ProjectRow {
    tenant_id: DbUuid,
    id: DbUuid,
    name: String,
    description: String,
    archived: bool,
    created_by: Option<DbUuid>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

impl TryFrom<ProjectRow> for Project {
    type Error = StoreError;

    fn try_from(r: ProjectRow) -> Result<Self, StoreError> {
        let corrupt = |e: tenantry_projects::InvalidValue| StoreError::Corrupt(e.0);
        Ok(Project {
            id: ProjectId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            name: ProjectName::parse(&r.name).map_err(corrupt)?,
            description: LongText::parse(&r.description).map_err(corrupt)?,
            archived: r.archived,
            created_by: r.created_by.map(|u| UserId::from_uuid(u.0)),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct TaskRow {
    tenant_id: DbUuid,
    id: DbUuid,
    project_id: DbUuid,
    title: String,
    notes: String,
    is_done: bool,
    due_date: Option<NaiveDate>,
    assignee_id: Option<DbUuid>,
    created_by: Option<DbUuid>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

impl TryFrom<TaskRow> for Task {
    type Error = StoreError;

    fn try_from(r: TaskRow) -> Result<Self, StoreError> {
        let corrupt = |e: tenantry_projects::InvalidValue| StoreError::Corrupt(e.0);
        Ok(Task {
            id: TaskId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            project_id: ProjectId::from_uuid(r.project_id.0),
            title: TaskTitle::parse(&r.title).map_err(corrupt)?,
            notes: LongText::parse(&r.notes).map_err(corrupt)?,
            is_done: r.is_done,
            due_date: r.due_date,
            assignee_id: r.assignee_id.map(|u| UserId::from_uuid(u.0)),
            created_by: r.created_by.map(|u| UserId::from_uuid(u.0)),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Whether `user` is an active member of the transaction's tenant.
macro_rules! is_active_member {
    ($conn:ident, $ctx:expr, $user:expr) => {{
        let n: i64 = memberships::of($ctx)
            .filter(memberships::user_id.eq(DbUuid::from($user)))
            .filter(memberships::status.eq(MembershipStatus::Active.as_str()))
            .count()
            .get_result($conn)
            .await?;
        n == 1
    }};
}

/// Whether the project exists in the transaction's tenant.
macro_rules! project_exists {
    ($conn:ident, $ctx:expr, $project:expr) => {{
        let n: i64 = projects::of($ctx)
            .filter(projects::id.eq(DbUuid::from($project)))
            .count()
            .get_result($conn)
            .await?;
        n == 1
    }};
}

impl Db {
    async fn insert_project(&self, ctx: &TenantCtx, p: &Project) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            projects::insert(
                ctx,
                (
                    projects::id.eq(DbUuid::from(p.id)),
                    projects::name.eq(p.name.as_str()),
                    projects::description.eq(p.description.as_str()),
                    projects::archived.eq(p.archived),
                    projects::created_by.eq(p.created_by.map(DbUuid::from)),
                    projects::created_at.eq(p.created_at),
                    projects::updated_at.eq(p.updated_at),
                ),
            )
            .execute(conn)
            .await?;
            log.created(p);
            Ok(())
        })
    }

    async fn load_project(
        &self,
        ctx: &TenantCtx,
        id: ProjectId,
    ) -> Result<Option<Project>, StoreError> {
        let row: Option<ProjectRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(load_first(
                projects::of(ctx).filter(projects::id.eq(DbUuid::from(id))),
                conn,
            )
            .await?)
        })?;
        row.map(Project::try_from).transpose()
    }

    async fn load_projects(
        &self,
        ctx: &TenantCtx,
        query: &ProjectQuery,
    ) -> Result<Page<Project>, StoreError> {
        let limit = i64::from(query.limit.get()) + 1;
        // As the products' list: a search alone reads the way its tenant's words choose.
        let shape = query.search.as_ref().map(|search| {
            if query.archived.is_some() {
                SearchShape::PerValue
            } else {
                self.search_shape("projects", ctx.tenant_id(), search, limit)
            }
        });
        let plans = shape.map_or(crate::db::Plans::Reused, SearchShape::plans);
        let rows: Vec<ProjectRow> = tx!(
            self,
            read,
            tenant = Some(ctx.tenant_id()),
            plans = plans,
            |conn| {
                let mut q = projects::of(ctx).into_boxed();
                if let Some(a) = query.archived {
                    q = q.filter(projects::archived.eq(a));
                }
                if let (Some(search), Some(shape)) = (&query.search, shape) {
                    q = q.filter(fts_match("projects", "project_id", search, shape));
                }
                if let Some(after) = &query.after {
                    let id = DbUuid(after.id);
                    q = q.filter(
                        projects::created_at
                            .gt(after.at)
                            .or(projects::created_at.eq(after.at).and(projects::id.gt(id))),
                    );
                }
                let q = q.order((projects::created_at.asc(), projects::id.asc()));
                Ok(load_rows(q.limit(limit), conn).await?)
            }
        )?;
        let items = rows
            .into_iter()
            .map(Project::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, query.limit, |p| {
            tenantry_projects::CreatedAfter::cursor(p.created_at, p.id.as_uuid())
        }))
    }

    async fn patch_project(
        &self,
        ctx: &TenantCtx,
        id: ProjectId,
        patch: &ProjectPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Project>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let target = projects::of(ctx).filter(projects::id.eq(DbUuid::from(id)));
            // Read and lock (see products): concurrent patches do not overwrite each other.
            let old: Option<ProjectRow> = diesel::update(target)
                .set(projects::updated_at.eq(projects::updated_at))
                .get_result(conn)
                .await
                .optional()?;
            let Some(old) = old else { return Ok(None) };
            let old = Project::try_from(old)?;
            let new = patch.apply(&old, now);
            if new != old {
                diesel::update(target)
                    .set((
                        projects::name.eq(new.name.as_str()),
                        projects::description.eq(new.description.as_str()),
                        projects::archived.eq(new.archived),
                        projects::updated_at.eq(new.updated_at),
                    ))
                    .execute(conn)
                    .await?;
                log.updated(&old, &new);
            }
            Ok(Some(new))
        })
    }

    async fn remove_project(&self, ctx: &TenantCtx, id: ProjectId) -> Result<bool, StoreError> {
        let id = DbUuid::from(id);
        mutate!(self, ctx, |conn, log| {
            let tasks: Vec<TaskRow> =
                diesel::delete(tasks::of(ctx).filter(tasks::project_id.eq(id)))
                    .get_results(conn)
                    .await?;
            let old: Option<ProjectRow> =
                diesel::delete(projects::of(ctx).filter(projects::id.eq(id)))
                    .get_result(conn)
                    .await
                    .optional()?;
            let Some(old) = old else { return Ok(false) };
            for t in tasks {
                log.deleted(&Task::try_from(t)?);
            }
            log.deleted(&Project::try_from(old)?);
            Ok(true)
        })
    }

    async fn insert_task(
        &self,
        ctx: &TenantCtx,
        t: &Task,
    ) -> Result<Result<(), TaskError>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            if !project_exists!(conn, ctx, t.project_id) {
                return Ok(Err(TaskError::NotFound));
            }
            if let Some(a) = t.assignee_id
                && !is_active_member!(conn, ctx, a)
            {
                return Ok(Err(TaskError::AssigneeNotMember));
            }
            tasks::insert(
                ctx,
                (
                    tasks::id.eq(DbUuid::from(t.id)),
                    tasks::project_id.eq(DbUuid::from(t.project_id)),
                    tasks::title.eq(t.title.as_str()),
                    tasks::notes.eq(t.notes.as_str()),
                    tasks::is_done.eq(t.is_done),
                    tasks::due_date.eq(t.due_date),
                    tasks::assignee_id.eq(t.assignee_id.map(DbUuid::from)),
                    tasks::created_by.eq(t.created_by.map(DbUuid::from)),
                    tasks::created_at.eq(t.created_at),
                    tasks::updated_at.eq(t.updated_at),
                ),
            )
            .execute(conn)
            .await?;
            log.created(t);
            Ok(Ok(()))
        })
    }

    async fn load_task(&self, ctx: &TenantCtx, id: TaskId) -> Result<Option<Task>, StoreError> {
        let row: Option<TaskRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(load_first(tasks::of(ctx).filter(tasks::id.eq(DbUuid::from(id))), conn).await?)
        })?;
        row.map(Task::try_from).transpose()
    }

    async fn load_tasks(
        &self,
        ctx: &TenantCtx,
        project: ProjectId,
        query: &TaskQuery,
    ) -> Result<Option<Page<Task>>, StoreError> {
        let limit = i64::from(query.limit.get()) + 1;
        let plans = crate::db::Plans::per_value_if(query.search.is_some());
        let rows: Option<Vec<TaskRow>> = tx!(
            self,
            read,
            tenant = Some(ctx.tenant_id()),
            plans = plans,
            |conn| {
                let mut q = tasks::of(ctx)
                    .filter(tasks::project_id.eq(DbUuid::from(project)))
                    .into_boxed();
                if let Some(d) = query.is_done {
                    q = q.filter(tasks::is_done.eq(d));
                }
                if let Some(a) = query.assignee_id {
                    q = q.filter(tasks::assignee_id.eq(DbUuid::from(a)));
                }
                if let Some(search) = &query.search {
                    q = q.filter(fts_match("tasks", "task_id", search, SearchShape::PerValue));
                }
                if let Some(after) = &query.after {
                    let id = DbUuid(after.id);
                    q = q.filter(
                        tasks::created_at
                            .gt(after.at)
                            .or(tasks::created_at.eq(after.at).and(tasks::id.gt(id))),
                    );
                }
                let q = q.order((tasks::created_at.asc(), tasks::id.asc()));
                let rows: Vec<TaskRow> = load_rows(q.limit(limit), conn).await?;
                // A task found proves its project; only an empty page asks whether it exists.
                if rows.is_empty() && !project_exists!(conn, ctx, project) {
                    return Ok(None);
                }
                Ok(Some(rows))
            }
        )?;
        let Some(rows) = rows else { return Ok(None) };
        let items = rows
            .into_iter()
            .map(Task::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Page::from_rows(items, query.limit, |t| {
            tenantry_projects::CreatedAfter::cursor(t.created_at, t.id.as_uuid())
        })))
    }

    async fn patch_task(
        &self,
        ctx: &TenantCtx,
        id: TaskId,
        action: &'static str,
        patch: &(dyn Fn(&Task) -> TaskPatch + Sync),
        now: DateTime<Utc>,
    ) -> Result<Result<Task, TaskError>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let target = tasks::of(ctx).filter(tasks::id.eq(DbUuid::from(id)));
            // Read and lock: two toggles flip twice, two patches both apply.
            let old: Option<TaskRow> = diesel::update(target)
                .set(tasks::updated_at.eq(tasks::updated_at))
                .get_result(conn)
                .await
                .optional()?;
            let Some(old) = old else {
                return Ok(Err(TaskError::NotFound));
            };
            let old = Task::try_from(old)?;
            let new = patch(&old).apply(&old, now);
            if new.project_id != old.project_id && !project_exists!(conn, ctx, new.project_id) {
                return Ok(Err(TaskError::ProjectNotFound));
            }
            if let Some(a) = new.assignee_id.filter(|a| Some(*a) != old.assignee_id)
                && !is_active_member!(conn, ctx, a)
            {
                return Ok(Err(TaskError::AssigneeNotMember));
            }
            if new != old {
                diesel::update(target)
                    .set((
                        tasks::project_id.eq(DbUuid::from(new.project_id)),
                        tasks::title.eq(new.title.as_str()),
                        tasks::notes.eq(new.notes.as_str()),
                        tasks::is_done.eq(new.is_done),
                        tasks::due_date.eq(new.due_date),
                        tasks::assignee_id.eq(new.assignee_id.map(DbUuid::from)),
                        tasks::updated_at.eq(new.updated_at),
                    ))
                    .execute(conn)
                    .await?;
                log.updated_as(action, &old, &new);
            }
            Ok(Ok(new))
        })
    }

    async fn remove_task(&self, ctx: &TenantCtx, id: TaskId) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let old: Option<TaskRow> =
                diesel::delete(tasks::of(ctx).filter(tasks::id.eq(DbUuid::from(id))))
                    .get_result(conn)
                    .await
                    .optional()?;
            let Some(old) = old else { return Ok(false) };
            log.deleted(&Task::try_from(old)?);
            Ok(true)
        })
    }
}

impl ProjectRepository for Db {
    async fn create_project(&self, ctx: &TenantCtx, project: &Project) -> Result<(), ProjectError> {
        self.insert_project(ctx, project)
            .await
            .map_err(StoreError::refusal)
    }

    async fn project(&self, ctx: &TenantCtx, id: ProjectId) -> Result<Option<Project>, Unexpected> {
        Ok(self.load_project(ctx, id).await?)
    }

    async fn projects(
        &self,
        ctx: &TenantCtx,
        query: &ProjectQuery,
    ) -> Result<Page<Project>, Unexpected> {
        Ok(self.load_projects(ctx, query).await?)
    }

    async fn update_project(
        &self,
        ctx: &TenantCtx,
        id: ProjectId,
        patch: &ProjectPatch,
        now: DateTime<Utc>,
    ) -> Result<Project, ProjectError> {
        self.patch_project(ctx, id, patch, now)
            .await
            .map_err(|e| ProjectError::Unexpected(e.into()))?
            .ok_or(ProjectError::NotFound)
    }

    async fn delete_project(&self, ctx: &TenantCtx, id: ProjectId) -> Result<(), ProjectError> {
        match self.remove_project(ctx, id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProjectError::NotFound),
            Err(e) => Err(e.refusal()),
        }
    }

    async fn create_task(&self, ctx: &TenantCtx, task: &Task) -> Result<(), TaskError> {
        self.insert_task(ctx, task)
            .await
            .map_err(StoreError::refusal::<TaskError>)?
    }

    async fn task(&self, ctx: &TenantCtx, id: TaskId) -> Result<Option<Task>, Unexpected> {
        Ok(self.load_task(ctx, id).await?)
    }

    async fn tasks(
        &self,
        ctx: &TenantCtx,
        project: ProjectId,
        query: &TaskQuery,
    ) -> Result<Option<Page<Task>>, Unexpected> {
        Ok(self.load_tasks(ctx, project, query).await?)
    }

    async fn update_task(
        &self,
        ctx: &TenantCtx,
        id: TaskId,
        action: &'static str,
        patch: &(dyn Fn(&Task) -> TaskPatch + Sync),
        now: DateTime<Utc>,
    ) -> Result<Task, TaskError> {
        self.patch_task(ctx, id, action, patch, now)
            .await
            .map_err(|e| TaskError::Unexpected(e.into()))?
    }

    async fn delete_task(&self, ctx: &TenantCtx, id: TaskId) -> Result<(), TaskError> {
        match self.remove_task(ctx, id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(TaskError::NotFound),
            Err(e) => Err(e.refusal()),
        }
    }
}
