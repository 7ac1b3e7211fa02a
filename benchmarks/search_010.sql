-- The search index of migration 010 and its search_articles macro, as they were before
-- migration 012: benchmarks/bench_search.py builds it beside today's index for comparison.

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

CREATE TABLE search_blocks (
    segment INTEGER NOT NULL,
    term_id INTEGER NOT NULL,
    doc_ids INTEGER[] NOT NULL,
    title_tfs INTEGER[] NOT NULL,
    text_tfs INTEGER[] NOT NULL,
    positions INTEGER[][] NOT NULL
);

CREATE TABLE search_segments (
    segment INTEGER NOT NULL,
    loads INTEGER NOT NULL,
    first_doc INTEGER,
    docs INTEGER NOT NULL,
    blocks BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE search_stats (
    id INTEGER NOT NULL,
    num_docs BIGINT NOT NULL,
    title_len BIGINT NOT NULL,
    text_len BIGINT NOT NULL,
    next_doc_id INTEGER NOT NULL,
    next_term_id INTEGER NOT NULL,
    next_segment INTEGER NOT NULL
);

CREATE OR REPLACE MACRO search_articles(
    query, since := NULL, until := NULL, domain := NULL, language := NULL,
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
        WHERE (since IS NULL
               OR CAST(timezone('UTC', d.published_at) AS DATE) >= CAST(since AS DATE))
          AND (until IS NULL
               OR CAST(timezone('UTC', d.published_at) AS DATE) <= CAST(until AS DATE))
          AND (domain IS NULL OR d.domain = domain OR ends_with(d.domain, '.' || domain))
          AND (language IS NULL OR d.language = language)
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
