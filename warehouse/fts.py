"""Full-text search: DuckDB's fts extension, loaded from the pinned wheel, never downloaded.

``duckdb-extension-fts`` (pinned to the same version as ``duckdb``) ships the extension binary
inside the Python package; we ``LOAD`` that file by path. The BM25 index over ``title`` and
``text`` is kept by the loader (``warehouse/search_index.py``) with the extension's stemmer;
``search_articles(query, ...)``, the SQL table macro analysts call, lives in the published copy
(``warehouse/publish.py``); ``search`` wraps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from newsflow.tasks.postings import extension_path as extension_path

SEARCH_MACRO = Path(__file__).parent / "published" / "search_articles.sql"


def load(con: duckdb.DuckDBPyConnection) -> None:
    """Load the fts extension from the package's file (no network, no extension directory)."""
    loaded = con.execute(
        "SELECT count(*) FROM duckdb_extensions() WHERE extension_name = 'fts' AND loaded"
    ).fetchone()
    if loaded and loaded[0]:
        return  # loading again costs a tenth of a second per batch
    path = str(extension_path()).replace("'", "''")
    con.execute(f"LOAD '{path}'")


def create_search_macro(con: duckdb.DuckDBPyConnection, *, temporary: bool = False) -> None:
    """The ``search_articles`` table macro (it calls ``stem``, so the extension is loaded);
    ``temporary``: for this session only, as on a read-only connection to the warehouse."""
    load(con)
    text = SEARCH_MACRO.read_text(encoding="utf-8")
    if temporary:
        text = text.replace("CREATE OR REPLACE MACRO", "CREATE OR REPLACE TEMP MACRO", 1)
    con.execute(text)


def has_index(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse's search index has been built (the first load builds it)."""
    row = con.execute("SELECT count(*) FROM search_stats").fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class Hit:
    article_id: str
    score: float
    title: str | None
    domain: str | None
    published_at: datetime | None
    language: str | None
    url: str
    duplicate_of: str | None
    word_count: int


def search(
    con: duckdb.DuckDBPyConnection,
    query: str,
    *,
    since: date | None = None,
    until: date | None = None,
    domain: str | None = None,
    language: str | None = None,
    include_duplicates: bool = False,
    limit: int = 20,
) -> list[Hit]:
    """Best-first BM25 hits for ``query`` through the ``search_articles`` macro."""
    rows: list[Any] = con.execute(
        "SELECT * FROM search_articles(?, since := ?, until := ?, domain := ?, "
        "language := ?, include_duplicates := ?, max_results := ?)",
        [query, since, until, domain, language, include_duplicates, limit],
    ).fetchall()
    return [Hit(*row) for row in rows]
