"""The loader's merges, one module per table family, each with its SQL in a ``.sql`` file
beside it: named statements, each introduced by a ``-- name: <name>`` line.

Every merge runs inside the batch's transaction (``warehouse/loader.py``) with the batch's
spooled tables registered as ``new_<table>`` (``tasks/contract.py`` names them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa

from newsflow.tasks.contract import Table
from newsflow.warehouse.keys import KeyIndex
from newsflow.warehouse.loadreport import LoadReport

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def queries(family: str) -> dict[str, str]:
    """The named statements of ``<family>.sql`` beside this module."""
    text = (Path(__file__).parent / f"{family}.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)[1:]  # [name, body, name, body, ...]
    found: dict[str, str] = {}
    for name, body in zip(parts[::2], parts[1::2], strict=True):
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        found[name] = "\n".join(lines).strip().rstrip(";")
    return found


@dataclass
class BatchTables:
    """A batch being merged: the writer's connection (in the batch's transaction), the
    batch's spooled tables (registered as ``new_<table>``) and its counts so far."""

    con: duckdb.DuckDBPyConnection
    tables: dict[Table, pa.Table]
    report: LoadReport
    # on a lake, this machine's key index, caught up to the transaction's snapshot
    keys: KeyIndex | None = None

    def has(self, table: Table) -> bool:
        found = self.tables.get(table)
        return found is not None and found.num_rows > 0

    def count(self, sql: str) -> int:
        row = self.con.execute(sql).fetchone()
        return int(row[0]) if row else 0
