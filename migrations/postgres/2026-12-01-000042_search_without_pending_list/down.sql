ALTER INDEX users_search RESET (fastupdate);
ALTER INDEX tasks_search RESET (fastupdate);
ALTER INDEX projects_search RESET (fastupdate);
ALTER INDEX products_search RESET (fastupdate);
