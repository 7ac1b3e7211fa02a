-- The search index in impact order (warehouse/search_index.py): postings one row each, every
-- term's postings of a segment sorted by their BM25 weight and cut into blocks whose largest
-- possible score is kept apart (search_blocks), so a query reads the blocks that can still
-- reach its top results instead of every posting of its words. Word positions (phrases) and
-- the filter columns (duplicate_of among them) are read without touching articles.
-- The tables of migration 010 go, except the stemmer table; the first load after this
-- migration indexes every article again (once), then each load adds its own articles.

DROP TABLE IF EXISTS search_blocks;
DROP TABLE IF EXISTS search_docs;
DROP TABLE IF EXISTS search_terms;
DROP TABLE IF EXISTS search_lexicon;
DROP TABLE IF EXISTS search_segments;
DROP TABLE IF EXISTS search_stats;

CREATE TABLE search_docs (
    doc_id INTEGER NOT NULL,
    article_id VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    language VARCHAR,
    domain VARCHAR,
    published_at TIMESTAMPTZ,
    duplicate_of VARCHAR,
    title_len INTEGER NOT NULL,
    text_len INTEGER NOT NULL
);
COMMENT ON TABLE search_docs IS 'Search index: one row per indexed article (its current text), in doc_id order.';
COMMENT ON COLUMN search_docs.doc_id IS 'The article''s number in the index (search_postings.doc_id); a changed text gets a new one and the old row goes.';
COMMENT ON COLUMN search_docs.article_id IS 'The article (articles.article_id).';
COMMENT ON COLUMN search_docs.content_hash IS 'content_hash of the text that was indexed.';
COMMENT ON COLUMN search_docs.language IS 'articles.language when indexed (it chose the stemmer); the language filter of search_articles.';
COMMENT ON COLUMN search_docs.domain IS 'articles.domain when indexed; the domain filter of search_articles.';
COMMENT ON COLUMN search_docs.published_at IS 'articles.published_at when indexed; the date filters of search_articles.';
COMMENT ON COLUMN search_docs.duplicate_of IS 'articles.duplicate_of, kept current by the loader (relinks and revisions included): search_articles leaves copies out unless asked.';
COMMENT ON COLUMN search_docs.title_len IS 'Indexed words (stop words left out) in the title.';
COMMENT ON COLUMN search_docs.text_len IS 'Indexed words (stop words left out) in the text.';

CREATE TABLE search_terms (
    term_id INTEGER NOT NULL,
    stemmer VARCHAR NOT NULL,
    term VARCHAR NOT NULL
);
COMMENT ON TABLE search_terms IS 'Search index: the term dictionary, one row per stemmed word and stemmer.';
COMMENT ON COLUMN search_terms.term_id IS 'The term''s number (search_postings.term_id, search_lexicon.term_id).';
COMMENT ON COLUMN search_terms.stemmer IS 'The Snowball stemmer that made it (search_stemmers.stemmer; none: the word unstemmed).';
COMMENT ON COLUMN search_terms.term IS 'The word lower-cased, accents stripped, stemmed.';

CREATE TABLE search_lexicon (
    word VARCHAR NOT NULL,
    term_id INTEGER NOT NULL
);
COMMENT ON TABLE search_lexicon IS 'Search index: every word seen in an indexed article, with the term it stems to in each stemmer it was seen with; queries map their words through it, so they need no stemmer.';
COMMENT ON COLUMN search_lexicon.word IS 'The word as search_tokenize gives it (lower case, accents stripped).';
COMMENT ON COLUMN search_lexicon.term_id IS 'Its term (search_terms.term_id).';

