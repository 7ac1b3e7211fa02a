-- name: seed_files
-- The first run that read a content keeps the row (an anti-join: no key needed, so the same
-- statement runs on the single file and on a lake).
INSERT INTO seed_files BY NAME
SELECT * FROM new_seed_files s
WHERE NOT EXISTS (SELECT 1 FROM seed_files o
                  WHERE o.path = s.path AND o.content_hash = s.content_hash)
QUALIFY row_number() OVER (PARTITION BY s.path, s.content_hash) = 1;
