"""The warehouse as a DuckLake: a SQL catalog plus zstd Parquet data files (warehouse/STORAGE.md).

Readers read snapshots while the loader commits, so nothing waits and nothing is copied:

- the catalog is a SQLite file on one machine (``sqlite:/srv/newsflow/catalog.sqlite``) or a
  PostgreSQL database for many (``postgres:dbname=newsflow host=db``);
- the data path is a local folder or, in production, object storage (``s3://bucket/newsflow/``);
- every table and column of the public interface is created from the project's own numbered
  migrations, so the lake and the single-file warehouse have the same names and types.

The extensions (``ducklake``, ``sqlite_scanner``, ``postgres_scanner``) are loaded from their
pinned PyPI packages by path, never downloaded. ``warehouse/storage.py`` reads how ``--db``,
``--to`` and ``NEWSFLOW_DB`` name a lake; ``warehouse/db.py`` then opens it through here.
``newsflow upgrade`` copies a single-file warehouse into a lake (``lake_upgrade``) and
``newsflow maintain`` runs the lake's maintenance (``lake_maintenance``).
"""

from __future__ import annotations

import functools
import hashlib
import re
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from newsflow.warehouse import storage
from newsflow.warehouse.db import VIEWS, migrate, views_digest
from newsflow.warehouse.db import migrations as db_migrations
from newsflow.warehouse.db import rollback as _rollback

ALIAS = "news"
# Articles are written in day partitions of published_at, so date-bounded queries read only
# their days; the catalog's per-file min/max prune the rest.
PARTITIONS = {
    "articles": "year(published_at), month(published_at), day(published_at)",
}
# Data files are written sorted (on insert, compaction and inlined-data flushes), so each
# file's min/max in the catalog, and each Parquet row group's, prune by these columns: search
# reads only the postings of its terms, the near-duplicate lookup only the files whose band-key
# ranges hold its keys.
SORTED = {
    "articles": "published_at",
    "search_blocks": "segment, term_id",
    "search_postings": "segment, term_id, block",
    "article_bands": "band_key",
}
# Tables the loader keeps for itself (stop words are a constant list; the spool's own ledger
# stays with the loader) are created like the others: the interface lists them all.
# Bookkeeping of the single-file warehouse (which migrations ran, which view files are applied)
_SKIP_TABLES = frozenset({"schema_migrations", "schema_views"})
_CATALOG = re.compile(r"^(sqlite|postgres):(.+)$", re.DOTALL)
# The lake's own bookkeeping, beside the interface's tables:
# - which version of the view files is applied (so opening the lake replaces views, a new
#   catalog snapshot each, only when their SQL changed);
# - the loaders' lock row: every load transaction updates it, so two loads committing at
#   the same time are a DuckLake conflict and the later one fails and is retried
#   (``lock_loads``); without it both could insert the same new article.
BOOKKEEPING = {
    "lake_views": "digest VARCHAR, applied_at TIMESTAMPTZ",
    "lake_load_lock": "id INTEGER, loads BIGINT, last_batch VARCHAR, locked_at TIMESTAMPTZ",
}
# A commit that meets another's commit is retried by DuckLake itself when the two do not
# conflict (appends to the same tables): 15 tries, waits from 50 ms growing 1.5x, about 45 s
# in all (the default, 10 from 100 ms, gives up sooner on a busy PostgreSQL catalog; a
# logical conflict is not retried by DuckLake, the loader loads that batch again).
RETRIES = {
    "ducklake_max_retry_count": 15,
    "ducklake_retry_wait_ms": 50,
    "ducklake_retry_backoff": 1.5,
}


class LakeError(Exception):
    """The lake cannot be opened as configured (a bad catalog, a missing extension)."""


class NotEmpty(LakeError):
    """A migration's target lake already holds articles."""


class SourceUnusable(LakeError):
    """A migration's source is missing, not a DuckDB file, or held by a running load."""


class NoLake(LakeError):
    """No lake exists yet where the setting names one (a mistyped path): nothing is created."""


class MaintenanceStopped(LakeError):
    """A maintenance step failed; the steps before it are committed (the next pass goes on)."""


