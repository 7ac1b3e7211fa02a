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
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from tasks.records import (
    ArticleRow,
    Batch,
    CommentRow,
    NoteRow,
    RawPageRow,
    RejectRow,
    SightingRow,
)

MANIFEST = "_MANIFEST.json"
# ``write_batch``'s ids: the UTC stamp ``%Y%m%dT%H%M%S%f``, a dash, 12 hex digits
_BATCH_ID = re.compile(r"\d{8}T\d{12}-[0-9a-f]{12}")
_TS = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "articles": pa.schema(
        [
            ("article_id", pa.string()),
            ("url", pa.string()),
            ("canonical_url", pa.string()),
            ("domain", pa.string()),
            ("title", pa.string()),
            ("published_at", _TS),
            ("language", pa.string()),
            ("language_confidence", pa.float64()),
            ("text", pa.string()),
            ("word_count", pa.int64()),
            ("content_hash", pa.string()),
            ("origin", pa.string()),
            ("ingested_at", _TS),
            ("duplicate_of", pa.string()),
            ("modified_at", _TS),
            ("published_source", pa.string()),
            ("modified_source", pa.string()),
            ("authors", pa.list_(pa.string())),
            ("site_name", pa.string()),
            ("description", pa.string()),
            ("image", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("categories", pa.list_(pa.string())),
            ("canonical_link", pa.string()),
            ("access_status", pa.string()),
            ("reading_minutes", pa.int32()),
            ("extractor", pa.string()),
            ("provenance", pa.string()),
            ("bands", pa.list_(pa.int64())),
            ("shingles", pa.list_(pa.int64())),
        ]
    ),
    "comments": pa.schema(
        [("article_id", pa.string()), ("position", pa.int32()), ("text", pa.string())]
    ),
    "sightings": pa.schema(
        [
            ("article_id", pa.string()),
            ("origin", pa.string()),
            ("feed_url", pa.string()),
            ("guid", pa.string()),
            ("url_seen", pa.string()),
            ("seen_at", _TS),
        ]
    ),
    "notes": pa.schema(
        [("article_id", pa.string()), ("code", pa.string()), ("detail", pa.string())]
    ),
    "rejects": pa.schema(
        [
            ("source", pa.string()),
            ("stage", pa.string()),
            ("reason", pa.string()),
            ("detail", pa.string()),
            ("run_id", pa.string()),
            ("rejected_at", _TS),
        ]
    ),
    "raw_pages": pa.schema(
        [
            ("url", pa.string()),
            ("article_id", pa.string()),
            ("fetched_at", _TS),
            ("html_hash", pa.string()),
            ("html_bytes", pa.int64()),
            ("html_zstd", pa.binary()),
        ]
    ),
}
_ROW_TYPES: dict[str, type] = {
    "articles": ArticleRow,
    "comments": CommentRow,
    "sightings": SightingRow,
    "notes": NoteRow,
    "rejects": RejectRow,
    "raw_pages": RawPageRow,
}


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


def to_arrow(name: str, rows: list[Any]) -> pa.Table:
    schema = SCHEMAS[name]
    names = [f.name for f in fields(_ROW_TYPES[name])]
    columns = {n: [getattr(r, n) for r in rows] for n in names}
    return pa.table(columns, schema=schema)


def write_batch(
    batch: Batch, spool: str, *, extra: dict[str, pa.Table] | None = None
) -> SpooledBatch:
    """Write a batch into the spool and return its id; the manifest goes last."""
    fs, root = _fs(spool)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    batch_id = f"{stamp}-{uuid.uuid4().hex[:12]}"
    folder = f"{root}/{batch_id}"
    fs.makedirs(folder, exist_ok=True)
    tables = {name: to_arrow(name, getattr(batch, name)) for name in SCHEMAS}
    if tables["articles"].num_rows:
        # The search index's postings are computed here, by the worker, so that the single
        # loader only appends them instead of tokenizing every text itself.
        from warehouse.search_index import SPOOLED, batch_postings

        tables[SPOOLED] = batch_postings(tables["articles"])
    tables.update(extra or {})
    counts: dict[str, int] = {}
    for name, table in tables.items():
        if table.num_rows == 0:
            continue
        _atomic_write(fs, f"{folder}/{name}.parquet", lambda f, t=table: pq.write_table(t, f))
        counts[name] = table.num_rows
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


def read_batch(spool: str, batch_id: str) -> tuple[dict[str, Any], dict[str, pa.Table]]:
    """The manifest and every table of a batch (empty tables for those it lacks)."""
    fs, root = _fs(spool)
    folder = f"{root}/{batch_id}"
    manifest = read_manifest(spool, batch_id)
    tables: dict[str, pa.Table] = {}
    for name in manifest["tables"]:
        with fs.open(f"{folder}/{name}.parquet", "rb") as handle:
            tables[name] = _conform(name, pq.read_table(handle))
    for name, schema in SCHEMAS.items():
        tables.setdefault(name, schema.empty_table())
    return manifest, tables


def _conform(name: str, table: pa.Table) -> pa.Table:
    """Add as NULLs the columns a batch spooled by an older version lacks."""
    schema = SCHEMAS.get(name)
    if schema is None:
        return table
    for column in schema:
        if column.name not in table.column_names:
            table = table.append_column(column, pa.nulls(table.num_rows, column.type))
    return table


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
