-- Every article with the cluster it belongs to. A cluster is an article with duplicate_of NULL
-- (its root) and every article whose duplicate_of chain leads to it; following the chain
-- rather than one hop keeps the view right if a duplicate ever points at another duplicate.
CREATE OR REPLACE VIEW article_clusters AS
WITH RECURSIVE chain (article_id, cluster_id, depth) AS (
    SELECT article_id, article_id, 0 FROM articles WHERE duplicate_of IS NULL
    UNION ALL
    SELECT a.article_id, c.cluster_id, c.depth + 1
    FROM articles a JOIN chain c ON a.duplicate_of = c.article_id
    WHERE a.duplicate_of IS NOT NULL AND c.depth < 100
)
SELECT article_id, cluster_id, depth FROM chain;
COMMENT ON VIEW article_clusters IS 'One row per article (whose duplicate_of chain ends in a root) with its duplicate cluster: join it to articles to group copies of one story.';
COMMENT ON COLUMN article_clusters.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN article_clusters.cluster_id IS 'The cluster''s root: the article_id of the first article with this text (duplicate_of NULL).';
COMMENT ON COLUMN article_clusters.depth IS '0 for the root, 1 for an article whose duplicate_of is the root, and so on.';
