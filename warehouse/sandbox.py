"""The one sandboxed way to open the warehouse for analysts' SQL (`newsflow sql`, search,
status).

The engine does the refusing, so no query text can get around it:

- the file is opened read-only, so no statement writes to it;
- extensions are never installed or autoloaded; fts is loaded first, from its pinned package;
- then ``enable_external_access = false`` (no file read or written outside the open
  warehouse, no ATTACH, no INSTALL or LOAD) and ``lock_configuration = true`` (no SET or
  RESET may undo any of it).

``run`` adds a check of the statement types before the engine sees them, so a refusal is one
clear line rather than an engine message, and maps the engine's own refusals to ``Refused``.

A warehouse on DuckLake is attached read-only (``warehouse/lake.py``) and the same settings
follow, with ``allowed_directories`` naming only the lake's data path and catalog, so its
Parquet files stay readable and nothing else is. The catalog's own extensions (sqlite,
postgres) read their databases without asking DuckDB's file system, so their functions, and
DuckLake's maintenance functions, are refused by name before the engine sees the query.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from newsflow.warehouse import fts, storage
from newsflow.warehouse.db import connect_reader

# Statement types an analyst's query may contain. CREATE only as the temporary ENUM type that
# DuckDB generates itself for PIVOT (its statement text is empty).
_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.CALL}
_WHAT = {
    duckdb.StatementType.INSERT: "writes (INSERT)",
    duckdb.StatementType.UPDATE: "writes (UPDATE)",
    duckdb.StatementType.DELETE: "writes (DELETE)",
    duckdb.StatementType.CREATE: "writes (CREATE)",
    duckdb.StatementType.DROP: "writes (DROP)",
    duckdb.StatementType.ALTER: "writes (ALTER)",
    duckdb.StatementType.COPY: "file reads and writes (COPY)",
    duckdb.StatementType.EXPORT: "file writes (EXPORT DATABASE)",
    duckdb.StatementType.ATTACH: "other databases (ATTACH)",
    duckdb.StatementType.DETACH: "other databases (DETACH)",
    duckdb.StatementType.LOAD: "extension installs and loads (INSTALL, LOAD)",
    duckdb.StatementType.SET: "settings changes (SET, RESET, USE)",
    duckdb.StatementType.VARIABLE_SET: "settings changes (SET VARIABLE)",
}
# Engine messages that mean the sandbox refused, not that the query was wrong.
_ENGINE_REFUSALS = {
    "read-only mode": "writes",
    "configuration has been locked": "settings changes",
    "disabled by configuration": "files outside the warehouse",
    "disabled through configuration": "extension loads",
}


# Functions that reach outside the warehouse or change it, whatever the file settings say:
# the catalog extensions' own readers and writers, DuckLake's maintenance, and SQL run from a
# string (which would hide any of them). DuckLake's read-only functions stay available.
_REFUSED_PREFIXES = ("sqlite_", "postgres_", "ducklake_")
_REFUSED_NAMES = frozenset({"query", "query_table", "set_option"})
_READ_ONLY_LAKE = frozenset(
    {
        "ducklake_snapshots",
        "ducklake_table_info",
        "ducklake_list_files",
        "ducklake_table_changes",
        "ducklake_table_insertions",
        "ducklake_table_deletions",
        "ducklake_current_snapshot",
        "ducklake_last_committed_snapshot",
        "ducklake_options",
        "ducklake_settings",
    }
)


class Refused(Exception):
    """A statement the sandbox does not run; the message is one line for the user."""


def connect(path: Path, wait: float = 10.0) -> duckdb.DuckDBPyConnection:
    """A read-only, locked-down connection to ``path`` with search available."""
    con = connect_reader(path, wait, config={"autoload_known_extensions": False})
    try:
        fts.load(con)
        if not _has_macro(con, "search_articles"):
            # The live warehouse: the search macro lives in the session, not in the file.
            fts.create_search_macro(con, temporary=True)
        if storage.is_lake(path):
            con.execute("SET allowed_directories = ?", [_lake_places(con, path)])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _lake_places(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """What a lake's reader reads: its data path (as its catalog records it) and, for a
    SQLite catalog, that file and its WAL."""
    from newsflow.warehouse.lake import data_path_of

    places = [data_path_of(con)]
    if storage.kind_of(path) == "sqlite":
        catalog = str(path.expanduser().resolve())
        places += [catalog, f"{catalog}-wal", f"{catalog}-shm"]
    return places


def _refused_function(query: str) -> str | None:
    """The first function called in ``query`` that the sandbox refuses, if any."""
    tokens = duckdb.tokenize(query)
    for (start, kind), (after, _) in zip(tokens, [*tokens[1:], (len(query), None)], strict=True):
        if kind != duckdb.token_type.identifier:
            continue
        if query[after : after + 1] != "(":  # not a call
            continue
        name = query[start:after].strip().strip('"').lower()
        if name in _REFUSED_NAMES or (
            name.startswith(_REFUSED_PREFIXES) and name not in _READ_ONLY_LAKE
        ):
            return name
    return None


def _has_macro(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = ? AND NOT internal",
        [name],
    ).fetchone()
    return bool(row and row[0])


def check(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise ``Refused`` for any statement of ``query`` that is not a read."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error:
        return  # a syntax error: the engine reports it when the query runs
    if (name := _refused_function(query)) is not None:
        raise Refused(
            f"newsflow sql is read-only and sandboxed: {name}() reaches outside the warehouse "
            "or changes it, and is refused"
        )
    for statement in statements:
        kind = statement.type
        if kind in _ALLOWED or (kind == duckdb.StatementType.CREATE and not statement.query):
            continue
        what = _WHAT.get(kind, f"{kind.name} statements")
        raise Refused(f"newsflow sql is read-only and sandboxed: {what} are refused")


def run(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyConnection:
    """Run an analyst's query on a sandboxed connection; ``Refused`` when it tries more than
    reading the warehouse, ``duckdb.Error`` when the query itself is wrong."""
    check(con, query)
    try:
        return con.execute(query)
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        what = next((w for marker, w in _ENGINE_REFUSALS.items() if marker in message), None)
        if what is None and isinstance(exc, duckdb.PermissionException):
            what = "files, databases and extensions outside the warehouse"
        if what is not None:
            raise Refused(
                f"newsflow sql is read-only and sandboxed: {what} are refused ({message})"
            ) from exc
        raise
