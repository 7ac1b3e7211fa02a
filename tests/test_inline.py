"""Ingest work in the command's process (flows/inline.py): the same warehouse rows as the
Prefect flow, no Prefect import, the run recorded in the Prefect server through its REST API,
Ctrl-C. Real console-script processes, a real loopback site, a real Prefect server."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.fetch_server import FaultServer, article_html, conditional, page, sample_paragraphs
from tests.helpers import WORDS, db_rows, make_seed_files, newsflow_env
from tests.prefect_server import api_client, free_port, prefect_server

ROOT = Path(__file__).resolve().parent.parent
NEWSFLOW = [sys.executable, "-m", "newsflow.cli"]
SLOW_PAGES = 8  # INLINE_PAGES: the most pages a run extracts without the worker pool


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    with prefect_server(tmp_path_factory.mktemp("prefect")) as (api, env, _logs):
        yield api, env


@pytest.fixture
def site() -> Iterator[FaultServer]:
    """Articles (one a copy of another), a 404, a non-HTML page, a feed, a seed URL list."""
    srv = FaultServer().start()
    srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
    for i in range(6):
        srv.routes[f"/news/{i}"] = page(
            article_html(f"Harbour story {i}", sample_paragraphs(f"town {i}", 6))
        )
    srv.routes["/news/copy"] = page(article_html("Harbour story 1", sample_paragraphs("town 1", 6)))
    srv.routes["/data.json"] = page('{"a": 1}', "application/json")
    items = "".join(
        f"<item><title>Harbour story {i}</title><link>{srv.url(f'/news/{i}')}</link>"
        f"<guid>g{i}</guid></item>"
        for i in (0, 3, 4)
    )
    rss = f"<rss version='2.0'><channel><title>Harbour</title>{items}</channel></rss>"
    srv.routes["/feed.xml"] = conditional(rss.encode(), '"v1"', "application/rss+xml")
    try:
        yield srv
    finally:
        srv.stop()


def _env(base: dict[str, str], tmp: Path, **extra: str) -> dict[str, str]:
    return newsflow_env(base, tmp / "news.duckdb", tmp / "spool", **extra)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [*NEWSFLOW, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out


# Columns that differ between any two runs of the same input: when, and which run.
_RUN_COLUMNS = {"run_id"}


def _content(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows without the run's times and ids, sorted."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
            if t not in {"runs", "spool_batches", "schema_migrations"}
        ]
        found = {}
        for table in tables:
            columns = [
                name
                for name, kind in con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() "
                    "WHERE table_name = ? AND database_name = current_database()",
                    [table],
                ).fetchall()
                if "TIMESTAMP" not in kind and name not in _RUN_COLUMNS
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            found[table] = con.execute(f"SELECT {listed} FROM {table} ORDER BY ALL").fetchall()
        return found
    finally:
        con.close()


def _ingest_all(site: FaultServer, tmp: Path, env: dict[str, str]) -> list[str]:
    """URLs, a feed and its 304 re-poll, seed files: the run ids."""
    (tmp / "seeds").mkdir(parents=True)
    make_seed_files(tmp / "seeds" / "articles", 1, seed=3)
    (tmp / "seeds" / "urls.txt").write_text(f"{site.url('/news/5')}\n{site.url('/news/missing')}\n")
    outputs = [
        _run(
            [
                "ingest-urls",
                site.url("/news/0"),
                site.url("/news/1"),
                site.url("/news/copy"),
                site.url("/news/missing"),
                site.url("/data.json"),
            ],
            env,
        ),
        _run(["ingest-feeds", "--feed", site.url("/feed.xml")], env),
        _run(["ingest-feeds", "--feed", site.url("/feed.xml")], env),
        _run(["ingest-seeds", str(tmp / "seeds")], env),
    ]
    ids = []
    for out in outputs:
        line = next(x for x in out.stdout.splitlines() if "-> warehouse" in x)
        ids.append(line.split()[1])
    return ids


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_in_process_and_prefect_flow_load_the_same_rows(
    prefect_api: tuple[str, dict[str, str]], site: FaultServer, tmp_path: Path
) -> None:
    api, base = prefect_api
    # one page at a time: which copy of a story is linked how depends on the order pages
    # arrive in, on either path
    one = {"NEWSFLOW_PER_HOST_CONCURRENCY": "1", "NEWSFLOW_FETCH_CONCURRENCY": "1"}
    inline_ids = _ingest_all(site, tmp_path / "inline", _env(base, tmp_path / "inline", **one))
    flow_ids = _ingest_all(
        site, tmp_path / "flow", _env(base, tmp_path / "flow", NEWSFLOW_INLINE="never", **one)
    )
    inline, flow = (
        _content(tmp_path / "inline" / "news.duckdb"),
        _content(tmp_path / "flow" / "news.duckdb"),
    )
    # the seed ledger's paths differ by folder; everything else is the same input
    for found, tmp in ((inline, tmp_path / "inline"), (flow, tmp_path / "flow")):
        found["seed_files"] = [
            (str(Path(r[0]).relative_to(tmp)), *r[1:]) for r in found.get("seed_files", [])
        ]
    assert inline == flow
    assert len(inline["articles"]) >= 6 and {r[2] for r in inline["rejects"]} >= {
        "http_404",
        "not_html",
    }
    with api_client(api) as client:
        for run_id, in_process in [(i, True) for i in inline_ids] + [(i, False) for i in flow_ids]:
            run = client.get(f"/flow_runs/{run_id}").json()
            assert run["state"]["type"] == "COMPLETED", run
            assert ("in-process" in run["tags"]) is in_process, run


def _ingest_big(srv: FaultServer, tmp: Path, env: dict[str, str], pages: int) -> list[str]:
    """More than INLINE_PAGES URLs (with a 404 and a non-HTML page) in batches of 4, a feed
    bringing more than INLINE_PAGES new pages, then its re-poll, and seed files in three
    batches (article files, and a URL list with a missing page). The run ids."""
    (tmp / "seeds").mkdir(parents=True)
    make_seed_files(tmp / "seeds", 9, seed=8)
    (tmp / "seeds" / "urls.txt").write_text(
        f"{srv.url(f'/big/{pages - 1}')}\n{srv.url('/big/missing')}\n"
    )
    urls = [srv.url(f"/big/{i}") for i in range(pages // 2)]
    outputs = [
        _run(["ingest-urls", *urls, srv.url("/big/missing"), srv.url("/data.json")], env),
        _run(["ingest-feeds", "--feed", srv.url("/feed.xml")], env),
        _run(["ingest-feeds", "--feed", srv.url("/feed.xml")], env),
        _run(["ingest-seeds", str(tmp / "seeds")], env),
    ]
    lines = [next(x for x in o.stdout.splitlines() if "-> warehouse" in x) for o in outputs]
    return [line.split()[1] for line in lines]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def _load_order_free(
    content: dict[str, list[tuple[Any, ...]]], db: Path
) -> dict[str, list[tuple[Any, ...]]]:
    """What does not depend on the order in which batches loaded side by side: which copy of
    a story came first (its root), the index's term and document numbers and the sentence
    counts' first article follow load order; the stories (clusters) and the rest do not."""
    for table in [t for t in content if t.startswith("search_")]:
        content.pop(table)
    content.pop("duplicate_links", None)
    content["text_units"] = db_rows(
        db, "SELECT unit_hash, domain, stories FROM text_unit_stories ORDER BY ALL"
    )
    content["articles"] = db_rows(
        db,
        "SELECT * EXCLUDE (duplicate_of, cluster_id, ingested_at, updated_at) FROM articles "
        "ORDER BY article_id",
    )
    content["clusters"] = db_rows(
        db,
        "SELECT list(article_id ORDER BY article_id) AS members FROM articles "
        "GROUP BY cluster_id ORDER BY members",
    )
    content["indexed"] = db_rows(db, "SELECT article_id FROM search_docs ORDER BY ALL")
    return content