@dataclass(frozen=True)
class Lake:
    """Where a DuckLake warehouse lives: its catalog and its data path."""

    catalog: str  # "sqlite:<path>" or "postgres:<libpq connection string>"
    # a folder, or an fsspec/object-store URL ending in "/"; "" for an existing lake: the
    # data path recorded in its catalog
    data_path: str

    def __post_init__(self) -> None:
        if not _CATALOG.match(self.catalog):
            raise LakeError(
                f"catalog {self.catalog!r}: use sqlite:/path/catalog.sqlite or "
                "postgres:dbname=... host=..."
            )

    @property
    def kind(self) -> str:
        return self.catalog.split(":", 1)[0]

    @classmethod
    def from_target(cls, text: str | Path, data: str | None = None) -> Lake:
        """The lake a warehouse setting names (``storage.locate``, the one reader of that
        syntax), with its data path: ``data`` (``NEWSFLOW_LAKE_DATA``, ``--data``), else an
        existing catalog's own, else for a new ``PATH.ducklake`` ``PATH.ducklake.files/``.
        A setting that names no lake raises ``LakeError`` saying what to write."""
        if problem := storage.problem(text, data):
            raise LakeError(problem)
        where = storage.locate(text, data)
        if not where.is_lake:
            raise LakeError(
                f"{text} is not a lake: give NEW{storage.SUFFIX} (a SQLite catalog, data files "
                f"in NEW{storage.SUFFIX}{storage.DATA_SUFFIX}/) or {storage.POSTGRES}<libpq> "
                "with its data path"
            )
        return where.lake()

    @property
    def catalog_file(self) -> Path | None:
        """The SQLite catalog's file (None for PostgreSQL)."""
        return Path(self.catalog.split(":", 1)[1]) if self.kind == "sqlite" else None

    @property
    def target(self) -> str:
        """How ``--db``/``NEWSFLOW_DB`` names this lake (the inverse of ``from_target``: an
        existing lake's data path is the one its catalog records; a SQLite catalog is named by
        its path, which ends in ``.ducklake`` for every lake the commands make)."""
        if self.kind == "sqlite":
            return self.catalog.split(":", 1)[1]
        return f"{storage.PREFIX}{self.catalog}"

    @classmethod
    def local(cls, root: Path) -> Lake:
        """A lake in one folder: ``catalog.sqlite`` beside ``data/``."""
        return cls(f"sqlite:{root / 'catalog.sqlite'}", f"{root / 'data'}/")

    def attach_sql(self, *, alias: str = ALIAS, read_only: bool = False) -> str:
        """The one statement that opens the lake in any DuckDB 1.5 with the ducklake extension
        (what an analyst types; `STORAGE.md` gives it)."""
        options = [f"DATA_PATH '{quote(self.data_path)}'"] if self.data_path else []
        if read_only:
            options.append("READ_ONLY")
        listed = f" ({', '.join(options)})" if options else ""
        return f"ATTACH 'ducklake:{quote(self.catalog)}' AS {alias}{listed}"

    @property
    def local_data(self) -> Path | None:
        """The data folder, when it is one on this machine."""
        if not self.data_path or "://" in self.data_path:
            return None
        return Path(self.data_path)


def quote(text: str) -> str:
    """The body of a SQL string literal: its single quotes doubled."""
    return text.replace("'", "''")


def extension_path(name: str) -> Path:
    """A DuckDB extension binary inside its pinned ``duckdb-extension-<name>`` package."""
    package = f"duckdb_extension_{name}"
    try:
        root = resources.files(package) / "extensions" / f"v{duckdb.__version__}"
    except ModuleNotFoundError as error:
        raise LakeError(
            f"the {name} extension is not installed: pip install "
            f"duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}"
        ) from error
    path = Path(str(root / f"{name}.duckdb_extension"))
    if not path.is_file():
        raise LakeError(f"no {name} extension for DuckDB {duckdb.__version__} at {path}")
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Load extensions from their packages' files (no network, no extension directory)."""
    loaded = {
        row[0]
        for row in con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
    }
    for name in names:
        alias = {"sqlite_scanner": "sqlite_scanner", "postgres_scanner": "postgres_scanner"}
        if alias.get(name, name) in loaded:
            continue
        con.execute(f"LOAD '{quote(str(extension_path(name)))}'")


