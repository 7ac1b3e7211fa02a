"""Reading while ingesting: an analyst process holds the published copy open while ingests
land; the loader is never blocked, and the copy shows the new rows once the analyst refreshes.
An analyst holding the live warehouse instead does block the loader (why the copy exists)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from newsflow.flows.seeds import ingest_seeds
from newsflow.settings import Settings
from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Candidate
from newsflow.tasks.spool import write_batch
from newsflow.warehouse.db import WarehouseLocked
from newsflow.warehouse.loader import load_spool
from newsflow.warehouse.publish import published_path

ROOT = Path(__file__).resolve().parent.parent

ANALYST = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from newsflow.warehouse.publish import open_published

    def report(con, phase):
        articles = con.execute("SELECT count(*) FROM articles").fetchone()[0]
        hits = con.execute(
            "SELECT title FROM search_articles('lighthouse keeper', max_results := 1)"
        ).fetchall()
        print(json.dumps({"phase": phase, "articles": articles,
                          "top": hits[0][0] if hits else None}), flush=True)

    path = Path(sys.argv[1])
    con = open_published(path)          # held open the whole time, like an all-day session
    report(con, "open")
    sys.stdin.readline()                # the ingests have landed
    report(con, "still-open")
    sys.stdin.readline()                # refresh: reconnect to the published copy
    con.close()
    con = open_published(path)
    report(con, "refreshed")
    con.close()
    """
)

HOLD_LIVE = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("holding", flush=True)
    sys.stdin.readline()
    con.close()
    """
)


def _process(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _read(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"analyst process ended early (exit {proc.poll()})"
    result: dict[str, Any] = json.loads(line)
    return result


def _send(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("next\n")
    proc.stdin.flush()


def _seed(folder: Path, name: str, title: str, url: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(f"{title}\n20240305\n{url}\n{body}\n", encoding="utf-8")


@pytest.mark.usefixtures("prefect_harness")
def test_analyst_holds_the_copy_open_while_two_ingests_land(
    settings: Settings, seed_dir: Path, tmp_path: Path
) -> None:
    # A short lock wait: if the analyst's session blocked the loader, the ingests would fail.
    settings = settings.model_copy(update={"lock_wait": 3.0, "publish": True})
    ingest_seeds(paths=[str(seed_dir)], settings=settings)
    copy = published_path(settings.db)
    assert copy.exists()

    analyst = _process(ANALYST, str(copy))
    try:
        assert _read(analyst) == {"phase": "open", "articles": 1, "top": None}
        first, second = tmp_path / "first", tmp_path / "second"
        _seed(
            first,
            "a",
            "The last lighthouse keeper retires",
            "https://coast.example.com/lighthouse",
            "After forty years the last lighthouse keeper on the island handed over the keys.",
        )
        _seed(
            first,
            "b",
            "Ferry timetable changes",
            "https://coast.example.com/ferry",
            "The ferry company will run two extra crossings on weekdays from next month.",
        )
        _seed(
            second,
            "c",
            "Harbour festival draws crowds",
            "https://harbour.example.org/festival",
            "Thousands visited the harbour festival, where a former keeper of the lighthouse "
            "gave tours.",
        )
        one = ingest_seeds(paths=[str(first)], settings=settings)
        two = ingest_seeds(paths=[str(second)], settings=settings)
        assert (one["load"]["loaded"], two["load"]["loaded"]) == (2, 1)

        _send(analyst)
        # The open session still reads the copy it opened: consistent, and never in the way.
        assert _read(analyst) == {"phase": "still-open", "articles": 1, "top": None}
        _send(analyst)
        assert _read(analyst) == {
            "phase": "refreshed",
            "articles": 4,
            "top": "The last lighthouse keeper retires",
        }
        assert analyst.wait(timeout=60) == 0
    finally:
        if analyst.poll() is None:
            analyst.kill()
            analyst.wait(timeout=10)


def test_an_open_session_on_the_live_warehouse_blocks_the_loader(
    settings: Settings, tmp_path: Path
) -> None:
    def batch(url: str) -> None:
        candidate = Candidate(
            origin="url", source=url, url=url, title="T", text="Some words of an article."
        )
        write_batch(process_candidates([candidate], "run"), settings.spool)

    batch("https://example.com/one")
    load_spool(settings.db, settings.spool, lock_wait=5, publish=True)
    holder = _process(HOLD_LIVE, str(settings.db))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        batch("https://example.com/two")
        with pytest.raises(WarehouseLocked):
            load_spool(settings.db, settings.spool, lock_wait=0.5, publish=True)
        _send(holder)
        assert holder.wait(timeout=30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
    # The batch waited in the spool and loads once the session is gone; the copy follows.
    report = load_spool(settings.db, settings.spool, lock_wait=5, publish=True)
    assert report.loaded == 1
    analyst = _process(ANALYST, str(published_path(settings.db)))
    try:
        assert _read(analyst)["articles"] == 2
        _send(analyst)
        _send(analyst)
        assert analyst.wait(timeout=60) == 0
    finally:
        if analyst.poll() is None:
            analyst.kill()
            analyst.wait(timeout=10)


def test_a_failed_publish_never_fails_the_load(settings: Settings, tmp_path: Path) -> None:
    # The published copy's place is taken by a folder: publishing fails, the load stands.
    published_path(settings.db).mkdir(parents=True)
    url = "https://example.com/x"
    candidate = Candidate(origin="url", source=url, url=url, title="T", text="Words here.")
    write_batch(process_candidates([candidate], "run"), settings.spool)
    report = load_spool(settings.db, settings.spool, lock_wait=5, publish=True)
    assert report.loaded == 1
    assert list(tmp_path.glob(".*.tmp")) == []


def test_publish_and_published_commands(settings: Settings) -> None:
    from typer.testing import CliRunner

    from newsflow.cli import app

    runner = CliRunner()
    db = ["--db", str(settings.db)]
    missing = runner.invoke(app, ["search", "harbour", *db])
    assert missing.exit_code == 1
    assert "no warehouse" in missing.output
    url = "https://example.com/harbour"
    candidate = Candidate(origin="url", source=url, url=url, title="Harbour", text="The harbour.")
    write_batch(process_candidates([candidate], "run"), settings.spool)
    load_spool(settings.db, settings.spool, lock_wait=5)  # no publish: the copy is missing
    assert not published_path(settings.db).exists()
    none_yet = runner.invoke(app, ["published", *db])
    assert none_yet.exit_code == 1
    done = runner.invoke(app, ["publish", *db])
    assert done.exit_code == 0, done.output
    assert "1 articles (1 unique)" in done.output
    shown = runner.invoke(app, ["published", *db])
    assert shown.exit_code == 0, shown.output
    assert "1 articles (1 unique)" in shown.output
    assert "fts.duckdb_extension" in shown.output
    found = runner.invoke(app, ["search", "harbour", *db])
    assert found.exit_code == 0, found.output
    assert "1 result for" in found.output
