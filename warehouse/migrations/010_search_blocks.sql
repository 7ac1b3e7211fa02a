-- The search index by term (warehouse/search_index.py): a term dictionary and postings stored
-- per term in blocks, so a search reads only its terms' blocks instead of every posting.
-- Words are stemmed with the stemmer of the article's detected language (search_stemmers).
-- The tables of migration 004 go; the first load after this migration indexes every article
-- again (once), then each load adds its own articles.

DROP TABLE IF EXISTS search_postings;
DROP TABLE IF EXISTS search_terms;
DROP TABLE IF EXISTS search_docs;
DROP TABLE IF EXISTS search_stats;

CREATE TABLE search_docs (
    doc_id INTEGER NOT NULL,
    article_id VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    language VARCHAR,
    domain VARCHAR,
    published_at TIMESTAMPTZ,
    title_len INTEGER NOT NULL,
    text_len INTEGER NOT NULL
);
COMMENT ON TABLE search_docs IS 'Search index: one row per indexed article (its current text), in doc_id order.';
COMMENT ON COLUMN search_docs.doc_id IS 'The article''s number in the index (search_blocks.doc_ids); a changed text gets a new one and the old row goes.';
COMMENT ON COLUMN search_docs.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN search_docs.content_hash IS 'content_hash of the text that was indexed.';
COMMENT ON COLUMN search_docs.language IS 'articles.language when indexed (it chose the stemmer); the language filter of search_articles.';
COMMENT ON COLUMN search_docs.domain IS 'articles.domain when indexed; the domain filter of search_articles.';
COMMENT ON COLUMN search_docs.published_at IS 'articles.published_at when indexed; the date filters of search_articles.';
COMMENT ON COLUMN search_docs.title_len IS 'Indexed words (stop words left out) in the title.';
COMMENT ON COLUMN search_docs.text_len IS 'Indexed words (stop words left out) in the text.';

CREATE TABLE search_terms (
    term_id INTEGER NOT NULL,
    stemmer VARCHAR NOT NULL,
    term VARCHAR NOT NULL
);
COMMENT ON TABLE search_terms IS 'Search index: the term dictionary, one row per stemmed word and stemmer.';
COMMENT ON COLUMN search_terms.term_id IS 'The term''s number (search_blocks.term_id, search_lexicon.term_id).';
COMMENT ON COLUMN search_terms.stemmer IS 'The Snowball stemmer that made it (search_stemmers.stemmer; none: the word unstemmed).';
COMMENT ON COLUMN search_terms.term IS 'The word lower-cased, accents stripped, stemmed.';

CREATE TABLE search_lexicon (
    word VARCHAR NOT NULL,
    term_id INTEGER NOT NULL
);
COMMENT ON TABLE search_lexicon IS 'Search index: every word seen in an indexed article, with the term it stems to in each stemmer it was seen with; queries map their words through it, so they need no stemmer.';
COMMENT ON COLUMN search_lexicon.word IS 'The word as search_tokenize gives it (lower case, accents stripped).';
COMMENT ON COLUMN search_lexicon.term_id IS 'Its term (search_terms.term_id).';

CREATE TABLE search_blocks (
    segment INTEGER NOT NULL,
    term_id INTEGER NOT NULL,
    doc_ids INTEGER[] NOT NULL,
    title_tfs INTEGER[] NOT NULL,
    text_tfs INTEGER[] NOT NULL,
    positions INTEGER[][] NOT NULL
);
COMMENT ON TABLE search_blocks IS 'Search index postings: rows of up to 1,024 articles per term and segment, a segment''s rows sorted by term_id, so a search reads only the rows holding its terms.';
COMMENT ON COLUMN search_blocks.segment IS 'The segment (search_segments): one load''s articles, or several merged.';
COMMENT ON COLUMN search_blocks.term_id IS 'The term (search_terms.term_id).';
COMMENT ON COLUMN search_blocks.doc_ids IS 'The articles holding the term, in no particular order (search_docs.doc_id; ids no longer in search_docs are ignored).';
COMMENT ON COLUMN search_blocks.title_tfs IS 'How often the term occurs in each of those titles (in the order of doc_ids).';
COMMENT ON COLUMN search_blocks.text_tfs IS 'How often the term occurs in each of those texts.';
COMMENT ON COLUMN search_blocks.positions IS 'Word positions of the term in each article, stop words counted: 1.. in the text, title words at -65535.. (for phrases).';

