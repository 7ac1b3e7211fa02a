-- Full-text search over the search index of migration 010 (warehouse/search_index.py).
-- Plain SQL over tables: no extension is needed to call it, in newsflow sql or in any DuckDB
-- that opens the warehouse (query words map to stemmed terms through search_lexicon).

COMMENT ON MACRO search_tokenize IS 'The words of a text as the search index stores them before stop words and stemming: lower case, accents stripped, runs of letters and digits of any script.';

-- The parsed query: one row per word of each item, stop words left out (their places kept).
-- An item is a word, a "quoted phrase" or a word with inner punctuation (covid-19: a phrase).
-- occur: must (+item, or beside AND), not (-item, or after NOT), else should.
CREATE OR REPLACE MACRO search_query(query) AS TABLE
WITH
    tokens AS (
        SELECT unnest(toks) AS tok, generate_subscripts(toks, 1) AS i
        FROM (SELECT regexp_extract_all(CAST(query AS VARCHAR), '[+-]?"[^"]*"?|[^\s"]+') AS toks)
    ),
    items AS (
        SELECT i, tok,
            CASE WHEN starts_with(tok, '-') OR lag(tok) OVER w = 'NOT' THEN 'not'
                 WHEN starts_with(tok, '+') OR lag(tok) OVER w = 'AND'
                      OR lead(tok) OVER w = 'AND' THEN 'must'
                 ELSE 'should' END AS occur
        FROM tokens
        WINDOW w AS (ORDER BY i)
    ),
    words AS (
        SELECT i AS item, occur, unnest(ws) AS word, generate_subscripts(ws, 1) AS place
        FROM (SELECT i, occur, search_tokenize(ltrim(tok, '+-')) AS ws FROM items
              WHERE tok NOT IN ('AND', 'OR', 'NOT'))
    ),
    kept AS (SELECT * FROM words WHERE word NOT IN (SELECT word FROM search_stopwords))
SELECT item, occur, word,
    CAST(place - min(place) OVER (PARTITION BY item) AS INTEGER) AS word_offset,
    CAST(count(*) OVER (PARTITION BY item) AS INTEGER) AS item_words
FROM kept;
COMMENT ON MACRO TABLE search_query IS 'The words of a search query as search_articles reads it: item (its place in the query), occur (must, should or not), word, word_offset (its place within a phrase, stop words counted) and item_words (words of the item; over 1: a phrase).';

