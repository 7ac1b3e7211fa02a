"""The search index's postings of a batch's articles, computed by the worker that spools
the batch (``tasks/spool.py``), so the single loader only appends them
(``warehouse/search_index.py``) instead of tokenizing every text itself.

The words are the contract's ``POSTINGS_SQL``, with DuckDB's fts stemmer loaded from the
pinned ``duckdb-extension-fts`` package and the stop words of the warehouse's migration 004.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from newsflow.tasks.contract import POSTINGS_SQL, Table, conform

# The stop words are defined once, by the migration that creates the warehouse's copy.
_MIGRATION = Path(__file__).parents[1] / "warehouse" / "migrations" / "004_search_index.sql"
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


def postings_connection() -> duckdb.DuckDBPyConnection:
    """A worker's own in-memory DuckDB with the stemmer and the warehouse's stop words."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(config={"threads": 1})  # workers are the parallelism
        path = str(extension_path()).replace("'", "''")
        con.execute(f"LOAD '{path}'")
        sql = _MIGRATION.read_text(encoding="utf-8")
        con.execute(sql[sql.index("CREATE TABLE search_stopwords") :])
        _local.con = con
    return con


def batch_postings(articles: pa.Table) -> pa.Table:
    """The search postings (``PostingRow``) of a batch's articles, the first row of each
    article_id (as the loader keeps it)."""
    con = postings_connection()
    con.register("postings_source", articles.select(["article_id", "title", "text"]))
    try:
        result = con.execute(
            POSTINGS_SQL.format(
                source="(SELECT * FROM postings_source "
                "QUALIFY row_number() OVER (PARTITION BY article_id) = 1)"
            )
        ).arrow()
        if isinstance(result, pa.RecordBatchReader):  # lazy: read before unregistering
            result = result.read_all()
    finally:
        con.unregister("postings_source")
    return conform(Table.POSTINGS, result)
