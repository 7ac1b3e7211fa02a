"""Merge of ``rejects``: each reject once per (source, stage, reason, run)."""

from __future__ import annotations

from typing import Any

from newsflow.tasks.contract import Table
from newsflow.warehouse.merges import BatchTables, queries


def merge(batch: BatchTables) -> None:
    if not batch.has(Table.REJECTS):
        return
    sql = queries("rejects")
    batch.con.execute(sql["rejects"])
    rows: list[Any] = batch.con.execute(sql["by_reason"]).fetchall()
    batch.report.rejects_by_reason = {reason: int(count) for reason, count in rows}
    batch.report.rejects = sum(batch.report.rejects_by_reason.values())