def connect(
    lake: Lake,
    *,
    read_only: bool = False,
    alias: str = ALIAS,
    threads: int | None = None,
    config: dict[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as ``alias`` and selected by ``USE``.

    Any number of these may be open at once, in any processes: readers see the last committed
    snapshot when each query starts, and a writer's commit never waits for them."""
    options: dict[str, Any] = {"autoinstall_known_extensions": False, **(config or {})}
    if threads:
        options["threads"] = threads
    con = duckdb.connect(config=options)
    try:
        con.execute("SET TimeZone = 'UTC'")
        load_extensions(
            con, "ducklake", "sqlite_scanner" if lake.kind == "sqlite" else "postgres_scanner"
        )
        for name, value in RETRIES.items():
            con.execute(f"SET {name} = {value}")
        if (catalog := lake.catalog_file) is not None:
            if read_only and not catalog.is_file():
                raise LakeError(f"no lake catalog at {catalog}")
            use_wal(catalog)
        if not read_only and lake.local_data is not None:
            lake.local_data.mkdir(parents=True, exist_ok=True)
        con.execute(lake.attach_sql(alias=alias, read_only=read_only))
        con.execute(f"USE {alias}")
    except BaseException:
        con.close()
        raise
    return con


def is_lake(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con``'s current database is a DuckLake."""
    row = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return bool(row and row[0] == "ducklake")


def take_load_lock(con: duckdb.DuckDBPyConnection, what: str) -> None:
    """In the open transaction, update the lake's one lock row, so that any other
    transaction doing the same (a load, a compaction of the search index) and committing
    meanwhile makes this one's COMMIT fail with a conflict, instead of both committing."""
    con.execute(
        "UPDATE lake_load_lock SET loads = loads + 1, last_batch = ?, locked_at = now() "
        "WHERE id = 1",
        [what],
    )


def data_path_of(con: duckdb.DuckDBPyConnection, alias: str = ALIAS) -> str:
    """The data path the attached lake's catalog records."""
    row = con.execute(
        f"SELECT value FROM {alias}.options() WHERE option_name = 'data_path'"
    ).fetchone()
    if not row or not row[0]:
        raise LakeError(f"the lake {alias} records no data path")
    return str(row[0])


def lake_exists(lake: Lake) -> bool:
    """Whether the catalog holds a lake yet (a PostgreSQL database is asked, read-only)."""
    if (catalog := lake.catalog_file) is not None:
        return catalog.is_file()
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        load_extensions(con, "postgres_scanner")
        conninfo = lake.catalog.split(":", 1)[1]
        con.execute(f"ATTACH '{quote(conninfo)}' AS catalog_db (TYPE postgres, READ_ONLY)")
        row = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'catalog_db' "
            "AND table_name = 'ducklake_metadata'"
        ).fetchone()
        return bool(row and row[0])
    except duckdb.Error as error:
        raise LakeError(f"cannot reach the catalog {lake.catalog}: {error}") from error
    finally:
        con.close()


def use_wal(catalog: Path) -> None:
    """Put a SQLite catalog in write-ahead-log mode (a setting kept in the file). In SQLite's
    default mode an open reader session keeps a shared lock on the catalog and the writer's
    commit fails with "database is locked"; with the WAL, readers and the writer never wait
    for each other."""
    if _in_wal_mode(catalog):  # read from the file's header: no SQLite connection per open
        return
    try:
        catalog.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(catalog)) as db:
            if db.execute("PRAGMA journal_mode").fetchone() != ("wal",):
                db.execute("PRAGMA journal_mode=WAL")
    except (sqlite3.Error, OSError) as error:
        raise LakeError(f"{catalog} cannot be a lake's SQLite catalog: {error}") from error


def _in_wal_mode(catalog: Path) -> bool:
    """Whether a SQLite file is in WAL mode: its header's read and write versions are 2."""
    try:
        with catalog.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return header[:16] == storage.SQLITE_MAGIC and header[18:20] == b"\x02\x02"


def tables(con: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY 1",
            [database],
        ).fetchall()
    ]


@dataclass(frozen=True)
class _Schema:
    """What the numbered migrations make, read from a scratch in-memory DuckDB."""

    tables: list[str]
    columns: dict[str, list[tuple[str, str, str | None]]]  # name, type, default
    comments: list[tuple[str, str]]
    column_comments: list[tuple[str, str, str]]
    seeded: dict[str, Any]  # table -> the rows the migrations insert (arrow)
    macros: list[str]  # CREATE MACRO statements of the migrations


_MACRO = re.compile(r"^CREATE (?:OR REPLACE )?MACRO\s+(.*?);\s*$", re.MULTILINE | re.DOTALL)


