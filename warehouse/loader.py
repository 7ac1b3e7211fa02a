"""The loader: the only process that writes the warehouse.

For each complete batch in the spool, oldest first, one transaction merges its rows,
records the batch in ``spool_batches`` and commits; only then is the batch's folder removed.
Then, when enough have gathered, the search index's small segments are merged in a
transaction of their own: readers see the batch at its commit, not after a merge.
A crash at any point leaves either an unloaded batch (loaded next time) or a loaded batch
still in the spool (recognized by ``spool_batches`` and removed). Every merge is keyed on
natural keys besides, so loading the same rows twice changes nothing.

On a DuckLake warehouse (``warehouse/storage.py``) several loaders may run at once, on one
machine or many: each batch's transaction also updates the lake's one lock row
(``lake_load_lock``), so when two loads overlap their commits conflict, the later one fails
and is rolled back, and that batch is loaded again over the snapshot that holds the other's
rows (its spool files are still there and its ledger row was not written). Nothing is
published on a lake: readers read it live.

The loader keeps the transaction and that ledger; each table family has its merge in
``warehouse/merges/`` (its SQL in a ``.sql`` file beside it), over the spool contract's
tables (``tasks/contract.py``), inserting by column name.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from newsflow.tasks import spool as spool_mod
from newsflow.tasks.contract import Table
from newsflow.tasks.records import RunRow
from newsflow.warehouse import keys as key_index
from newsflow.warehouse import lake, search_index, storage
from newsflow.warehouse import runs as run_ledger
from newsflow.warehouse.db import connect_writer, rollback
from newsflow.warehouse.loadreport import LoadReport
from newsflow.warehouse.merges import (
    BatchTables,
    articles,
    attachments,
    feeds,
    rejects,
    revisions,
    runs,
    seed_files,
)
from newsflow.warehouse.publish import publish_after_load, published_path
from newsflow.warehouse.stories import Representatives

__all__ = ["LoadReport", "RunRow", "load_batches", "load_spool"]
log = logging.getLogger(__name__)


def _search_index(batch: BatchTables) -> None:
    # the batch's new and changed articles, with the postings its worker spooled
    search_index.merge_search_index(batch.con, spooled=Table.POSTINGS in batch.tables)


# The merges after the articles family, in order: each reads the batch's tables it needs.
_MERGES: tuple[Callable[[BatchTables], None], ...] = (
    attachments.merge,
    rejects.merge,
    revisions.merge,
    revisions.merge_relink,
    _search_index,
    feeds.merge,
    seed_files.merge,
    runs.merge,
)


def load_spool(
    db: Path,
    spool: str,
    *,
    lock_wait: float,
    run: RunRow | None = None,
    on_wait: Callable[[str, float], None] | None = None,
    batch_ids: list[str] | None = None,
    publish: bool = False,
    loaded_before: int = 0,
    lake_data: str | None = None,
) -> LoadReport:
    """Merge every complete spool batch (or just ``batch_ids``) into the warehouse;
    with ``publish``, then refresh the analysts' read-only copy (``warehouse/publish.py``)
    if anything was loaded (``loaded_before``: batches the caller loaded already); a lake
    has no copy to publish. ``lake_data``: a lake's data path (``NEWSFLOW_LAKE_DATA``).

    With ``run``, its row is recorded and the report is the run's totals from its row: every
    batch it spooled, whichever process merged it."""
    ids = spool_mod.pending(spool) if batch_ids is None else batch_ids
    con = connect_writer(db, lock_wait, on_wait, lake_data=lake_data)
    try:
        report = load_batches(con, spool, ids, run=run)
        merged = report.batches + report.others_batches
        if run is not None:  # the run's own totals, whoever merged its batches
            own, report = report, run_ledger.totals(con, run.run_id)
            report.skipped_batches, report.revised = own.skipped_batches, own.revised
            report.others_batches = own.others_batches
            report.search_merges = own.search_merges
            report.search_merge_seconds = own.search_merge_seconds
    finally:
        con.close()
    if storage.is_lake(db):
        return report
    if publish and (merged or loaded_before or not published_path(db).exists()):
        publish_after_load(db, lock_wait=lock_wait, on_wait=on_wait)
    return report


def load_batches(
    con: duckdb.DuckDBPyConnection,
    spool: str,
    batch_ids: list[str],
    *,
    run: RunRow | None = None,
    threads: int | None = None,
    representatives: Representatives | None = None,
) -> LoadReport:
    """Merge the given spool batches over an open writer connection (``connect_writer``),
    each in its own transaction; with ``run``, add their counts to the run's row.

    ``threads``: DuckDB's threads for the loads (default: the connection's, every core). A
    loader that shares the machine with a run's workers does better with one: measured on
    10,000 seed articles (20 batches of 500) loaded alone, 15.5 CPU-s and 15.2 s with one
    thread against 19.9 CPU-s and 16.2 s with two; in the ingest-seeds flow its process used
    29 CPU-s instead of 38. Alone on a large warehouse, every core pays: 1,000 articles into
    1,000,000 took 3.0 s with one thread, 2.5 s with two (measured on the single file).

    ``representatives``: the near-duplicate check's cache of parsed representatives, for a
    caller that loads batch after batch (default: one for these batches)."""
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    representatives = representatives or Representatives()
    by_run: dict[str | None, LoadReport] = {}
    # On a lake the lookups by key go to this machine's key index (warehouse/keys.py).
    keys = key_index.for_lake(con) if batch_ids and lake.is_lake(con) else None
    try:
        for batch_id in batch_ids:
            loaded, owner = _load_one(con, spool, batch_id, representatives, keys)
            if loaded.batches:
                _merge_small_segments(con, loaded)
            by_run.setdefault(owner, LoadReport()).add(loaded)
    finally:
        if keys is not None:
            keys.close()
    # Each batch's counts go to the run that spooled it, whoever merges it. With ``run``,
    # the report is that run's share (and how many batches of others were merged);
    # without, every batch merged.
    report = by_run.pop(None, LoadReport())
    if run is not None:
        report.add(by_run.pop(run.run_id, LoadReport()))
    for other in by_run.values():
        if run is None:
            report.add(other)
        else:
            report.others_batches += other.batches
    if not by_run and run is None:
        return report
    # The runs' rows in one transaction: on a lake each commit is a catalog transaction
    # (about 0.1 s), and a load of many runs' batches credited each in its own.
    con.execute("BEGIN TRANSACTION")
    try:
        for owner, other in by_run.items():
            assert owner is not None
            run_ledger.credit(con, owner, other)
        if run is not None:
            _record_run(con, run, report)
        con.execute("COMMIT")
    except Exception:
        rollback(con)  # the error that got us here is the one to raise
        raise
    return report


def _load_one(
    con: duckdb.DuckDBPyConnection,
    spool: str,
    batch_id: str,
    representatives: Representatives,
    keys: key_index.KeyIndex | None = None,
) -> tuple[LoadReport, str | None]:
    """Merge one batch in one transaction that also records it in the ledger
    (``spool_batches``): its counts, and the run that spooled it."""
    on_lake = lake.is_lake(con)
    for attempt in range(1, CONFLICT_RETRIES + 1):
        report = LoadReport()
        done = con.execute("SELECT 1 FROM spool_batches WHERE batch_id = ?", [batch_id]).fetchone()
        if done:
            spool_mod.remove_batch(spool, batch_id)
            report.skipped_batches = 1
            return report, None
        manifest, tables = spool_mod.read_batch(spool, batch_id)
        con.execute("BEGIN TRANSACTION")
        try:
            if on_lake:  # the loaders' lock row: overlapping loads conflict at COMMIT
                lake.take_load_lock(con, batch_id)
            # the key index brought to this transaction's snapshot (None: the SQL lookups)
            usable = keys if keys is not None and keys.catch_up(con) else None
            _merge(con, tables, report, representatives, usable)
            con.execute(
                "INSERT INTO spool_batches VALUES (?, ?, now(), ?, ?)",
                [
                    batch_id,
                    manifest.get("run_id"),
                    tables[Table.ARTICLES].num_rows,
                    tables[Table.REJECTS].num_rows,
                ],
            )
            con.execute("COMMIT")
        except Exception as error:
            rollback(con)  # the error that got us here is the one to raise
            if on_lake and lake.busy(error) and attempt < CONFLICT_RETRIES:
                log.info("batch %s met another loader's commit; loading it again", batch_id)
                time.sleep(random.uniform(0.05, 0.5) * min(attempt, 10))
                continue
            raise
        finally:
            if keys is not None:
                keys.release()
            for name in tables:
                con.unregister(f"new_{name}")
        report.batches = 1
        spool_mod.remove_batch(spool, batch_id)
        owner = manifest.get("run_id")
        return report, str(owner) if owner else None
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _merge_small_segments(con: duckdb.DuckDBPyConnection, report: LoadReport) -> None:
    """After a batch's commit: merge the search index's one-load segments once ``FANOUT`` of
    them have gathered (``search_index.merge_segments``), in a transaction of its own. The
    batch is already visible, so no load's time until readers see it carries a merge (every
    ``FANOUT``-th load used to: a sawtooth). A merge that meets another writer's commit is
    left to the next load; a crash leaves the segments as they were, merged next time."""
    if not search_index.merge_due(con):
        return
    started = time.perf_counter()
    on_lake = lake.is_lake(con)
    con.execute("BEGIN TRANSACTION")
    try:
        if on_lake:
            lake.take_load_lock(con, "search index: merge of small segments")
        merges = search_index.merge_segments(con, max_loads=search_index.INLINE_LOADS)
        con.execute("COMMIT")
    except Exception as error:
        rollback(con)  # the error that got us here is the one to raise
        if on_lake and lake.busy(error):
            log.info("the search index's merge met another writer's commit; left to a later load")
            return
        raise
    report.search_merges += merges
    report.search_merge_seconds += time.perf_counter() - started


# How often a batch is loaded again after another loader's commit won (lakes only).
CONFLICT_RETRIES = 50


def _merge(
    con: duckdb.DuckDBPyConnection,
    tables: dict[Table, pa.Table],
    report: LoadReport,
    representatives: Representatives | None = None,
    keys: key_index.KeyIndex | None = None,
) -> None:
    """One merge per table family, the articles first (the others read its ``fresh`` and
    ``changed``)."""
    batch = BatchTables(con, tables, report, keys)
    representatives = representatives or Representatives()
    for name, table in tables.items():
        batch.con.register(f"new_{name}", table)
    articles.merge(batch, representatives)
    for merge in _MERGES:
        merge(batch)


def _record_run(con: duckdb.DuckDBPyConnection, run: RunRow, report: LoadReport) -> None:
    """Upsert the run's row; counts add up over the run's loads."""
    run_ledger.record(
        con,
        run.run_id,
        run.flow,
        run.started_at,
        run.finished_at,
        run.status,
        run.items,
        report,
        error=run.error,
    )
