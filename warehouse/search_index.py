"""The BM25 search index, kept current by the loader inside each batch's transaction.

DuckDB's fts extension builds its index in one pass over the whole table and cannot add to it;
rebuilding after every load would make each load cost grow with the warehouse (a rebuild of
11,000 articles already takes ~15 s here). So the index lives in plain tables (migration 004:
``search_docs``, ``search_postings``, ``search_terms``, ``search_stats``) that a batch extends
with its own articles only, using the extension's Porter stemmer (``stem``, loaded from the
pinned ``duckdb-extension-fts`` package) and the same tokenization, stop-word handling and
BM25 formula as the extension's ``match_bm25``. A test checks the scores are the extension's.

Per batch the work is proportional to the batch: new articles are appended; an article whose
text changed gets a new ``version`` (postings of older versions are ignored, and its old words
leave the document frequencies again, re-tokenized from ``article_versions``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse import fts

# Words of the relation ``{source}`` (article_id, title, text), stemmed, stop words left out,
# counted per field: one row per (term, article). The same words as the fts extension's
# ``lower(strip_accents(s))`` split on ``[^\p{L}\p{N}]+`` (the ``search_tokenize`` macro
# that queries use), computed cheaper: tokens keep their combining marks and accents are
# stripped once per distinct non-ASCII token, not over every text (stripping marks only
# joins the letters around them, so the words are the same; tests compare both). Tokens
# are counted in one group-by after the join (cheaper here than a histogram per text).
_POSTINGS = """
WITH tokens AS (
    SELECT article_id, 1 AS field,
           unnest(regexp_extract_all(lower(title), '[\\p{{L}}\\p{{N}}\\p{{M}}]+')) AS t
    FROM {source}
    UNION ALL
    SELECT article_id, 2 AS field,
           unnest(regexp_extract_all(lower(text), '[\\p{{L}}\\p{{N}}\\p{{M}}]+')) AS t
    FROM {source}
),
-- Stemming is the costly part: once per distinct word of the batch, not per occurrence.
stems AS (
    SELECT t, stem(w, 'porter') AS term FROM (
        SELECT t, CASE WHEN strlen(t) = length(t) THEN t ELSE strip_accents(t) END AS w
        FROM (SELECT DISTINCT t FROM tokens))
    WHERE length(w) > 0 AND w NOT IN (SELECT word FROM search_stopwords)
)
SELECT s.term, c.article_id,
       CAST(count(*) FILTER (WHERE c.field = 1) AS INTEGER) AS title_tf,
       CAST(count(*) FILTER (WHERE c.field = 2) AS INTEGER) AS text_tf
FROM tokens c JOIN stems s USING (t)
GROUP BY ALL
"""
# Spool table of a batch's postings, computed by the worker that wrote the batch.
SPOOLED = "postings"
_MIGRATION = Path(__file__).parent / "migrations" / "004_search_index.sql"
_local = threading.local()


def _postings_connection() -> duckdb.DuckDBPyConnection:
    """A worker's own in-memory DuckDB with the stemmer and the warehouse's stop words."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(config={"threads": 1})  # workers are the parallelism
        fts.load(con)
        sql = _MIGRATION.read_text(encoding="utf-8")
        con.execute(sql[sql.index("CREATE TABLE search_stopwords") :])
        _local.con = con
    return con


def batch_postings(articles: pa.Table) -> pa.Table:
    """The search postings (term, article_id, title_tf, text_tf) of a batch's articles, the
    first row of each article_id (as the loader keeps it). Run by workers, so the single
    loader only appends them."""
    con = _postings_connection()
    con.register("postings_source", articles.select(["article_id", "title", "text"]))
    try:
        result = con.execute(
            _POSTINGS.format(
                source="(SELECT * FROM postings_source "
                "QUALIFY row_number() OVER (PARTITION BY article_id) = 1)"
            )
        ).arrow()
        if isinstance(result, pa.RecordBatchReader):  # lazy: read before unregistering
            result = result.read_all()
    finally:
        con.unregister("postings_source")
    return result


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def merge_search_index(con: duckdb.DuckDBPyConnection, *, spooled: bool = False) -> int:
    """Index the batch's new (``fresh``) and changed (``changed``) articles; on the first batch
    after migration 004, every article. Returns the number of articles indexed.

    ``spooled``: the batch's postings are registered as ``new_postings`` (``batch_postings``,
    computed by the worker); otherwise they are computed here."""
    fts.load(con)
    if not _count(con, "SELECT count(*) FROM search_stats"):
        con.execute("INSERT INTO search_stats VALUES (1, 0, 0, 0)")
        older = (
            "SELECT count(*) FROM articles WHERE article_id NOT IN (SELECT article_id FROM fresh)"
        )
        if _count(con, older):  # a warehouse loaded before the index existed
            return index_articles(con, "SELECT article_id, title, text, content_hash FROM articles")
    # Only a changed article can be in the index already: new ones have new ids.
    return index_articles(
        con,
        "SELECT article_id, title, text, content_hash FROM fresh UNION ALL "
        "SELECT article_id, title, text, content_hash FROM changed",
        may_be_indexed=_count(con, "SELECT count(*) FROM changed") > 0,
        postings="new_postings" if spooled else None,
    )


