"""Articles as files partitioned by date (hive style) for pandas, polars, Spark and friends.

``DIR/date=2024-03-01/articles_0.parquet``: ``date`` is the UTC publication date, or the
ingest date for articles without one (``undated`` says which). Re-exporting a range replaces
the partitions of that range and leaves the others alone.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import duckdb

Format = Literal["parquet", "csv"]

_SELECT = """
SELECT
    article_id, url, canonical_url, domain, title, published_at, language,
    language_confidence, text, word_count, content_hash, duplicate_of, origin,
    ingested_at, updated_at,
    published_at IS NULL AS undated,
    CAST(timezone('UTC', coalesce(published_at, ingested_at)) AS DATE) AS date
FROM articles
"""


@dataclass(frozen=True)
class ExportReport:
    directory: Path
    format: str
    rows: int
    partitions: list[date]
    files: int


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def export_articles(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    *,
    since: date | None = None,
    until: date | None = None,
    fmt: Format = "parquet",
) -> ExportReport:
    """Write articles dated ``since``..``until`` (both inclusive) under ``directory``."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown format {fmt!r}: parquet or csv")
    conditions = []
    if since is not None:
        conditions.append(f"date >= DATE {_quote(since.isoformat())}")
    if until is not None:
        conditions.append(f"date <= DATE {_quote(until.isoformat())}")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    query = f"SELECT * FROM ({_SELECT}) {where} ORDER BY date, published_at, article_id"
    days: list[Any] = con.execute(f"SELECT DISTINCT date FROM ({query}) ORDER BY 1").fetchall()
    partitions = [row[0] for row in days]
    rows_found = con.execute(f"SELECT count(*) FROM ({query})").fetchone()
    rows = int(rows_found[0]) if rows_found else 0
    directory.mkdir(parents=True, exist_ok=True)
    # Partitions of the range are replaced whole, so a re-export leaves no stale files.
    for day in partitions:
        shutil.rmtree(directory / f"date={day.isoformat()}", ignore_errors=True)
    if rows:
        options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER"
        con.execute(
            f"COPY ({query}) TO {_quote(str(directory))} ({options}, PARTITION_BY (date), "
            "OVERWRITE_OR_IGNORE, FILENAME_PATTERN 'articles_{i}')"
        )
    files = sum(1 for _ in directory.glob(f"date=*/*.{fmt}"))
    return ExportReport(directory, fmt, rows, partitions, files)