CREATE TABLE search_segments (
    segment INTEGER NOT NULL,
    loads INTEGER NOT NULL,
    first_doc INTEGER,
    docs INTEGER NOT NULL,
    blocks BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE search_segments IS 'Search index: the segments of search_blocks. Each load adds one; groups of 8 of similar size are merged into one (a load merges the smallest; newsflow search-index --compact the rest).';
COMMENT ON COLUMN search_segments.segment IS 'Segment number (search_blocks.segment).';
COMMENT ON COLUMN search_segments.loads IS 'Loads whose articles it holds (a rebuild counts as one).';
COMMENT ON COLUMN search_segments.first_doc IS 'Its lowest doc_id.';
COMMENT ON COLUMN search_segments.docs IS 'Articles indexed in it.';
COMMENT ON COLUMN search_segments.blocks IS 'Its rows in search_blocks (terms).';
COMMENT ON COLUMN search_segments.created_at IS 'When it was written.';

CREATE TABLE search_stats (
    id INTEGER NOT NULL,
    num_docs BIGINT NOT NULL,
    title_len BIGINT NOT NULL,
    text_len BIGINT NOT NULL,
    next_doc_id INTEGER NOT NULL,
    next_term_id INTEGER NOT NULL,
    next_segment INTEGER NOT NULL
);
COMMENT ON TABLE search_stats IS 'Search index: one row of totals for BM25 and the next free numbers.';
COMMENT ON COLUMN search_stats.id IS 'Always 1.';
COMMENT ON COLUMN search_stats.num_docs IS 'Articles indexed (rows of search_docs).';
COMMENT ON COLUMN search_stats.title_len IS 'Sum of search_docs.title_len.';
COMMENT ON COLUMN search_stats.text_len IS 'Sum of search_docs.text_len.';
COMMENT ON COLUMN search_stats.next_doc_id IS 'The next doc_id to give.';
COMMENT ON COLUMN search_stats.next_term_id IS 'The next term_id to give.';
COMMENT ON COLUMN search_stats.next_segment IS 'The next segment number to give.';

CREATE TABLE search_stemmers (language VARCHAR NOT NULL, stemmer VARCHAR NOT NULL);
COMMENT ON TABLE search_stemmers IS 'Which Snowball stemmer (DuckDB fts stem) stems the words of an article in each detected language; other languages keep their words unstemmed (none).';
COMMENT ON COLUMN search_stemmers.language IS 'ISO 639-1 code (articles.language).';
COMMENT ON COLUMN search_stemmers.stemmer IS 'Stemmer name (porter for English, as before per-language stemming).';
INSERT INTO search_stemmers VALUES
('en', 'porter'), ('ar', 'arabic'), ('eu', 'basque'), ('ca', 'catalan'), ('da', 'danish'),
('nl', 'dutch'), ('fi', 'finnish'), ('fr', 'french'), ('de', 'german'), ('el', 'greek'),
('hi', 'hindi'), ('hu', 'hungarian'), ('id', 'indonesian'), ('ga', 'irish'), ('it', 'italian'),
('lt', 'lithuanian'), ('ne', 'nepali'), ('no', 'norwegian'), ('nb', 'norwegian'),
('nn', 'norwegian'), ('pt', 'portuguese'), ('ro', 'romanian'), ('ru', 'russian'),
('sr', 'serbian'), ('es', 'spanish'), ('sv', 'swedish'), ('ta', 'tamil'), ('tr', 'turkish');
