"""The lake's maintenance (warehouse/STORAGE.md section 6): the loads' sentence counts folded
into ``text_units``, the search index's segments merged, inlined rows flushed to files, small
files merged, old snapshots expired and the files only they used deleted, each step its own
transaction beside the loader and readers. ``newsflow maintain`` and the ``maintenance`` flow
both run ``maintain_warehouse``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from newsflow.warehouse import search_index, storage
from newsflow.warehouse.lake import (
    ALIAS,
    Lake,
    MaintenanceStopped,
    open_lake,
    retry_busy,
    take_load_lock,
)

_T = TypeVar("_T")

MAINTENANCE = (
    # rows committed inline in the catalog go to Parquet files
    ("flush_inlined", "CALL ducklake_flush_inlined_data('{alias}')"),
    # each load's small files merged into files of the target size (snapshots still see
    # exactly their rows: time travel is kept)
    ("merge_files", "CALL ducklake_merge_adjacent_files('{alias}')"),
    # snapshots older than the retention are forgotten (time travel reaches back that far)
    ("expire_snapshots", "CALL ducklake_expire_snapshots('{alias}', older_than => ?)"),
    # files no snapshot needs any more are deleted
    ("cleanup_files", "CALL ducklake_cleanup_old_files('{alias}', older_than => ?)"),
    # files of writes that never committed (a killed load, a commit that met another), once
    # they are old enough that no write still in progress can own them
    ("delete_orphans", "CALL ducklake_delete_orphaned_files('{alias}', older_than => ?)"),
)
# Files the expiry frees are deleted once no query can still be reading them: a query started
# before the expiry may still scan them, and none runs for a day. (Never longer than the
# retention, so a retention of 0 frees the disk at once.)
CLEANUP_GRACE = timedelta(days=1)
# Whatever the retention: a load in progress has written files its commit has not recorded yet.
ORPHAN_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class LakeFigures:
    """What the catalog says about the lake at one moment (``ducklake_table_info``,
    ``ducklake_snapshots``)."""

    files: int
    bytes: int
    snapshots: int


@dataclass(frozen=True)
class Maintenance:
    """What one maintenance pass did, step by step, with the lake before and after."""

    keep_days: int
    rows_flushed: int
    files_merged: int  # small files rewritten ...
    files_written: int  # ... into so many
    snapshots_expired: int
    files_deleted: int
    before: LakeFigures
    after: LakeFigures
    steps: list[str] = field(default_factory=list)
    orphans_deleted: int = 0  # files of writes that never committed
    target: str = ""  # the lake, as --db names it (``Lake.target``)
    units_folded: int = 0  # text_unit_deltas rows folded into text_units
    search_merges: int = 0  # merges of the search index's segments

    def lines(self) -> list[str]:
        """What each step did, and the lake before and after, in words."""
        before, after = self.before, self.after
        return [
            f"fold sentence counts: {self.units_folded} rows of text_unit_deltas into text_units",
            f"merge search index segments: {self.search_merges} merges",
            f"flush inlined rows: {self.rows_flushed} rows written to files",
            f"merge small files: {self.files_merged} files merged into {self.files_written}",
            f"expire snapshots: {self.snapshots_expired} older than {self.keep_days} days",
            f"delete unused files: {self.files_deleted} files deleted, and "
            f"{self.orphans_deleted} left by writes that never committed",
            f"data files {before.files} -> {after.files} ({_size(before.bytes)} -> "
            f"{_size(after.bytes)}); snapshots {before.snapshots} -> {after.snapshots}",
        ]

    @property
    def idle(self) -> bool:
        return not (
            self.units_folded
            or self.search_merges
            or self.rows_flushed
            or self.files_merged
            or self.snapshots_expired
            or self.files_deleted
            or self.orphans_deleted
        )


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def figures(con: duckdb.DuckDBPyConnection, *, alias: str = ALIAS) -> LakeFigures:
    """Data files, their bytes, and snapshots."""
    files = con.execute(
        "SELECT coalesce(sum(file_count), 0), coalesce(sum(file_size_bytes), 0) "
        "FROM ducklake_table_info(?)",
        [alias],
    ).fetchone() or (0, 0)
    snaps = con.execute("SELECT count(*) FROM ducklake_snapshots(?)", [alias]).fetchone() or (0,)
    return LakeFigures(int(files[0]), int(files[1]), int(snaps[0]))


def maintain_report(
    con: duckdb.DuckDBPyConnection,
    *,
    keep_days: int = 30,
    alias: str = ALIAS,
    attempts: int = 8,
) -> Maintenance:
    """Fold the loads' sentence counts into ``text_units`` (``fold_units``), merge the
    search index's segments (``merge_search_segments``), flush inlined rows, compact small
    files, expire snapshots older than ``keep_days`` and delete the files only they used
    (after ``CLEANUP_GRACE``); what each step did. Safe beside the loader and readers (each
    step is its own transaction); scheduled as a deployment."""
    before = figures(con, alias=alias)
    keep = timedelta(days=int(keep_days))
    results: dict[str, list[tuple[Any, ...]]] = {}
    folded = retry_busy(con, partial(fold_units, con), attempts=attempts)
    merges = merge_search_segments(con, attempts=attempts)
    for name, sql in MAINTENANCE:
        statement = sql.format(alias=alias)
        params: list[Any] = []
        if "?" in statement:
            # counted from when the step runs, so the steps before it (their own snapshots,
            # the files they freed) are judged like the rest
            now = datetime.now(UTC)
            grace = {"cleanup_files": min(keep, CLEANUP_GRACE), "delete_orphans": ORPHAN_GRACE}
            params = [now - grace.get(name, keep)]
        results[name] = retry_busy(con, partial(_rows, con, statement, params), attempts=attempts)
    flushed = sum(int(row[2] or 0) for row in results["flush_inlined"])
    merged = sum(int(row[2] or 0) for row in results["merge_files"])
    written = sum(int(row[3] or 0) for row in results["merge_files"])
    return Maintenance(
        keep_days=int(keep_days),
        rows_flushed=flushed,
        files_merged=merged,
        files_written=written,
        snapshots_expired=len(results["expire_snapshots"]),
        files_deleted=len(results["cleanup_files"]),
        orphans_deleted=len(results["delete_orphans"]),
        before=before,
        after=figures(con, alias=alias),
        steps=["fold_units", "merge_search_segments", *results],
        units_folded=folded,
        search_merges=merges,
    )


def fold_units(con: duckdb.DuckDBPyConnection) -> int:
    """Add the stories of ``text_unit_deltas`` to their ``text_units`` rows and empty it, in
    one transaction under the loaders' lock; the rows folded. The update joins the whole of
    ``text_units``: the cost loads no longer pay, paid here once per maintenance pass."""

    def fold() -> int:
        row = con.execute("SELECT count(*) FROM text_unit_deltas").fetchone()
        rows = int(row[0]) if row else 0
        if rows:
            take_load_lock(con, "maintenance: fold text_unit_deltas")
            con.execute(
                "UPDATE text_units SET stories = text_units.stories + d.stories FROM ("
                " SELECT unit_hash, domain, sum(stories) AS stories FROM text_unit_deltas"
                " GROUP BY ALL) AS d "
                "WHERE text_units.unit_hash = d.unit_hash AND text_units.domain = d.domain"
            )
            con.execute("DELETE FROM text_unit_deltas")
        return rows

    return _transaction(con, fold)


def merge_search_segments(con: duckdb.DuckDBPyConnection, *, attempts: int = 8) -> int:
    """Every merge of the search index's segments that is due, each in a transaction of its
    own under the loaders' lock (one that meets a load's commit runs again,
    ``lake.retry_busy``); the merges done. A load merges only the one-load segments it
    leaves (``loader._merge_small_segments``); the larger size classes are merged here, so a
    term's postings stay in a few segments (a search reads each segment's blocks) however
    many loads came before. One merge at a time: a merge of 8 segments of 8 loads took 50 s
    at 1M articles, and each one done stays done if a later one is interrupted."""

    def merge_one() -> bool:
        due = search_index.merge_due(con, max_loads=None)
        if due:
            take_load_lock(con, "maintenance: merge search index segments")
            search_index.merge_next(con)
        return due

    merges = 0
    while retry_busy(con, partial(_transaction, con, merge_one), attempts=attempts):
        merges += 1
    return merges


def _transaction(con: duckdb.DuckDBPyConnection, work: Callable[[], _T]) -> _T:
    """``work()`` in a transaction of its own: committed, or rolled back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        result = work()
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return result


