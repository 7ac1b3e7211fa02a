-- Full-text search over the search index of migrations 012-013 (warehouse/search_index.py).
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
-- (k1 = 1.2, b = 0.75, idf = log10((N - df + 0.5) / (df + 0.5) + 1)) over the query's words
-- (not NOT items') that the article holds, a word in the title counted title_weight times
-- (1 gives the extension's score).
--
-- Exact top max_results without reading every posting of the query's words: a term's
-- postings are in blocks by weight, each with a bound of any weight in it (search_blocks);
-- umax(t) is the largest bound of term t.
-- 1. The first blocks of each term (per segment): their articles that surely match the query
--    (filters, musts, phrases, NOTs checked) give, with the part of their score seen, a
--    score theta that the max_results-th result reaches (0 when fewer than max_results).
-- 2. An article scoring theta or more has a term t of weight >= theta * umax(t) / sum(umax):
--    only the blocks whose bound reaches that are read. Candidates: the articles read whose
--    score could still reach theta with the largest weights of the blocks left unread.
-- 3. The candidates' postings not read yet are read (a scan per term, by article): their
--    scores are exact, and no other article can reach theta. With theta = 0, round 2 read
--    every block.
-- NOT items read all their words' postings (what they exclude must be known exactly).
-- Terms are read by a scan each (slots), so the scan filters rows by the term's key range.
-- What a scan of the index is joined with (terms, blocks, pairs) reaches the join through a
-- list (one aggregate row, then unnest): a lake's tables have no column statistics, and a
-- planner estimating those sets at millions of rows would hash the whole of search_postings
-- (or search_blocks, search_lexicon) as the join's build side instead of filtering its scan.
CREATE OR REPLACE MACRO search_scores(
    query, since, until, domain, language, include_duplicates, max_results, title_weight
) AS TABLE
WITH
    q AS (SELECT * FROM search_query(query)),
    items AS (SELECT DISTINCT item, occur FROM q),
    qterms AS (
        SELECT q.item, q.occur, q.word_offset, q.item_words, l.term_id
        FROM (SELECT unnest(r, recursive := true) FROM (SELECT list(q) AS r FROM q)) q
        JOIN search_lexicon l ON l.word = q.word
    ),
    -- The scored terms, each read by a scan of its own (slots 1-3; more terms share slot 4):
    -- a join with one term's blocks filters the scan's rows by that term and block range.
    scored AS (
        SELECT term_id, least(dense_rank() OVER (ORDER BY term_id), 4) AS slot
        FROM (SELECT DISTINCT term_id FROM qterms WHERE occur <> 'not')
    ),
    musts AS (SELECT count(*) AS n FROM items WHERE occur = 'must'),
    -- Per scored term: the single-word items it matches, and how many of them are musts.
    term_items AS (
        SELECT s.term_id,
            count(*) FILTER (WHERE t.item_words = 1 AND t.occur <> 'not') AS singles,
            count(*) FILTER (WHERE t.item_words = 1 AND t.occur = 'must') AS single_musts
        FROM scored s JOIN qterms t USING (term_id) GROUP BY s.term_id
    ),
    totals AS (
        SELECT num_docs, (title_weight * title_len + text_len) / num_docs AS avgdl
        FROM search_stats WHERE num_docs > 0
    ),
    -- Document frequencies: the blocks' counts less the postings of removed articles.
    dead AS (
        SELECT r.term_id, count(*) AS n FROM search_removed r
        WHERE r.term_id IN (SELECT unnest(l) FROM (SELECT list(term_id) AS l FROM scored))
        GROUP BY r.term_id
    ),
    -- The scored terms' blocks, a scan per slot as for postings.
    blocks AS (
        SELECT b.*, 1 AS slot FROM search_blocks b
        SEMI JOIN (
            SELECT unnest(l) AS term_id FROM (
                SELECT list(term_id) AS l FROM scored WHERE slot = 1)
        ) s USING (term_id)
        UNION ALL
        SELECT b.*, 2 AS slot FROM search_blocks b
        SEMI JOIN (
            SELECT unnest(l) AS term_id FROM (
                SELECT list(term_id) AS l FROM scored WHERE slot = 2)
        ) s USING (term_id)
        UNION ALL
        SELECT b.*, 3 AS slot FROM search_blocks b
        SEMI JOIN (
            SELECT unnest(l) AS term_id FROM (
                SELECT list(term_id) AS l FROM scored WHERE slot = 3)
        ) s USING (term_id)
        UNION ALL
        SELECT b.*, 4 AS slot FROM search_blocks b
        SEMI JOIN (
            SELECT unnest(l) AS term_id FROM (
                SELECT list(term_id) AS l FROM scored WHERE slot = 4)
        ) s USING (term_id)
    ),
    idf AS (
        SELECT f.term_id, log10((s.num_docs - f.df + 0.5) / (f.df + 0.5) + 1) AS idf
        FROM (
            SELECT b.term_id, sum(b.docs) - coalesce(any_value(x.n), 0) AS df
            FROM blocks b LEFT JOIN dead x USING (term_id) GROUP BY b.term_id
        ) f, totals s
    ),
    -- Each block's bound: the BM25 weight of its largest term frequency at its smallest
    -- length (tighter at the default title weight, where the ratio is kept).
    bounds AS (
        SELECT b.segment, b.term_id, b.block, b.slot, b.docs,
            i.idf * 2.2 / (1 + CASE WHEN title_weight = 2
                THEN 0.3 / b.max_tf2 + 0.9 * b.min_len_per_tf2 / s.avgdl
                ELSE (0.3 + 0.9 * (title_weight * b.min_title_len + b.min_text_len) / s.avgdl)
                     / greatest(title_weight * b.max_title_tf + b.max_text_tf, 1e-9) END) AS u
        FROM blocks b JOIN idf i USING (term_id), totals s
    ),
    umax AS (SELECT term_id, max(u) AS u FROM bounds GROUP BY term_id),
    -- The articles the filters let through, read only when a filter is given (search_docs
    -- is then scanned once, by its filter columns).
    unfiltered AS (
        SELECT since IS NULL AND until IS NULL AND domain IS NULL AND language IS NULL AS yes
    ),
    filtered AS (
        SELECT d.doc_id FROM search_docs d
        WHERE NOT (SELECT yes FROM unfiltered)
          AND (since IS NULL
               OR CAST(timezone('UTC', d.published_at) AS DATE) >= CAST(since AS DATE))
          AND (until IS NULL
               OR CAST(timezone('UTC', d.published_at) AS DATE) <= CAST(until AS DATE))
          AND (domain IS NULL OR d.domain = domain OR ends_with(d.domain, '.' || domain))
          AND (language IS NULL OR d.language = language)
          AND (include_duplicates OR d.duplicate_of IS NULL)
    ),
    -- Articles never shown: copies (unless asked for; few rows of search_docs hold a
    -- duplicate_of) and the old texts of changed articles, whose postings stay until a merge.
    dropped AS (
        SELECT doc_id FROM search_docs WHERE NOT include_duplicates AND duplicate_of IS NOT NULL
        UNION
        SELECT doc_id FROM search_removed
    ),
    -- NOT items: the articles they exclude, from every posting of their words. (Phrases: a
    -- word's positions are distinct, so count(*) counts the words found at a start.)
    not_terms AS (
        SELECT term_id, item_words > 1 AS in_phrase,
            least(dense_rank() OVER (ORDER BY term_id), 2) AS slot
        FROM (SELECT term_id, max(item_words) AS item_words FROM qterms WHERE occur = 'not'
              GROUP BY term_id)
    ),
    not_docs AS (
        SELECT p.term_id, p.doc_id FROM search_postings p
        SEMI JOIN (
            SELECT unnest(l) AS term_id FROM (
                SELECT list(term_id) AS l FROM not_terms WHERE slot = 1)
        ) k USING (term_id)
        UNION ALL
        SELECT p.term_id, p.doc_id FROM search_postings p
        SEMI JOIN (
            SELECT unnest(l) AS term_id FROM (
                SELECT list(term_id) AS l FROM not_terms WHERE slot = 2)
        ) k USING (term_id)
    ),
    not_phrase_rows AS (
        SELECT p.term_id, p.doc_id, p.positions FROM search_postings p
        SEMI JOIN (
            SELECT unnest(l) AS term_id FROM (
                SELECT list(term_id) AS l FROM not_terms WHERE in_phrase AND slot = 1)
        ) k USING (term_id)
        UNION ALL
        SELECT p.term_id, p.doc_id, p.positions FROM search_postings p
        SEMI JOIN (
            SELECT unnest(l) AS term_id FROM (
                SELECT list(term_id) AS l FROM not_terms WHERE in_phrase AND slot = 2)
        ) k USING (term_id)
    ),
    excluded AS (
        SELECT r.doc_id FROM not_docs r JOIN qterms t
            ON t.term_id = r.term_id AND t.occur = 'not' AND t.item_words = 1
        UNION
        SELECT doc_id FROM (
            SELECT t.item, t.item_words, r.doc_id, unnest(r.positions) - t.word_offset AS start,
                t.word_offset
            FROM not_phrase_rows r JOIN qterms t
                ON t.term_id = r.term_id AND t.occur = 'not' AND t.item_words > 1
        )
        GROUP BY item, doc_id, start
        HAVING count(*) = any_value(item_words)
    ),
    -- Round 1: the first blocks (highest weights) of every scored term in each segment, up
    -- to at least 256 postings (10 per result asked for, if more).
    first_blocks AS (
        SELECT segment, term_id, block, slot FROM (
            SELECT b.segment, b.term_id, b.block, b.slot, coalesce(sum(b.docs) OVER (
                PARTITION BY b.segment, b.term_id ORDER BY b.block
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
            FROM blocks b)
        WHERE before < greatest(256, 10 * max_results)
    ),
    rows1 AS (
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len, p.positions
        FROM search_postings p SEMI JOIN (
            SELECT unnest(l, recursive := true) FROM (
                SELECT list(b) AS l FROM first_blocks b WHERE slot = 1)) k
            ON k.segment = p.segment AND k.term_id = p.term_id AND k.block = p.block
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len, p.positions
        FROM search_postings p SEMI JOIN (
            SELECT unnest(l, recursive := true) FROM (
                SELECT list(b) AS l FROM first_blocks b WHERE slot = 2)) k
            ON k.segment = p.segment AND k.term_id = p.term_id AND k.block = p.block
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len, p.positions
        FROM search_postings p SEMI JOIN (
            SELECT unnest(l, recursive := true) FROM (
                SELECT list(b) AS l FROM first_blocks b WHERE slot = 3)) k
            ON k.segment = p.segment AND k.term_id = p.term_id AND k.block = p.block
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len, p.positions
        FROM search_postings p SEMI JOIN (
            SELECT unnest(l, recursive := true) FROM (
                SELECT list(b) AS l FROM first_blocks b WHERE slot = 4)) k
            ON k.segment = p.segment AND k.term_id = p.term_id AND k.block = p.block
    ),
    -- The phrases found in round 1's rows, per article.
    phrases1 AS (
        SELECT doc_id, count(DISTINCT item) AS found,
            count(DISTINCT item) FILTER (WHERE occur = 'must') AS musts_found
        FROM (
            -- the starts of the phrase's first word that each other word follows at its place
            SELECT item, any_value(occur) AS occur, doc_id FROM (
                SELECT a.item, a.occur, a.item_words, a.doc_id, unnest(list_filter(
                    a.positions, x -> list_contains(o.positions, x + o.word_offset))) AS start
                FROM (
                    SELECT t.item, t.occur, t.item_words, t.word_offset, r.doc_id, r.positions
                    FROM rows1 r JOIN qterms t
                        ON t.term_id = r.term_id AND t.item_words > 1 AND t.occur <> 'not'
                ) a JOIN (
                    SELECT t.item, t.word_offset, r.doc_id, r.positions
                    FROM rows1 r JOIN qterms t
                        ON t.term_id = r.term_id AND t.item_words > 1 AND t.occur <> 'not'
                ) o ON o.item = a.item AND o.doc_id = a.doc_id AND o.word_offset > 0
                WHERE a.word_offset = 0
            )
            GROUP BY item, doc_id, start
            HAVING count(*) = any_value(item_words) - 1
        )
        GROUP BY doc_id
    ),
    -- Per article: its score from the rows read, and the single-word items they match (an
    -- article has one stemmer, so a word is one term in it: the terms' counts add up).
    docs1 AS (
        SELECT r.doc_id, sum(ti.singles) AS singles, sum(ti.single_musts) AS musts_found,
            sum(i.idf * r.tf * 2.2 / (r.tf + 1.2 * (0.25 + 0.75 * r.len / s.avgdl))) AS score
        FROM (
            SELECT doc_id, term_id, title_weight * title_tf + text_tf AS tf,
                title_weight * title_len + text_len AS len
            FROM rows1
            WHERE doc_id NOT IN (SELECT doc_id FROM dropped)
              AND ((SELECT yes FROM unfiltered) OR doc_id IN (SELECT doc_id FROM filtered))
        ) r
        JOIN term_items ti USING (term_id) JOIN idf i USING (term_id), totals s
        GROUP BY r.doc_id
    ),
    seen1 AS (
        SELECT d.doc_id, d.score FROM docs1 d LEFT JOIN phrases1 f USING (doc_id)
        WHERE d.musts_found + coalesce(f.musts_found, 0) = (SELECT n FROM musts)
          AND d.singles + coalesce(f.found, 0) > 0
          AND d.doc_id NOT IN (SELECT doc_id FROM excluded)
    ),
    theta AS (
        SELECT coalesce((
            SELECT min(score) FROM (SELECT score FROM seen1 ORDER BY score DESC
                                    LIMIT max_results)
            HAVING count(*) >= max_results), 0) AS theta
    ),
    -- Round 2: every article scoring theta or more has a term t with a weight of at least
    -- theta * umax(t) / sum(umax) (else its score falls short): the blocks whose bound
    -- reaches that are read. rest(t): the largest bound of t's blocks left unread.
    thresholds AS (
        SELECT m.term_id, theta.theta * m.u / a.total * (1 - 1e-9) - 1e-12 AS tau
        FROM umax m, theta, (SELECT sum(u) AS total FROM umax) a
    ),
    picked AS (
        SELECT b.segment, b.term_id, b.block, b.slot
        FROM bounds b JOIN thresholds t USING (term_id) WHERE b.u >= t.tau
    ),
    rest AS (
        SELECT b.term_id, coalesce(max(b.u) FILTER (WHERE b.u < t.tau), 0) AS r
        FROM bounds b JOIN thresholds t USING (term_id) GROUP BY b.term_id
    ),
    rows2 AS (
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len, p.positions
        FROM search_postings p SEMI JOIN (
            SELECT unnest(l, recursive := true) FROM (
                SELECT list(b) AS l FROM picked b WHERE slot = 1)) k
            ON k.segment = p.segment AND k.term_id = p.term_id AND k.block = p.block
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len, p.positions
        FROM search_postings p SEMI JOIN (
            SELECT unnest(l, recursive := true) FROM (
                SELECT list(b) AS l FROM picked b WHERE slot = 2)) k
            ON k.segment = p.segment AND k.term_id = p.term_id AND k.block = p.block
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len, p.positions
        FROM search_postings p SEMI JOIN (
            SELECT unnest(l, recursive := true) FROM (
                SELECT list(b) AS l FROM picked b WHERE slot = 3)) k
            ON k.segment = p.segment AND k.term_id = p.term_id AND k.block = p.block
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len, p.positions
        FROM search_postings p SEMI JOIN (
            SELECT unnest(l, recursive := true) FROM (
                SELECT list(b) AS l FROM picked b WHERE slot = 4)) k
            ON k.segment = p.segment AND k.term_id = p.term_id AND k.block = p.block
    ),
    -- The candidates: articles read whose score, with the largest weights the terms they
    -- were not seen with could still add, can reach theta. With theta = 0 every block was
    -- read and round 2's rows are complete.
    cands AS (
        SELECT r.doc_id FROM (
            SELECT r.doc_id, sum(i.idf * r.tf * 2.2
                    / (r.tf + 1.2 * (0.25 + 0.75 * r.len / s.avgdl))) - sum(x.r) AS low
            FROM (
                SELECT doc_id, term_id, title_weight * title_tf + text_tf AS tf,
                    title_weight * title_len + text_len AS len
                FROM rows2
                WHERE doc_id NOT IN (SELECT doc_id FROM dropped)
                  AND ((SELECT yes FROM unfiltered) OR doc_id IN (SELECT doc_id FROM filtered))
            ) r
            JOIN idf i USING (term_id) JOIN rest x USING (term_id), totals s
            GROUP BY r.doc_id
        ) r, theta, (SELECT sum(r) AS r FROM rest) x
        WHERE theta.theta > 0 AND r.low + x.r >= theta.theta * (1 - 1e-9) - 1e-12
          AND r.doc_id NOT IN (SELECT doc_id FROM excluded)
    ),
    -- Round 3: the candidates' postings not read yet (terms with blocks left unread, articles
    -- not seen with them), a scan per term, by term and article; positions for phrases only.
    missing AS (
        SELECT m.* FROM (
            SELECT c.doc_id, s.term_id, s.slot, s.term_id IN (
                    SELECT term_id FROM qterms WHERE item_words > 1 AND occur <> 'not'
                ) AS in_phrase
            FROM cands c, scored s JOIN rest x USING (term_id) WHERE x.r > 0
        ) m
        ANTI JOIN rows2 r USING (doc_id, term_id)
    ),
    rows3 AS (
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len,
            CAST(NULL AS INTEGER[]) AS positions
        FROM search_postings p SEMI JOIN (
            SELECT k.doc_id, k.term_id FROM (SELECT unnest(ks) AS k FROM (
                SELECT list({'doc_id': doc_id, 'term_id': term_id}) AS ks FROM missing
                WHERE slot = 1 AND NOT in_phrase)))
            k ON k.term_id = p.term_id AND k.doc_id = p.doc_id
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len,
            p.positions
        FROM search_postings p SEMI JOIN (
            SELECT k.doc_id, k.term_id FROM (SELECT unnest(ks) AS k FROM (
                SELECT list({'doc_id': doc_id, 'term_id': term_id}) AS ks FROM missing
                WHERE slot = 1 AND in_phrase)))
            k ON k.term_id = p.term_id AND k.doc_id = p.doc_id
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len,
            CAST(NULL AS INTEGER[]) AS positions
        FROM search_postings p SEMI JOIN (
            SELECT k.doc_id, k.term_id FROM (SELECT unnest(ks) AS k FROM (
                SELECT list({'doc_id': doc_id, 'term_id': term_id}) AS ks FROM missing
                WHERE slot = 2 AND NOT in_phrase)))
            k ON k.term_id = p.term_id AND k.doc_id = p.doc_id
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len,
            p.positions
        FROM search_postings p SEMI JOIN (
            SELECT k.doc_id, k.term_id FROM (SELECT unnest(ks) AS k FROM (
                SELECT list({'doc_id': doc_id, 'term_id': term_id}) AS ks FROM missing
                WHERE slot = 2 AND in_phrase)))
            k ON k.term_id = p.term_id AND k.doc_id = p.doc_id
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len,
            CAST(NULL AS INTEGER[]) AS positions
        FROM search_postings p SEMI JOIN (
            SELECT k.doc_id, k.term_id FROM (SELECT unnest(ks) AS k FROM (
                SELECT list({'doc_id': doc_id, 'term_id': term_id}) AS ks FROM missing
                WHERE slot = 3 AND NOT in_phrase)))
            k ON k.term_id = p.term_id AND k.doc_id = p.doc_id
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len,
            p.positions
        FROM search_postings p SEMI JOIN (
            SELECT k.doc_id, k.term_id FROM (SELECT unnest(ks) AS k FROM (
                SELECT list({'doc_id': doc_id, 'term_id': term_id}) AS ks FROM missing
                WHERE slot = 3 AND in_phrase)))
            k ON k.term_id = p.term_id AND k.doc_id = p.doc_id
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len,
            CAST(NULL AS INTEGER[]) AS positions
        FROM search_postings p SEMI JOIN (
            SELECT k.doc_id, k.term_id FROM (SELECT unnest(ks) AS k FROM (
                SELECT list({'doc_id': doc_id, 'term_id': term_id}) AS ks FROM missing
                WHERE slot = 4 AND NOT in_phrase)))
            k ON k.term_id = p.term_id AND k.doc_id = p.doc_id
        UNION ALL
        SELECT p.term_id, p.doc_id, p.title_tf, p.text_tf, p.title_len, p.text_len,
            p.positions
        FROM search_postings p SEMI JOIN (
            SELECT k.doc_id, k.term_id FROM (SELECT unnest(ks) AS k FROM (
                SELECT list({'doc_id': doc_id, 'term_id': term_id}) AS ks FROM missing
                WHERE slot = 4 AND in_phrase)))
            k ON k.term_id = p.term_id AND k.doc_id = p.doc_id
    ),
    rows_final AS (
        SELECT * FROM rows2
        WHERE (SELECT theta FROM theta) = 0 OR doc_id IN (SELECT doc_id FROM cands)
        UNION ALL
        SELECT * FROM rows3
    ),
    -- The phrases found in round 2's rows, per article.
    phrases2 AS (
        SELECT doc_id, count(DISTINCT item) AS found,
            count(DISTINCT item) FILTER (WHERE occur = 'must') AS musts_found
        FROM (
            -- the starts of the phrase's first word that each other word follows at its place
            SELECT item, any_value(occur) AS occur, doc_id FROM (
                SELECT a.item, a.occur, a.item_words, a.doc_id, unnest(list_filter(
                    a.positions, x -> list_contains(o.positions, x + o.word_offset))) AS start
                FROM (
                    SELECT t.item, t.occur, t.item_words, t.word_offset, r.doc_id, r.positions
                    FROM rows_final r JOIN qterms t
                        ON t.term_id = r.term_id AND t.item_words > 1 AND t.occur <> 'not'
                ) a JOIN (
                    SELECT t.item, t.word_offset, r.doc_id, r.positions
                    FROM rows_final r JOIN qterms t
                        ON t.term_id = r.term_id AND t.item_words > 1 AND t.occur <> 'not'
                ) o ON o.item = a.item AND o.doc_id = a.doc_id AND o.word_offset > 0
                WHERE a.word_offset = 0
            )
            GROUP BY item, doc_id, start
            HAVING count(*) = any_value(item_words) - 1
        )
        GROUP BY doc_id
    ),
    -- Per article: its score from the rows read, and the single-word items they match (an
    -- article has one stemmer, so a word is one term in it: the terms' counts add up).
    docs2 AS (
        SELECT r.doc_id, sum(ti.singles) AS singles, sum(ti.single_musts) AS musts_found,
            sum(i.idf * r.tf * 2.2 / (r.tf + 1.2 * (0.25 + 0.75 * r.len / s.avgdl))) AS score
        FROM (
            SELECT doc_id, term_id, title_weight * title_tf + text_tf AS tf,
                title_weight * title_len + text_len AS len
            FROM rows_final
            WHERE doc_id NOT IN (SELECT doc_id FROM dropped)
              AND ((SELECT yes FROM unfiltered) OR doc_id IN (SELECT doc_id FROM filtered))
        ) r
        JOIN term_items ti USING (term_id) JOIN idf i USING (term_id), totals s
        GROUP BY r.doc_id
    ),
    scores AS (
        -- Rounded, so articles of equal score tie exactly (then published_at decides).
        SELECT d.doc_id, round(d.score, 12) AS score
        FROM docs2 d LEFT JOIN phrases2 f USING (doc_id)
        WHERE d.musts_found + coalesce(f.musts_found, 0) = (SELECT n FROM musts)
          AND d.singles + coalesce(f.found, 0) > 0
          AND d.doc_id NOT IN (SELECT doc_id FROM excluded)
    )
SELECT doc_id, score FROM scores;
COMMENT ON MACRO TABLE search_scores IS 'The articles search_articles scores for a query, all its parameters given (NULL for no filter, false, 20, 2 as its defaults): doc_id and score (exact BM25 when at least the max_results-th best score: those are the results). Fewer rows than all matching articles when the index could skip blocks; search_articles is what to call.';

-- The filters default to '' (no filter; NULL means the same): a DuckLake catalog cannot
-- store a macro parameter whose default is NULL.
CREATE OR REPLACE MACRO search_articles(
    query, since := '', until := '', domain := '', language := '',
    include_duplicates := false, max_results := 20, title_weight := 2
) AS TABLE
WITH
    scores AS (
        SELECT * FROM search_scores(
            query,
            nullif(CAST(since AS VARCHAR), ''), nullif(CAST(until AS VARCHAR), ''),
            nullif(domain, ''), nullif(language, ''),
            include_duplicates, max_results, title_weight)
    ),
    -- The articles scoring at least the max_results-th score (ties at the last place kept,
    -- as published_at then article_id order them), looked up in search_docs by doc_id.
    cut AS (SELECT score FROM scores ORDER BY score DESC LIMIT 1 OFFSET max_results - 1),
    -- (through a list, as in search_scores: else search_docs is hashed whole to find them)
    top AS (
        SELECT t.doc_id, t.score FROM (SELECT unnest(l) AS t FROM (
            SELECT list({'doc_id': s.doc_id, 'score': s.score}) AS l
            FROM scores s LEFT JOIN cut c ON true
            WHERE c.score IS NULL OR s.score >= c.score))
    ),
    best AS (
        SELECT d.article_id, t.score, d.published_at AS indexed_at
        FROM top t JOIN search_docs d ON d.doc_id = t.doc_id
        ORDER BY t.score DESC, coalesce(d.published_at, TIMESTAMPTZ '-infinity') DESC,
            d.article_id
        LIMIT max_results
    ),
    -- The rows shown, read from articles by id and published_at: on a lake, whose articles
    -- are in day partitions, the join's few dates prune the files (an id alone reads all).
    -- search_docs keeps the last date of an article whose date went: those by id alone.
    found AS (
        SELECT a.article_id, b.score, a.title, a.domain, a.published_at, a.language, a.url,
            a.duplicate_of, a.word_count, b.indexed_at
        FROM best b JOIN articles a
            ON a.article_id = b.article_id AND a.published_at = b.indexed_at
        UNION ALL
        SELECT a.article_id, b.score, a.title, a.domain, a.published_at, a.language, a.url,
            a.duplicate_of, a.word_count, b.indexed_at
        FROM best b JOIN articles a ON a.article_id = b.article_id AND a.published_at IS NULL
    ),
    shown AS (
        SELECT * FROM found
        UNION ALL
        SELECT a.article_id, b.score, a.title, a.domain, a.published_at, a.language, a.url,
            a.duplicate_of, a.word_count, b.indexed_at
        FROM (SELECT * FROM best ANTI JOIN found USING (article_id)) b
        JOIN articles a ON a.article_id = b.article_id
    )
-- (qualified: domain and language are also the macro's parameters)
SELECT s.article_id, s.score, s.title, s.domain, s.published_at, s.language, s.url,
    s.duplicate_of, s.word_count
FROM shown s
ORDER BY s.score DESC, s.indexed_at DESC NULLS LAST, s.article_id;
COMMENT ON MACRO TABLE search_articles IS 'Full-text search, best first: search_articles(query, since, until, domain, language, include_duplicates, max_results, title_weight). Query syntax: words (any may match), "phrases", AND, OR, NOT, +word, -word (README.md, Full-text search). Returns article_id, score (BM25), title, domain, published_at, language, url, duplicate_of, word_count. Exact top results: reads only the blocks of postings that can reach them (search_blocks).'; 
