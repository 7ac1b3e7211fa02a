CREATE OR REPLACE VIEW feed_health AS
WITH seen AS (
    SELECT
        feed_url,
        count(DISTINCT article_id) AS articles_seen,
        count(DISTINCT article_id) FILTER (WHERE seen_at >= now() - INTERVAL 7 DAY)
            AS articles_last_7_days,
        max(seen_at) AS last_article_seen_at
    FROM article_sightings WHERE feed_url IS NOT NULL GROUP BY feed_url
),
failed AS (
    SELECT source AS feed_url, count(*) AS rejects,
        arg_max(reason, rejected_at) AS last_reject_reason, max(rejected_at) AS last_reject_at
    FROM rejects WHERE source IN (SELECT url FROM feeds) GROUP BY source
)
SELECT
    f.url AS feed_url,
    CASE
        WHEN f.last_success_at IS NULL AND f.consecutive_failures > 0 THEN 'never_succeeded'
        WHEN f.consecutive_failures >= 3 THEN 'failing'
        WHEN f.consecutive_failures > 0 THEN 'flaky'
        WHEN f.last_success_at IS NULL THEN 'never_polled'
        WHEN coalesce(s.articles_last_7_days, 0) = 0 THEN 'quiet'
        ELSE 'ok'
    END AS health,
    f.last_status,
    f.consecutive_failures,
    f.last_success_at,
    date_diff('hour', f.last_success_at, now()) AS hours_since_success,
    coalesce(s.articles_seen, 0) AS articles_seen,
    coalesce(s.articles_last_7_days, 0) AS articles_last_7_days,
    s.last_article_seen_at,
    coalesce(r.rejects, 0) AS rejects,
    r.last_reject_reason,
    r.last_reject_at
FROM feeds f
LEFT JOIN seen s ON s.feed_url = f.url
LEFT JOIN failed r ON r.feed_url = f.url;
COMMENT ON VIEW feed_health IS 'One row per feed: is it working, and is it still publishing? (health is ok, quiet, flaky, failing, never_succeeded or never_polled).';
COMMENT ON COLUMN feed_health.feed_url IS 'The feed (feeds.url).';
COMMENT ON COLUMN feed_health.health IS 'never_succeeded: only failed polls; failing: 3+ failed polls in a row; flaky: 1-2; never_polled; quiet: polls succeed but no article seen in 7 days; ok.';
COMMENT ON COLUMN feed_health.last_status IS 'HTTP status of the last poll (NULL if no response).';
COMMENT ON COLUMN feed_health.consecutive_failures IS 'Failed polls since the last success.';
COMMENT ON COLUMN feed_health.last_success_at IS 'When a poll last succeeded.';
COMMENT ON COLUMN feed_health.hours_since_success IS 'Whole hours from last_success_at to now (NULL if never).';
COMMENT ON COLUMN feed_health.articles_seen IS 'Distinct articles ever seen in this feed.';
COMMENT ON COLUMN feed_health.articles_last_7_days IS 'Distinct articles first seen in this feed in the last 7 days.';
COMMENT ON COLUMN feed_health.last_article_seen_at IS 'Latest first sighting of an article in this feed.';
COMMENT ON COLUMN feed_health.rejects IS 'rejects rows whose source is this feed: failed polls, an unparsable feed, entries refused without a URL of their own.';
COMMENT ON COLUMN feed_health.last_reject_reason IS 'reason of the latest such reject.';
COMMENT ON COLUMN feed_health.last_reject_at IS 'When the latest such reject happened.';
