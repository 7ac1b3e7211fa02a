-- Search postings carry their article's indexed lengths, so a search scores the postings it
-- reads without looking up search_docs for every article they name (a join over every
-- indexed article at 1M); search_docs is read only for the filters asked for, the copies left
-- out and the articles shown. The first load after this migration finds search_layout
-- without this version and indexes every article again (once), on a single file and on a
-- lake alike (a lake gains the columns, empty, and the table).

ALTER TABLE search_postings ADD COLUMN title_len INTEGER;
ALTER TABLE search_postings ADD COLUMN text_len INTEGER;
COMMENT ON COLUMN search_postings.title_len IS 'search_docs.title_len of the article (its indexed words in the title), for BM25 without a look-up.';
COMMENT ON COLUMN search_postings.text_len IS 'search_docs.text_len of the article (its indexed words in the text), for BM25 without a look-up.';

CREATE TABLE search_layout (version INTEGER NOT NULL);
COMMENT ON TABLE search_layout IS 'Search index: the layout (migration number) the index was built with; a load finding an older one (or none beside built totals) indexes every article again.';
COMMENT ON COLUMN search_layout.version IS 'The migration whose layout the index has (13: lengths in search_postings).';