def test_big_work_in_process_loads_the_same_rows_as_the_prefect_flow(
    prefect_api: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """Big work on the default path (batches side by side, the extraction pool, seed batches
    in worker processes) and as the Prefect flow: the same rows, rejects and runs rows."""
    api, base = prefect_api
    pages = 2 * SLOW_PAGES + 4
    srv = FaultServer().start()
    try:
        srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
        srv.routes["/data.json"] = page('{"a": 1}', "application/json")
        for i in range(pages):
            srv.routes[f"/big/{i}"] = page(
                article_html(f"Pier story {i}", sample_paragraphs(f"pier {i}", 6))
            )
        items = "".join(
            f"<item><title>Pier story {i}</title><link>{srv.url(f'/big/{i}')}</link>"
            f"<guid>p{i}</guid></item>"
            for i in range(pages // 2 - 2, pages - 1)
        )
        rss = f"<rss version='2.0'><channel><title>Pier</title>{items}</channel></rss>"
        srv.routes["/feed.xml"] = conditional(rss.encode(), '"p1"', "application/rss+xml")
        found, run_ids = {}, {}
        for mode in ("auto", "never"):
            tmp = tmp_path / mode
            env = _env(base, tmp, NEWSFLOW_INLINE=mode, NEWSFLOW_BATCH_SIZE="4")
            run_ids[mode] = _ingest_big(srv, tmp, env, pages)
            content = _load_order_free(_content(tmp / "news.duckdb"), tmp / "news.duckdb")
            content["seed_files"] = [
                (str(Path(r[0]).relative_to(tmp)), *r[1:]) for r in content.get("seed_files", [])
            ]
            content["runs"] = db_rows(
                tmp / "news.duckdb",
                "SELECT flow, status, items, loaded, updated, duplicates, rejected, batches "
                "FROM runs ORDER BY started_at",
            )
            found[mode] = content
    finally:
        srv.stop()
    assert found["auto"] == found["never"]
    assert len(found["auto"]["articles"]) == pages + 9
    assert {r[2] for r in found["auto"]["rejects"]} >= {"http_404", "not_html"}
    assert [r[1] for r in found["auto"]["runs"]] == ["completed"] * 4
    with api_client(api) as client:
        for mode, ids in run_ids.items():
            for run_id in ids:
                run = client.get(f"/flow_runs/{run_id}").json()
                assert run["state"]["type"] == "COMPLETED", run
                assert ("in-process" in run["tags"]) is (mode == "auto"), run


def test_in_process_run_never_imports_prefect(site: FaultServer, tmp_path: Path) -> None:
    """A one-URL run, a feed poll and one seed file, each in a process that then says
    whether Prefect was imported. No server answers: the run succeeds and says so once."""
    env = _env(
        dict(os.environ),
        tmp_path,
        PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
    )
    make_seed_files(tmp_path / "seeds", 1, seed=4)
    script = (
        "import sys\n"
        "from newsflow.cli import main\n"
        "sys.argv = ['newsflow', *sys.argv[1:]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print('EXIT', code, 'PREFECT', 'prefect' in sys.modules)\n"
    )
    for args in (
        ["ingest-urls", site.url("/news/2")],
        ["ingest-feeds", "--feed", site.url("/feed.xml")],
        ["ingest-seeds", str(tmp_path / "seeds")],
    ):
        out = subprocess.run(
            [sys.executable, "-c", script, *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert "EXIT 0 PREFECT False" in out.stdout, out.stdout + out.stderr
        assert out.stderr.count("not in Prefect") == 1, out.stderr
    statuses = db_rows(tmp_path / "news.duckdb", "SELECT flow, status FROM runs ORDER BY flow")
    assert statuses == [
        ("ingest-feeds", "completed"),
        ("ingest-seeds", "completed"),
        ("ingest-urls", "completed"),
    ]


def test_inline_always_runs_big_work_in_process_with_the_worker_pool(
    site: FaultServer, tmp_path: Path
) -> None:
    """NEWSFLOW_INLINE=always: more than INLINE_PAGES URLs, in process (no Prefect import),
    their pages extracted by the worker pool; every page loaded once."""
    env = _env(
        dict(os.environ),
        tmp_path,
        NEWSFLOW_INLINE="always",
        PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
    )
    urls = [site.url(f"/news/{i}") for i in range(6)] + [
        site.url(f"/news/{i}?set=2") for i in range(4)
    ]
    script = (
        "import sys\n"
        "from newsflow.cli import main\n"
        "from newsflow.tasks.extraction_pool import ExtractionPool\n"
        "started = []\n"
        "start = ExtractionPool.start\n"
        "ExtractionPool.start = lambda self: started.append(self) or start(self)\n"
        "sys.argv = ['newsflow', *sys.argv[1:]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "pool = bool(started) and all(p.closed for p in started)\n"
        "print('EXIT', code, 'PREFECT', 'prefect' in sys.modules, 'POOL', pool)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, "ingest-urls", *urls],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "EXIT 0 PREFECT False POOL True" in out.stdout, out.stdout + out.stderr
    assert db_rows(tmp_path / "news.duckdb", "SELECT count(*) FROM articles") == [(10,)]


def test_a_big_run_runs_in_process_unless_told_to_run_the_flow(
    prefect_api: tuple[str, dict[str, str]], site: FaultServer, tmp_path: Path
) -> None:
    """More than INLINE_PAGES URLs in batches of 4, the task runner local (the default): in
    process, recorded in Prefect with its state and artifact, no task runs; with
    NEWSFLOW_INLINE=never, the Prefect flow (its task runs are in the server). The same
    articles either way."""
    api, base = prefect_api
    urls = [site.url(f"/news/{i}") for i in range(6)] + [
        site.url(f"/news/{i}?v=2") for i in range(4)
    ]
    run_ids = {}
    for mode in ("auto", "never"):
        env = _env(base, tmp_path / mode, NEWSFLOW_INLINE=mode, NEWSFLOW_BATCH_SIZE="4")
        out = _run(["ingest-urls", *urls], env)
        run_ids[mode] = next(x for x in out.stdout.splitlines() if "-> warehouse" in x).split()[1]
        assert db_rows(tmp_path / mode / "news.duckdb", "SELECT count(*) FROM articles") == [(10,)]
        assert db_rows(tmp_path / mode / "news.duckdb", "SELECT status, loaded FROM runs") == [
            ("completed", 10)
        ]
    with api_client(api) as client:
        runs, names = {}, {}
        for mode, run_id in run_ids.items():
            runs[mode] = client.get(f"/flow_runs/{run_id}").json()
            tasks = client.post(
                "/task_runs/filter", json={"task_runs": {"flow_run_id": {"any_": [run_id]}}}
            ).json()
            names[mode] = {t["name"] for t in tasks}
        artifacts = client.post(
            "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_ids["auto"]]}}}
        ).json()
    assert runs["auto"]["state"]["type"] == "COMPLETED" and "in-process" in runs["auto"]["tags"]
    assert names["auto"] == set()
    (artifact,) = artifacts
    assert artifact["key"] == "ingest-urls" and "| new articles loaded | 10 |" in artifact["data"]
    assert runs["never"]["state"]["type"] == "COMPLETED"
    assert "in-process" not in runs["never"]["tags"]
    assert "load-spool" in names["never"] and any(
        n.startswith("fetch-pages") for n in names["never"]
    ), names


def test_only_a_dask_task_runner_sends_big_work_to_the_flow() -> None:
    from newsflow.flows.inline import in_process
    from newsflow.settings import Settings

    local = Settings(_env_file=None)  # type: ignore[call-arg]
    dask = local.model_copy(update={"task_runner": "dask"})
    never = local.model_copy(update={"inline": "never"})
    always = dask.model_copy(update={"inline": "always"})
    assert [in_process(s, big=True) for s in (local, dask, never, always)] == [
        True,
        False,
        False,
        True,
    ]
    assert [in_process(s, big=False) for s in (local, dask, never, always)] == [
        True,
        True,
        False,
        True,
    ]


def test_an_in_process_run_is_a_flow_run_with_its_summary(
    prefect_api: tuple[str, dict[str, str]], site: FaultServer, tmp_path: Path
) -> None:
    api, base = prefect_api
    out = _run(
        ["ingest-urls", site.url("/news/3"), site.url("/news/missing")], _env(base, tmp_path)
    )
    assert "not in Prefect" not in out.stderr
    run_id = next(x for x in out.stdout.splitlines() if "-> warehouse" in x).split()[1]
    assert db_rows(tmp_path / "news.duckdb", "SELECT run_id, status FROM runs") == [
        (run_id, "completed")
    ]
    with api_client(api) as client:
        run = client.get(f"/flow_runs/{run_id}").json()
        flow = client.get(f"/flows/{run['flow_id']}").json()
        artifacts = client.post(
            "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}
        ).json()
    assert flow["name"] == "ingest-urls"
    assert run["state"]["type"] == "COMPLETED" and "in-process" in run["tags"]
    assert "1 new articles, 1 rejected" in run["state"]["message"]
    assert run["start_time"] and run["end_time"]
    (artifact,) = artifacts
    assert artifact["key"] == "ingest-urls" and "| new articles loaded | 1 |" in artifact["data"]
    assert "`http_404`" in artifact["data"]


def _slow_site(pages: int) -> FaultServer:
    """``pages`` distinct articles at /slow/N, each answered after 0.8 s."""
    srv = FaultServer(latency=lambda: 0.8).start()
    rng = random.Random(5)
    srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
    for i in range(pages):
        text = [" ".join(rng.choice(WORDS) for _ in range(40)) + "." for _ in range(4)]
        srv.routes[f"/slow/{i}"] = page(article_html(f"Slow {i} {rng.choice(WORDS)}", text))
    return srv


def _interrupt(args: list[str], env: dict[str, str], srv: FaultServer, after: int) -> str:
    """Start a command, Ctrl-C its process group once ``after`` slow pages were asked for;
    what it printed (it exited 130, without a traceback, saying it was cancelled)."""
    proc = subprocess.Popen(
        [*NEWSFLOW, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: a signal to it is a terminal's Ctrl-C
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(1 for h in list(srv.hits) if h.path.startswith("/slow/")) >= after:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[0]
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "cancelled" in out, out
    return out


def _stopped_midway(api: str, db: Path, pages: int) -> None:
    """The run's row says ``cancelled`` with what it loaded, some pages but not all; its
    Prefect run is Cancelled."""
    ((run_id, status, loaded),) = db_rows(db, "SELECT run_id, status, loaded FROM runs")
    (articles,) = db_rows(db, "SELECT count(*) FROM articles")[0]
    assert status == "cancelled" and loaded == articles and 0 < articles < pages
    with api_client(api) as client:
        run = client.get(f"/flow_runs/{run_id}").json()
    assert run["state"]["type"] == "CANCELLED" and "in-process" in run["tags"]


def _loaded_once(db: Path, pages: int) -> None:
    counts = db_rows(db, "SELECT count(*), count(DISTINCT canonical_url) FROM articles")
    assert counts == [(pages, pages)]


def _stop_then_rerun(
    args: list[str], env: dict[str, str], srv: FaultServer, api: str, pages: int, after: int
) -> None:
    """Ctrl-C the command once ``after`` slow pages were asked for: its run stopped midway;
    then the same command again loads every page once."""
    db = Path(env["NEWSFLOW_DB"])
    try:
        _interrupt(args, env, srv, after=after)
        _stopped_midway(api, db, pages)
        _run(args, env)
        _loaded_once(db, pages)
    finally:
        srv.stop()


def test_ctrl_c_stops_an_in_process_run_cleanly(
    prefect_api: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    api, base = prefect_api
    srv = _slow_site(SLOW_PAGES)
    urls = [srv.url(f"/slow/{i}") for i in range(SLOW_PAGES)]
    env = _env(base, tmp_path, NEWSFLOW_PER_HOST_CONCURRENCY="1")
    _stop_then_rerun(["ingest-urls", *urls], env, srv, api, SLOW_PAGES, after=4)


def test_ctrl_c_stops_a_big_in_process_fetching_run_cleanly(
    prefect_api: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """More than INLINE_PAGES URLs in three batches: fetched side by side in process, pages
    extracted by the worker pool; Ctrl-C stops it, and a rerun loads every page once."""
    api, base = prefect_api
    pages = 3 * (SLOW_PAGES // 2)
    srv = _slow_site(pages)
    urls = [srv.url(f"/slow/{i}") for i in range(pages)]
    env = _env(
        base,
        tmp_path,
        NEWSFLOW_PER_HOST_CONCURRENCY="1",
        NEWSFLOW_BATCH_SIZE=str(SLOW_PAGES // 2),
    )
    _stop_then_rerun(["ingest-urls", *urls], env, srv, api, pages, after=5)


def test_ctrl_c_stops_an_in_process_seed_run_with_worker_processes_cleanly(
    prefect_api: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """Six URL-list seed files, one per batch: the batches run in a pool of two worker
    processes; Ctrl-C stops them (no traceback from a worker), what they fetched is loaded,
    and a rerun loads every page once."""
    api, base = prefect_api
    files, per_file = 6, 3
    srv = _slow_site(files * per_file)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for f in range(files):
        listed = [srv.url(f"/slow/{f * per_file + i}") for i in range(per_file)]
        (seeds / f"urls-{f}.txt").write_text("\n".join(listed) + "\n")
    env = _env(base, tmp_path, NEWSFLOW_PER_HOST_CONCURRENCY="1", NEWSFLOW_BATCH_SIZE="1")
    _stop_then_rerun(["ingest-seeds", str(seeds)], env, srv, api, files * per_file, after=3)


def test_a_big_seed_run_in_process_loads_its_batches_while_it_runs(
    prefect_api: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """Seed files in six batches, the last two URL lists of slow pages: the first batches'
    articles are in the warehouse while the last are still being fetched."""
    _api, base = prefect_api
    slow = 6
    srv = _slow_site(slow)
    seeds = tmp_path / "seeds"
    make_seed_files(seeds, 4, seed=9)  # 000000.txt ...: sorted first, no fetching
    for f in range(2):
        listed = [srv.url(f"/slow/{f * 3 + i}") for i in range(3)]
        (seeds / f"urls-{f}.txt").write_text("\n".join(listed) + "\n")
    env = _env(base, tmp_path, NEWSFLOW_PER_HOST_CONCURRENCY="1", NEWSFLOW_BATCH_SIZE="1")
    db = tmp_path / "news.duckdb"
    proc = subprocess.Popen(
        [*NEWSFLOW, "ingest-seeds", str(seeds)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen_while_running = served = 0
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(duckdb.Error):  # absent yet, or the loader writes now
                (articles,) = db_rows(db, "SELECT count(*) FROM articles")[0]
                if articles and proc.poll() is None:
                    seen_while_running = articles
                    served = sum(1 for h in list(srv.hits) if h.path.startswith("/slow/"))
                    break
            time.sleep(0.1)
        out, _ = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        srv.stop()
    assert proc.returncode == 0, out
    # loaded while slow pages were still to be fetched, not at the end
    assert 0 < seen_while_running < 4 + slow and served < slow
    assert db_rows(db, "SELECT count(*) FROM articles") == [(4 + slow,)]


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["process", "dask"])
def test_a_poll_bringing_many_new_pages(
    prefect_api: tuple[str, dict[str, str]], tmp_path: Path, runner: str
) -> None:
    """Polled first in process, more than INLINE_PAGES new entries: with the local task
    runner the run goes on in process (the feed is read once); with Dask, the Prefect flow
    runs (and polls again) and the flow run the poll began is not left behind."""
    api, base = prefect_api
    srv = FaultServer().start()
    try:
        srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
        items = []
        for i in range(SLOW_PAGES + 2):
            srv.routes[f"/n/{i}"] = page(
                article_html(f"Quay story {i}", sample_paragraphs(f"quay {i}", 5))
            )
            items.append(f"<item><title>Quay {i}</title><link>{srv.url(f'/n/{i}')}</link></item>")
        rss = f"<rss version='2.0'><channel><title>Q</title>{''.join(items)}</channel></rss>"
        srv.routes["/feed.xml"] = page(rss, "application/rss+xml")
        env = _env(base, tmp_path, NEWSFLOW_TASK_RUNNER=runner)
        out = _run(["ingest-feeds", "--feed", srv.url("/feed.xml")], env)
        run_id = next(x for x in out.stdout.splitlines() if "-> warehouse" in x).split()[1]
        flow_run = runner == "dask"
        # in process: one poll; the flow: the look in process, then the flow's poll
        assert srv.count("/feed.xml") == (2 if flow_run else 1)
        with api_client(api) as client:
            run = client.get(f"/flow_runs/{run_id}").json()
            flow = client.get(f"/flows/{run['flow_id']}").json()
            runs = client.post(
                "/flow_runs/filter", json={"flows": {"id": {"any_": [flow["id"]]}}}
            ).json()
        assert run["state"]["type"] == "COMPLETED"
        assert ("in-process" in run["tags"]) is not flow_run, run["tags"]
        # every ingest-feeds flow run of the server has ended (none was left Running)
        assert all(r["state"]["type"] != "RUNNING" for r in runs), runs
        (loaded,) = db_rows(tmp_path / "news.duckdb", "SELECT loaded FROM runs")[0]
        assert loaded == SLOW_PAGES + 2
    finally:
        srv.stop()


def test_an_in_process_step_is_retried_after_a_transient_failure_as_its_task_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from newsflow.flows import steps
    from newsflow.tasks.errors import BadInput, TransientError

    calls: list[str] = []

    def flaky(kind: str) -> str:
        calls.append(kind)
        if kind == "transient" and len(calls) < 3:
            raise TransientError("https://example.com/", "timed out", reason="timeout")
        if kind == "permanent":
            raise BadInput("https://example.com/", "no", reason="bad_url")
        return "done"

    # the flows' tasks' retries
    assert set(steps.RETRIES) == {
        steps.fetch_urls,
        steps.fetch_entries,
        steps.poll_group,
        steps.process_seed_files,
    }
    monkeypatch.setitem(steps.RETRIES, flaky, 2)
    runner = steps.InlineRunner()
    assert runner.call(flaky, "transient") == "done" and len(calls) == 3
    calls.clear()
    with pytest.raises(BadInput):
        runner.call(flaky, "permanent")
    assert calls == ["permanent"]  # a permanent failure is not tried again
