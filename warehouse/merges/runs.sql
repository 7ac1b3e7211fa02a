-- name: runs
-- Runs of work-pool workers, which leave loading to the loader: the spooled columns replace
-- the row's (its counts are the loader's, warehouse/runs.py).
INSERT OR REPLACE INTO runs BY NAME SELECT * FROM new_runs;
