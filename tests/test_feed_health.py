"""Feed health merged by the loader from spooled feed states: counts, validators, quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from newsflow.tasks.feeds import FeedState, Outcome, states_table
from newsflow.tasks.records import Batch
from newsflow.tasks.spool import write_batch
from newsflow.warehouse.loader import load_spool

URL = "https://feeds.example.com/rss"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def poll(tmp_path: Path, outcome: Outcome, hour: int, **kw: Any) -> tuple[Any, ...]:
    spool = str(tmp_path / "spool")
    state = FeedState(URL, T0 + timedelta(hours=hour), outcome, **kw)
    write_batch(Batch("run"), spool, extra={"feed_states": states_table([state])})
    load_spool(tmp_path / "news.duckdb", spool, lock_wait=5)
    con = duckdb.connect(str(tmp_path / "news.duckdb"), read_only=True)
    try:
        row = con.execute(
            "SELECT etag, last_status, consecutive_failures, soft_failures, hard_failures, "
            "quarantined_until, last_success_at FROM feeds WHERE url = ?",
            [URL],
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return tuple(row)


def test_soft_and_hard_failures_quarantine_and_recovery(tmp_path: Path) -> None:
    ok = poll(tmp_path, "ok", 0, status=200, etag='"a"', entries=3)
    assert ok == ('"a"', 200, 0, 0, 0, None, T0)
    assert poll(tmp_path, "soft", 1, status=503)[:6] == ('"a"', 503, 1, 1, 0, None)
    assert poll(tmp_path, "hard", 2, status=404)[:6] == ('"a"', 404, 2, 1, 1, None)
    assert poll(tmp_path, "hard", 3, status=404)[:6] == ('"a"', 404, 3, 1, 2, None)
    third = poll(tmp_path, "hard", 4, status=404)
    assert third[:5] == ('"a"', 404, 4, 1, 3)
    assert third[5] == T0 + timedelta(hours=4, days=1)  # quarantined a day
    fourth = poll(tmp_path, "hard", 30, status=404)
    assert fourth[5] == T0 + timedelta(hours=30, days=2)  # then twice as long
    back = poll(tmp_path, "not_modified", 80, status=304)
    assert back == ('"a"', 304, 0, 0, 0, None, T0 + timedelta(hours=80))


def test_gone_quarantines_at_once(tmp_path: Path) -> None:
    gone = poll(tmp_path, "gone", 0, status=410)
    assert gone[:5] == (None, 410, 1, 0, 1)
    assert gone[5] == T0 + timedelta(days=30)