@functools.cache
def _schema() -> _Schema:
    scratch = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        migrate(scratch)
        wanted = [t for t in tables(scratch, "memory") if t not in _SKIP_TABLES]
        comments = scratch.execute(
            "SELECT table_name, comment FROM duckdb_tables() WHERE comment IS NOT NULL"
        ).fetchall()
        column_comments = scratch.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() "
            "WHERE comment IS NOT NULL AND database_name = 'memory'"
        ).fetchall()
        # rows the migrations themselves insert (the stop-word list) come along
        seeded = {
            table: scratch.execute(f"SELECT * FROM memory.{table}").to_arrow_table()
            for table in wanted
            if (scratch.execute(f"SELECT count(*) FROM memory.{table}").fetchone() or [0])[0]
        }
        columns = {
            table: scratch.execute(
                "SELECT column_name, data_type, column_default FROM duckdb_columns() "
                "WHERE database_name = 'memory' AND table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            for table in wanted
        }
    finally:
        scratch.close()
    macros = []
    for _, _, path in db_migrations():
        for match in _MACRO.finditer(path.read_text(encoding="utf-8")):
            macros.append(f"CREATE OR REPLACE MACRO {match.group(1)}")
    return _Schema(wanted, columns, comments, column_comments, seeded, macros)


def _column(name: str, kind: str, default: str | None) -> str:
    return f'"{name}" {kind}' + (f" DEFAULT {default}" if default is not None else "")


def create_schema(
    con: duckdb.DuckDBPyConnection, *, alias: str = ALIAS, own_transaction: bool = True
) -> list[str]:
    """Create every table of the project's migrations in the lake that is still missing, with
    the same columns, types, defaults and comments, and add the columns a later migration
    added to a table the lake already has (``ALTER TABLE ... ADD COLUMN``), so the lake
    follows new migrations; then the views and macros. Returns the tables created. With
    ``own_transaction=False`` it all happens in the caller's open transaction (an upgrade
    commits the schema and the rows together, or nothing).

    The migrations run in a scratch in-memory DuckDB: DuckLake has no primary keys or indexes
    (uniqueness is the loader's job, as it already is for the spool), so the lake takes the
    resulting columns, not the DDL."""
    schema = _schema()
    existing = set(tables(con, alias))
    have: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ?", [alias]
    ).fetchall():
        have.setdefault(table, set()).add(column)
    created: list[str] = []
    added: list[tuple[str, str]] = []
    missing_books = [t for t in BOOKKEEPING if t not in existing]
    todo = [t for t in schema.tables if t not in existing] or missing_books
    for table in schema.tables:
        if table in existing:
            added += [(table, c[0]) for c in schema.columns[table] if c[0] not in have[table]]
    if not todo and not added:
        apply_views(con, alias=alias, own_transaction=own_transaction)
        return created
    if not existing:  # before the first rows: every data file zstd-compressed
        con.execute(f"CALL {alias}.set_option('parquet_compression', 'zstd')")
    if own_transaction:
        con.execute("BEGIN")
    try:
        for table in schema.tables:
            if table in existing:
                continue
            cols = ", ".join(_column(*c) for c in schema.columns[table])
            con.execute(f"CREATE TABLE {alias}.{table} ({cols})")
            if table in PARTITIONS:
                con.execute(f"ALTER TABLE {alias}.{table} SET PARTITIONED BY ({PARTITIONS[table]})")
            if table in SORTED:
                con.execute(f"ALTER TABLE {alias}.{table} SET SORTED BY ({SORTED[table]})")
            if table in schema.seeded:
                con.register("seed_rows", schema.seeded[table])
                con.execute(f"INSERT INTO {alias}.{table} SELECT * FROM seed_rows")
                con.unregister("seed_rows")
            created.append(table)
        for table, column in added:
            spec = next(c for c in schema.columns[table] if c[0] == column)
            con.execute(f"ALTER TABLE {alias}.{table} ADD COLUMN {_column(*spec)}")
        for table in missing_books:
            con.execute(f"CREATE TABLE {alias}.{table} ({BOOKKEEPING[table]})")
        if "lake_load_lock" in missing_books:
            con.execute(f"INSERT INTO {alias}.lake_load_lock VALUES (1, 0, NULL, NULL)")
        for table, comment in schema.comments:
            if table in created:
                con.execute(f"COMMENT ON TABLE {alias}.{table} IS '{quote(comment)}'")
        for table, column, comment in schema.column_comments:
            if table in created or (table, column) in added:
                con.execute(f"COMMENT ON COLUMN {alias}.{table}.{column} IS '{quote(comment)}'")
        if own_transaction:
            con.execute("COMMIT")
    except BaseException:
        if own_transaction:
            _rollback(con)
        raise
    apply_views(con, alias=alias, force=bool(created or added), own_transaction=own_transaction)
    return created


def _views_digest() -> str:
    return hashlib.blake2b(
        (views_digest() + "\0".join(_schema().macros)).encode(), digest_size=16
    ).hexdigest()


def _statements(path: Path) -> list[str]:
    found = []
    for statement in re.split(r";\s*\n", path.read_text(encoding="utf-8")):
        body = "\n".join(
            line for line in statement.splitlines() if not line.lstrip().startswith("--")
        ).strip()
        if body:
            found.append(body)
    return found


