-- Projects and tasks (see the PostgreSQL migration of the same name), with FTS5 search kept
-- in step by triggers through stable-key maps as for products.
CREATE TABLE projects (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    archived    INTEGER NOT NULL,
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX projects_by_created ON projects (tenant_id, created_at, id);
CREATE INDEX projects_by_name ON projects (tenant_id, name, id);

CREATE TABLE tasks (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    title       TEXT NOT NULL,
    notes       TEXT NOT NULL,
    is_done     INTEGER NOT NULL,
    due_date    TEXT,
    assignee_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX tasks_by_project ON tasks (tenant_id, project_id, created_at, id);
CREATE INDEX tasks_by_due ON tasks (tenant_id, project_id, due_date, id);

CREATE TABLE projects_search (
    fts_rowid  INTEGER PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    project_id TEXT NOT NULL,
    UNIQUE (tenant_id, project_id)
);
CREATE VIRTUAL TABLE projects_fts USING fts5(
    name, description, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER projects_fts_insert AFTER INSERT ON projects BEGIN
    INSERT INTO projects_search (tenant_id, project_id) VALUES (new.tenant_id, new.id);
    INSERT INTO projects_fts (rowid, name, description)
        VALUES (last_insert_rowid(), new.name, new.description);
END;
CREATE TRIGGER projects_fts_update AFTER UPDATE OF name, description ON projects BEGIN
    DELETE FROM projects_fts WHERE rowid =
        (SELECT fts_rowid FROM projects_search WHERE tenant_id = old.tenant_id AND project_id = old.id);
    INSERT INTO projects_fts (rowid, name, description)
        SELECT fts_rowid, new.name, new.description FROM projects_search
        WHERE tenant_id = new.tenant_id AND project_id = new.id;
END;
CREATE TRIGGER projects_fts_delete AFTER DELETE ON projects BEGIN
    DELETE FROM projects_fts WHERE rowid =
        (SELECT fts_rowid FROM projects_search WHERE tenant_id = old.tenant_id AND project_id = old.id);
    DELETE FROM projects_search WHERE tenant_id = old.tenant_id AND project_id = old.id;
END;

CREATE TABLE tasks_search (
    fts_rowid INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    task_id   TEXT NOT NULL,
    UNIQUE (tenant_id, task_id)
);
CREATE VIRTUAL TABLE tasks_fts USING fts5(
    title, notes, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO tasks_search (tenant_id, task_id) VALUES (new.tenant_id, new.id);
    INSERT INTO tasks_fts (rowid, title, notes) VALUES (last_insert_rowid(), new.title, new.notes);
END;
CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, notes ON tasks BEGIN
    DELETE FROM tasks_fts WHERE rowid =
        (SELECT fts_rowid FROM tasks_search WHERE tenant_id = old.tenant_id AND task_id = old.id);
    INSERT INTO tasks_fts (rowid, title, notes)
        SELECT fts_rowid, new.title, new.notes FROM tasks_search
        WHERE tenant_id = new.tenant_id AND task_id = new.id;
END;
CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN
    DELETE FROM tasks_fts WHERE rowid =
        (SELECT fts_rowid FROM tasks_search WHERE tenant_id = old.tenant_id AND task_id = old.id);
    DELETE FROM tasks_search WHERE tenant_id = old.tenant_id AND task_id = old.id;
END;
