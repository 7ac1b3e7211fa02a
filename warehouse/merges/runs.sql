-- name: runs
-- Runs of work-pool workers, which leave loading to the loader: the spooled columns replace
-- the row's (its counts are the loader's, warehouse/runs.py). {assign}: each spooled column;
-- {columns}, {values}: all of them (warehouse/merges/runs.py). MERGE needs no key, so the
-- same statement runs on the single file and on a lake.
MERGE INTO runs USING (SELECT * FROM new_runs) AS n ON runs.run_id = n.run_id
WHEN MATCHED THEN UPDATE SET {assign}
WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values});
