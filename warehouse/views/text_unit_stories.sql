CREATE OR REPLACE VIEW text_unit_stories AS
SELECT
    u.unit_hash,
    u.domain,
    (u.stories + coalesce(d.stories, 0))::INTEGER AS stories,
    u.first_article,
    u.first_seen
FROM text_units AS u
LEFT JOIN (
    SELECT unit_hash, domain, sum(stories) AS stories FROM text_unit_deltas GROUP BY ALL
) AS d ON d.unit_hash = u.unit_hash AND d.domain = u.domain;
COMMENT ON VIEW text_unit_stories IS 'text_units with every load''s counts in: on a lake, text_units.stories plus the text_unit_deltas that maintenance has not folded in yet; on the single file, text_units itself.';
COMMENT ON COLUMN text_unit_stories.unit_hash IS 'Hash of the sentence''s case-folded words (tasks.boilerplate.unit_hash).';
COMMENT ON COLUMN text_unit_stories.domain IS 'The domain of the stories counted ('''' when unknown).';
COMMENT ON COLUMN text_unit_stories.stories IS 'Distinct stories (cluster representatives) of this domain that contain the sentence; copies of one story count once.';
COMMENT ON COLUMN text_unit_stories.first_article IS 'The first article (articles.article_id) of this domain that contained it.';
COMMENT ON COLUMN text_unit_stories.first_seen IS 'When that article was ingested.';
