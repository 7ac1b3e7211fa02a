"""The published copy: a read-only snapshot of the warehouse analysts can hold open all day.

DuckDB lets one process write a file or many read it, never both, so an analyst's open
session on the live warehouse would block the loader. Instead, after each load the loader
publishes a copy next to the warehouse (``news.duckdb`` -> ``news.published.duckdb``):

1. under the writer lock: ``CHECKPOINT`` (so the file holds every committed row and the WAL
   is empty) and a byte copy of the file to a temporary name - a sequential copy, the only
   part that holds the lock;
2. without the lock: the copy gets the ``search_articles`` macro (``warehouse/fts.py``; the
   index itself is kept current by the loader) and a ``published_info`` row saying how
   fresh it is;
3. an atomic ``os.replace`` over the previous copy. A reader that has the old copy open keeps
   its file (its inode) and sees a consistent, older warehouse until it reconnects; the next
   connection opens the new copy. The loader never waits for analysts.

Cost: a sequential copy of the warehouse file, so it grows with the warehouse (roughly disk
speed); it runs after the load has committed and does not slow the merge itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from filelock import FileLock

from newsflow.warehouse import fts
from newsflow.warehouse.db import connect_reader, connect_writer

log = logging.getLogger(__name__)

INFO_TABLE = """
CREATE OR REPLACE TABLE published_info AS
SELECT CAST(? AS TIMESTAMPTZ) AS published_at,
       (SELECT max(loaded_at) FROM spool_batches) AS last_load_at,
       (SELECT count(*) FROM articles) AS articles,
       (SELECT count(*) FROM articles WHERE duplicate_of IS NULL) AS unique_articles,
       CAST(? AS VARCHAR) AS source,
       CAST(? AS DOUBLE) AS publish_seconds
"""
INFO_COMMENTS = Path(__file__).parent / "published" / "published_info.sql"


def published_path(db: Path) -> Path:
    """Where the published copy of ``db`` lives: beside it, ``<stem>.published.duckdb``."""
    return db.with_name(f"{db.stem}.published{db.suffix or '.duckdb'}")


@dataclass(frozen=True)
class PublishInfo:
    path: Path
    published_at: datetime
    last_load_at: datetime | None
    articles: int
    unique_articles: int
    source: str
    publish_seconds: float


def publish(
    db: Path,
    *,
    lock_wait: float,
    target: Path | None = None,
    on_wait: Callable[[str, float], None] | None = None,
) -> PublishInfo:
    """Snapshot ``db``, add the search macro and atomically replace the published copy."""
    target = target or published_path(db)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    # One publisher at a time, so a slower, older snapshot never replaces a newer one.
    with FileLock(str(target) + ".lock", timeout=max(lock_wait, 1.0) * 2):
        sweep_temporaries(target)
        try:
            con = connect_writer(db, lock_wait, on_wait)
            try:
                con.execute("CHECKPOINT")
                wal = Path(f"{db}.wal")
                if wal.exists() and wal.stat().st_size > 0:
                    raise RuntimeError(f"{wal} not empty after CHECKPOINT; not publishing")
                snapshot_at = datetime.now(UTC)
                shutil.copyfile(db, tmp)
            finally:
                con.close()
            copy = duckdb.connect(str(tmp), config={"autoinstall_known_extensions": False})
            try:
                copy.execute("SET TimeZone = 'UTC'")
                fts.create_search_macro(copy)
                copy.execute(INFO_TABLE, [snapshot_at, str(db), time.monotonic() - started])
                copy.execute(INFO_COMMENTS.read_text(encoding="utf-8"))
                info = _info(copy, target)
                copy.execute("CHECKPOINT")
            finally:
                copy.close()
            os.replace(tmp, target)
        finally:
            for leftover in (tmp, Path(f"{tmp}.wal")):
                leftover.unlink(missing_ok=True)
    return info


def sweep_temporaries(target: Path) -> list[Path]:
    """Remove the temporary copies a killed publisher left (full-size copies of the
    warehouse, and their WAL). Called under the publish lock: no other publisher is
    writing one, so every one found is stale."""
    removed = []
    for leftover in target.parent.glob(f".{target.name}.*.tmp*"):
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    if removed:
        log.info("removed %d stale temporary copies beside %s", len(removed), target)
    return removed


def publish_after_load(
    db: Path, *, lock_wait: float, on_wait: Callable[[str, float], None] | None = None
) -> PublishInfo | None:
    """The loader's hook: refresh the published copy; a failure is logged, never raised,
    since the load itself has committed (the copy stays as it was, ``published_info`` says
    how old it is, and ``newsflow publish`` retries)."""
    try:
        return publish(db, lock_wait=lock_wait, on_wait=on_wait)
    except Exception:
        log.exception("publishing the read-only copy of %s failed; it stays as it was", db)
        return None


def open_published(path: Path, wait: float = 10.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a published copy, with the fts extension loaded."""
    if not path.exists():
        raise FileNotFoundError(f"no published copy at {path}: run `newsflow publish`")
    con = connect_reader(path, wait)
    fts.load(con)
    return con


def _info(con: duckdb.DuckDBPyConnection, path: Path) -> PublishInfo:
    row: Any = con.execute(
        "SELECT published_at, last_load_at, articles, unique_articles, source, "
        "publish_seconds FROM published_info"
    ).fetchone()
    return PublishInfo(path, *row)


def read_info(con: duckdb.DuckDBPyConnection, path: Path) -> PublishInfo:
    """How fresh the published copy open on ``con`` is."""
    return _info(con, path)
