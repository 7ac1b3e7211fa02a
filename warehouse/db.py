"""Connections, migrations and views.

DuckDB lets one process write a file, or many read it, never both. The loader is the only
writer; ``connect_writer`` waits (with backoff, saying so) for readers such as an analyst's
session to let go, up to ``NEWSFLOW_LOCK_WAIT`` seconds.

A warehouse on DuckLake (``--db`` ending in ``.ducklake``, or ``ducklake:postgres:...``;
``warehouse/storage.py`` decides) is opened through ``warehouse/lake.py`` instead: readers and
writers never wait for each other there, and its schema follows the same migrations.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from newsflow.warehouse import storage

MIGRATIONS = Path(__file__).parent / "migrations"
VIEWS = Path(__file__).parent / "views"
LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


class WarehouseLocked(Exception):
    """Another process held the warehouse file longer than we may wait."""

    def __init__(self, path: Path, holder: str, waited: float) -> None:
        self.path = path
        self.holder = holder
        self.waited = waited
        super().__init__(
            f"{path} is locked by {holder}; waited {waited:.0f}s. Close that process (an open "
            "DuckDB session, even read-only, blocks the loader) or raise NEWSFLOW_LOCK_WAIT; "
            "spooled batches are kept and load on the next run."
        )


class UnusableWarehouse(ValueError):
    """``--db`` names something that cannot be the warehouse (a folder, another file type)."""


DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def check_warehouse_path(path: Path, lake_data: str | None = None) -> None:
    """Refuse, before any work, a warehouse path that DuckDB could not open or create."""
    if problem := storage.problem(path, lake_data):
        raise UnusableWarehouse(problem)
    kind = storage.kind_of(path)
    if kind == "postgres":
        return
    if kind == "sqlite" and path.exists():
        if not path.is_file():
            raise UnusableWarehouse(f"--db {path} is not a regular file: give a lake's catalog")
        if problem := storage.sqlite_catalog_problem(path):
            raise UnusableWarehouse(problem)
        return
    if path.is_dir():
        raise UnusableWarehouse(
            f"--db {path} is a folder: give the warehouse file, e.g. {path / 'news.duckdb'}"
        )
    if path.exists():
        if not path.is_file():
            raise UnusableWarehouse(f"--db {path} is not a regular file: give a DuckDB file")
        try:
            with path.open("rb") as handle:
                header = handle.read(12)
        except OSError as exc:
            raise UnusableWarehouse(f"--db {path} cannot be read: {exc.strerror}") from exc
        if header[8:12] != DUCKDB_MAGIC:
            raise UnusableWarehouse(
                f"--db {path} is not a DuckDB database: give the warehouse file, or a new "
                "path to start one"
            )
        return
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UnusableWarehouse(f"--db {path}: {parent} is a file, not a folder")


def _lock_holder(error: duckdb.Error) -> str | None:
    match = LOCK_HOLDER.search(str(error))
    if match:
        return f"PID {match.group(2)} ({match.group(1)})"
    if "lock" in str(error).lower():
        return "another process"
    if "different configuration" in str(error):
        # DuckDB shares one database per file in a process: while this process's writer
        # (the flow's own loader) has it open, a reader must wait for it like for a lock.
        return "another connection of this process"
    return None


def _connect(
    path: Path,
    *,
    read_only: bool,
    wait: float,
    on_wait: Callable[[str, float], None] | None = None,
    config: dict[str, str | bool | int | float | list[str]] | None = None,
) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait
    delay = 0.05
    started = time.monotonic()
    while True:
        try:
            # Never download extensions: fts is loaded from its pinned package (warehouse/fts.py).
            options: dict[str, str | bool | int | float | list[str]] = {
                "autoinstall_known_extensions": False,
                **(config or {}),
            }
            con = duckdb.connect(str(path), read_only=read_only, config=options)
            con.execute("SET TimeZone = 'UTC'")
            return con
        except (duckdb.IOException, duckdb.ConnectionException) as error:
            holder = _lock_holder(error)
            if holder is None:
                raise
            now = time.monotonic()
            if now >= deadline:
                raise WarehouseLocked(path, holder, now - started) from error
            if on_wait is not None:
                on_wait(holder, now - started)
            time.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(delay * 2, 2.0)


def rows_by_ids(
    con: duckdb.DuckDBPyConnection, sql: str, ids: Sequence[str], chunk: int = 500
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql``, whose ``{ids}`` stands in an ``article_id IN ({ids})`` filter, for
    ``ids``: asked as literal lists of at most ``chunk`` ids, which DuckDB looks up in the
    primary key's index, so only those rows' texts are read (a join with a registered table
    reads every text of the warehouse; long lists cost more per id)."""
    for i in range(0, len(ids), chunk):
        part = list(ids[i : i + chunk])
        yield from con.execute(sql.format(ids=", ".join("?" * len(part))), part).fetchall()


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction, if there still is one: a COMMIT that failed (a full
    disk) has already ended it, and a second error would hide the first."""
    with contextlib.suppress(duckdb.TransactionException):
        con.execute("ROLLBACK")


def connect_writer(
    path: Path,
    wait: float,
    on_wait: Callable[[str, float], None] | None = None,
    *,
    lake_data: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """The writing connection, migrated and with current views. On a lake (``lake_data``:
    its data path, needed to create a lake with a PostgreSQL catalog) nothing waits: the lake
    is created if need be and its schema brought up to date."""
    where = storage.locate(path, lake_data)
    if not where.is_lake and (problem := storage.problem(path, lake_data)):
        raise UnusableWarehouse(problem)  # ducklake:<anything else>: no file of that name
    if where.is_lake:
        from newsflow.warehouse import lake

        if where.kind == "postgres" and not where.data_path and not where.exists():
            raise UnusableWarehouse(storage.problem(path, None) or f"no lake at {path}")
        return lake.open_warehouse(where.lake())
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only=False, wait=wait, on_wait=on_wait)
    migrate(con)
    return con


def connect_reader(
    path: Path,
    wait: float = 10.0,
    config: dict[str, str | bool | int | float | list[str]] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A read-only connection; it waits briefly for a running load to finish (on a lake it
    never waits: it reads the last committed snapshot)."""
    where = storage.locate(path)
    if not where.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `newsflow ingest-seeds` first")
    if where.is_lake:
        from newsflow.warehouse import lake

        return lake.connect(where.lake(), read_only=True, config=config)
    return _connect(path, read_only=True, wait=wait, config=config)


