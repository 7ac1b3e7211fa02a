"""Fetched pages are spooled in parts while the fetch goes on, and the flow's loader merges
each part as it lands: nothing lost, nothing loaded twice, other runs' batches left alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from newsflow.flows.urls import ingest_urls
from newsflow.settings import Settings
from newsflow.tasks import fetch, part_spooler
from newsflow.tasks.records import Batch, Candidate
from newsflow.tasks.spool import pending, read_batch, read_manifest, write_batch
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs, status
from tests.helpers import local_fetch_settings

PAGES = 11


@pytest.fixture
def server() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
    for i in range(PAGES):
        body = article_html(f"Story {i}", sample_paragraphs(f"harbour {i}", 6))
        srv.routes[f"/news/{i}"] = page(body)
    srv.routes["/gone"] = status(404)
    yield srv
    srv.stop()


@pytest.fixture
def fetch_settings(tmp_path: Path) -> Settings:
    return local_fetch_settings(tmp_path, lock_wait=30)


def urls(server: FaultServer) -> list[str]:
    return [server.url(f"/news/{i}") for i in range(PAGES)] + [server.url("/gone")]


def test_parts_are_spooled_and_the_rest_returned(
    server: FaultServer, fetch_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(part_spooler, "SPOOL_EVERY", 4)
    items = [Candidate("url", u, u) for u in urls(server)]
    tracked = server.url("/news/0?utm_source=x")  # the same page as /news/0
    items.append(Candidate("url", tracked, tracked))
    rest = fetch.fetch_and_process(items, fetch_settings, "run-parts", spool=fetch_settings.spool)

    parts = [read_batch(fetch_settings.spool, b)[1] for b in pending(fetch_settings.spool)]
    assert len(parts) == PAGES // 4  # full parts only; the rest comes back
    spooled = [url for part in parts for url in part["articles"].column("url").to_pylist()]
    assert all(part["articles"].num_rows == 4 for part in parts)
    returned = [a.url for a in rest.articles]
    assert len(returned) == PAGES % 4
    # every page once, spooled or returned, each with its raw page
    assert sorted(spooled + returned) == sorted(urls(server)[:PAGES])
    raw = sum(part["raw_pages"].num_rows for part in parts) + len(rest.raw_pages)
    assert raw == PAGES
    # rejects and the repeated URL's sighting stay with the rest (known only at the end)
    assert [(r.source, r.reason) for r in rest.rejects] == [(server.url("/gone"), "http_404")]
    assert tracked in [s.url_seen for s in rest.sightings]


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_ingest_urls_loads_parts_while_fetching(
    server: FaultServer, fetch_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(part_spooler, "SPOOL_EVERY", 3)
    # one page at a time, half a second each: the fetch lasts ~6 s, the first part is ready
    # after ~1.5 s, and the follower (every 1 s) loads it while the rest is fetched
    server.latency = lambda: 0.5
    fetch_settings = fetch_settings.model_copy(update={"per_host_concurrency": 1})
    # a batch another run left in the spool: the final load takes it, not the follower
    other = write_batch(Batch("another-run"), fetch_settings.spool)
    assert read_manifest(fetch_settings.spool, other.batch_id)["run_id"] == "another-run"

    summary = ingest_urls(urls(server), settings=fetch_settings)

    assert summary["load"]["loaded"] == PAGES and summary["load"]["rejects"] == 1
    con = duckdb.connect(str(fetch_settings.db), read_only=True)
    try:
        (articles,) = con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchall()
        batches = con.execute(
            "SELECT run_id, articles FROM spool_batches ORDER BY loaded_at"
        ).fetchall()
        (first_load,) = con.execute(
            "SELECT epoch(min(loaded_at)) FROM spool_batches WHERE run_id = ?",
            [summary["run_id"]],
        ).fetchone() or (None,)
        # each batch is credited to the run that spooled it: "another-run" has its own row
        (run,) = con.execute(
            "SELECT loaded, rejected FROM runs WHERE run_id = ?", [summary["run_id"]]
        ).fetchall()
    finally:
        con.close()
    assert articles == (PAGES, PAGES)
    ours = [n for run_id, n in batches if run_id == summary["run_id"]]
    assert len(ours) >= PAGES // 3 and sum(ours) == PAGES  # loaded in parts
    assert ("another-run", 0) in batches
    last_request = max(h.at for h in server.hits if h.path.startswith("/news/"))
    assert first_load < last_request  # a part was in the warehouse before the fetch ended
    assert run == (PAGES, 1)
    assert pending(fetch_settings.spool) == []

    # a second run fetches again and adds nothing
    again = ingest_urls(urls(server), settings=fetch_settings)
    assert again["load"]["loaded"] == 0 and again["load"]["unchanged"] == PAGES
