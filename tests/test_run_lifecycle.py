"""How runs start, stop and end: the run ledger (credited per spooling run, failed, cancelled,
abandoned), Ctrl-C and SIGTERM, killed runs leaving no process behind, the local Prefect
server that persists. Real console-script processes against the real loopback test server."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsflow import cancel
from newsflow.flows import runtime
from newsflow.settings import Settings
from newsflow.tasks.process import process_candidates
from newsflow.tasks.records import Candidate
from newsflow.tasks.spool import write_batch
from newsflow.warehouse import runs as run_ledger
from newsflow.warehouse.db import connect_writer
from newsflow.warehouse.loader import RunRow, load_spool
from newsflow.warehouse.publish import publish, published_path
from tests.fetch_server import FaultServer, article_html, page
from tests.helpers import WORDS, db_rows, newsflow_env

ROOT = Path(__file__).resolve().parent.parent
NEWSFLOW = [sys.executable, "-m", "newsflow.cli"]
PAGES = 40
# SIGKILLs of fetching runs in the orphan test (the figure is 40: NEWSFLOW_TEST_KILLS=40)
KILLS = int(os.environ.get("NEWSFLOW_TEST_KILLS", "3"))
FEED_KILLS = int(os.environ.get("NEWSFLOW_TEST_FEED_KILLS", "20"))


# --- fixtures ----------------------------------------------------------------------------


def _text(rng: random.Random, n: int = 120) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(n // 4)) + "." for _ in range(4)]


@pytest.fixture
def slow_site() -> Iterator[FaultServer]:
    """``PAGES`` distinct article pages, each answered after 0.4 s, and a feed of them."""
    srv = FaultServer(latency=lambda: 0.4).start()
    rng = random.Random(11)
    srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
    items = []
    for i in range(PAGES):
        title = f"Story {i} {rng.choice(WORDS)} {rng.choice(WORDS)}"
        srv.routes[f"/news/{i}"] = page(article_html(title, _text(rng)))
        items.append(
            f"<item><title>{title}</title><link>{srv.url(f'/news/{i}')}</link>"
            f"<guid>g{i}</guid></item>"
        )
    rss = f"<rss version='2.0'><channel><title>Slow</title>{''.join(items)}</channel></rss>"
    srv.routes["/feed.xml"] = page(rss, "application/rss+xml")
    try:
        yield srv
    finally:
        srv.stop()


def _urls(site: FaultServer) -> list[str]:
    return [site.url(f"/news/{i}") for i in range(PAGES)]


def _pages_served(site: FaultServer) -> int:
    return sum(1 for h in list(site.hits) if h.path.startswith("/news/"))


@pytest.fixture
def cli_env(prefect_harness: None, settings: Settings) -> dict[str, str]:
    """A command's environment: the session's Prefect server, the test's warehouse, the
    loopback server allowed, no politeness delay."""
    from prefect.settings import PREFECT_API_URL

    return newsflow_env(
        os.environ,
        settings.db,
        settings.spool,
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        NEWSFLOW_PER_HOST_CONCURRENCY="4",
    )


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    # its own session: a signal to its group is what a terminal's Ctrl-C is
    return subprocess.Popen(
        [*NEWSFLOW, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEWSFLOW, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def _wait(what: str, check: object, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    for child in (task / "children").read_text().split():
                        if int(child) not in found:
                            found.add(int(child))
                            todo.append(int(child))
    return found


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if run_ledger.alive(p, None)}


def _assert_loaded_once(db: Path, expected: int) -> None:
    (articles, ids, urls) = db_rows(
        db,
        "SELECT count(*), count(DISTINCT article_id), count(DISTINCT canonical_url) FROM articles",
    )[0]
    assert (articles, ids, urls) == (expected, expected, expected)


# --- the run ledger ----------------------------------------------------------------------


def _spool_run(settings: Settings, run_id: str, n: int, offset: int) -> None:
    now = datetime.now(UTC)
    rng = random.Random(offset)
    items = [
        Candidate(
            origin="url",
            source=f"https://example.com/{run_id}/{i}",
            url=f"https://example.com/{run_id}/{i}",
            title=f"{run_id} {i}",
            text="\n".join(_text(rng)),
            seen_at=now,
        )
        for i in range(n)
    ]
    write_batch(process_candidates(items, run_id, now=now), settings.spool)


def test_each_run_is_credited_with_the_batches_it_spooled(settings: Settings) -> None:
    """Three runs spool concurrently; the first to load merges every pending batch, but each
    run's row (and the totals its summary reports) counts only its own."""
    now = datetime.now(UTC)
    con = connect_writer(settings.db, 10)
    for run_id in ("run-a", "run-b", "run-c"):
        run_ledger.start_run(con, run_id, "ingest-urls", now)
    con.close()
    for run_id, n, offset in (("run-a", 3, 1), ("run-b", 5, 2), ("run-c", 7, 3)):
        _spool_run(settings, run_id, n, offset)
    report = load_spool(
        settings.db,
        settings.spool,
        lock_wait=10,
        run=RunRow("run-a", "ingest-urls", now, now, "completed", 3),
    )
    assert report.loaded == 3 and report.batches == 1 and report.others_batches == 2
    rows = dict(
        (r[0], r[1:]) for r in db_rows(settings.db, "SELECT run_id, loaded, batches FROM runs")
    )
    assert rows == {"run-a": (3, 1), "run-b": (5, 1), "run-c": (7, 1)}
    # run-b's own final load merges nothing more, and still reports its 5 articles
    report = load_spool(
        settings.db,
        settings.spool,
        lock_wait=10,
        run=RunRow("run-b", "ingest-urls", now, now, "completed", 5),
    )
    assert (report.loaded, report.sightings, report.batches) == (5, 5, 1)


