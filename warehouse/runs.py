"""The run ledger: one ``runs`` row per flow run, telling how it ended and what it loaded.

- A run's row is written when it starts (``start_run``), with the process that runs it, and
  at that moment every ``running`` row of this host whose process is gone becomes
  ``abandoned`` (``sweep_abandoned``): a killed run does not stay ``running`` for good.
- Counts are credited to the run that spooled each batch (the batch manifest's ``run_id``),
  whichever process merges it (``credit``): with concurrent runs, the one that happens to
  merge the pending batches does not take the others' counts.
- A run ends ``completed``, ``failed`` (with its error) or ``cancelled`` (``end_run``).
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import duckdb

from newsflow.warehouse.db import rollback
from newsflow.warehouse.loadreport import LoadReport

ENDED = ("completed", "failed", "cancelled", "abandoned")
# The run's counts: its column in ``runs`` -> the ``LoadReport`` field it adds up.
COUNTS = {
    "loaded": "loaded",
    "updated": "updated",
    "duplicates": "duplicates",
    "rejected": "rejects",
    "batches": "batches",
    "unchanged": "unchanged",
    "sightings": "sightings",
}


@dataclass(frozen=True)
class Process:
    """Who runs a run: enough to tell later whether that process still exists."""

    pid: int
    host: str
    started: int | None  # clock ticks since boot (Linux); None where unknown

    @classmethod
    def current(cls) -> Process:
        return cls(os.getpid(), _host(), process_start(os.getpid()))


@cache
def _host() -> str:
    return socket.gethostname()


def process_start(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its end
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None


def alive(pid: int, started: int | None) -> bool:
    """Whether ``pid`` is still the process that started at ``started``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return started is None or process_start(pid) in (None, started)
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2 :].split()[0] == "Z":  # a zombie has ended
            return False
    return started is None or process_start(pid) in (None, started)


def sweep_abandoned(con: duckdb.DuckDBPyConnection) -> int:
    """Mark ``abandoned`` every ``running`` row of this host whose process is gone.
    Rows of other hosts are left alone: their processes cannot be seen from here."""
    rows = con.execute(
        "SELECT run_id, pid, pid_started FROM runs "
        "WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
        [_host()],
    ).fetchall()
    gone = [(run_id, pid) for run_id, pid, started in rows if not alive(pid, started)]
    for run_id, pid in gone:
        con.execute(
            "UPDATE runs SET status = 'abandoned', finished_at = now(), error = ? "
            "WHERE run_id = ? AND status = 'running'",
            [f"process {pid} on {_host()} ended without finishing the run", run_id],
        )
    return len(gone)


def start_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    flow: str,
    started_at: datetime,
    process: Process | None = None,
) -> int:
    """Write the run's ``running`` row with its process; first sweep runs left behind by
    processes that are gone. Returns how many were found abandoned."""
    process = process or Process.current()
    con.execute("BEGIN TRANSACTION")
    try:
        abandoned = sweep_abandoned(con)
        con.execute(
            "MERGE INTO runs USING (SELECT ? AS run_id, ? AS flow, CAST(? AS TIMESTAMPTZ) AS "
            "started_at, CAST(? AS INTEGER) AS pid, CAST(? AS VARCHAR) AS host, "
            "CAST(? AS BIGINT) AS pid_started) AS excluded ON runs.run_id = excluded.run_id "
            "WHEN MATCHED THEN UPDATE SET flow = excluded.flow, "
            "started_at = excluded.started_at, pid = excluded.pid, host = excluded.host, "
            "pid_started = excluded.pid_started "
            f"WHEN NOT MATCHED THEN INSERT (run_id, flow, started_at, status, items, "
            f"{', '.join(COUNTS)}, pid, host, pid_started) VALUES (excluded.run_id, "
            f"excluded.flow, excluded.started_at, 'running', 0, {', '.join('0' for _ in COUNTS)}, "
            "excluded.pid, excluded.host, excluded.pid_started)",
            [run_id, flow, started_at, process.pid, process.host, process.started],
        )
        con.execute("COMMIT")
    except Exception:
        rollback(con)  # the error that got us here is the one to raise
        raise
    return abandoned


