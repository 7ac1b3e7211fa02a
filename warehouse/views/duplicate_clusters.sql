CREATE OR REPLACE VIEW duplicate_clusters AS
WITH seen AS (
    SELECT article_id, min(seen_at) AS first_seen, max(seen_at) AS last_seen
    FROM article_sightings GROUP BY article_id
)
SELECT
    c.cluster_id,
    any_value(r.title) AS title,
    any_value(r.url) AS root_url,
    any_value(r.domain) AS root_domain,
    count(*) AS size,
    count(DISTINCT a.domain) AS domains,
    min(a.published_at) AS first_published,
    least(min(s.first_seen), min(a.ingested_at)) AS first_seen,
    greatest(max(s.last_seen), max(a.ingested_at)) AS last_seen,
    list(a.article_id ORDER BY c.depth > 0, a.ingested_at, a.article_id) AS members,
    list(DISTINCT a.domain ORDER BY a.domain) FILTER (WHERE a.domain IS NOT NULL) AS member_domains,
    list(a.url ORDER BY c.depth > 0, a.ingested_at, a.article_id) AS member_urls
FROM article_clusters c
JOIN articles a ON a.article_id = c.article_id
JOIN articles r ON r.article_id = c.cluster_id
LEFT JOIN seen s ON s.article_id = c.article_id
GROUP BY c.cluster_id;
COMMENT ON VIEW duplicate_clusters IS 'One row per story: the cluster of an article and its duplicates (size 1 when nobody copied it; WHERE size > 1 for syndicated stories).';
COMMENT ON COLUMN duplicate_clusters.cluster_id IS 'The root article''s article_id (duplicate_of NULL).';
COMMENT ON COLUMN duplicate_clusters.title IS 'The root article''s title.';
COMMENT ON COLUMN duplicate_clusters.root_url IS 'The root article''s URL.';
COMMENT ON COLUMN duplicate_clusters.root_domain IS 'The root article''s domain: where the story was first seen.';
COMMENT ON COLUMN duplicate_clusters.size IS 'Articles in the cluster, the root included.';
COMMENT ON COLUMN duplicate_clusters.domains IS 'Distinct domains that published it.';
COMMENT ON COLUMN duplicate_clusters.first_published IS 'Earliest published_at among the members (NULL if none is dated).';
COMMENT ON COLUMN duplicate_clusters.first_seen IS 'When newsflow first saw any member (earliest sighting or ingest).';
COMMENT ON COLUMN duplicate_clusters.last_seen IS 'When newsflow last saw a member (latest first sighting of any member, or its ingest).';
COMMENT ON COLUMN duplicate_clusters.members IS 'article_id of every member: the root first, then the copies in the order they were ingested.';
COMMENT ON COLUMN duplicate_clusters.member_domains IS 'The distinct domains of the members, sorted.';
COMMENT ON COLUMN duplicate_clusters.member_urls IS 'URL of every member, in the order of members.';
