"""The spool: where processed batches wait for the loader.

A batch is a folder ``<spool>/<batch_id>/`` holding one Parquet file per table and, written
last, ``_MANIFEST.json``. Each file is written under a temporary name and then renamed, so a
reader never sees half a file; the manifest is the commit mark, so a batch without one is
ignored (a worker died mid-write) and cleaned up later. This works the same on a local folder
and on any fsspec URL (object storage), which is how many workers feed one loader.

Only folders named as ``write_batch`` names them (``is_batch_id``) are ever listed as
abandoned or removed: whatever else lives where the spool points is never touched. Where the
spool may point at all is checked once, with the settings (``newsflow.settings.spool_problem``).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from newsflow.tasks import contract
from newsflow.tasks.contract import BATCH_TABLES, Table
from newsflow.tasks.postings import batch_postings
from newsflow.tasks.records import Batch

MANIFEST = "_MANIFEST.json"
# ``write_batch``'s ids: the UTC stamp ``%Y%m%dT%H%M%S%f``, a dash, 12 hex digits
_BATCH_ID = re.compile(r"\d{8}T\d{12}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """What a worker hands on: the batch's id and counts, never its rows."""

    batch_id: str
    counts: dict[str, int]


def is_batch_id(name: str) -> bool:
    """Whether ``name`` is a batch folder's name, as ``write_batch`` makes them."""
    return _BATCH_ID.fullmatch(name) is not None


def _fs(spool: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, root = url_to_fs(spool)
    return fs, root.rstrip("/")


def write_batch(
    batch: Batch,
    spool: str,
    *,
    extra: dict[Table, pa.Table] | None = None,
) -> SpooledBatch:
    """Write a batch into the spool and return its id; the manifest goes last.

    With the batch's tables go ``extra`` tables and the search postings of its articles
    (``tasks/postings.py``): the single loader only appends those instead of tokenizing
    every text itself."""
    fs, root = _fs(spool)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    batch_id = f"{stamp}-{uuid.uuid4().hex[:12]}"
    folder = f"{root}/{batch_id}"
    fs.makedirs(folder, exist_ok=True)
    tables: dict[Table, pa.Table] = {
        name: contract.to_arrow(name, getattr(batch, name)) for name in BATCH_TABLES
    }
    if tables[Table.ARTICLES].num_rows:
        tables[Table.POSTINGS] = batch_postings(tables[Table.ARTICLES])
    tables.update({Table(name): table for name, table in (extra or {}).items()})
    counts: dict[str, int] = {}
    for name, table in tables.items():
        if table.num_rows == 0:
            continue
        _atomic_write(fs, f"{folder}/{name}.parquet", lambda f, t=table: pq.write_table(t, f))
        counts[str(name)] = table.num_rows
    manifest = {"batch_id": batch_id, "run_id": batch.run_id, "tables": counts}
    payload = json.dumps(manifest).encode()
    _atomic_write(fs, f"{folder}/{MANIFEST}", lambda f: f.write(payload))
    return SpooledBatch(batch_id, counts)


def _atomic_write(fs: fsspec.AbstractFileSystem, path: str, write: Any) -> None:
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    with fs.open(tmp, "wb") as handle:
        write(handle)
    fs.mv(tmp, path)


def pending(spool: str) -> list[str]:
    """Ids of complete batches (those with a manifest), oldest first."""
    fs, root = _fs(spool)
    if not fs.exists(root):
        return []
    ready = []
    for entry in fs.ls(root, detail=False):
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        if is_batch_id(name) and fs.exists(f"{root}/{name}/{MANIFEST}"):
            ready.append(name)
    return sorted(ready)


def incomplete(spool: str, older_than: float = 3600.0) -> list[str]:
    """Batch folders (by name) without a manifest older than ``older_than`` seconds (dead
    writers)."""
    fs, root = _fs(spool)
    if not fs.exists(root):
        return []
    stale = []
    for entry in fs.ls(root, detail=True):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") != "directory" or not is_batch_id(name):
            continue  # never anything but a batch folder: the spool may share its place
        if fs.exists(f"{root}/{name}/{MANIFEST}"):
            continue
        mtime = entry.get("mtime") or entry.get("created") or 0
        if isinstance(mtime, datetime):
            mtime = mtime.timestamp()
        if time.time() - float(mtime) > older_than:
            stale.append(name)
    return stale


def read_manifest(spool: str, batch_id: str) -> dict[str, Any]:
    """A complete batch's manifest: batch_id, run_id and the row count of each table."""
    fs, root = _fs(spool)
    with fs.open(f"{root}/{batch_id}/{MANIFEST}", "rb") as handle:
        manifest: dict[str, Any] = json.loads(handle.read())
    return manifest


def read_batch(spool: str, batch_id: str) -> tuple[dict[str, Any], dict[Table, pa.Table]]:
    """The manifest and every table of a batch: each conformed to the contract's schema
    (``contract.conform``), empty tables for the ``BATCH_TABLES`` it lacks."""
    fs, root = _fs(spool)
    folder = f"{root}/{batch_id}"
    manifest = read_manifest(spool, batch_id)
    tables: dict[Table, pa.Table] = {}
    for name in manifest["tables"]:
        table = Table(name)
        with fs.open(f"{folder}/{name}.parquet", "rb") as handle:
            tables[table] = contract.conform(table, pq.read_table(handle))
    for table in BATCH_TABLES:
        tables.setdefault(table, contract.schema(table).empty_table())
    return manifest, tables


def remove_batch(spool: str, batch_id: str) -> None:
    """Delete a loaded batch: the manifest first, so a half-removed batch is never re-read.
    ``ValueError`` for a name that is not a batch id: nothing else is ever deleted."""
    if not is_batch_id(batch_id):
        raise ValueError(f"not a spool batch, not removed: {batch_id!r}")
    fs, root = _fs(spool)
    folder = f"{root}/{batch_id}"
    if fs.exists(f"{folder}/{MANIFEST}"):
        fs.rm(f"{folder}/{MANIFEST}")
    if fs.exists(folder):
        fs.rm(folder, recursive=True)
