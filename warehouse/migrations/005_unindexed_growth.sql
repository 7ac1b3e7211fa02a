-- The three tables that grow with every article lose their PRIMARY KEY. DuckDB keeps such
-- an index (an ART) whole in memory and writes it out again at every checkpoint, so the
-- cost of each load grew with the warehouse: at 1,000,000 articles the index of articles
-- alone added ~0.6 s to every load. Uniqueness stays the loader's job, as it already was:
-- a batch is deduplicated on its natural keys first, then merged by anti-join
-- (warehouse/loader.py, warehouse/search_index.py); tests load everything twice and after
-- crashes and check each key once. DuckDB cannot drop a key in place: each table is copied.

CREATE TABLE articles_005 (
    article_id VARCHAR NOT NULL,
    url VARCHAR NOT NULL,
    canonical_url VARCHAR NOT NULL,
    domain VARCHAR,
    title VARCHAR,
    published_at TIMESTAMP WITH TIME ZONE,
    language VARCHAR,
    language_confidence DOUBLE,
    text VARCHAR NOT NULL,
    word_count INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    duplicate_of VARCHAR,
    origin VARCHAR NOT NULL,
    ingested_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE,
    modified_at TIMESTAMP WITH TIME ZONE,
    published_source VARCHAR,
    modified_source VARCHAR,
    authors VARCHAR[],
    site_name VARCHAR,
    description VARCHAR,
    image VARCHAR,
    tags VARCHAR[],
    categories VARCHAR[],
    canonical_link VARCHAR,
    access_status VARCHAR,
    reading_minutes INTEGER,
    extractor VARCHAR,
    cluster_id VARCHAR
);
INSERT INTO articles_005 SELECT * FROM articles;
DROP TABLE articles;
ALTER TABLE articles_005 RENAME TO articles;
COMMENT ON TABLE articles IS 'One row per distinct canonical URL: the latest text of every article newsflow loaded.';
COMMENT ON COLUMN articles.article_id IS 'Stable id: 16 hex digits of the BLAKE2b hash of canonical_url (the same on every machine); one row per id.';
COMMENT ON COLUMN articles.url IS 'The URL the article was first loaded from.';
COMMENT ON COLUMN articles.canonical_url IS 'Normalized URL: lower-case scheme and host, no default port, fragment or tracking parameters.';
COMMENT ON COLUMN articles.domain IS 'Registered domain under the public suffix (www.bbc.co.uk -> bbc.co.uk).';
COMMENT ON COLUMN articles.title IS 'Headline, whitespace folded; NULL if unknown.';
COMMENT ON COLUMN articles.published_at IS 'Publication time; NULL if unknown or the stated date was impossible (see article_notes).';
COMMENT ON COLUMN articles.language IS 'ISO 639-1 code detected from the text; NULL if unknown or unsure.';
COMMENT ON COLUMN articles.language_confidence IS 'The language model''s probability for language (0-1).';
COMMENT ON COLUMN articles.text IS 'Article text, one paragraph a line; publisher comments are in article_comments.';
COMMENT ON COLUMN articles.word_count IS 'Number of words (\w+ runs) in text.';
COMMENT ON COLUMN articles.content_hash IS 'Hash of text with case, punctuation and spacing folded: equal hashes mean the same text.';
COMMENT ON COLUMN articles.duplicate_of IS 'NULL, or the article_id of the first article with the same or nearly the same text.';
COMMENT ON COLUMN articles.origin IS 'How the article first came in: seed, feed or url.';
COMMENT ON COLUMN articles.ingested_at IS 'When the article was first processed.';
COMMENT ON COLUMN articles.updated_at IS 'When the text last changed (the earlier text is in article_versions); NULL if never.';
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

CREATE TABLE search_docs_005 (
    article_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    title_len INTEGER NOT NULL,
    text_len INTEGER NOT NULL
);
INSERT INTO search_docs_005 SELECT * FROM search_docs;
DROP TABLE search_docs;
ALTER TABLE search_docs_005 RENAME TO search_docs;
COMMENT ON TABLE search_docs IS 'Search index: one row per indexed article.';
COMMENT ON COLUMN search_docs.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN search_docs.version IS 'Bumped when the article''s text changes; search_postings rows of older versions are ignored.';
COMMENT ON COLUMN search_docs.content_hash IS 'content_hash of the text that was indexed.';
COMMENT ON COLUMN search_docs.title_len IS 'Indexed words (stop words left out) in the title.';
COMMENT ON COLUMN search_docs.text_len IS 'Indexed words (stop words left out) in the text.';

CREATE TABLE search_terms_005 (
    term VARCHAR NOT NULL,
    df INTEGER NOT NULL
);
INSERT INTO search_terms_005 SELECT * FROM search_terms;
DROP TABLE search_terms;
ALTER TABLE search_terms_005 RENAME TO search_terms;
COMMENT ON TABLE search_terms IS 'Search index: document frequency of every indexed word.';
COMMENT ON COLUMN search_terms.term IS 'The stemmed word.';
COMMENT ON COLUMN search_terms.df IS 'Articles whose current title or text contains it.';

