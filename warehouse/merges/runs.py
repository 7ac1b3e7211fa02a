"""Merge of spooled ``runs`` rows: runs of work-pool workers, which leave loading to the
loader (their counts are credited by warehouse/runs.py)."""

from __future__ import annotations

from newsflow.tasks.contract import Table
from newsflow.warehouse.merges import BatchTables, queries


def merge(batch: BatchTables) -> None:
    if batch.has(Table.RUNS):
        names = batch.tables[Table.RUNS].column_names
        batch.con.execute(
            queries("runs")["runs"].format(
                assign=", ".join(f'"{c}" = n."{c}"' for c in names if c != "run_id"),
                columns=", ".join(f'"{c}"' for c in names),
                values=", ".join(f'n."{c}"' for c in names),
            )
        )
