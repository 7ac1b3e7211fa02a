"""fetch_and_process end to end on a local server: extraction and processing in the worker
processes, rows and compressed raw pages back, walls and failures as rejects or summaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newsflow.settings import Settings
from tasks.fetch import fetch_and_process
from tasks.normalize import article_id, canonical_url
from tasks.rawpages import page_html
from tasks.records import Candidate
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
