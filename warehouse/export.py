"""Public tables and views as files for pandas, polars, Spark and friends.

Every column of the relation is written. Relations with a day of their own are partitioned by
it (hive style): ``DIR/date=2024-03-01/articles_0.parquet``, where for articles ``date`` is the
UTC publication date, or the ingest date for articles without one (``undated`` says which).
The others are one file, ``DIR/feeds_0.parquet``.

A re-export never leaves stale rows: the new files are written beside the target first, then
every day folder of the exported range is replaced - swapped in one atomic step on Linux
(``renameat2``), else renamed - days that now have no rows are removed, days outside the range
are left alone; a one-file export replaces its file with one atomic rename. After a
correction moves an article to another day, reading the export gives exactly the warehouse's
current rows.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import duckdb
from filelock import FileLock

Format = Literal["parquet", "csv"]

_ARTICLE_DAY = "coalesce(published_at, ingested_at)"
# The public tables and views (docs/interface) and the time that puts a row in a day folder;
# None: no day of its own, exported as one file.
RELATIONS: dict[str, str | None] = {
    "articles": _ARTICLE_DAY,
    "articles_unique": _ARTICLE_DAY,
    "article_sightings": "seen_at",
    "article_versions": "valid_until",
    "article_comments": None,
    "rejects": "rejected_at",
    "runs": "started_at",
    "feeds": None,
    "daily_counts": "day",
    "rejects_daily": "day",
    "sightings_by_feed": "day",
    "duplicate_clusters": "first_seen",
    "article_clusters": None,
    "feed_health": None,
}
_PARTITION = "date="


class ExportTargetError(ValueError):
    """The export's target cannot be written (a file where a folder belongs, ...)."""


@dataclass(frozen=True)
class ExportReport:
    directory: Path
    format: str
    rows: int
    partitions: list[date]
    files: int


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _select(table: str) -> str:
    """Every column of ``table``, plus ``undated`` for articles and ``date`` when partitioned."""
    day = RELATIONS[table]
    extra = ""
    if day == _ARTICLE_DAY:
        extra += ", published_at IS NULL AS undated"
    if day is not None:
        extra += f", CAST(timezone('UTC', CAST({day} AS TIMESTAMPTZ)) AS DATE) AS date"
    return f"SELECT *{extra} FROM {table}"


def check_target(directory: Path) -> None:
    """Refuse a target that is not a folder (before any work)."""
    if directory.exists() and not directory.is_dir():
        raise ExportTargetError(f"{directory} exists and is not a folder: choose a folder")
    parent = directory.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ExportTargetError(f"{parent} is not a folder: cannot create {directory} in it")


def export_articles(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    *,
    since: date | None = None,
    until: date | None = None,
    fmt: Format = "parquet",
    table: str = "articles",
) -> ExportReport:
    """Write the rows of ``table`` dated ``since``..``until`` (inclusive) under ``directory``,
    replacing what an earlier export wrote for that range."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown format {fmt!r}: parquet or csv")
    if table not in RELATIONS:
        raise ValueError(f"unknown table {table!r}: one of {', '.join(RELATIONS)}")
    partitioned = RELATIONS[table] is not None
    if not partitioned and (since is not None or until is not None):
        raise ValueError(f"{table} has no day of its own: --since/--until do not apply")
    check_target(directory)
    conditions = []
    if since is not None:
        conditions.append(f"date >= DATE {_quote(since.isoformat())}")
    if until is not None:
        conditions.append(f"date <= DATE {_quote(until.isoformat())}")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    order = "date, published_at, article_id" if table.startswith("articles") else "ALL"
    query = f"SELECT * FROM ({_select(table)}) {where} ORDER BY {order}"
    directory.mkdir(parents=True, exist_ok=True)
    # One export of a target at a time; leftovers of a killed export are swept under it.
    with FileLock(_lock_path(directory)):
        _sweep(directory)
        stage = directory.parent / f".{directory.name}.export-{uuid.uuid4().hex[:8]}"
        stage.mkdir()
        try:
            rows = _count(con, query)
            options = (
                "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER"
            )
            if rows and partitioned:
                con.execute(
                    f"COPY ({query}) TO {_quote(str(stage))} ({options}, PARTITION_BY (date), "
                    f"FILENAME_PATTERN '{table}_{{i}}')"
                )
            elif rows:
                target = stage / f"{table}_0.{fmt}"
                con.execute(f"COPY ({query}) TO {_quote(str(target))} ({options})")
            if partitioned:
                partitions = _install_days(stage, directory, since, until)
            else:
                partitions = []
                _install_file(stage, directory, table, fmt)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    files = sum(1 for _ in directory.glob(f"**/*.{fmt}"))
    return ExportReport(directory, fmt, rows, partitions, files)


def _lock_path(directory: Path) -> str:
    """A lock file per target, kept out of the target and out of the folder around it."""
    key = hashlib.blake2b(str(directory.resolve()).encode(), digest_size=8).hexdigest()
    return str(Path(tempfile.gettempdir()) / f"newsflow-export-{key}.lock")


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    found: Any = con.execute(f"SELECT count(*) FROM ({query})").fetchone()
    return int(found[0]) if found else 0


def _day(folder: Path) -> date | None:
    if not folder.name.startswith(_PARTITION) or not folder.is_dir():
        return None
    try:
        return date.fromisoformat(folder.name[len(_PARTITION) :])
    except ValueError:
        return None


def _install_days(
    stage: Path, directory: Path, since: date | None, until: date | None
) -> list[date]:
    """Every day folder of the range in ``directory`` becomes the staged one, or goes."""
    fresh = {day: folder for folder in stage.iterdir() if (day := _day(folder)) is not None}
    trash = directory.parent / f".{directory.name}.trash-{uuid.uuid4().hex[:8]}"
    trash.mkdir()
    try:
        for folder in directory.iterdir():
            day = _day(folder)
            if day is None or day in fresh:
                continue
            if (since is None or day >= since) and (until is None or day <= until):
                folder.rename(trash / folder.name)  # the day has no rows any more
        for folder in sorted(fresh.values()):
            target = directory / folder.name
            if target.exists() and _exchange(folder, target):
                continue  # swapped in one step; the old day is now in the stage, removed below
            if target.exists():
                target.rename(trash / folder.name)
            folder.rename(target)
    finally:
        shutil.rmtree(trash, ignore_errors=True)
    return sorted(fresh)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux ``renameat2(RENAME_EXCHANGE)``), so a reader sees
    the old day or the new one, never neither; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(done == 0)


def _install_file(stage: Path, directory: Path, table: str, fmt: str) -> None:
    """The one file of an unpartitioned relation replaces the old one atomically."""
    written = sorted(stage.glob(f"*.{fmt}"))
    keep = {f.name for f in written}
    for old in directory.glob(f"{table}_*.{fmt}"):
        if old.name not in keep:
            old.unlink()
    for new in written:
        os.replace(new, directory / new.name)


def _sweep(directory: Path) -> None:
    """Staging and trash folders a killed export left beside ``directory``."""
    for prefix in (f".{directory.name}.export-", f".{directory.name}.trash-"):
        for leftover in directory.parent.glob(f"{prefix}*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