def _values(report: LoadReport) -> list[int]:
    return [getattr(report, field) for field in COUNTS.values()]


_ADD = ", ".join(f"{c} = coalesce(runs.{c}, 0) + excluded.{c}" for c in COUNTS)
# The counts as the source row's columns of an upsert (``MERGE INTO``: no primary key is
# needed, so the same statement runs on the single file and on a lake).
_COUNT_VALUES = ", ".join(f"CAST(? AS INTEGER) AS {c}" for c in COUNTS)
_EXCLUDED_COUNTS = ", ".join(f"excluded.{c}" for c in COUNTS)


def record(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    flow: str,
    started_at: datetime,
    finished_at: datetime | None,
    status: str,
    items: int,
    report: LoadReport,
    *,
    error: str | None = None,
) -> None:
    """Upsert the run's row: its state, and ``report`` added to its counts. Called by the
    run's own process, which it records if the row does not name one yet."""
    me = Process.current()
    con.execute(
        "MERGE INTO runs USING (SELECT ? AS run_id, ? AS flow, "
        "CAST(? AS TIMESTAMPTZ) AS started_at, CAST(? AS TIMESTAMPTZ) AS finished_at, "
        f"CAST(? AS VARCHAR) AS status, CAST(? AS INTEGER) AS items, {_COUNT_VALUES}, "
        "CAST(? AS VARCHAR) AS error, CAST(? AS INTEGER) AS pid, CAST(? AS VARCHAR) AS host, "
        "CAST(? AS BIGINT) AS pid_started) AS excluded ON runs.run_id = excluded.run_id "
        "WHEN MATCHED THEN UPDATE SET flow = excluded.flow, "
        "started_at = excluded.started_at, finished_at = excluded.finished_at, "
        "status = excluded.status, items = excluded.items, error = excluded.error, "
        "pid = coalesce(runs.pid, excluded.pid), host = coalesce(runs.host, excluded.host), "
        f"pid_started = coalesce(runs.pid_started, excluded.pid_started), {_ADD} "
        "WHEN NOT MATCHED THEN INSERT (run_id, flow, started_at, finished_at, status, items, "
        f"{', '.join(COUNTS)}, error, pid, host, pid_started) VALUES (excluded.run_id, "
        "excluded.flow, excluded.started_at, excluded.finished_at, excluded.status, "
        f"excluded.items, {_EXCLUDED_COUNTS}, excluded.error, excluded.pid, excluded.host, "
        "excluded.pid_started)",
        [
            run_id,
            flow,
            started_at,
            finished_at,
            status,
            items,
            *_values(report),
            error,
            me.pid,
            me.host,
            me.started,
        ],
    )


def credit(con: duckdb.DuckDBPyConnection, run_id: str, report: LoadReport) -> None:
    """Add a batch's counts to the run that spooled it (a row is made for a run not yet
    recorded; that run's own ``record`` fills in the rest)."""
    con.execute(
        f"MERGE INTO runs USING (SELECT ? AS run_id, {_COUNT_VALUES}) AS excluded "
        f"ON runs.run_id = excluded.run_id WHEN MATCHED THEN UPDATE SET {_ADD} "
        f"WHEN NOT MATCHED THEN INSERT (run_id, flow, started_at, status, {', '.join(COUNTS)}) "
        f"VALUES (excluded.run_id, 'unknown', now(), 'running', {_EXCLUDED_COUNTS})",
        [run_id, *_values(report)],
    )


def totals(con: duckdb.DuckDBPyConnection, run_id: str) -> LoadReport:
    """What the run's row says it loaded (all its batches, whoever merged them), with its
    rejects by reason."""
    row = con.execute(
        f"SELECT {', '.join(f'coalesce({c}, 0)' for c in COUNTS)} FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchone()
    report = LoadReport()
    if row is None:
        return report
    for field, value in zip(COUNTS.values(), row, strict=True):
        setattr(report, field, int(value))
    reasons = con.execute(
        "SELECT reason, count(*) FROM rejects WHERE run_id = ? GROUP BY reason", [run_id]
    ).fetchall()
    report.rejects_by_reason = {reason: int(n) for reason, n in reasons}
    return report
