-- name: seed_files
-- The first run that read a content keeps the row.
INSERT INTO seed_files BY NAME
SELECT * FROM new_seed_files QUALIFY row_number() OVER (PARTITION BY path, content_hash) = 1
ON CONFLICT (path, content_hash) DO NOTHING;
