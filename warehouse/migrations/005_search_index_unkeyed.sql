-- The search index's two tables that grow with every article and word lose their PRIMARY
-- KEY. DuckDB keeps such an index (an ART) whole in memory and writes it out again at every
-- checkpoint, so the cost of each load grew with the warehouse; these keys served only the
-- loader's upserts, which now update and anti-join instead (warehouse/search_index.py).
-- (articles keeps its key: the loader reads past texts by id, and without the index every
-- such read scans all texts.) DuckDB cannot drop a key in place: each table is copied.

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

