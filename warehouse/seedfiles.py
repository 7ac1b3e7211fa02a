"""The seed-file ledger (table ``seed_files``): merged with the batch that carries the files'
articles, and asked which files are ingested already.

``merge_seed_files`` runs inside the batch's transaction (``loader._merge``), so a file is in
the ledger exactly when its articles (or its rejects) are in the warehouse. Merging the same
file twice changes nothing: the first run that read a content keeps the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from tasks.seedledger import TABLE, SeedPrint
from warehouse.db import connect_reader


def merge_seed_files(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> int:
    """Record a batch's ledger rows (those not recorded yet); returns how many were new."""
    if TABLE not in tables or tables[TABLE].num_rows == 0:
        return 0
    before = _count(con)
    con.execute(
        f"INSERT INTO seed_files SELECT path, size, content_hash, items, run_id, ingested_at "
        f"FROM new_{TABLE} QUALIFY row_number() OVER (PARTITION BY path, content_hash) = 1 "
        "ON CONFLICT (path, content_hash) DO NOTHING"
    )
    return _count(con) - before


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM seed_files").fetchone()
    return int(row[0]) if row else 0


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
