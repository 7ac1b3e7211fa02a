"""Feed health out of a feed run: Prefect events when a feed is quarantined or recovers, and
the feed-health and run sections of the run-summary artifact."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from newsflow.flows.feeds import ingest_feeds
from newsflow.flows.maintenance import maintenance
from newsflow.settings import Settings
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs, send

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def server() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    srv.routes["/a/1"] = page(article_html("Ferry timetable", sample_paragraphs("Ålesund")))
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>'
        f"<item><title>Ferry</title><link>{srv.url('/a/1')}</link><guid>f-1</guid>"
        "<pubDate>Tue, 02 Apr 2024 10:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()
    srv.routes["/ok.xml"] = page(rss, "application/rss+xml")
    state = {"gone": True}

    def flaky_gone(h: Any) -> None:
        if state["gone"]:
            send(h, 410, b"gone", "text/plain")
        else:
            send(h, 200, rss, "application/rss+xml")

    srv.routes["/gone.xml"] = flaky_gone
    srv.state = state  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _events(name: str, since: datetime) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    query = EventFilter(
        occurred=EventOccurredFilter(since=since, until=datetime.now(UTC) + timedelta(minutes=1)),
        event=EventNameFilter(name=[name]),
    )
    with get_client(sync_client=True) as client:
        events: list[Any] = client.read_events(filter=query, limit=50).events
        return events


def _wait_events(name: str, since: datetime, url: str) -> list[Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [e for e in _events(name, since) if e.payload.get("url") == url]
        if found:
            return found
        time.sleep(1)
    return []


def test_quarantine_and_recovery_become_events(
    server: FaultServer, tmp_path: Path, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={"allow_private": Settings(allow_private="127.0.0.1").allow_private}
    )
    settings = settings.model_copy(update={"per_host_delay": 0.0, "http_retries": 0})
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        f'[[feeds]]\nname = "ok"\nurl = "{server.url("/ok.xml")}"\n\n'
        f'[[feeds]]\nname = "gone"\nurl = "{server.url("/gone.xml")}"\n'
    )
    gone = server.url("/gone.xml")
    started = datetime.now(UTC) - timedelta(seconds=5)
    summary = ingest_feeds(feeds_file=str(feeds), settings=settings)
    health = {f["url"]: f for f in summary["feed_health"]}
    assert health[gone]["state"] == "quarantined" and health[gone]["event"] == "quarantined"
    assert health[server.url("/ok.xml")]["state"] == "ok"
    (event,) = _wait_events("newsflow.feed.quarantined", started, gone)
    assert event.resource.id == f"newsflow.feed.{gone}"
    assert event.payload["reason"].startswith("http_410") and event.payload["quarantined_until"]
    assert any(r.role == "flow-run" for r in event.related)

    # Still quarantined: skipped, no second event.
    again = ingest_feeds(feeds_file=str(feeds), settings=settings)
    assert {f["url"]: f["state"] for f in again["feed_health"]}[gone] == "quarantined"
    assert all(f.get("event") is None for f in again["feed_health"])

    # The quarantine runs out and the feed answers again: recovered.
    con = duckdb.connect(str(settings.db))
    con.execute(
        "UPDATE feeds SET quarantined_until = now() - INTERVAL 1 MINUTE WHERE url = ?", [gone]
    )
    con.close()
    server.state["gone"] = False  # type: ignore[attr-defined]
    report = maintenance(settings=settings)  # re-probes feeds whose quarantine ran out
    assert report["feeds_reprobed"] == 1
    (recovered,) = _wait_events("newsflow.feed.recovered", started, gone)
    assert recovered.resource.get("prefect.resource.name") == "gone"
    con = duckdb.connect(str(settings.db), read_only=True)
    state = con.execute("SELECT quarantined_until, last_status FROM feeds WHERE url = ?", [gone])
    assert state.fetchall() == [(None, 200)]
    con.close()
    assert maintenance(settings=settings)["feeds_reprobed"] == 0
    assert len(_wait_events("newsflow.feed.quarantined", started, gone)) == 1


def test_feed_health_section_in_the_summary() -> None:
    from newsflow.flows.summary import RunSummary

    summary = RunSummary(run_id="r", flow="ingest-feeds")
    summary.feed_health = [
        {"url": "https://a/x", "name": "A", "state": "ok"},
        {"url": "https://b/x", "state": "quarantined", "failures": 1, "reason": "http_410: gone"},
        {"url": "https://c/x", "state": "failing", "failures": 2, "reason": "http_500: x"},
    ]
    summary.record_host("slow.example", 3.0)
    summary.record_host("slow.example", 5.0)
    summary.record_host("fast.example", 0.1)
    text = summary.markdown()
    assert "| failing | 1 |" in text and "| ok | 1 |" in text and "| quarantined | 1 |" in text
    assert "| https://b/x | quarantined | 1 | http_410: gone |" in text
    hosts = text.split("slowest hosts")[1]
    assert hosts.index("slow.example | 2 | 4.00 | 5.00") < hosts.index("fast.example")
