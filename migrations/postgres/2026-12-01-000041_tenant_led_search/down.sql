DROP INDEX tasks_search;
CREATE INDEX tasks_search ON tasks USING gin (search_vector);
DROP INDEX projects_search;
CREATE INDEX projects_search ON projects USING gin (search_vector);
DROP INDEX products_search;
CREATE INDEX products_search ON products USING gin (search_vector);
