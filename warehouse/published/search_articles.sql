-- search_articles: BM25 over title and text on the search index (migration 004), best first.
-- The query is tokenized, stop-worded and Porter-stemmed like the articles. The score is the
-- BM25 of DuckDB's fts extension (k1 = 1.2, b = 0.75, idf = log10((N - df + 0.5) / (df + 0.5) + 1))
-- with a word in the title counted title_weight times (1 gives the extension's exact score).
CREATE OR REPLACE MACRO search_articles(
    query, since := NULL, until := NULL, domain := NULL, language := NULL,
    include_duplicates := false, max_results := 20, title_weight := 2
) AS TABLE
WITH
    q AS (
        SELECT DISTINCT stem(w, 'porter') AS term
        FROM (SELECT unnest(search_tokenize(query)) AS w)
        WHERE length(w) > 0 AND w NOT IN (SELECT word FROM search_stopwords)
    ),
    totals AS (
        SELECT num_docs, (title_weight * title_len + text_len) / num_docs AS avgdl
        FROM search_stats WHERE num_docs > 0
    ),
    matches AS (
        SELECT p.article_id,
            title_weight * p.title_tf + p.text_tf AS tf,
            title_weight * d.title_len + d.text_len AS len,
            t.df
        FROM search_postings p
        JOIN q ON q.term = p.term
        JOIN search_terms t ON t.term = p.term
        JOIN search_docs d ON d.article_id = p.article_id AND d.version = p.version
    ),
    scores AS (
        SELECT m.article_id,
            sum(log10((s.num_docs - m.df + 0.5) / (m.df + 0.5) + 1)
                * m.tf * (1.2 + 1) / (m.tf + 1.2 * (1 - 0.75 + 0.75 * m.len / s.avgdl)))
                AS score
        FROM matches m, totals s
        GROUP BY m.article_id
    )
SELECT
    a.article_id,
    sc.score,
    a.title,
    a.domain,
    a.published_at,
    a.language,
    a.url,
    a.duplicate_of,
    a.word_count
FROM scores sc
JOIN articles a ON a.article_id = sc.article_id
WHERE (since IS NULL OR CAST(timezone('UTC', a.published_at) AS DATE) >= CAST(since AS DATE))
  AND (until IS NULL OR CAST(timezone('UTC', a.published_at) AS DATE) <= CAST(until AS DATE))
  AND (domain IS NULL OR a.domain = domain OR ends_with(a.domain, '.' || domain))
  AND (language IS NULL OR a.language = language)
  AND (include_duplicates OR a.duplicate_of IS NULL)
ORDER BY sc.score DESC, a.published_at DESC NULLS LAST, a.article_id
LIMIT max_results;