def _rows(
    con: duckdb.DuckDBPyConnection, statement: str, params: list[Any]
) -> list[tuple[Any, ...]]:
    return con.execute(statement, params).fetchall()


def maintain(
    con: duckdb.DuckDBPyConnection, *, keep_days: int = 30, alias: str = ALIAS
) -> list[str]:
    """``maintain_report``; returns the steps run."""
    return maintain_report(con, keep_days=keep_days, alias=alias).steps


def maintain_warehouse(
    db: str | Path, data: str | None = None, *, keep_days: int = 30
) -> Maintenance | None:
    """The one maintenance entry point (``newsflow maintain`` and the ``maintenance`` flow):
    the lake a warehouse setting names (``db``, ``data``: ``NEWSFLOW_LAKE_DATA``) gets
    ``maintain_report`` on its own connection. None for a single-file warehouse (nothing to
    do). A setting that names no usable lake raises ``LakeError``, a lake not there yet
    ``NoLake``, a step that fails ``MaintenanceStopped`` (the steps before it are committed)."""
    if not storage.is_lake(db) and not storage.problem(db, data):
        return None
    lake = Lake.from_target(db, data)
    con = open_lake(lake, must_exist=True)
    try:
        done = maintain_report(con, keep_days=keep_days)
    except duckdb.Error as error:
        raise MaintenanceStopped(str(error).splitlines()[0]) from error
    finally:
        con.close()
    return replace(done, target=lake.target)
