"""End to end on a real, self-hosted Prefect server: ``prefect server start`` (SQLite in a
temporary PREFECT_HOME) on a free loopback port, ``newsflow serve`` against it, and the
REST API driven exactly as the Prefect UI drives it.

Both processes start in their own process group and are ended with their children.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from tests.conftest import ROOT
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs
from tests.prefect_server import PYTHON, STARTUP, api_client, server_command
from tests.prefect_server import clean_env as _clean_env
from tests.prefect_server import free_port as _free_port
from tests.prefect_server import start as _start
from tests.prefect_server import stop as _stop
from tests.prefect_server import wait as _wait
from tests.test_backfill import check_backfill_schema

pytestmark = pytest.mark.slow


def _feed_server() -> FaultServer:
    srv = FaultServer().start()
    items = ""
    for i in (1, 2):
        srv.routes[f"/news/{i}"] = page(
            article_html(f"Local story {i}", sample_paragraphs(f"T{i}"))
        )
        items += (
            f"<item><title>Local story {i}</title><link>{srv.url(f'/news/{i}')}</link>"
            f"<guid>local-{i}</guid><pubDate>Mon, 0{i} Jul 2024 08:00:00 GMT</pubDate></item>"
        )
    rss = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>{items}'
    srv.routes["/rss.xml"] = page(rss + "</channel></rss>", "application/rss+xml")
    return srv


@dataclass
class Served:
    api: str
    client: httpx.Client
    seeds: Path
    db: Path
    spool: Path
    logs: list[Path]
    feeds: FaultServer

    def rows(self, sql: str, lock_wait: float = 60) -> list[tuple]:
        # The served flows keep writing (runs row, publishing) after the articles land:
        # a reader waits for the writer's lock, as an analyst would.
        deadline = time.monotonic() + lock_wait
        while True:
            try:
                con = duckdb.connect(str(self.db), read_only=True)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
                continue
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()

    def wait(self, what: str, check: Callable[[], Any], timeout: float = 180) -> Any:
        return _wait(what, check, timeout, self.logs)

    def deployment(self, flow: str, name: str) -> dict[str, Any]:
        response = self.client.get(f"/deployments/name/{flow}/{name}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def completed_runs(self, deployment_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.client.post(
            "/flow_runs/filter",
            json={
                "deployments": {"id": {"any_": [deployment_id]}},
                "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
            },
        ).json()
        return runs

    def flow_run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.client.get(f"/flow_runs/{run_id}").json()
        return result


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("served")
    home = tmp / "prefect-home"
    home.mkdir()
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_log = tmp / "server.log"
    serve_log = tmp / "serve.log"
    logs = [server_log, serve_log]
    server = _start(
        server_command(port),
        _clean_env(
            PREFECT_HOME=str(home),
            PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home}/prefect.db",
            PREFECT_UI_ENABLED="false",
        ),
        server_log,
        tmp,
    )
    procs = [server]
    client = api_client(api)
    feed_server = _feed_server()
    (tmp / "feeds.toml").write_text(
        f'[[feeds]]\nname = "Local news"\nurl = "{feed_server.url("/rss.xml")}"\n'
        'tags = ["local", "en"]\n'
    )
    try:
        _wait(
            "the Prefect server",
            lambda: client.get("/health").json() is True,
            STARTUP,
            logs,
        )
        seeds = tmp / "inbox"
        seeds.mkdir()
        db = tmp / "wh" / "news.duckdb"
        spool = tmp / "wh" / "spool"
        serve = _start(
            [
                *PYTHON,
                *("newsflow", "serve", "--seeds", str(seeds), "--db", str(db)),
                *("--feeds-file", str(tmp / "feeds.toml"), "--debounce", "2"),
                *("--loader-minutes", "1", "--feed-minutes", "1"),
            ],
            _clean_env(
                PREFECT_HOME=str(home),
                PREFECT_API_URL=api,
                PREFECT_RUNNER_POLL_FREQUENCY="1",
                NEWSFLOW_SPOOL=str(spool),
                NEWSFLOW_LOCK_WAIT="120",
                NEWSFLOW_ALLOW_PRIVATE="127.0.0.1",
                NEWSFLOW_PER_HOST_DELAY="0",
                NEWSFLOW_WORKERS="1",
                PYTHONPATH=str(ROOT),
            ),
            serve_log,
            tmp,
        )
        procs.append(serve)
        served = Served(api, client, seeds, db, spool, logs, feed_server)
        served.wait(
            "the served deployments and the seed trigger",
            lambda: (
                served.deployment("backfill", "backfill")
                and served.deployment("ingest-seed-batch", "seed-files")
                and client.post("/automations/filter", json={}).json()
            ),
            STARTUP,
        )
        # The watcher watches and the folder's first scan is done.
        served.wait("the seed watcher", lambda: "ready:" in serve_log.read_text(), 120)
        yield served
    finally:
        client.close()
        for proc in reversed(procs):
            _stop(proc)
        feed_server.stop()


def _load_directly(served: Served, folder: Path) -> None:
    """Put articles in the warehouse without Prefect: stages, spool, loader; one file a
    batch, in name order (so the first file is the first article)."""
    from newsflow.tasks import seeds
    from newsflow.tasks.process import process_candidates
    from newsflow.tasks.spool import write_batch
    from newsflow.warehouse.loader import load_spool

    for path in sorted(folder.iterdir()):
        candidates, _ = seeds.read_seed_files([path], "test-setup")
        write_batch(process_candidates(candidates, "test-setup"), str(served.spool))
        load_spool(served.db, str(served.spool), lock_wait=120)


def _write(served: Served, sql: str) -> None:
    from newsflow.warehouse.db import connect_writer

    con = connect_writer(served.db, 120)
    try:
        con.execute(sql)
    finally:
        con.close()


def test_scheduled_loader_merges_waiting_batches(served: Served, tmp_path: Path) -> None:
    """A schedule fires (the loader, every minute) and spooled rows land in the warehouse."""
    from newsflow.tasks import seeds
    from newsflow.tasks.process import process_candidates
    from newsflow.tasks.spool import write_batch

    (tmp_path / "x.txt").write_text(
        "Scheduled\n20230505\nhttps://sched.example.com/a\nRows a scheduled loader run merged.\n"
    )
    candidates, _ = seeds.read_seed_files([tmp_path / "x.txt"], "spooled-by-test")
    write_batch(process_candidates(candidates, "spooled-by-test"), str(served.spool))
    served.wait(
        "a scheduled load-spool run to merge the batch",
        lambda: (
            served.rows(
                "SELECT count(*) FROM articles WHERE domain = 'example.com' AND title = 'Scheduled'"
            )[0][0]
            == 1
        ),
        timeout=200,
    )
    # The schedule fired: the loader's runs were created by the scheduler and completed. (A
    # scheduled feed poll may merge the batch first: every run loads what is waiting.)
    loader = served.deployment("load-spool", "loader")
    assert loader["global_concurrency_limit"]["limit"] == 1
    done = served.wait(
        "a completed scheduled loader run",
        lambda: [r for r in served.completed_runs(loader["id"]) if r["auto_scheduled"]],
        timeout=120,
    )
    assert served.rows(f"SELECT flow FROM runs WHERE run_id = '{done[0]['id']}'") == [
        ("load-spool",)
    ]


def test_scheduled_feed_poll_of_a_local_feed_server(served: Served) -> None:
    """The feed group's schedule fires (every minute here) and the feed's articles land."""
    deployment = served.deployment("ingest-feeds", "feeds-local")
    assert deployment["parameters"]["feeds"] == [served.feeds.url("/rss.xml")]
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    assert deployment["schedules"][0]["schedule"]["interval"] == 60.0

    def landed() -> bool:
        rows = served.rows(
            "SELECT a.title FROM articles a JOIN article_sightings s USING (article_id) "
            f"WHERE s.feed_url = '{served.feeds.url('/rss.xml')}' ORDER BY a.title"
        )
        return rows == [("Local story 1",), ("Local story 2",)]

    served.wait("the scheduled feed poll's articles", landed, timeout=240)
    polled = served.wait(
        "a completed scheduled feed poll",
        lambda: [r for r in served.completed_runs(deployment["id"]) if r["auto_scheduled"]],
        timeout=120,
    )
    assert polled[0]["parameters"]["feeds"] == [served.feeds.url("/rss.xml")]
    (health,) = served.rows("SELECT last_status, consecutive_failures FROM feeds")
    assert health == (200, 0)
    assert served.feeds.count("/rss.xml") >= 1


def test_seed_files_dropped_in_the_folder_load_through_the_trigger(served: Served) -> None:
    bodies = {
        "one.txt": "Harbour\n20240301\nhttps://one.example.com/a\nCranes stood idle all day.\n",
        "two.txt": "Rail\n20240301\nhttps://two.example.com/b\nTrains ran late in the snow.\n",
    }
    for name, text in bodies.items():
        (served.seeds / name).write_text(text)
    # A careful writer: a hidden temporary file, renamed when complete.
    partial = served.seeds / ".three.txt.tmp"
    partial.write_text("Bridge\n20240301\nhttps://three.example.com/c\nThe bridge reopened.\n")
    partial.rename(served.seeds / "three.txt")
    (served.seeds / "notes.md").write_text("not a seed")

    def loaded() -> bool:
        titles = served.rows(
            "SELECT title FROM articles WHERE published_at >= '2024-03-01' "
            "AND published_at < '2024-03-02' ORDER BY title"
        )
        return titles == [("Bridge",), ("Harbour",), ("Rail",)]

    served.wait("the dropped seed files in the warehouse", loaded, timeout=180)
    deployment = served.deployment("ingest-seed-batch", "seed-files")
    runs = served.client.post(
        "/flow_runs/filter",
        json={"deployments": {"id": {"any_": [deployment["id"]]}}},
    ).json()
    # One burst of files: one triggered run (debounced), which ran ingest-seeds once over all.
    assert len(runs) == 1, [r["parameters"] for r in runs]
    assert runs[0]["parameters"]["folder"] == str(served.seeds.resolve())
    served.wait(
        "the triggered run to finish",
        lambda: served.flow_run(runs[0]["id"])["state"]["type"] == "COMPLETED",
    )
    ingests = served.rows("SELECT items, loaded FROM runs WHERE flow = 'ingest-seeds'")
    assert ingests == [(3, 3)]


def test_backfill_created_through_the_rest_api_like_the_ui(served: Served, tmp_path: Path) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    body = "Both papers printed the same agency report on the grain harvest, unchanged.\n"
    (folder / "a.txt").write_text(f"Grain\n20220610\nhttps://a.example.org/grain\n{body}")
    (folder / "b.txt").write_text(f"Grain\n20220611\nhttps://b.example.org/grain\n{body}")
    _load_directly(served, folder)
    good = served.rows(
        "SELECT url, language, word_count, duplicate_of FROM articles "
        "WHERE published_at BETWEEN '2022-06-10' AND '2022-06-12' ORDER BY url"
    )
    assert good[0][3] is None and good[1][3] is not None
    _write(
        served,
        "UPDATE articles SET language = 'xx', word_count = 0, duplicate_of = NULL "
        "WHERE published_at BETWEEN '2022-06-10' AND '2022-06-12'",
    )
    deployment = served.deployment("backfill", "backfill")
    check_backfill_schema(deployment["parameter_openapi_schema"])

    def run_backfill(parameters: dict[str, Any], expect: str = "COMPLETED") -> dict[str, Any]:
        # What the UI's "Custom run" form posts: flat fields, the last day left empty or not.
        response = served.client.post(
            f"/deployments/{deployment['id']}/create_flow_run",
            json={
                "parameters": parameters,
                "state": {"type": "SCHEDULED", "name": "Scheduled"},
            },
        )
        response.raise_for_status()
        run_id = response.json()["id"]
        final = served.wait(
            "the backfill run to finish",
            lambda: (
                (run := served.flow_run(run_id))["state_type"]
                in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
                and run
            ),
        )
        assert final["state_type"] == expect, final["state"]
        return final

    form = {
        "mode": "rededup",
        "first_day": "2022-06-10",
        "last_day": "2022-06-11",
        "sites": ["example.org"],
        "feeds": [],
    }

    first = run_backfill(form)
    after = served.rows(
        "SELECT url, language, word_count, duplicate_of FROM articles "
        "WHERE published_at BETWEEN '2022-06-10' AND '2022-06-12' ORDER BY url"
    )
    assert after == good
    (run_row,) = served.rows(f"SELECT flow, items FROM runs WHERE run_id = '{first['id']}'")
    assert run_row == ("backfill", 2)
    snapshot = served.rows("SELECT * FROM articles ORDER BY article_id")
    second = run_backfill(form)
    assert served.rows("SELECT * FROM articles ORDER BY article_id") == snapshot
    # A reversed range fails at once, its state message one sentence.
    bad = run_backfill({**form, "first_day": "2022-06-11", "last_day": "2022-06-10"}, "FAILED")
    assert bad["state"]["message"] == (
        "The last day (2022-06-10) is before the first (2022-06-11)."
    )
    # The run's logs reach the API in batches, shortly after its state: wait for them.
    deadline = time.monotonic() + 30
    while True:
        bad_log = served.client.post(
            "/logs/filter", json={"logs": {"flow_run_id": {"any_": [bad["id"]]}}}
        ).json()
        said = any("The last day (2022-06-10)" in log["message"] for log in bad_log)
        if said or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert said, bad_log
    assert not any("Traceback" in log["message"] for log in bad_log), bad_log
    # The last day left empty, or cleared to null: the first day only.
    for empty in ({"first_day": "2022-06-10"}, {"first_day": "2022-06-10", "last_day": None}):
        run_backfill(empty)

    def run_log() -> list[str]:
        logs = served.client.post(
            "/logs/filter", json={"logs": {"flow_run_id": {"any_": [first["id"]]}}}
        ).json()
        return [log["message"] for log in logs]

    # INFO records reach the run log although the CLI's own default level is WARNING.
    served.wait(
        "the backfill's INFO line in its run log",
        lambda: any("backfill rededup: 2022-06-10 to 2022-06-11" in m for m in run_log()),
        timeout=60,
    )
    artifacts = served.client.post(
        "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [first["id"]]}}}
    ).json()
    assert any("backfill: run summary" in (a.get("data") or "") for a in artifacts)
    assert any("**Days:** 2022-06-10 to 2022-06-11" in (a.get("data") or "") for a in artifacts)
    assert any("revisions applied" in (a.get("data") or "") for a in artifacts)

    def loaded_event() -> list[dict[str, Any]]:
        page = served.client.post(
            "/events/filter",
            json={
                "filter": {
                    "occurred": {"since": "2000-01-01T00:00:00Z", "until": _now()},
                    "event": {"name": ["newsflow.articles.loaded"]},
                    "resource": {"id": [f"newsflow.run.{first['id']}"]},
                },
                "limit": 10,
            },
        ).json()
        events: list[dict[str, Any]] = page["events"]
        return events

    (event,) = served.wait("the articles-loaded event", loaded_event, timeout=60)
    assert event["payload"]["revised"] >= 3 and event["payload"]["flow"] == "backfill"
    assert any(r.get("prefect.resource.role") == "flow-run" for r in event["related"])
    assert second["id"] != first["id"]


def _now() -> str:
    return datetime.now(UTC).isoformat()