def test_a_run_whose_process_is_gone_is_abandoned_at_the_next_start(settings: Settings) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = datetime.now(UTC)
    con = connect_writer(settings.db, 10)
    gone = run_ledger.Process(dead.pid, run_ledger.Process.current().host, None)
    run_ledger.start_run(con, "killed", "ingest-feeds", now, gone)
    found = run_ledger.start_run(con, "alive", "ingest-urls", now)  # this process: running
    again = run_ledger.start_run(con, "next", "ingest-urls", now)
    con.close()
    assert (found, again) == (1, 0)
    rows = dict(
        (r[0], r[1:]) for r in db_rows(settings.db, "SELECT run_id, status, error FROM runs")
    )
    assert rows["killed"][0] == "abandoned" and f"process {dead.pid}" in str(rows["killed"][1])
    assert rows["alive"][0] == "running" and rows["next"][0] == "running"


def test_a_reused_pid_is_not_taken_for_the_run_process() -> None:
    me = run_ledger.Process.current()
    assert run_ledger.alive(me.pid, me.started)
    if me.started is not None:
        assert not run_ledger.alive(me.pid, me.started + 1)


def test_publish_sweeps_the_copies_a_killed_publisher_left(settings: Settings) -> None:
    connect_writer(settings.db, 10).close()
    target = published_path(settings.db)
    stale = [
        target.with_name(f".{target.name}.deadbeef.tmp"),
        target.with_name(f".{target.name}.deadbeef.tmp.wal"),
    ]
    for path in stale:
        path.write_bytes(b"x" * 1000)
    publish(settings.db, lock_wait=10)
    assert not any(p.exists() for p in stale) and target.exists()


def test_a_stop_request_starts_no_new_fetch(settings: Settings, slow_site: FaultServer) -> None:
    from newsflow.tasks.fetch import fetch_and_process
    from tests.helpers import local_fetch_settings

    fetch = local_fetch_settings(settings.db.parent)
    items = [Candidate(origin="url", source=u, url=u) for u in _urls(slow_site)]
    cancel.request()
    try:
        batch = fetch_and_process(items, fetch, "stopped")
    finally:
        cancel.reset()
    assert _pages_served(slow_site) == 0 and batch.raw_pages == [] and batch.rejects == []


# --- Ctrl-C and SIGTERM ------------------------------------------------------------------