def migrations() -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        number, _, name = path.stem.partition("_")
        found.append((int(number), name, path))
    return found


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations not yet recorded, each in its own transaction, then the views."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    for target, text in (
        ("TABLE schema_migrations", "The numbered SQL migrations applied (warehouse/migrations)."),
        ("COLUMN schema_migrations.version", "Migration number (the file name prefix)."),
        ("COLUMN schema_migrations.name", "Migration name (the rest of the file name)."),
        ("COLUMN schema_migrations.applied_at", "When it was applied."),
    ):
        con.execute(f"COMMENT ON {target} IS '{text}'")
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for number, name, path in migrations():
        if number in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(number)
    # CREATE OR REPLACE: views follow their SQL files, when those changed since they were
    # applied (schema_views) or a migration ran; looked at once per database and process.
    # Applying them costs 0.2-0.5 s on a loaded machine, and every command opens the writer.
    key = _database_key(con)
    if applied or key is None or key not in _views_applied:
        digest = views_digest()
        stored = con.execute("SELECT max(digest) FROM schema_views").fetchone()
        if applied or stored is None or stored[0] != digest:
            apply_views(con)
            con.execute("DELETE FROM schema_views")
            con.execute("INSERT INTO schema_views VALUES (?, now())", [digest])
        if key is not None:
            _views_applied.add(key)
    return applied


@functools.cache
def views_digest() -> str:
    """The view files' version: a hash of their names and SQL."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(VIEWS.glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


_views_applied: set[str] = set()


def _database_key(con: duckdb.DuckDBPyConnection) -> str | None:
    """The file of the connection's database (None in memory)."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return str(row[0]) if row and row[0] else None


def apply_views(con: duckdb.DuckDBPyConnection) -> None:
    for path in sorted(VIEWS.glob("*.sql")):
        con.execute(path.read_text(encoding="utf-8"))
