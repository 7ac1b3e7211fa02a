CREATE OR REPLACE VIEW daily_counts AS
SELECT
    CAST(timezone('UTC', coalesce(published_at, ingested_at)) AS DATE) AS day,
    domain,
    language,
    count(*) AS articles,
    count(*) FILTER (WHERE duplicate_of IS NULL) AS unique_articles,
    count(*) FILTER (WHERE duplicate_of IS NOT NULL) AS duplicates,
    count(*) FILTER (WHERE published_at IS NULL) AS undated,
    -- BIGINT, not the HUGEINT of sum(): Parquet, Arrow and pandas keep it an integer
    CAST(sum(word_count) AS BIGINT) AS words
FROM articles
GROUP BY ALL;
COMMENT ON VIEW daily_counts IS 'Articles per day, domain and language (UTC days of published_at; articles without one count on the day they were ingested, see undated).';
COMMENT ON COLUMN daily_counts.day IS 'UTC date of published_at, or of ingested_at when the publication date is unknown.';
COMMENT ON COLUMN daily_counts.domain IS 'Registered domain (articles.domain).';
COMMENT ON COLUMN daily_counts.language IS 'ISO 639-1 code; NULL if unknown.';
COMMENT ON COLUMN daily_counts.articles IS 'Articles loaded, duplicates included.';
COMMENT ON COLUMN daily_counts.unique_articles IS 'Of those, articles that duplicate no earlier one.';
COMMENT ON COLUMN daily_counts.duplicates IS 'Of those, articles with duplicate_of set.';
COMMENT ON COLUMN daily_counts.undated IS 'Of those, articles without published_at (counted on their ingest day).';
COMMENT ON COLUMN daily_counts.words IS 'Sum of word_count.';
