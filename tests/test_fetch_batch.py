"""fetch_and_process end to end on a local server: extraction and processing in the worker
processes, rows and compressed raw pages back, walls and failures as rejects or summaries."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsflow.settings import Settings
from newsflow.tasks.extraction_pool import ExtractionPool
from newsflow.tasks.fetch import INLINE_PAGES, fetch_and_process
from newsflow.tasks.normalize import article_id, canonical_url
from newsflow.tasks.raw_pages import page_html
from newsflow.tasks.records import Candidate
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs, status
from tests.helpers import local_fetch_settings

WALL = (
    "<html><head><title>Just a moment...</title></head><body>"
    "<p>Checking your browser before accessing this site.</p></body></html>"
)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
    yield srv
    srv.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return local_fetch_settings(tmp_path)


def test_pages_become_rows_raw_pages_and_rejects(server: FaultServer, settings: Settings) -> None:
    html = {
        f"/news/{i}": article_html(f"Story {i}", sample_paragraphs(f"town {i}", 6))
        for i in range(3)
    }
    for path, body in html.items():
        server.routes[path] = page(body)
    server.routes["/walled"] = page(WALL)
    server.routes["/walled-no-summary"] = page(WALL)
    server.routes["/gone"] = status(404)
    url = server.url
    items = [Candidate("url", url(p), url(p)) for p in html]
    items += [
        Candidate("url", url("/news/0?utm_source=x"), url("/news/0?utm_source=x")),  # same page
        Candidate("feed", "f", url("/walled"), summary="The summary the feed gave us."),
        Candidate("feed", "f", url("/walled-no-summary")),
        Candidate("url", url("/gone"), url("/gone")),
    ]
    batch = fetch_and_process(items, settings, "run-1")

    texts = {a.url: a for a in batch.articles}
    assert set(texts) == {url(p) for p in html} | {url("/walled")}
    for path in html:
        row = texts[url(path)]
        assert "town" in row.text and row.access_status == "full" and row.bands
    assert texts[url("/walled")].text == "The summary the feed gave us."
    assert texts[url("/walled")].access_status == "bot_challenge"
    raw = {r.url: r for r in batch.raw_pages}
    assert set(raw) == {url(p) for p in html} | {url("/walled")}  # a rejected page: none
    assert page_html(raw[url("/news/1")].html_zstd) == html["/news/1"]
    assert raw[url("/news/1")].article_id == texts[url("/news/1")].article_id
    rejects = {(r.source, r.stage, r.reason) for r in batch.rejects}
    assert rejects == {
        (url("/walled-no-summary"), "extract", "bot_challenge"),
        (url("/gone"), "fetch", "http_404"),
    }
    # the repeated page was fetched once and sighted twice, under the same article
    first = article_id(canonical_url(url("/news/0")))
    seen = [s.url_seen for s in batch.sightings if s.article_id == first]
    assert sorted(seen) == sorted([url("/news/0"), url("/news/0?utm_source=x")])


def _serve_pages(server: FaultServer, n: int) -> list[Candidate]:
    for i in range(n):
        body = article_html(f"Pool story {i}", sample_paragraphs(f"fjord {i}", 6))
        server.routes[f"/pool/{i}"] = page(body)
    return [Candidate("url", server.url(f"/pool/{i}"), server.url(f"/pool/{i}")) for i in range(n)]


def test_a_call_given_no_pool_ends_the_workers_it_started(
    server: FaultServer, settings: Settings
) -> None:
    before = set(multiprocessing.active_children())
    items = _serve_pages(server, INLINE_PAGES + 2)  # more than a few: extracted in workers
    batch = fetch_and_process(items, settings, "run-own")
    assert len(batch.articles) == len(items)
    assert set(multiprocessing.active_children()) - before == set()


def test_the_shared_pool_does_the_work_and_outlives_the_call(
    server: FaultServer, settings: Settings
) -> None:
    items = _serve_pages(server, 2 * (INLINE_PAGES + 1))
    half = len(items) // 2
    with ExtractionPool(settings) as pool, pool.shared():
        first = fetch_and_process(items[:half], settings, "run-shared")
        assert pool.started  # the call used the owner's pool, which is still running
        workers = pool.start()
        second = fetch_and_process(items[half:], settings, "run-shared")
        assert pool.start() is workers  # the next call reused the same workers
    assert not pool.started
    assert len(first.articles) == len(second.articles) == half