def index_articles(
    con: duckdb.DuckDBPyConnection,
    source: str,
    *,
    may_be_indexed: bool = True,
    postings: str | None = None,
) -> int:
    """Add (or re-index) the articles that ``source`` selects (article_id, title, text,
    content_hash; each article once). ``may_be_indexed=False`` promises none is indexed yet,
    which spares a scan of ``search_docs``. ``postings``: a relation holding the postings
    of those articles' texts already (``batch_postings``)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE search_batch AS {source}")
    indexed = _count(con, "SELECT count(*) FROM search_batch")
    if not indexed:
        return 0
    # Documents already indexed (articles whose text changed), with the text they had.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_old AS "
        "SELECT d.article_id, d.version, d.title_len, d.text_len, v.title, v.text "
        "FROM search_docs d "
        "LEFT JOIN (SELECT article_id, content_hash, any_value(title) AS title, "
        "           any_value(text) AS text FROM article_versions "
        "           WHERE article_id IN (SELECT article_id FROM search_batch) GROUP BY ALL) v "
        "  ON v.article_id = d.article_id AND v.content_hash = d.content_hash "
        "WHERE d.article_id IN (SELECT article_id FROM search_batch)"
        + ("" if may_be_indexed else " AND false")
    )
    if postings is None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE search_new AS " + _POSTINGS.format(source="search_batch")
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE search_new AS SELECT term, article_id, title_tf, "
            f"text_tf FROM {postings} SEMI JOIN search_batch USING (article_id)"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_new_docs AS "
        "SELECT b.article_id, coalesce(o.version, 0) + 1 AS version, b.content_hash, "
        "  CAST(coalesce(sum(n.title_tf), 0) AS INTEGER) AS title_len, "
        "  CAST(coalesce(sum(n.text_tf), 0) AS INTEGER) AS text_len "
        "FROM search_batch b LEFT JOIN search_new n USING (article_id) "
        "LEFT JOIN search_old o USING (article_id) GROUP BY b.article_id, o.version, "
        "b.content_hash"
    )
    # No key to upsert on (migration 005): re-indexed documents replace their row.
    if may_be_indexed:
        con.execute(
            "DELETE FROM search_docs WHERE article_id IN (SELECT article_id FROM search_old)"
        )
    con.execute(
        "INSERT INTO search_docs SELECT article_id, version, content_hash, title_len, text_len "
        "FROM search_new_docs"
    )
    if may_be_indexed:
        con.execute(
            "INSERT INTO search_postings SELECT n.term, n.article_id, d.version, n.title_tf, "
            "n.text_tf FROM search_new n JOIN search_new_docs d USING (article_id)"
        )
    else:  # every document is new: version 1, no join
        con.execute(
            "INSERT INTO search_postings SELECT term, article_id, 1, title_tf, text_tf "
            "FROM search_new"
        )
    # Document frequencies: +1 for each new document's words, -1 for each replaced one's.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_old_words AS "
        + _POSTINGS.format(source="search_old WHERE text IS NOT NULL")
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE search_delta AS "
        "SELECT term, CAST(sum(delta) AS INTEGER) AS df FROM ("
        "  SELECT term, 1 AS delta FROM search_new"
        "  UNION ALL SELECT term, -1 AS delta FROM search_old_words"
        ") GROUP BY term HAVING sum(delta) <> 0"
    )
    con.execute(
        "UPDATE search_terms SET df = search_terms.df + d.df FROM search_delta d "
        "WHERE search_terms.term = d.term"
    )
    con.execute(
        "INSERT INTO search_terms SELECT d.term, d.df FROM search_delta d "
        "ANTI JOIN search_terms t ON t.term = d.term"
    )
    con.execute(
        "UPDATE search_stats SET "
        "num_docs = num_docs + (SELECT count(*) FROM search_new_docs WHERE version = 1), "
        "title_len = title_len + (SELECT coalesce(sum(title_len), 0) FROM search_new_docs) "
        "  - (SELECT coalesce(sum(title_len), 0) FROM search_old), "
        "text_len = text_len + (SELECT coalesce(sum(text_len), 0) FROM search_new_docs) "
        "  - (SELECT coalesce(sum(text_len), 0) FROM search_old) "
        "WHERE id = 1"
    )
    for table in ("search_batch", "search_old", "search_new", "search_new_docs"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    for table in ("search_old_words", "search_delta"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return indexed
