-- The seed-file ledger: every seed file read, by path and content, recorded in the same
-- transaction as the batch that carries its articles, so a file is ingested once however often
-- the seed folder's watcher or scan sees it.
CREATE TABLE seed_files (
    path VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    content_hash VARCHAR NOT NULL,
    items INTEGER NOT NULL,
    run_id VARCHAR,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (path, content_hash)
);
COMMENT ON TABLE seed_files IS 'One row per seed file read (path and content): what newsflow serve checks so that a file is ingested once, however often it is seen. A file rewritten with other content is a new row.';
COMMENT ON COLUMN seed_files.path IS 'Absolute path of the file when it was read.';
COMMENT ON COLUMN seed_files.size IS 'Size in bytes of the content read.';
COMMENT ON COLUMN seed_files.content_hash IS 'SHA-256 of the bytes read, in hex (what sha256sum prints).';
COMMENT ON COLUMN seed_files.items IS 'Articles or URLs the file gave; 0 if it was rejected (see rejects, source = the path).';
COMMENT ON COLUMN seed_files.run_id IS 'The run (runs.run_id) that first read it.';
COMMENT ON COLUMN seed_files.ingested_at IS 'When that run read it.';
