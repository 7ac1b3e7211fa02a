"""``newsflow upgrade``'s copy of a single-file warehouse into a lake without articles
(warehouse/STORAGE.md section 8): one transaction with the lake's schema, every table's count
and the article ids checked both ways before the commit; the old file is only read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from newsflow.warehouse.db import DUCKDB_MAGIC
from newsflow.warehouse.db import LOCK_HOLDER as _HOLDER
from newsflow.warehouse.db import rollback as _rollback
from newsflow.warehouse.lake import (
    ALIAS,
    LakeError,
    NotEmpty,
    SourceUnusable,
    create_schema,
    quote,
    tables,
)


@dataclass(frozen=True)
class Migrated:
    """Rows copied per table from a single-file warehouse into the lake, and the check of
    article ids both ways."""

    rows: dict[str, int]
    articles_verified: int = 0  # article ids found in both, none missing, none extra
    orphans_removed: int = 0  # data files a copy that stopped half-way had left


# Constant lists the schema itself fills (the migrations insert them)
_CONSTANT = frozenset({"search_stopwords", "search_stemmers"})


def check_source(path: Path) -> None:
    """Refuse, before any work, a source that is missing or not a DuckDB database."""
    if not path.exists():
        raise SourceUnusable(f"no warehouse file at {path}: give the single-file warehouse (--db)")
    if not path.is_file():
        raise SourceUnusable(f"{path} is not a file: give the single-file warehouse (--db)")
    with path.open("rb") as handle:
        header = handle.read(12)
    if header[8:12] != DUCKDB_MAGIC:
        raise SourceUnusable(f"{path} is not a DuckDB database: give the single-file warehouse")


def _attach_source(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        con.execute(f"ATTACH '{quote(str(path))}' AS old_warehouse (READ_ONLY)")
    except duckdb.Error as error:
        held = _HOLDER.search(str(error))
        if held or "lock" in str(error).lower():
            who = f"PID {held.group(2)}" if held else "another process"
            raise SourceUnusable(
                f"{path} is held by a running load or session ({who}): wait for it to end, "
                "or stop the loader, then run the upgrade again"
            ) from error
        raise SourceUnusable(f"{path} cannot be read: {str(error).splitlines()[0]}") from error


def migrate_from_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    alias: str = ALIAS,
    progress: Callable[[str, int], None] | None = None,
) -> Migrated:
    """Copy every table of a single-file warehouse into a lake without articles, in one
    transaction with the lake's schema: a lake holds the whole copy or nothing.

    The old file is attached read-only, so nothing can happen to it; a crash before the commit
    leaves the lake without a snapshot of the copy, and running again starts over (after
    deleting the data files the stopped copy wrote). Before the commit, every table's count
    and the set of article ids are compared both ways: any difference raises and rolls back,
    so no article is lost. ``progress(table, rows)`` is called as each table is copied."""
    check_source(path)
    _attach_source(con, path)
    try:
        if "articles" in tables(con, alias) and _count(con, f"{alias}.articles"):
            raise NotEmpty(
                f"the lake already holds articles: {path} can only be copied into a new lake "
                "(give another --to)"
            )
        # data files of an earlier copy that stopped before its commit (nothing else can be
        # writing: the lake has no articles)
        orphans = len(
            con.execute(
                "CALL ducklake_delete_orphaned_files(?, cleanup_all => true)", [alias]
            ).fetchall()
        )
        copied: dict[str, int] = {}
        con.execute("BEGIN")
        try:
            create_schema(con, alias=alias, own_transaction=False)
            target = set(tables(con, alias))
            source = set(tables(con, "old_warehouse"))
            for table in sorted(source & target - _CONSTANT, key=_copy_order):
                con.execute(
                    f"INSERT INTO {alias}.{table} BY NAME SELECT * FROM old_warehouse.{table}"
                )
                old_n = _count(con, f"old_warehouse.{table}")
                new_n = _count(con, f"{alias}.{table}")
                if old_n != new_n:
                    raise LakeError(f"{table}: {old_n} rows in {path}, {new_n} in the lake")
                copied[table] = new_n
                if progress is not None:
                    progress(table, new_n)
            missing = _count(
                con,
                f"(SELECT article_id FROM old_warehouse.articles "
                f"EXCEPT SELECT article_id FROM {alias}.articles)",
            )
            extra = _count(
                con,
                f"(SELECT article_id FROM {alias}.articles "
                f"EXCEPT SELECT article_id FROM old_warehouse.articles)",
            )
            if missing or extra:
                raise LakeError(f"article ids differ: {missing} missing, {extra} extra")
            verified = _count(
                con,
                f"(SELECT article_id FROM old_warehouse.articles "
                f"INTERSECT SELECT article_id FROM {alias}.articles)",
            )
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
    finally:
        con.execute("DETACH old_warehouse")
    return Migrated(copied, verified, orphans)


def _copy_order(table: str) -> tuple[int, str]:
    """Articles first (the long copy, shown first), then the rest by name."""
    return (0 if table == "articles" else 1, table)


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    found = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    return int(found[0]) if found else 0
