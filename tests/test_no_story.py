"""Only stories become articles: pages with no story are ``no_story`` rejects, whatever the
extraction mode, through the real fetch path (a local HTTP server, worker processes).

The fixtures in tests/fixtures/no_story describe themselves in their first comment:
``fixture: kind=<kind>, expect=<no_story|article>. <what the page is>``. The ``article``
ones carry every kind of furniture the others are made of, and must stay articles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsflow.settings import Settings
from newsflow.tasks import extract as extract_mod
from newsflow.tasks.errors import BadInput
from newsflow.tasks.extract import extract
from newsflow.tasks.fetch import fetch_and_process
from newsflow.tasks.records import Candidate
from newsflow.tasks.story import KINDS
from tests.fetch_server import FaultServer, page, status
from tests.helpers import local_fetch_settings

FIXTURES = Path(__file__).parent / "fixtures" / "no_story"
_HEADER = re.compile(r"<!--\s*fixture: kind=(\w+), expect=(\w+)\.\s*(.*?)-->", re.DOTALL)


def fixtures() -> dict[str, tuple[str, str, str]]:
    """File name -> (kind, expected outcome, HTML)."""
    found = {}
    for path in sorted(FIXTURES.glob("*.html")):
        html = path.read_text(encoding="utf-8")
        match = _HEADER.search(html)
        assert match, f"{path.name} does not describe itself"
        found[path.name] = (match.group(1), match.group(2), html)
    return found


FIXTURE_SET = fixtures()
NO_STORY = sorted(n for n, (_, expect, _) in FIXTURE_SET.items() if expect == "no_story")
STORIES = sorted(n for n, (_, expect, _) in FIXTURE_SET.items() if expect == "article")


def test_every_kind_has_a_fixture_and_stories_are_there_too() -> None:
    kinds = {kind for kind, expect, _ in FIXTURE_SET.values() if expect == "no_story"}
    assert kinds == set(KINDS)
    assert len(STORIES) >= 2


@pytest.mark.parametrize("mode", ["fast", "full", "selective"])
@pytest.mark.parametrize("name", NO_STORY)
def test_no_story_page_is_rejected_in_every_mode(
    name: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extract_mod, "MODE", mode)
    kind, _, html = FIXTURE_SET[name]
    with pytest.raises(BadInput) as error:
        extract(html, f"https://harbourpost.example/page/{name}")
    assert error.value.reason == "no_story"
    assert error.value.detail.startswith(f"{kind}: "), error.value.detail


@pytest.mark.parametrize("mode", ["fast", "full", "selective"])
@pytest.mark.parametrize("name", STORIES)
def test_stories_with_the_same_furniture_stay_articles(
    name: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extract_mod, "MODE", mode)
    got = extract(FIXTURE_SET[name][2], f"https://harbourpost.example/news/{name}")
    assert got.access_status == "full" and len(got.text.split()) >= 40
    assert "Related stories" not in got.text and "Privacy policy" not in got.text


@pytest.fixture
def server() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    srv.routes["/robots.txt"] = page("User-agent: *\nAllow: /\n", "text/plain")
    for name, (_, _, html) in FIXTURE_SET.items():
        srv.routes[f"/p/{name}"] = page(html)
    yield srv
    srv.stop()


@pytest.fixture
def fetch_settings(tmp_path: Path) -> Settings:
    return local_fetch_settings(tmp_path)


def test_fetch_path_rejects_no_story_pages_even_with_a_feed_summary(
    server: FaultServer, fetch_settings: Settings
) -> None:
    """Fetched and extracted in the worker processes: a no-story page is a reject at the
    extract stage (never an article, not even with the feed's summary as its text); the
    stories are articles."""
    items = [Candidate("url", server.url(f"/p/{n}"), server.url(f"/p/{n}")) for n in FIXTURE_SET]
    items.append(
        Candidate(
            "feed",
            "https://harbourpost.example/rss",
            server.url(f"/p/{NO_STORY[0]}") + "?from=feed",
            summary="A summary the feed gave for this entry.",
        )
    )
    batch = fetch_and_process(items, fetch_settings, "run-no-story")
    loaded = {a.url for a in batch.articles}
    assert loaded == {server.url(f"/p/{n}") for n in STORIES}
    rejects = {r.source: r for r in batch.rejects}
    for name in NO_STORY:
        reject = rejects[server.url(f"/p/{name}")]
        kind = FIXTURE_SET[name][0]
        assert (reject.stage, reject.reason) == ("extract", "no_story")
        assert reject.detail.startswith(f"{kind}: ")
    assert {r.reason for r in batch.rejects} == {"no_story"}
    assert len(batch.rejects) == len(NO_STORY) + 1
    assert all(not a.text.startswith("News\nLocal") for a in batch.articles)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_ingest_urls_stores_only_stories_and_says_why_the_rest_was_not(
    server: FaultServer, tmp_path: Path
) -> None:
    """The real ``ingest-urls`` flow into a real warehouse: stories are articles; no-story
    pages are ``no_story`` rejects with their kind; a site whose robots.txt is unreachable
    (a refused port) or answers 503 gets ``robots_unavailable`` with the cause, and none of
    its pages is requested."""
    import socket

    import duckdb

    from newsflow.flows.urls import ingest_urls

    down = FaultServer().start()
    down.routes["/robots.txt"] = status(503)
    down.routes["/news/1"] = page(FIXTURE_SET[STORIES[0]][2])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        refused_port = sock.getsockname()[1]
    settings = local_fetch_settings(tmp_path)
    urls = [server.url(f"/p/{n}") for n in FIXTURE_SET]
    urls += [down.url("/news/1"), f"http://127.0.0.1:{refused_port}/news/2"]
    try:
        ingest_urls(urls, settings=settings)
    finally:
        down.stop()
    con = duckdb.connect(str(settings.db), read_only=True)
    try:
        articles = {u for (u,) in con.execute("SELECT url FROM articles").fetchall()}
        rejects = {
            s: (stage, reason, detail)
            for s, stage, reason, detail in con.execute(
                "SELECT source, stage, reason, detail FROM rejects"
            ).fetchall()
        }
    finally:
        con.close()
    assert articles == {server.url(f"/p/{n}") for n in STORIES}
    for name in NO_STORY:
        stage, reason, detail = rejects.pop(server.url(f"/p/{name}"))
        assert (stage, reason) == ("extract", "no_story")
        assert detail.startswith(FIXTURE_SET[name][0] + ": ")
    unavailable = {s: r for s, r in rejects.items() if r[1] == "robots_unavailable"}
    assert set(unavailable) == set(rejects) == {urls[-2], urls[-1]}
    assert "http_503" in rejects[urls[-2]][2]
    assert "connection_error" in rejects[urls[-1]][2]
    assert down.count("/news/1") == 0 and down.count("/robots.txt") == 1
