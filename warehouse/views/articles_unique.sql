CREATE OR REPLACE VIEW articles_unique AS
SELECT * FROM articles WHERE duplicate_of IS NULL;
COMMENT ON VIEW articles_unique IS 'The articles that duplicate no earlier one (duplicate_of IS NULL): one row per story.';
COMMENT ON COLUMN articles_unique.article_id IS 'Stable id of the article (articles.article_id); also the cluster_id of its duplicates.';
COMMENT ON COLUMN articles_unique.url IS 'The URL the article was first loaded from.';
COMMENT ON COLUMN articles_unique.canonical_url IS 'Normalized URL (articles.canonical_url).';
COMMENT ON COLUMN articles_unique.domain IS 'Registered domain under the public suffix.';
COMMENT ON COLUMN articles_unique.title IS 'Headline; NULL if unknown.';
COMMENT ON COLUMN articles_unique.published_at IS 'Publication time; NULL if unknown.';
COMMENT ON COLUMN articles_unique.language IS 'ISO 639-1 code; NULL if unknown or unsure.';
COMMENT ON COLUMN articles_unique.language_confidence IS 'The language model''s probability for language (0-1).';
COMMENT ON COLUMN articles_unique.text IS 'Article text, one paragraph a line.';
COMMENT ON COLUMN articles_unique.word_count IS 'Number of words in text.';
COMMENT ON COLUMN articles_unique.content_hash IS 'Hash of the folded text (articles.content_hash).';
COMMENT ON COLUMN articles_unique.duplicate_of IS 'Always NULL here.';
COMMENT ON COLUMN articles_unique.origin IS 'How the article first came in: seed, feed or url.';
COMMENT ON COLUMN articles_unique.ingested_at IS 'When the article was first processed.';
COMMENT ON COLUMN articles_unique.updated_at IS 'When the text last changed; NULL if never.';
