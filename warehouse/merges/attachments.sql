-- What comes with the batch's articles: fetched pages, comments, sightings and notes.
-- Run after the articles family (``fresh`` and ``changed`` are its temp tables).

-- name: raw_pages
-- Each fetched page version once (by URL and HTML hash), as first fetched.
INSERT INTO raw_pages BY NAME
SELECT * FROM new_raw_pages r
WHERE NOT EXISTS (SELECT 1 FROM raw_pages o WHERE o.html_hash = r.html_hash AND o.url = r.url)
QUALIFY row_number() OVER (PARTITION BY r.url, r.html_hash ORDER BY r.fetched_at) = 1;

-- name: drop_comments
-- Comments follow the text they were published with: replaced for new and changed articles.
DELETE FROM article_comments WHERE article_id IN
(SELECT article_id FROM fresh UNION SELECT article_id FROM changed);

-- name: comments
INSERT INTO article_comments BY NAME
SELECT c.* FROM new_comments c
WHERE c.article_id IN (SELECT article_id FROM fresh UNION SELECT article_id FROM changed)
QUALIFY row_number() OVER (PARTITION BY c.article_id, c.position) = 1;

-- name: sightings
-- Each sighting once, at its first time; only the batch's articles' sightings are read, so
-- the anti-join hashes those, not all.
INSERT INTO article_sightings BY NAME
SELECT s.* EXCLUDE (seen_at), min(s.seen_at) AS seen_at
FROM new_sightings s WHERE NOT EXISTS (SELECT 1 FROM (
  SELECT * FROM article_sightings WHERE article_id IN
  (SELECT article_id FROM new_sightings)) o
  WHERE o.article_id = s.article_id AND o.origin = s.origin
  AND o.feed_url IS NOT DISTINCT FROM s.feed_url AND o.guid IS NOT DISTINCT FROM s.guid
  AND o.url_seen = s.url_seen)
GROUP BY ALL;

-- name: notes
-- A new article's notes, one per code.
INSERT INTO article_notes BY NAME
SELECT n.article_id, n.code, any_value(n.detail) AS detail, now() AS noted_at
FROM new_notes n WHERE n.article_id IN (SELECT article_id FROM fresh)
AND NOT EXISTS (SELECT 1 FROM article_notes o WHERE o.article_id = n.article_id
AND o.code = n.code) GROUP BY n.article_id, n.code;
