DROP TABLE job_periods;
