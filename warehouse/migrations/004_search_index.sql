-- The full-text search index, kept current by the loader in each batch's transaction
-- (warehouse/search_index.py). BM25 as DuckDB's fts extension computes it, with the
-- extension's Porter stemmer, but stored so that new and changed articles are indexed
-- incrementally: the extension's own index can only be rebuilt whole.

CREATE TABLE search_docs (
    article_id VARCHAR PRIMARY KEY,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    title_len INTEGER NOT NULL,
    text_len INTEGER NOT NULL
);
COMMENT ON TABLE search_docs IS 'Search index: one row per indexed article.';
COMMENT ON COLUMN search_docs.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN search_docs.version IS 'Bumped when the article''s text changes; search_postings rows of older versions are ignored.';
COMMENT ON COLUMN search_docs.content_hash IS 'content_hash of the text that was indexed.';
COMMENT ON COLUMN search_docs.title_len IS 'Indexed words (stop words left out) in the title.';
COMMENT ON COLUMN search_docs.text_len IS 'Indexed words (stop words left out) in the text.';

CREATE TABLE search_postings (
    term VARCHAR NOT NULL,
    article_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    title_tf INTEGER NOT NULL,
    text_tf INTEGER NOT NULL
);
COMMENT ON TABLE search_postings IS 'Search index: one row per stemmed word and article version.';
COMMENT ON COLUMN search_postings.term IS 'The word: lower-cased, accents stripped, Porter-stemmed.';
COMMENT ON COLUMN search_postings.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN search_postings.version IS 'The search_docs.version it belongs to.';
COMMENT ON COLUMN search_postings.title_tf IS 'How often the word occurs in the title.';
COMMENT ON COLUMN search_postings.text_tf IS 'How often the word occurs in the text.';

CREATE TABLE search_terms (
    term VARCHAR PRIMARY KEY,
    df INTEGER NOT NULL
);
COMMENT ON TABLE search_terms IS 'Search index: document frequency of every indexed word.';
COMMENT ON COLUMN search_terms.term IS 'The stemmed word.';
COMMENT ON COLUMN search_terms.df IS 'Articles whose current title or text contains it.';

CREATE TABLE search_stats (
    id INTEGER PRIMARY KEY,
    num_docs BIGINT NOT NULL,
    title_len BIGINT NOT NULL,
    text_len BIGINT NOT NULL
);
COMMENT ON TABLE search_stats IS 'Search index: one row of totals for BM25.';
COMMENT ON COLUMN search_stats.id IS 'Always 1.';
COMMENT ON COLUMN search_stats.num_docs IS 'Articles indexed.';
COMMENT ON COLUMN search_stats.title_len IS 'Sum of search_docs.title_len.';
COMMENT ON COLUMN search_stats.text_len IS 'Sum of search_docs.text_len.';

CREATE TABLE search_stopwords (word VARCHAR PRIMARY KEY);
COMMENT ON TABLE search_stopwords IS 'Words left out of the search index and of queries.';
COMMENT ON COLUMN search_stopwords.word IS 'A lower-case English function word.';
INSERT INTO search_stopwords VALUES
('a'), ('about'), ('above'), ('after'), ('again'), ('against'), ('all'), ('also'), ('am'),
('an'), ('and'), ('any'), ('are'), ('as'), ('at'), ('be'), ('because'), ('been'), ('before'),
('being'), ('below'), ('between'), ('both'), ('but'), ('by'), ('can'), ('could'), ('did'),
('do'), ('does'), ('doing'), ('down'), ('during'), ('each'), ('few'), ('for'), ('from'),
('further'), ('had'), ('has'), ('have'), ('having'), ('he'), ('her'), ('here'), ('hers'),
('herself'), ('him'), ('himself'), ('his'), ('how'), ('i'), ('if'), ('in'), ('into'), ('is'),
('it'), ('its'), ('itself'), ('just'), ('me'), ('more'), ('most'), ('my'), ('myself'), ('no'),
('nor'), ('not'), ('now'), ('of'), ('off'), ('on'), ('once'), ('only'), ('or'), ('other'),
('our'), ('ours'), ('ourselves'), ('out'), ('over'), ('own'), ('same'), ('she'), ('should'),
('so'), ('some'), ('such'), ('than'), ('that'), ('the'), ('their'), ('theirs'), ('them'),
('themselves'), ('then'), ('there'), ('these'), ('they'), ('this'), ('those'), ('through'),
('to'), ('too'), ('under'), ('until'), ('up'), ('very'), ('was'), ('we'), ('were'), ('what'),
('when'), ('where'), ('which'), ('while'), ('who'), ('whom'), ('why'), ('will'), ('with'),
('would'), ('you'), ('your'), ('yours'), ('yourself'), ('yourselves');

-- Splits text into the words the index stores (before stop words and stemming): lower case,
-- accents stripped, runs of letters and digits of any script (what DuckDB's fts extension
-- makes of it with ignore = '[^\p{L}\p{N}]+', in one regex pass instead of two).
CREATE MACRO search_tokenize(s) AS
    regexp_extract_all(lower(strip_accents(CAST(s AS VARCHAR))), '[\p{L}\p{N}]+');
