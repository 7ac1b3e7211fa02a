"""The seed-file ledger (table ``seed_files``): merged with the batch that carries the files'
articles, and asked which files are ingested already.

``merge_seed_files`` runs inside the batch's transaction (``warehouse/loader.py``), so a file is in
the ledger exactly when its articles (or its rejects) are in the warehouse. Merging the same
file twice changes nothing: the first run that read a content keeps the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.contract import Table
from tasks.seedledger import SeedPrint
from warehouse.db import connect_reader
from warehouse.merges import BatchTables, queries


def merge_seed_files(batch: BatchTables) -> int:
    """Record a batch's ledger rows (those not recorded yet); returns how many were new."""
    if not batch.has(Table.SEED_FILES):
        return 0
    sql = queries("seed_files")
    before = batch.count(sql["count"])
    batch.con.execute(sql["seed_files"])
    return batch.count(sql["count"]) - before


def ingested_keys(
    con: duckdb.DuckDBPyConnection, prints: Iterable[SeedPrint]
) -> set[tuple[str, str]]:
    """The (path, content hash) pairs among ``prints`` that the ledger holds."""
    wanted = list(prints)
    if not wanted:
        return set()
    probe = pa.table(
        {"path": [p.path for p in wanted], "content_hash": [p.content_hash for p in wanted]}
    )
    con.register("probe_seed_files", probe)
    try:
        rows = con.execute(
            "SELECT path, content_hash FROM seed_files SEMI JOIN probe_seed_files "
            "USING (path, content_hash)"
        ).fetchall()
    except duckdb.CatalogException:  # a warehouse not migrated yet: no ledger, nothing known
        return set()
    finally:
        con.unregister("probe_seed_files")
    return {(str(path), str(digest)) for path, digest in rows}


def ingested(db: Path, prints: Iterable[SeedPrint], *, wait: float) -> set[tuple[str, str]]:
    """``ingested_keys`` over a short read-only connection; nothing if there is no warehouse
    yet. Raises ``WarehouseLocked`` if a writer holds the file longer than ``wait``."""
    if not db.exists():
        return set()
    con = connect_reader(db, wait=wait)
    try:
        return ingested_keys(con, prints)
    finally:
        con.close()