-- search_articles: BM25 over title and text, best first. Bare words: any may match, more
-- rank higher; AND between items: both must; +item must; -item or NOT item must not;
-- "quoted phrase": its words in that order. The score is the BM25 of DuckDB's fts extension
-- (k1 = 1.2, b = 0.75, idf = log10((N - df + 0.5) / (df + 0.5) + 1)) over the matched items'
-- words, with a word in the title counted title_weight times (1 gives the extension's score).
-- The filters default to '' (no filter; NULL means the same): a DuckLake catalog cannot
-- store a macro parameter whose default is NULL.
CREATE OR REPLACE MACRO search_articles(
    query, since := '', until := '', domain := '', language := '',
    include_duplicates := false, max_results := 20, title_weight := 2
) AS TABLE
WITH
    q AS (SELECT * FROM search_query(query)),
    items AS (SELECT DISTINCT item, occur FROM q),
    qterms AS (
        SELECT q.item, q.occur, q.word_offset, q.item_words, l.term_id
        FROM q JOIN search_lexicon l ON l.word = q.word
    ),
    postings AS (
        SELECT b.term_id, unnest(b.doc_ids) AS doc_id, unnest(b.title_tfs) AS title_tf,
            unnest(b.text_tfs) AS text_tf
        FROM search_blocks b
        WHERE b.term_id IN (SELECT term_id FROM qterms)
    ),
    live AS (
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, d.title_len, d.text_len
        FROM postings p JOIN search_docs d ON d.doc_id = p.doc_id
    ),
    df AS (SELECT l.term_id, count(*) AS df FROM live l GROUP BY l.term_id),
    -- Phrases: the positions of their words in the articles holding all of them.
    phrase_lists AS (
        SELECT t.item, t.item_words, t.word_offset, pp.doc_id, pp.pos
        FROM (
            SELECT b.term_id, unnest(b.doc_ids) AS doc_id, unnest(b.positions) AS pos
            FROM search_blocks b
            WHERE b.term_id IN (SELECT term_id FROM qterms WHERE item_words > 1)
        ) pp
        JOIN qterms t ON t.term_id = pp.term_id AND t.item_words > 1
        QUALIFY count(*) OVER (PARTITION BY t.item, pp.doc_id) = t.item_words
    ),
    phrase_docs AS (
        SELECT item, doc_id FROM (
            SELECT item, item_words, doc_id, word_offset, unnest(pos) - word_offset AS start
            FROM phrase_lists
        )
        GROUP BY item, item_words, doc_id, start
        HAVING count(DISTINCT word_offset) = any_value(item_words)
    ),
    matched AS (
        SELECT DISTINCT t.item, t.occur, l.doc_id
        FROM live l JOIN qterms t ON t.term_id = l.term_id AND t.item_words = 1
        UNION
        SELECT DISTINCT p.item, i.occur, p.doc_id FROM phrase_docs p JOIN items i USING (item)
    ),
    selected AS (
        SELECT m.doc_id FROM matched m GROUP BY m.doc_id
        HAVING count(DISTINCT m.item) FILTER (WHERE m.occur = 'must')
                = (SELECT count(*) FROM items WHERE occur = 'must')
            AND count(*) FILTER (WHERE m.occur <> 'not') > 0
            AND count(*) FILTER (WHERE m.occur = 'not') = 0
    ),
    totals AS (
        SELECT num_docs, (title_weight * title_len + text_len) / num_docs AS avgdl
        FROM search_stats WHERE num_docs > 0
    ),
    scores AS (
        SELECT m.doc_id,
            sum(log10((s.num_docs - f.df + 0.5) / (f.df + 0.5) + 1)
                * m.tf * (1.2 + 1) / (m.tf + 1.2 * (1 - 0.75 + 0.75 * m.len / s.avgdl)))
                AS score
        FROM (
            SELECT DISTINCT l.doc_id, l.term_id,
                title_weight * l.title_tf + l.text_tf AS tf,
                title_weight * l.title_len + l.text_len AS len
            FROM live l
            WHERE l.term_id IN (SELECT term_id FROM qterms WHERE occur <> 'not')
              AND l.doc_id IN (SELECT doc_id FROM selected)
        ) m
        JOIN df f USING (term_id), totals s
        GROUP BY m.doc_id
    ),
    -- The best max_results, filtered, before reading articles for only those.
    best AS (
        SELECT d.article_id, sc.score, d.published_at AS indexed_at
        FROM scores sc JOIN search_docs d ON d.doc_id = sc.doc_id
        WHERE (nullif(CAST(since AS VARCHAR), '') IS NULL
               OR CAST(timezone('UTC', d.published_at) AS DATE)
                  >= CAST(nullif(CAST(since AS VARCHAR), '') AS DATE))
          AND (nullif(CAST(until AS VARCHAR), '') IS NULL
               OR CAST(timezone('UTC', d.published_at) AS DATE)
                  <= CAST(nullif(CAST(until AS VARCHAR), '') AS DATE))
          AND (nullif(domain, '') IS NULL OR d.domain = domain
               OR ends_with(d.domain, '.' || domain))
          AND (nullif(language, '') IS NULL OR d.language = language)
          AND (include_duplicates OR d.article_id NOT IN (
                SELECT c.article_id FROM articles c WHERE c.duplicate_of IS NOT NULL))
        ORDER BY sc.score DESC, d.published_at DESC NULLS LAST, d.article_id
        LIMIT max_results
    )
SELECT
    a.article_id,
    b.score,
    a.title,
    a.domain,
    a.published_at,
    a.language,
    a.url,
    a.duplicate_of,
    a.word_count
FROM best b
JOIN articles a ON a.article_id = b.article_id
ORDER BY b.score DESC, b.indexed_at DESC NULLS LAST, a.article_id;
COMMENT ON MACRO TABLE search_articles IS 'Full-text search, best first: search_articles(query, since, until, domain, language, include_duplicates, max_results, title_weight). Query syntax: words (any may match), "phrases", AND, OR, NOT, +word, -word (README.md, Full-text search). Returns article_id, score (BM25), title, domain, published_at, language, url, duplicate_of, word_count.';
