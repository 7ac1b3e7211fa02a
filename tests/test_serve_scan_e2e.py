"""``newsflow serve`` never misses a seed file: files dropped while it is down are ingested
when it starts (its folder scan), files dropped while it runs through the watcher's events,
and every file exactly once, across a restart. A real, self-hosted Prefect server
(tests/prefect_server.py) and real serve processes, each in its own process group."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import ROOT
from tests.prefect_server import PYTHON, STARTUP, api_client, prefect_server, start, stop, wait

pytestmark = pytest.mark.slow


def _rows(db: Path, sql: str) -> list[tuple]:
    # Served flows keep writing after the articles land: wait for the writer, as analysts do.
    deadline = time.monotonic() + 60
    while True:
        try:
            con = duckdb.connect(str(db), read_only=True)
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            continue
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


def _article(folder: Path, name: str, title: str) -> None:
    host = name.split(".")[0]
    (folder / name).write_text(
        f"{title}\n20240401\nhttps://{host}.example.com/story\nA story about {title} today.\n"
    )


def _titles(db: Path) -> list[str]:
    if not db.exists():
        return []
    return [t for (t,) in _rows(db, "SELECT title FROM articles ORDER BY title")]


def test_files_dropped_while_serve_is_down_are_ingested_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    db = tmp_path / "wh" / "news.duckdb"
    with prefect_server(tmp_path) as (api, env, logs):
        serve_env = {
            **env,
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "NEWSFLOW_SPOOL": str(tmp_path / "wh" / "spool"),
            "NEWSFLOW_LOCK_WAIT": "120",
            "NEWSFLOW_WORKERS": "1",
            "PYTHONPATH": str(ROOT),
        }
        command = [
            *PYTHON,
            *("newsflow", "serve", "--seeds", str(inbox), "--db", str(db)),
            *("--feeds-file", str(tmp_path / "none.toml"), "--debounce", "2"),
            *("--scan-seconds", "3", "--loader-minutes", "60"),
        ]
        serves: list[subprocess.Popen[bytes]] = []

        def serve(n: int) -> None:
            log = tmp_path / f"serve-{n}.log"
            logs.append(log)
            serves.append(start(command, serve_env, log, tmp_path))
            wait("serve to watch", lambda: "watching" in log.read_text(), STARTUP, logs)

        try:
            # Dropped before serve ever ran: the scan at start finds it.
            _article(inbox, "early.txt", "Early")
            serve(1)
            wait("the early file", lambda: _titles(db) == ["Early"], 240, logs)
            # Dropped while serve runs: the watcher's event.
            _article(inbox, "live.txt", "Live")
            wait("the live file", lambda: _titles(db) == ["Early", "Live"], 240, logs)
            stop(serves.pop())
            # Dropped while serve is down, then serve starts again.
            _article(inbox, "down.txt", "Down")
            serve(2)
            wait("the file dropped while down", lambda: len(_titles(db)) == 3, 240, logs)
            time.sleep(12)  # a few more scans (every 3 s) find nothing to do
        finally:
            for proc in serves:
                stop(proc)

        assert _titles(db) == ["Down", "Early", "Live"]
        # Each file read by exactly one run, and recorded once in the ledger.
        runs = _rows(db, "SELECT items, loaded FROM runs WHERE flow = 'ingest-seeds'")
        assert sorted(runs) == [(1, 1), (1, 1), (1, 1)], runs
        ledger = _rows(db, "SELECT path, items FROM seed_files ORDER BY path")
        assert ledger == [
            (str((inbox / name).resolve()), 1) for name in ("down.txt", "early.txt", "live.txt")
        ]
        # The scan's runs are visible in the UI as runs of seed-files tagged "scan".
        with api_client(api) as client:
            deployment = client.get("/deployments/name/ingest-seed-batch/seed-files").json()
            seed_runs: list[dict[str, Any]] = client.post(
                "/flow_runs/filter",
                json={"deployments": {"id": {"any_": [deployment["id"]]}}},
            ).json()
        scanned = sorted(
            Path(p).name for r in seed_runs if "scan" in r["tags"] for p in r["parameters"]["paths"]
        )
        # Only the scan can have found these two; a file dropped while serve runs may be seen
        # by both paths, and is still read once (the runs above).
        assert {"down.txt", "early.txt"} <= set(scanned)
        assert deployment["global_concurrency_limit"]["limit"] == 1
