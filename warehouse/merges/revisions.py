"""Merges of backfill ``rededup``: ``revisions`` rows (derived columns recomputed from stored
text; the rules are in revisions.sql) and ``relink`` requests. Both count the article rows
they changed as ``revised``."""

from __future__ import annotations

from functools import cache
from typing import Any

import duckdb

from newsflow.tasks.contract import Table, stored
from newsflow.warehouse import stories
from newsflow.warehouse.merges import BatchTables, queries


def _changed(cursor: duckdb.DuckDBPyConnection) -> int:
    row: Any = cursor.fetchone()
    return int(row[0]) if row else 0


@cache
def _apply() -> str:
    """The update of every column a revision carries (all but its key)."""
    names = [c for c in stored(Table.REVISIONS) if c != "article_id"]
    return queries("revisions")["apply"].format(
        assign=", ".join(f"{c} = r.{c}" for c in names),
        differs=" OR ".join(f"articles.{c} IS DISTINCT FROM r.{c}" for c in names),
    )


def merge(batch: BatchTables) -> None:
    if not batch.has(Table.REVISIONS):
        return
    sql, con = queries("revisions"), batch.con
    con.execute(sql["revised"])
    changed = _changed(con.execute(_apply()))
    con.execute(sql["hash_roots"])
    changed += _changed(con.execute(sql["repoint"]))
    changed += _changed(con.execute(sql["clear_roots"]))
    batch.report.revised += changed


def merge_relink(batch: BatchTables) -> None:
    """A request to recompute every link under today's rule (warehouse/stories.py)."""
    if batch.has(Table.RELINK):
        requested = batch.tables[Table.RELINK].column("requested_at")[0].as_py()
        batch.report.revised += stories.relink(batch.con, requested)
