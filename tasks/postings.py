"""The search index's postings of a batch's articles, computed by the worker that spools
the batch (``tasks/spool.py``), so the single loader only renumbers and appends them
(``warehouse/search_index.py``) instead of tokenizing, stemming and grouping every text.

The postings are the contract's ``POSTINGS_SQL``: words stemmed with the Snowball stemmer of
the article's detected language (DuckDB's fts ``stem``, loaded from the pinned
``duckdb-extension-fts`` package), grouped per term. The stop words and the language ->
stemmer table are those of the warehouse's migrations 004 and 010, read from their files.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from newsflow.tasks.contract import Table, conform, postings_sql

# The stop words and stemmers are defined once, by the migrations that create the
# warehouse's copies.
_MIGRATIONS = Path(__file__).parents[1] / "warehouse" / "migrations"
_local = threading.local()


def extension_path() -> Path:
    """The fts extension binary inside the installed ``duckdb_extension_fts`` package."""
    root = resources.files("duckdb_extension_fts") / "extensions" / f"v{duckdb.__version__}"
    path = Path(str(root / "fts.duckdb_extension"))
    if not path.is_file():
        raise FileNotFoundError(
            f"no fts extension for DuckDB {duckdb.__version__} at {path}: install "
            f"duckdb-extension-fts=={duckdb.__version__} (pinned in pyproject.toml)"
        )
    return path


def _section(name: str, start: str) -> str:
    sql = (_MIGRATIONS / name).read_text(encoding="utf-8")
    return sql[sql.index(start) :]


def postings_connection() -> duckdb.DuckDBPyConnection:
    """A worker's own in-memory DuckDB with the stemmers and the warehouse's stop words."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(config={"threads": 1})  # workers are the parallelism
        path = str(extension_path()).replace("'", "''")
        con.execute(f"LOAD '{path}'")
        con.execute(_section("004_search_index.sql", "CREATE TABLE search_stopwords"))
        con.execute(_section("010_search_blocks.sql", "CREATE TABLE search_stemmers"))
        _local.con = con
    return con


def batch_postings(articles: pa.Table) -> pa.Table:
    """The search postings (``PostingRow``) of a batch's articles, grouped per term, the
    first row of each article_id (as the loader keeps it); ``docs`` number the articles by
    their rank by article_id in the batch."""
    con = postings_connection()
    source = articles.select(["article_id", "title", "text"])
    if "language" in articles.column_names:
        source = source.append_column("language", articles.column("language"))
    else:
        source = source.append_column("language", pa.nulls(articles.num_rows, pa.string()))
    con.register("postings_source", source)
    try:
        result = con.execute(
            postings_sql(
                "(SELECT * FROM postings_source "
                "QUALIFY row_number() OVER (PARTITION BY article_id) = 1)"
            )
        ).arrow()
        if isinstance(result, pa.RecordBatchReader):  # lazy: read before unregistering
            result = result.read_all()
    finally:
        con.unregister("postings_source")
    return conform(Table.POSTINGS, result)
