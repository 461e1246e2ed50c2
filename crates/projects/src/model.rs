//! Projects, tasks and their value types.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use tenantry_kernel::{Cursor, Limit, ProjectId, SearchQuery, TaskId, TenantId, UserId};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

macro_rules! text_type {
    ($(#[$m:meta])* $name:ident, $what:literal, $max:literal, $shape:ident) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                tenantry_kernel::bounded_text(raw, $what, $max, tenantry_kernel::TextShape::$shape)
                    .map(Self)
                    .map_err(InvalidValue)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_type!(
    /// 1–200 characters, trimmed.
    ProjectName, "name", 200, Line
);
text_type!(
    /// 1–500 characters, trimmed.
    TaskTitle, "title", 500, Line
);
text_type!(
    /// Up to 10,000 characters (description of a project, notes of a task).
    LongText, "text", 10000, Block
);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Project {
    pub id: ProjectId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub name: ProjectName,
    pub description: LongText,
    pub archived: bool,
    pub created_by: Option<UserId>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl tenantry_audit::Audited for Project {
    const QUOTA: Option<&'static str> = Some("projects");
    const ENTITY: &'static str = "project";
    type View = crate::view::ProjectView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::serialized(self)
    }
}

/// A task's done flag flipped (`task.toggled`).
pub const TOGGLED: &str = "toggled";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: TaskId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub project_id: ProjectId,
    pub title: TaskTitle,
    pub notes: LongText,
    pub is_done: bool,
    pub due_date: Option<NaiveDate>,
    pub assignee_id: Option<UserId>,
    pub created_by: Option<UserId>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl tenantry_audit::Audited for Task {
    const QUOTA: Option<&'static str> = Some("tasks");
    const ENTITY: &'static str = "task";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        tenantry_audit::actions::UPDATED,
        tenantry_audit::actions::DELETED,
        TOGGLED,
    ];
    type View = crate::view::TaskView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::serialized(self)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewProject {
    pub name: ProjectName,
    pub description: LongText,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectPatch {
    pub name: Option<ProjectName>,
    pub description: Option<LongText>,
    pub archived: Option<bool>,
}

impl ProjectPatch {
    pub fn apply(&self, old: &Project, now: DateTime<Utc>) -> Project {
        let mut new = Project {
            name: self.name.clone().unwrap_or_else(|| old.name.clone()),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| old.description.clone()),
            archived: self.archived.unwrap_or(old.archived),
            ..old.clone()
        };
        if new != *old {
            new.updated_at = now;
        }
        new
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    pub title: TaskTitle,
    pub notes: LongText,
    pub due_date: Option<NaiveDate>,
    pub assignee_id: Option<UserId>,
}

/// `Some(None)` clears an optional field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskPatch {
    /// Moves the task to another project of the same tenant.
    pub project_id: Option<ProjectId>,
    pub title: Option<TaskTitle>,
    pub notes: Option<LongText>,
    pub is_done: Option<bool>,
    pub due_date: Option<Option<NaiveDate>>,
    pub assignee_id: Option<Option<UserId>>,
}

impl TaskPatch {
    pub fn apply(&self, old: &Task, now: DateTime<Utc>) -> Task {
        let mut new = Task {
            project_id: self.project_id.unwrap_or(old.project_id),
            title: self.title.clone().unwrap_or_else(|| old.title.clone()),
            notes: self.notes.clone().unwrap_or_else(|| old.notes.clone()),
            is_done: self.is_done.unwrap_or(old.is_done),
            due_date: self.due_date.unwrap_or(old.due_date),
            assignee_id: self.assignee_id.unwrap_or(old.assignee_id),
            ..old.clone()
        };
        if new != *old {
            new.updated_at = now;
        }
        new
    }

    /// The patch that flips `is_done`.
    pub fn toggle(old: &Task) -> Self {
        Self {
            is_done: Some(!old.is_done),
            ..Self::default()
        }
    }
}

/// A page position in a list ordered by creation: (created_at, id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedAfter {
    pub at: DateTime<Utc>,
    pub id: uuid::Uuid,
}

impl CreatedAfter {
    pub fn cursor(at: DateTime<Utc>, id: &uuid::Uuid) -> String {
        format!("{}|{id}", at.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn parse(cursor: &Cursor) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue("cursor is not one this service issued".into());
        let key = cursor.key();
        let (at, id) = key.split_once('|').ok_or_else(bad)?;
        Ok(Self {
            at: DateTime::parse_from_rfc3339(at)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectQuery {
    pub archived: Option<bool>,
    pub search: Option<SearchQuery>,
    pub limit: Limit,
    pub after: Option<CreatedAfter>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskQuery {
    pub is_done: Option<bool>,
    pub assignee_id: Option<UserId>,
    pub search: Option<SearchQuery>,
    pub limit: Limit,
    pub after: Option<CreatedAfter>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_bounded() {
        assert!(ProjectName::parse(" ").is_err());
        assert!(TaskTitle::parse(&"x".repeat(501)).is_err());
        assert_eq!(
            LongText::parse("").map(|t| t.as_str().to_owned()),
            Ok(String::new())
        );
        assert!(LongText::parse(&"x".repeat(10_001)).is_err());
    }

    #[test]
    fn toggling_flips_done_and_touches_updated_at() {
        let t0 = Utc::now();
        let task = Task {
            id: TaskId::new(),
            tenant_id: TenantId::new(),
            project_id: ProjectId::new(),
            title: TaskTitle::parse("t").unwrap_or_default(),
            notes: LongText::default(),
            is_done: false,
            due_date: None,
            assignee_id: None,
            created_by: None,
            created_at: t0,
            updated_at: t0,
        };
        let later = t0 + chrono::Duration::seconds(1);
        let done = TaskPatch::toggle(&task).apply(&task, later);
        assert!(done.is_done);
        assert_eq!(done.updated_at, later);
        let same = TaskPatch::default().apply(&task, later);
        assert_eq!(same.updated_at, t0, "a no-op patch changes nothing");
    }

    #[test]
    fn cursors_round_trip() {
        // Timestamps are stored to the microsecond, and cursors keep exactly that.
        let at = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_default();
        let id = uuid::Uuid::now_v7();
        let c = Cursor::encode(&CreatedAfter::cursor(at, &id));
        let back = CreatedAfter::parse(&c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((back.at, back.id), (at, id));
        assert!(CreatedAfter::parse(&Cursor::encode("nope")).is_err());
    }
}
