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

-- The same counts for a range of days, written so the scan reads only those days: a filter on
-- the view's computed day cannot prune, a range on published_at reads only its day partitions
-- (on a lake: 31 of 366 files for 30 days) and undated articles are found by IS NULL.
CREATE OR REPLACE MACRO daily_counts_between(first_day, last_day) AS TABLE
SELECT
    day,
    domain,
    language,
    count(*) AS articles,
    count(*) FILTER (WHERE duplicate_of IS NULL) AS unique_articles,
    count(*) FILTER (WHERE duplicate_of IS NOT NULL) AS duplicates,
    count(*) FILTER (WHERE undated) AS undated,
    CAST(sum(word_count) AS BIGINT) AS words
FROM (
    SELECT CAST(timezone('UTC', published_at) AS DATE) AS day, domain, language,
           duplicate_of, false AS undated, word_count
    FROM articles
    WHERE published_at >= timezone('UTC', CAST(CAST(first_day AS DATE) AS TIMESTAMP))
      AND published_at < timezone('UTC', CAST(CAST(last_day AS DATE) AS TIMESTAMP) + INTERVAL 1 DAY)
    UNION ALL
    SELECT CAST(timezone('UTC', ingested_at) AS DATE), domain, language,
           duplicate_of, true, word_count
    FROM articles
    WHERE published_at IS NULL
      AND ingested_at >= timezone('UTC', CAST(CAST(first_day AS DATE) AS TIMESTAMP))
      AND ingested_at < timezone('UTC', CAST(CAST(last_day AS DATE) AS TIMESTAMP) + INTERVAL 1 DAY)
)
GROUP BY ALL;
COMMENT ON MACRO TABLE daily_counts_between IS 'daily_counts for the days first_day to last_day (UTC dates, both included), the same rows the view gives for those days: reads only those days of articles, so "the last 30 days" stays fast at any size. Example: SELECT * FROM daily_counts_between(current_date - 29, current_date).';
