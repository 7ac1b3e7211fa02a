-- Revisions (backfill rededup): derived columns recomputed from stored text. Only rows that
-- differ are updated, then exact duplicates are re-pointed inside every content-hash group
-- touched (old hash or new): each article points at the group's first article (earliest
-- ingested_at; among articles loaded in one batch, the one that is not a duplicate now, then
-- the least article_id), the first points nowhere. A pointer to an article with *different*
-- text (a near-duplicate match) is left alone.

-- name: revised
CREATE OR REPLACE TEMP TABLE revised AS
SELECT r.*, a.content_hash AS old_hash FROM new_revisions r
JOIN articles a USING (article_id)
QUALIFY row_number() OVER (PARTITION BY r.article_id) = 1;

-- name: apply
-- {assign}: each revised column (tasks/records.py RevisionRow); {differs}: any of them differs.
UPDATE articles SET {assign} FROM revised r
WHERE articles.article_id = r.article_id AND ({differs});

-- name: hash_roots
CREATE OR REPLACE TEMP TABLE hash_roots AS
SELECT content_hash,
arg_min(article_id, (ingested_at, duplicate_of IS NOT NULL, article_id)) AS root
FROM articles WHERE content_hash IN
(SELECT content_hash FROM revised UNION SELECT old_hash FROM revised)
GROUP BY content_hash;

-- name: repoint
-- Exact duplicates point at their group's root, unless they already point at an article
-- with other text (a near-duplicate decision this mode does not revisit).
UPDATE articles SET duplicate_of = g.root FROM hash_roots g
WHERE articles.content_hash = g.content_hash AND articles.article_id <> g.root
AND articles.duplicate_of IS DISTINCT FROM g.root AND (
 articles.duplicate_of IS NULL OR NOT EXISTS (SELECT 1 FROM articles t
   WHERE t.article_id = articles.duplicate_of
   AND t.content_hash <> articles.content_hash));

-- name: clear_roots
-- A root that points at an article with the same text points at a later copy: clear it.
UPDATE articles SET duplicate_of = NULL FROM hash_roots g
WHERE articles.article_id = g.root AND articles.duplicate_of IS NOT NULL
AND (SELECT t.content_hash FROM articles t
     WHERE t.article_id = articles.duplicate_of) IS NOT DISTINCT FROM g.content_hash;