CREATE TABLE search_postings (
    segment INTEGER NOT NULL,
    term_id INTEGER NOT NULL,
    block INTEGER NOT NULL,
    doc_id INTEGER NOT NULL,
    title_tf INTEGER NOT NULL,
    text_tf INTEGER NOT NULL,
    positions INTEGER[] NOT NULL
);
COMMENT ON TABLE search_postings IS 'Search index postings: one row per term and article. A segment''s rows are sorted by term, then by the posting''s BM25 weight, highest first, and numbered in blocks (search_blocks), so a search reads only the blocks of its terms that can reach its best results.';
COMMENT ON COLUMN search_postings.segment IS 'The segment (search_segments): one load''s articles, or several merged.';
COMMENT ON COLUMN search_postings.term_id IS 'The term (search_terms.term_id).';
COMMENT ON COLUMN search_postings.block IS 'The block (search_blocks.block) within the term''s postings of the segment; 0 holds the highest weights.';
COMMENT ON COLUMN search_postings.doc_id IS 'The article (search_docs.doc_id; ids no longer there are ignored, see search_removed).';
COMMENT ON COLUMN search_postings.title_tf IS 'How often the term occurs in the title.';
COMMENT ON COLUMN search_postings.text_tf IS 'How often the term occurs in the text.';
COMMENT ON COLUMN search_postings.positions IS 'Word positions of the term in the article, stop words counted: 1.. in the text, title words at -65535.. (for phrases).';

CREATE TABLE search_blocks (
    segment INTEGER NOT NULL,
    term_id INTEGER NOT NULL,
    block INTEGER NOT NULL,
    docs INTEGER NOT NULL,
    max_title_tf INTEGER NOT NULL,
    max_text_tf INTEGER NOT NULL,
    min_title_len INTEGER NOT NULL,
    min_text_len INTEGER NOT NULL,
    max_tf2 INTEGER NOT NULL,
    min_len_per_tf2 DOUBLE NOT NULL
);
COMMENT ON TABLE search_blocks IS 'Search index: one row per block of search_postings (up to 128 postings of a term in a segment), with what bounds the BM25 weight of any posting in it, so a search skips blocks that cannot reach its best results.';
COMMENT ON COLUMN search_blocks.segment IS 'The segment (search_segments.segment).';
COMMENT ON COLUMN search_blocks.term_id IS 'The term (search_terms.term_id).';
COMMENT ON COLUMN search_blocks.block IS 'The block''s number within the term''s postings of the segment, 0 first (highest weights).';
COMMENT ON COLUMN search_blocks.docs IS 'Postings in the block (articles holding the term), removed articles included (search_removed).';
COMMENT ON COLUMN search_blocks.max_title_tf IS 'Largest title_tf in the block.';
COMMENT ON COLUMN search_blocks.max_text_tf IS 'Largest text_tf in the block.';
COMMENT ON COLUMN search_blocks.min_title_len IS 'Smallest search_docs.title_len of the block''s articles.';
COMMENT ON COLUMN search_blocks.min_text_len IS 'Smallest search_docs.text_len of the block''s articles.';
COMMENT ON COLUMN search_blocks.max_tf2 IS 'Largest 2 * title_tf + text_tf in the block (the default title weight).';
COMMENT ON COLUMN search_blocks.min_len_per_tf2 IS 'Smallest (2 * title_len + text_len) / (2 * title_tf + text_tf) in the block.';

CREATE TABLE search_removed (doc_id INTEGER NOT NULL, term_id INTEGER NOT NULL);
COMMENT ON TABLE search_removed IS 'Search index: the terms of articles whose text changed after it was indexed (their old doc_id), while their old postings remain in search_postings: document frequencies leave those out. A merge of their segment drops the postings and the rows.';
COMMENT ON COLUMN search_removed.doc_id IS 'The old doc_id (no longer in search_docs).';
COMMENT ON COLUMN search_removed.term_id IS 'A term of its old text (search_terms.term_id).';

CREATE TABLE search_segments (
    segment INTEGER NOT NULL,
    loads INTEGER NOT NULL,
    first_doc INTEGER,
    docs INTEGER NOT NULL,
    blocks BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE search_segments IS 'Search index: the segments of search_postings. Each load adds one; groups of 8 of similar size are merged into one (a load merges the smallest; newsflow search-index --compact the rest).';
COMMENT ON COLUMN search_segments.segment IS 'Segment number (search_postings.segment).';
COMMENT ON COLUMN search_segments.loads IS 'Loads whose articles it holds (a rebuild counts as one).';
COMMENT ON COLUMN search_segments.first_doc IS 'Its lowest doc_id.';
COMMENT ON COLUMN search_segments.docs IS 'Articles indexed in it.';
COMMENT ON COLUMN search_segments.blocks IS 'Its rows in search_blocks.';
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
