DROP TABLE tasks_fts;
DROP TABLE tasks_search;
DROP TABLE projects_fts;
DROP TABLE projects_search;
DROP TABLE tasks;
DROP TABLE projects;
