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

import duckdb

from newsflow.tasks.contract import POSTINGS_SQL
from newsflow.warehouse import fts

# The postings query the workers run too (``tasks.postings.batch_postings``).
_POSTINGS = POSTINGS_SQL


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def merge_search_index(con: duckdb.DuckDBPyConnection, *, spooled: bool = False) -> int:
    """Index the batch's new (``fresh``) and changed (``changed``) articles; on the first batch
    after migration 004, every article. Returns the number of articles indexed.

    ``spooled``: the batch's postings are registered as ``new_postings`` (``tasks.postings``,
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
    of those articles' texts already (``tasks.postings.batch_postings``)."""
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
