"""Beyond one machine: two process workers on one work pool share the work; one loader merges.

A real Prefect server, a real work pool of type process, two `prefect worker start` processes,
seed folders and feeds split into flow runs created through the REST API, a shared spool, and the
load-spool deployment (concurrency 1) as the only writer. Every article ends up exactly once.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs
from tests.helpers import make_seed_files
from tests.prefect_server import (
    PYTHON,
    TERMINAL,
    api_client,
    create_run,
    prefect_server,
    run_state,
    start,
    stop,
    wait,
)

pytestmark = pytest.mark.slow

POOL = "newsflow-test-pool"


def _rss(server: FaultServer, paths: list[str]) -> str:
    items = "".join(
        f"<item><title>{p}</title><link>{server.url(p)}</link><guid>{p}</guid></item>"
        for p in paths
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )


def test_two_workers_share_the_work_and_every_article_lands_once(tmp_path: Path) -> None:
    # A corpus of seed folders (one overlapping) and two feeds sharing some entries.
    folders = []
    for i in range(4):
        folder = tmp_path / f"seeds-{i}"
        make_seed_files(folder, 25, seed=i)
        for p in folder.iterdir():  # distinct URLs per folder
            p.write_text(p.read_text().replace("/story-", f"/f{i}-story-"))
        folders.append(folder)
    overlap = tmp_path / "seeds-again"
    overlap.mkdir()
    for p in sorted(folders[0].iterdir())[:10]:
        (overlap / p.name).write_text(p.read_text())
    folders.append(overlap)

    site = FaultServer().start()
    try:
        pages = [f"/news/{n}" for n in range(12)]
        for n, path in enumerate(pages):
            site.routes[path] = page(
                article_html(f"Feed story {n}", sample_paragraphs(f"town {n}"))
            )
        site.routes["/a.xml"] = page(_rss(site, pages[:8]), "application/rss+xml")
        site.routes["/b.xml"] = page(_rss(site, pages[4:]), "application/rss+xml")

        with prefect_server(tmp_path) as (api, env, logs):
            shared = {
                **env,
                "NEWSFLOW_DB": str(tmp_path / "wh" / "news.duckdb"),
                "NEWSFLOW_SPOOL": str(tmp_path / "shared-spool"),
                "NEWSFLOW_ALLOW_PRIVATE": "127.0.0.1",
                "NEWSFLOW_PER_HOST_DELAY": "0",
                "NEWSFLOW_LOCK_WAIT": "120",
                "PYTHONPATH": str(ROOT),
            }
            subprocess.run(
                [*PYTHON, "prefect", "work-pool", "create", POOL, "--type", "process"],
                env=shared,
                cwd=ROOT,
                check=True,
                capture_output=True,
                timeout=120,
            )
            out = subprocess.run(
                [*PYTHON, "newsflow.cli", "deploy-pool", POOL],
                env=shared,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert out.returncode == 0, out.stderr
            workers = []
            for name in ("w1", "w2"):
                log = tmp_path / f"{name}.log"
                logs.append(log)
                workers.append(
                    start(
                        [
                            *PYTHON,
                            "prefect",
                            "worker",
                            "start",
                            "--pool",
                            POOL,
                            "--type",
                            "process",
                            "--name",
                            name,
                            "--limit",
                            "1",
                        ],
                        {
                            **shared,
                            "NEWSFLOW_LOAD_IN_FLOW": "false",
                            "PREFECT_WORKER_QUERY_SECONDS": "1",
                        },
                        log,
                        tmp_path,
                    )
                )
            try:
                with api_client(api) as client:
                    runs = [
                        create_run(client, "ingest-seeds/pool", {"paths": [str(f)]})
                        for f in folders
                    ]
                    runs += [
                        create_run(client, "ingest-feeds/pool", {"feeds": [site.url(p)]})
                        for p in ("/a.xml", "/b.xml")
                    ]
                    wait(
                        "the ingest runs",
                        lambda: all(run_state(client, r) in TERMINAL for r in runs),
                        900,
                        logs,
                    )
                    assert [run_state(client, r) for r in runs] == ["COMPLETED"] * len(runs)
                    # Nothing is loaded until the one loader runs.
                    assert not (tmp_path / "wh" / "news.duckdb").exists()
                    loader = create_run(client, "load-spool/pool", {})
                    wait("the loader", lambda: run_state(client, loader) in TERMINAL, 600, logs)
                    assert run_state(client, loader) == "COMPLETED"
            finally:
                for worker in workers:
                    stop(worker)
            took = {
                name: set(
                    re.findall(
                        r"[0-9a-f]{8}-[0-9a-f-]{27}",
                        (tmp_path / f"{name}.log").read_text(errors="replace"),
                    )
                )
                & set(runs)
                for name in ("w1", "w2")
            }
    finally:
        site.stop()

    assert took["w1"] and took["w2"], f"both workers must have run flows: {took}"
    assert took["w1"] | took["w2"] == set(runs)
    con = duckdb.connect(str(tmp_path / "wh" / "news.duckdb"), read_only=True)
    try:
        total, distinct = con.execute(
            "SELECT count(*), count(DISTINCT canonical_url) FROM articles"
        ).fetchone()  # type: ignore[misc]
        assert total == distinct == 100 + 12
        feed_articles = con.execute(
            "SELECT count(*) FROM articles WHERE origin = 'feed'"
        ).fetchone()
        assert feed_articles == (12,)
        sightings = con.execute(
            "SELECT count(*) FROM article_sightings WHERE feed_url IS NOT NULL"
        ).fetchone()
        assert sightings == (16,)  # 8 + 8 entries, four of them in both feeds
        recorded = {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}
        assert set(runs) | {loader} <= recorded
    finally:
        con.close()
