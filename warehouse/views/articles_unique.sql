CREATE OR REPLACE VIEW articles_unique AS
SELECT * FROM articles WHERE duplicate_of IS NULL;
COMMENT ON VIEW articles_unique IS 'The articles that duplicate no earlier one (duplicate_of IS NULL): one row per story.';
