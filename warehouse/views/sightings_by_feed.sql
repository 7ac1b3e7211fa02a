CREATE OR REPLACE VIEW sightings_by_feed AS
SELECT
    CAST(timezone('UTC', s.seen_at) AS DATE) AS day,
    s.origin,
    s.feed_url,
    count(*) AS sightings,
    count(DISTINCT s.article_id) AS articles,
    count(DISTINCT c.cluster_id) AS stories,
    count(DISTINCT a.domain) AS domains,
    min(s.seen_at) AS first_seen,
    max(s.seen_at) AS last_seen
FROM article_sightings s
LEFT JOIN articles a ON a.article_id = s.article_id
LEFT JOIN article_clusters c ON c.article_id = s.article_id
GROUP BY ALL;
COMMENT ON VIEW sightings_by_feed IS 'Sightings per UTC day, origin and feed: what each feed (or seed files and single URLs, feed_url NULL) brought in.';
COMMENT ON COLUMN sightings_by_feed.day IS 'UTC date of seen_at (a sighting is kept at the first time it was seen).';
COMMENT ON COLUMN sightings_by_feed.origin IS 'seed, feed or url.';
COMMENT ON COLUMN sightings_by_feed.feed_url IS 'The feed; NULL for sightings outside feeds.';
COMMENT ON COLUMN sightings_by_feed.sightings IS 'Distinct sightings (article, GUID, URL as seen) first seen that day.';
COMMENT ON COLUMN sightings_by_feed.articles IS 'Distinct articles among them.';
COMMENT ON COLUMN sightings_by_feed.stories IS 'Distinct duplicate clusters among them (article_clusters.cluster_id).';
COMMENT ON COLUMN sightings_by_feed.domains IS 'Distinct article domains among them.';
COMMENT ON COLUMN sightings_by_feed.first_seen IS 'Earliest sighting that day.';
COMMENT ON COLUMN sightings_by_feed.last_seen IS 'Latest sighting that day.';
