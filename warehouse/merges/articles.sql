-- The articles family: articles, article_versions, article_bands. Run in the batch's
-- transaction by warehouse/merges/articles.py, in this order, over ``new_articles``.

-- name: batch_articles
-- Within a batch, the first row of an article wins (workers already do this; the loader
-- does not trust them, since ON CONFLICT and anti-joins fail on in-batch duplicates). The
-- shingles are the workers' (bands stay until the articles are stored).
CREATE OR REPLACE TEMP TABLE batch_articles AS SELECT * EXCLUDE (shingles)
FROM new_articles QUALIFY row_number() OVER (PARTITION BY article_id) = 1;

-- name: known
-- The batch's articles the warehouse has already: one scan of its ids, not one per use.
CREATE OR REPLACE TEMP TABLE known AS SELECT article_id, content_hash FROM articles
SEMI JOIN batch_articles USING (article_id);

-- name: known_indexed
-- The same, from a lake's key index (warehouse/keys.py), registered as keys_known.
CREATE OR REPLACE TEMP TABLE known AS SELECT article_id, content_hash FROM keys_known;

-- name: changed
-- Known articles whose text changed: the old text goes to article_versions.
CREATE OR REPLACE TEMP TABLE changed AS
SELECT n.* FROM batch_articles n JOIN known a USING (article_id)
WHERE a.content_hash <> n.content_hash;

-- name: unchanged_count
SELECT count(*) FROM known WHERE article_id NOT IN (SELECT article_id FROM changed);

-- name: keep_versions
-- Literal ids: only their texts are read (the primary key's index), {ids} placeholders.
INSERT INTO article_versions
SELECT a.article_id, a.title, a.text, a.content_hash, n.ingested_at
FROM articles a JOIN changed n USING (article_id)
WHERE a.article_id IN ({ids});

-- name: revise
-- {revised}: one assignment per column the new text replaces (tasks/records.py says which).
UPDATE articles SET {revised}, updated_at = n.ingested_at
FROM changed n WHERE articles.article_id = n.article_id;

-- name: drop_changed_bands
DELETE FROM article_bands WHERE article_id IN (SELECT article_id FROM changed);

-- name: changed_bands
INSERT INTO article_bands SELECT unnest(bands), article_id FROM changed
WHERE len(bands) > 0;

-- name: roots
-- The warehouse's earliest article with each of the batch's texts.
CREATE OR REPLACE TEMP TABLE roots AS
SELECT content_hash, arg_min(article_id, ingested_at) AS root
FROM articles WHERE duplicate_of IS NULL
AND content_hash IN (SELECT content_hash FROM batch_articles)
GROUP BY content_hash;

-- name: roots_indexed
-- The same, from a lake's key index, registered as keys_roots.
CREATE OR REPLACE TEMP TABLE roots AS SELECT content_hash, root FROM keys_roots;

-- name: fresh
-- New articles. duplicate_of points at the warehouse's earliest article with the same
-- text when there is one, else at what the worker found inside the batch.
CREATE OR REPLACE TEMP TABLE fresh AS
SELECT n.* REPLACE (coalesce(r.root, n.duplicate_of) AS duplicate_of)
FROM batch_articles n
LEFT JOIN roots r USING (content_hash)
WHERE n.article_id NOT IN (SELECT article_id FROM known);

-- name: insert_fresh
-- By name: every column the record has (batches spooled before access_status: 'full').
INSERT INTO articles BY NAME
SELECT * EXCLUDE (bands) REPLACE (coalesce(access_status, 'full') AS access_status),
       coalesce(duplicate_of, article_id) AS cluster_id
FROM fresh;

-- name: fresh_bands
INSERT INTO article_bands SELECT unnest(bands), article_id FROM fresh WHERE len(bands) > 0;

-- name: near_duplicate_candidates
SELECT article_id, coalesce(domain, ''), text, content_hash, ingested_at, bands
FROM fresh WHERE duplicate_of IS NULL ORDER BY ingested_at, article_id;

-- name: stripped_bands
-- The stripped texts' keys: later copies under other furniture find these.
INSERT INTO article_bands SELECT band_key, article_id FROM nd_extra;

-- name: near_duplicate_roots
UPDATE fresh SET duplicate_of = r.root FROM nd_roots r WHERE fresh.article_id = r.article_id;

-- name: near_duplicate_copies
-- In-batch exact duplicates of an article that turned out to be a near-duplicate.
UPDATE fresh SET duplicate_of = r.root FROM nd_roots r WHERE fresh.duplicate_of = r.article_id;
