-- Projects and their tasks. A task's project is a tenant-led foreign key, so a task can
-- never point into another tenant's project. The assignee is checked to be a member of the
-- tenant when set (a member who leaves keeps their assignments until someone changes them).
CREATE TABLE projects (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    name        text NOT NULL,
    description text NOT NULL,
    archived    boolean NOT NULL,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', regexp_replace(name || ' ' || description, '[^[:alnum:]]+', ' ', 'g'))
    ) STORED,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX projects_by_created ON projects (tenant_id, created_at, id);
CREATE INDEX projects_by_name ON projects (tenant_id, name, id);
CREATE INDEX projects_search ON projects USING gin (search_vector);
ALTER TABLE projects ALTER COLUMN search_vector SET STATISTICS 1000;

CREATE TABLE tasks (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    project_id  uuid NOT NULL,
    title       text NOT NULL,
    notes       text NOT NULL,
    is_done     boolean NOT NULL,
    due_date    date,
    assignee_id uuid REFERENCES users (id) ON DELETE SET NULL,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', regexp_replace(title || ' ' || notes, '[^[:alnum:]]+', ' ', 'g'))
    ) STORED,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX tasks_by_project ON tasks (tenant_id, project_id, created_at, id);
CREATE INDEX tasks_by_due ON tasks (tenant_id, project_id, due_date, id);
CREATE INDEX tasks_search ON tasks USING gin (search_vector);
ALTER TABLE tasks ALTER COLUMN search_vector SET STATISTICS 1000;

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tasks TO tenantry_service;