def _interrupt_midway(
    args: list[str], env: dict[str, str], site: FaultServer, sig: int = signal.SIGINT
) -> str:
    proc = _start(args, env)
    try:
        _wait("pages being fetched", lambda: _pages_served(site) >= 6 or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate()[0]
        os.killpg(proc.pid, sig)  # what a terminal's Ctrl-C does: the whole process group
        out, _ = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out
    assert "Traceback" not in out, out
    assert "cancelled" in out
    return out


def _cancelled_row(db: Path) -> tuple[object, ...]:
    rows = db_rows(db, "SELECT run_id, status, loaded, batches FROM runs")
    assert len(rows) == 1 and rows[0][1] == "cancelled", rows
    (articles,) = db_rows(db, "SELECT count(*) FROM articles")[0]
    assert rows[0][2] == articles and 0 < articles < PAGES  # counted, and stopped midway
    return rows[0]


def _prefect_state(env: dict[str, str], run_id: object) -> str:
    from tests.prefect_server import api_client, run_state

    with api_client(env["PREFECT_API_URL"]) as client:
        return run_state(client, str(run_id))


def test_ctrl_c_stops_a_fetching_run_cleanly_and_a_rerun_loads_the_rest_once(
    cli_env: dict[str, str], settings: Settings, slow_site: FaultServer
) -> None:
    _interrupt_midway(["ingest-urls", *_urls(slow_site)], cli_env, slow_site)
    run_id, *_ = _cancelled_row(settings.db)
    assert _prefect_state(cli_env, run_id) == "CANCELLED"
    served = _pages_served(slow_site)
    time.sleep(2)  # no fetch goes on after the command ended
    assert _pages_served(slow_site) == served
    again = _run(["ingest-urls", *_urls(slow_site)], cli_env)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_loaded_once(settings.db, PAGES)


def test_sigterm_stops_a_seed_run_cleanly_and_a_rerun_loads_the_rest_once(
    cli_env: dict[str, str], settings: Settings, slow_site: FaultServer, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "urls.txt").write_text("\n".join(_urls(slow_site)) + "\n")
    _interrupt_midway(["ingest-seeds", str(seeds)], cli_env, slow_site, signal.SIGTERM)
    _cancelled_row(settings.db)
    again = _run(["ingest-seeds", str(seeds)], cli_env)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_loaded_once(settings.db, PAGES)


def test_ctrl_c_stops_a_seed_run_cleanly(
    cli_env: dict[str, str], settings: Settings, slow_site: FaultServer, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "urls.txt").write_text("\n".join(_urls(slow_site)) + "\n")
    _interrupt_midway(["ingest-seeds", str(seeds)], cli_env, slow_site)
    run_id, *_ = _cancelled_row(settings.db)
    assert _prefect_state(cli_env, run_id) == "CANCELLED"
    again = _run(["ingest-seeds", str(seeds)], cli_env)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_loaded_once(settings.db, PAGES)


# --- kills -------------------------------------------------------------------------------


def _kill_fetching_run(args: list[str], env: dict[str, str], site: FaultServer) -> set[int]:
    """Start a fetching run, SIGKILL it once its extraction workers run and pages are being
    fetched; the processes it had started that are still alive 10 s later."""
    proc = _start(args, env)
    try:
        _wait(
            "extraction workers and fetching",
            lambda: (
                proc.poll() is not None
                or (len(_descendants(proc.pid)) >= 2 and _pages_served(site) >= 1)
            ),
        )
        assert proc.poll() is None, proc.communicate()[0]
        children = _descendants(proc.pid)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.2)
        return _alive(children)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_killed_fetching_run_leaves_no_process_and_is_abandoned(
    cli_env: dict[str, str], settings: Settings, slow_site: FaultServer
) -> None:
    left = _kill_fetching_run(["ingest-urls", *_urls(slow_site)], cli_env, slow_site)
    assert left == set()
    again = _run(["ingest-urls", _urls(slow_site)[0]], cli_env)
    assert again.returncode == 0, again.stdout + again.stderr
    statuses = sorted(r[0] for r in db_rows(settings.db, "SELECT status FROM runs"))
    assert statuses == ["abandoned", "completed"]


@pytest.mark.slow
@pytest.mark.timeout(600 + 90 * KILLS)
def test_killed_fetching_runs_leave_no_process_behind(
    cli_env: dict[str, str], settings: Settings, slow_site: FaultServer, tmp_path: Path
) -> None:
    """``KILLS`` SIGKILLs of fetching runs: no process of theirs alive 10 s later, also the
    temporary Prefect server of a run without PREFECT_API_URL (every tenth run, and the
    third); after the
    next start every run row has ended."""
    temporary = {k: v for k, v in cli_env.items() if k != "PREFECT_API_URL"}
    temporary.update(
        NEWSFLOW_PREFECT_SERVER="temporary", PREFECT_HOME=str(tmp_path / "prefect-home")
    )
    left: list[set[int]] = []
    for i in range(KILLS):
        env = temporary if i % 10 == 2 else cli_env
        left.append(_kill_fetching_run(["ingest-urls", *_urls(slow_site)], env, slow_site))
        print(f"kill {i + 1}: {len(left[-1])} processes left", flush=True)
    print(f"{KILLS} kills: {sum(1 for x in left if x)} left a process alive after 10 s")
    assert [x for x in left if x] == []
    again = _run(["ingest-urls", *_urls(slow_site)], cli_env)
    assert again.returncode == 0, again.stdout + again.stderr
    statuses = {r[0] for r in db_rows(settings.db, "SELECT status FROM runs")}
    assert statuses <= set(run_ledger.ENDED), statuses
    _assert_loaded_once(settings.db, PAGES)


