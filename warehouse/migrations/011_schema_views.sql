-- The version of the views a warehouse has, so a writer re-creates them only when their SQL
-- files changed (not on every connection of every command).

CREATE TABLE schema_views (digest VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL);
COMMENT ON TABLE schema_views IS 'The version of the views (warehouse/views/*.sql) last applied: a writer re-creates the views only when their files changed. One row.';
COMMENT ON COLUMN schema_views.digest IS 'BLAKE2b of the view files (names and SQL) as applied.';
COMMENT ON COLUMN schema_views.applied_at IS 'When they were applied.';
