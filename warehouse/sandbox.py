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
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from newsflow.warehouse import fts
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
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


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
