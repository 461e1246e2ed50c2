DROP TABLE usage_uniques;
DROP TABLE usage_rollups;
