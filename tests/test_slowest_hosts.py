"""Slowest hosts in the run-summary artifact: request times measured by the fetcher, per host,
aggregated by the flows that fetch. Two local hosts (two ports), one answering 0.5 s late."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from newsflow.flows.feeds import ingest_feeds
from newsflow.flows.urls import ingest_urls
from newsflow.settings import Settings
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs

pytestmark = pytest.mark.usefixtures("prefect_harness")
DELAY = 0.5


def _slow(route: Any) -> Any:
    def handler(h: Any) -> None:
        time.sleep(DELAY)
        route(h)

    return handler


@pytest.fixture
def hosts() -> Iterator[tuple[FaultServer, FaultServer]]:
    fast, slow = FaultServer().start(), FaultServer().start()
    for srv, label in ((fast, "Quick"), (slow, "Sluggish")):
        for n in (1, 2):
            title = f"{label} story {n}"
            route = page(article_html(title, sample_paragraphs(f"{label} {n}")))
            srv.routes[f"/a/{n}"] = _slow(route) if srv is slow else route
    items = "".join(
        f"<item><title>Quick {n}</title><link>{fast.url(f'/a/{n}')}</link><guid>q{n}</guid></item>"
        for n in (1, 2)
    )
    rss = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}'
    rss += "</channel></rss>"
    slow.routes["/feed.xml"] = _slow(page(rss, "application/rss+xml"))
    try:
        yield fast, slow
    finally:
        fast.stop()
        slow.stop()


def _local(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "allow_private": Settings(allow_private="127.0.0.1").allow_private,
            "per_host_delay": 0.0,
        }
    )


def _host(srv: FaultServer) -> str:
    return f"127.0.0.1:{srv.port}"


def _artifact(run_id: str, key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    (artifact,) = [a for a in artifacts if a.key == key]
    return str(artifact.data)


def _slowest_rows(markdown: str) -> list[list[str]]:
    """The rows of the artifact's slowest-hosts table, as cells."""
    table = markdown.split("| slowest hosts |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_urls_run_names_the_slow_host_first(
    settings: Settings, hosts: tuple[FaultServer, FaultServer]
) -> None:
    fast, slow = hosts
    settings = _local(settings)
    urls = [fast.url("/a/1"), slow.url("/a/1"), fast.url("/a/2"), slow.url("/a/2")]
    summary = ingest_urls(urls=urls, settings=settings)
    assert summary["load"]["loaded"] == 4
    rows = _slowest_rows(_artifact(summary["run_id"], "ingest-urls"))
    assert [r[0] for r in rows] == [_host(slow), _host(fast)]
    assert [r[1] for r in rows] == ["2", "2"]  # page requests (robots.txt is not counted)
    assert float(rows[0][2]) >= DELAY and float(rows[0][3]) >= float(rows[0][2])
    stats = summary["hosts"]
    assert stats[_host(slow)]["requests"] == 2
    assert stats[_host(slow)]["seconds"] >= 2 * DELAY


def test_feed_run_counts_the_feed_and_its_pages_per_host(
    settings: Settings, hosts: tuple[FaultServer, FaultServer]
) -> None:
    fast, slow = hosts
    settings = _local(settings)
    summary = ingest_feeds(feeds=[slow.url("/feed.xml")], settings=settings)
    assert summary["load"]["loaded"] == 2
    markdown = _artifact(summary["run_id"], "ingest-feeds")
    rows = _slowest_rows(markdown)
    assert [(r[0], r[1]) for r in rows] == [(_host(slow), "1"), (_host(fast), "2")]
    assert "| feed health | feeds |" in markdown
    # a second poll: the feed again, its known entries not refetched
    again = ingest_feeds(feeds=[slow.url("/feed.xml")], settings=settings)
    assert again["hosts"] == {_host(slow): again["hosts"][_host(slow)]}
    assert again["hosts"][_host(slow)]["requests"] == 1


def test_no_fetch_no_table() -> None:
    from newsflow.flows.summary import RunSummary

    assert "slowest hosts" not in RunSummary(run_id="r", flow="ingest-seeds").markdown()
