"""A run's row as a spool table: how a work-pool worker's run reaches the warehouse."""

from __future__ import annotations

import pyarrow as pa

from warehouse.loader import RunRow


def run_table(run: RunRow) -> pa.Table:
    """A run's row as a spool table, for the loader to record."""
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "run_id": pa.array([run.run_id]),
            "flow": pa.array([run.flow]),
            "started_at": pa.array([run.started_at], ts),
            "finished_at": pa.array([run.finished_at], ts),
            "status": pa.array([run.status]),
            "items": pa.array([run.items], pa.int64()),
        }
    )
