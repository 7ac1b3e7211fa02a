"""The seed-file ledger (table ``seed_files``), asked which files are ingested already; the
loader merges it with the batch that carries the files' articles (warehouse/merges/seed_files.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from newsflow.tasks.records import SeedPrint
from newsflow.warehouse import storage
from newsflow.warehouse.db import connect_reader


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
    if not storage.exists(db):
        return set()
    con = connect_reader(db, wait=wait)
    try:
        return ingested_keys(con, prints)
    finally:
        con.close()
