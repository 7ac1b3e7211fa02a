-- Extraction metadata, access status, near-duplicate clusters and stored raw HTML.

ALTER TABLE articles ADD COLUMN modified_at TIMESTAMPTZ;
ALTER TABLE articles ADD COLUMN published_source VARCHAR;
ALTER TABLE articles ADD COLUMN modified_source VARCHAR;
ALTER TABLE articles ADD COLUMN authors VARCHAR[];
ALTER TABLE articles ADD COLUMN site_name VARCHAR;
ALTER TABLE articles ADD COLUMN description VARCHAR;
ALTER TABLE articles ADD COLUMN image VARCHAR;
ALTER TABLE articles ADD COLUMN tags VARCHAR[];
ALTER TABLE articles ADD COLUMN categories VARCHAR[];
ALTER TABLE articles ADD COLUMN canonical_link VARCHAR;
ALTER TABLE articles ADD COLUMN access_status VARCHAR;
ALTER TABLE articles ADD COLUMN reading_minutes INTEGER;
ALTER TABLE articles ADD COLUMN extractor VARCHAR;
ALTER TABLE articles ADD COLUMN cluster_id VARCHAR;
COMMENT ON COLUMN articles.modified_at IS 'When the publisher last changed the article, by the date rule (tasks/articles.py); NULL if unknown.';
COMMENT ON COLUMN articles.published_source IS 'Where published_at came from: seed, jsonld, meta, feed, time, htmldate or url.';
COMMENT ON COLUMN articles.modified_source IS 'Where modified_at came from: jsonld, meta, feed, ...';
COMMENT ON COLUMN articles.authors IS 'Authors as a normalized list of names (bylines split, "By" dropped, deduplicated).';
COMMENT ON COLUMN articles.site_name IS 'The publication''s name as the page declares it (og:site_name, JSON-LD publisher).';
COMMENT ON COLUMN articles.description IS 'The page''s own summary (JSON-LD, og:description or meta description).';
COMMENT ON COLUMN articles.image IS 'URL of the article''s lead image.';
COMMENT ON COLUMN articles.tags IS 'Keywords and tags from the page and the feed entry.';
COMMENT ON COLUMN articles.categories IS 'Sections or categories the page declares (articleSection, article:section).';
COMMENT ON COLUMN articles.canonical_link IS 'The page''s own canonical URL (rel=canonical or og:url), as declared; NULL if none.';
COMMENT ON COLUMN articles.access_status IS 'full, paywalled (paywall or teaser), consent_wall or bot_challenge (text is then the feed summary), not_article.';
COMMENT ON COLUMN articles.reading_minutes IS 'Minutes to read the text at 230 words a minute (at least 1).';
COMMENT ON COLUMN articles.extractor IS 'Extractor and version that produced text from HTML; NULL when the input had the text (seed files).';
COMMENT ON COLUMN articles.cluster_id IS 'Near-duplicate cluster: the article_id of the cluster''s earliest article (its own id if it is the first).';

CREATE TABLE article_bands (
    band_key BIGINT NOT NULL,
    article_id VARCHAR NOT NULL
);
COMMENT ON TABLE article_bands IS 'MinHash LSH band keys of every article''s text (tasks/near_duplicates.py): articles sharing a key are near-duplicate candidates.';
COMMENT ON COLUMN article_bands.band_key IS 'Hash of one band of the MinHash signature, band number included.';
COMMENT ON COLUMN article_bands.article_id IS 'The article (articles.article_id).';

CREATE TABLE raw_pages (
    url VARCHAR NOT NULL,
    article_id VARCHAR,
    fetched_at TIMESTAMPTZ NOT NULL,
    html_hash VARCHAR NOT NULL,
    html_bytes BIGINT NOT NULL,
    html_zstd BLOB NOT NULL
);
COMMENT ON TABLE raw_pages IS 'Every distinct fetched page, zstd-compressed, so re-extraction never refetches.';
COMMENT ON COLUMN raw_pages.url IS 'The URL fetched.';
COMMENT ON COLUMN raw_pages.article_id IS 'The article it became (articles.article_id); it may be absent from articles if the page was rejected.';
COMMENT ON COLUMN raw_pages.fetched_at IS 'When this version was first fetched.';
COMMENT ON COLUMN raw_pages.html_hash IS 'BLAKE2b of the HTML: one row per distinct version of a page.';
COMMENT ON COLUMN raw_pages.html_bytes IS 'Size of the HTML (UTF-8) before compression.';
COMMENT ON COLUMN raw_pages.html_zstd IS 'The HTML, UTF-8, zstd-compressed (decompress with zstd_decompress or tasks.raw_pages.page_html).';

UPDATE articles SET cluster_id = coalesce(duplicate_of, article_id), access_status = 'full';