def apply_views(
    con: duckdb.DuckDBPyConnection,
    *,
    alias: str = ALIAS,
    force: bool = False,
    own_transaction: bool = True,
) -> None:
    """The analysts' views and the search macros, from the same SQL files as the single-file
    warehouse, when their SQL changed since last applied (``lake_views``) or ``force``.
    DuckLake keeps comments on views but not on their columns or on macros, so those
    statements are left out (they are documented in warehouse/README.md)."""
    digest = _views_digest()
    if not force:
        row = con.execute(f"SELECT max(digest) FROM {alias}.lake_views").fetchone()
        if row and row[0] == digest:
            return
    if own_transaction:
        con.execute("BEGIN")
    try:
        for macro in _schema().macros:
            con.execute(macro)
        for path in sorted(VIEWS.glob("*.sql")):
            for body in _statements(path):
                upper = body.upper()
                if upper.startswith(("COMMENT ON COLUMN", "COMMENT ON MACRO")):
                    continue
                con.execute(body)
        con.execute(f"DELETE FROM {alias}.lake_views")
        con.execute(f"INSERT INTO {alias}.lake_views VALUES (?, now())", [digest])
        if own_transaction:
            con.execute("COMMIT")
    except BaseException:
        if own_transaction:
            _rollback(con)
        raise


def open_warehouse(lake: Lake, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """The writer's connection: the lake attached, every table of the interface present (a
    lake this process has checked at its current schema version is not checked again)."""
    con = connect(lake, threads=threads)
    try:
        if _schema_key(con, lake) not in _schema_checked:
            create_schema(con)
            if (key := _schema_key(con, lake)) is not None:
                _schema_checked.add(key)
    except BaseException:
        con.close()
        raise
    return con


# Lakes whose schema this process has brought up to date, by catalog, lake (its first table's
# uuid, so a lake made again at the same path is another) and schema version: DuckLake bumps
# that version with every table, column, view, macro or comment change, never with rows, so
# an unchanged version needs no second check (``create_schema`` costs 0.2-0.3 s a connection).
_schema_checked: set[tuple[str, str, int]] = set()


def _schema_key(con: duckdb.DuckDBPyConnection, lake: Lake) -> tuple[str, str, int] | None:
    meta = f"__ducklake_metadata_{ALIAS}"
    row = con.execute(
        f"SELECT schema_version, (SELECT min(table_uuid::VARCHAR) FROM {meta}.ducklake_table) "
        f"FROM {meta}.ducklake_snapshot ORDER BY snapshot_id DESC LIMIT 1"
    ).fetchone()
    if not row or row[1] is None:
        return None
    return (lake.catalog, str(row[1]), int(row[0]))


# A commit that meets another writer's fails at once on a SQLite catalog ("database is
# locked": SQLite takes one writer at a time, and a transaction that read an older state may
# not write after another commit) and may conflict on any catalog. The whole transaction is
# then run again after a pause: maintenance steps are safe to repeat, and so is a load that did
# not commit. Loads commit in well under a second, so a pause finds a gap.
# A step that meets a concurrent commit inside DuckLake's own bookkeeping may also surface as
# the aborted transaction it left ("transaction is aborted", "unsuccessful query result").
_BUSY = (
    "database is locked",
    "failed to commit",
    "conflict",
    "transaction is aborted",
    "unsuccessful query result",
)
_T = TypeVar("_T")


def busy(error: BaseException) -> bool:
    """Whether ``error`` is a commit that met another writer's (worth running again)."""
    return isinstance(error, duckdb.Error) and any(t in str(error).lower() for t in _BUSY)


def retry_busy(con: duckdb.DuckDBPyConnection, work: Callable[[], _T], *, attempts: int = 8) -> _T:
    """``work()`` (one transaction on ``con``), run again after a pause while its commit meets
    another writer's; any other error, or the last attempt's, is raised."""
    pause = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except duckdb.Error as error:
            _rollback(con)
            if attempt == attempts or not busy(error):
                raise
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
    raise AssertionError("unreachable")


def open_lake(lake: Lake, *, must_exist: bool) -> duckdb.DuckDBPyConnection:
    """``connect(lake)`` for a command or a flow: a lake that is not there (``must_exist``:
    ``NoLake``, and nothing is created) or cannot be opened raises a ``LakeError`` saying so in
    one line."""
    catalog = lake.catalog_file
    if must_exist and catalog is not None and not catalog.is_file():
        raise NoLake(f"no lake at {catalog} yet")
    try:
        return connect(lake)
    except LakeError:
        raise
    except (duckdb.Error, OSError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LakeError(f"cannot open the lake {catalog or lake.catalog}: {first}") from error