@pytest.mark.slow
@pytest.mark.timeout(600 + 60 * FEED_KILLS)
def test_random_kills_during_ingest_feeds_lose_and_duplicate_nothing(
    cli_env: dict[str, str], settings: Settings, slow_site: FaultServer
) -> None:
    """``FEED_KILLS`` SIGKILLs at random moments of ``ingest-feeds`` runs, then one run to the
    end: every entry loaded exactly once, every run row ended."""
    rng = random.Random(2026)
    args = ["ingest-feeds", "--feed", slow_site.url("/feed.xml")]
    for _ in range(FEED_KILLS):
        proc = _start(args, cli_env)
        try:
            time.sleep(rng.uniform(2.0, 14.0))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    final = _run(args, cli_env)
    assert final.returncode == 0, final.stdout + final.stderr
    _assert_loaded_once(settings.db, PAGES)
    (sightings,) = db_rows(settings.db, "SELECT count(DISTINCT url_seen) FROM article_sightings")[0]
    assert sightings == PAGES
    statuses = {r[0] for r in db_rows(settings.db, "SELECT status FROM runs")}
    assert statuses <= set(run_ledger.ENDED), statuses


# --- the local Prefect server ------------------------------------------------------------


def test_a_server_that_does_not_come_up_is_not_left_behind(tmp_path: Path) -> None:
    home = tmp_path / ".prefect"
    with pytest.raises(runtime.ServerError):
        runtime.start(home, 0, timeout=0.5)
    assert not (home / runtime.PID_FILE).exists() and not (home / runtime.STATE_FILE).exists()
    assert _alive(set(runtime._servers)) == set()
    assert runtime.status(home)[0] is None


@pytest.fixture
def local_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A command environment without PREFECT_API_URL: commands use the local server under
    the test's warehouse folder; stopped at the end whatever happened."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "PREFECT_"))}
    env.update(
        NEWSFLOW_DB=str(tmp_path / "w" / "news.duckdb"),
        NEWSFLOW_SPOOL=str(tmp_path / "w" / "spool"),
        NEWSFLOW_PREFECT_PORT="0",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        COLUMNS="200",
    )
    try:
        yield env
    finally:
        runtime.stop(tmp_path / "w" / ".prefect")


@pytest.mark.slow
def test_the_local_server_persists_between_commands_and_keeps_every_run(
    local_env: dict[str, str], seed_dir: Path, tmp_path: Path
) -> None:
    home = tmp_path / "w" / ".prefect"
    assert _run(["server", "status"], local_env).returncode == 1
    first = _run(["ingest-seeds", str(seed_dir)], local_env)
    assert first.returncode == 0, first.stdout + first.stderr
    server, line = runtime.status(home)
    assert server is not None, line
    status = _run(["server", "status"], local_env)
    assert status.returncode == 0 and server.url in status.stdout
    second = _run(["ingest-seeds", str(seed_dir)], local_env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert runtime.status(home)[0] == server  # the same server, not a new one
    from tests.prefect_server import api_client

    with api_client(server.api_url) as client:
        runs = client.post("/flow_runs/filter", json={}).json()
    assert sorted(r["state"]["type"] for r in runs) == ["COMPLETED", "COMPLETED"]
    stopped = _run(["server", "stop"], local_env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not run_ledger.alive(server.pid, None)
    assert _run(["server", "status"], local_env).returncode == 1


def test_a_failing_run_is_marked_failed_with_its_error(
    prefect_harness: None, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsflow.flows import steps, urls

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the spool disk is on fire")

    monkeypatch.setattr(steps, "write_batch", broken)  # the flow's steps spool
    fetch = settings.model_copy(update={"allow_private": [], "http_retries": 0})
    with pytest.raises(RuntimeError):
        urls.ingest_urls(urls=["http://127.0.0.1:9/nothing"], settings=fetch)
    ((status, error, finished),) = db_rows(
        settings.db, "SELECT status, error, finished_at FROM runs"
    )
    assert status == "failed" and error == "RuntimeError: the spool disk is on fire"
    assert finished is not None


@pytest.mark.slow
def test_three_concurrent_ingests_are_each_credited_with_their_own_counts(
    cli_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    from tests.helpers import make_seed_files

    sizes = {"a": 12, "b": 20, "c": 28}
    for name, n in sizes.items():
        make_seed_files(tmp_path / name, n, seed=len(name) * n)
        for p in (tmp_path / name).iterdir():  # distinct URLs per folder
            p.write_text(p.read_text().replace("/story-", f"/{name}-story-"))
    env = {**cli_env, "NEWSFLOW_BATCH_SIZE": "4"}  # several batches each, loads interleave
    procs = {name: _start(["ingest-seeds", str(tmp_path / name)], env) for name in sizes}
    outputs = {name: proc.communicate(timeout=900)[0] for name, proc in procs.items()}
    assert all(p.returncode == 0 for p in procs.values()), outputs
    rows = db_rows(settings.db, "SELECT items, loaded, status FROM runs ORDER BY items")
    assert rows == [(n, n, "completed") for n in sorted(sizes.values())]
    for name, n in sizes.items():
        assert re.search(rf"new articles loaded\s*│\s*{n}\s*│", outputs[name]), outputs[name]
