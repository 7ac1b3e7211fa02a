CREATE OR REPLACE VIEW rejects_daily AS
SELECT
    CAST(timezone('UTC', rejected_at) AS DATE) AS day,
    stage,
    reason,
    count(*) AS rejects,
    count(DISTINCT source) AS sources,
    count(DISTINCT run_id) AS runs,
    min(rejected_at) AS first_at,
    max(rejected_at) AS last_at,
    arg_max(source, rejected_at) AS example_source
FROM rejects
GROUP BY ALL;
COMMENT ON VIEW rejects_daily IS 'Rejected items per UTC day, stage and reason: what is failing, where, and since when.';
COMMENT ON COLUMN rejects_daily.day IS 'UTC date of rejected_at.';
COMMENT ON COLUMN rejects_daily.stage IS 'The stage that refused the items (rejects.stage).';
COMMENT ON COLUMN rejects_daily.reason IS 'The stable reason code (rejects.reason).';
COMMENT ON COLUMN rejects_daily.rejects IS 'rejects rows (one per item and run).';
COMMENT ON COLUMN rejects_daily.sources IS 'Distinct items (URLs, paths) among them.';
COMMENT ON COLUMN rejects_daily.runs IS 'Distinct runs that rejected them.';
COMMENT ON COLUMN rejects_daily.first_at IS 'First rejection that day.';
COMMENT ON COLUMN rejects_daily.last_at IS 'Last rejection that day.';
COMMENT ON COLUMN rejects_daily.example_source IS 'The most recently rejected item, to start looking.';
