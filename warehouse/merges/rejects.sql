-- name: rejects
-- Each reject once per (source, stage, reason, run).
INSERT INTO rejects BY NAME
SELECT * FROM new_rejects r WHERE NOT EXISTS (
  SELECT 1 FROM rejects o WHERE o.source = r.source AND o.stage = r.stage
  AND o.reason = r.reason AND o.run_id IS NOT DISTINCT FROM r.run_id);

-- name: by_reason
SELECT reason, count(*) FROM new_rejects GROUP BY reason;
