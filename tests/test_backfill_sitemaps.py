"""Backfill mode sitemaps against a real local site: sitemap index, dated URLs, article pages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from newsflow.flows.backfill import BackfillMode, BackfillRequest, run_backfill
from newsflow.settings import Settings
from tests.fetch_server import FaultServer, article_html, page, sample_paragraphs, status
from tests.helpers import db_rows

TABLES = ("articles", "article_sightings", "article_versions", "rejects", "raw_pages")
# path -> (date element, date); the range asked is 2024-05-01 to 2024-05-03
DATED = {
    "/news/harbour": ("news", "2024-05-02T09:30:00Z"),  # in range, news publication date
    "/news/ferry": ("lastmod", "2024-05-03T23:00:00+00:00"),  # in range, lastmod only
    "/news/gone": ("news", "2024-05-01T08:00:00Z"),  # in range, but the page is missing
    "/news/early": ("news", "2024-04-30T23:59:00Z"),  # a minute before the range
    "/news/late": ("lastmod", "2024-05-04T00:00:00Z"),  # the first instant after it
}
IN_RANGE = {"/news/harbour": "Harbour dredging", "/news/ferry": "Ferry timetable"}


def _urlset(base: str) -> str:
    entries = []
    for path, (kind, when) in DATED.items():
        dated = (
            f"<news:news><news:publication_date>{when}</news:publication_date></news:news>"
            if kind == "news"
            else f"<lastmod>{when}</lastmod>"
        )
        entries.append(f"<url><loc>{base}{path}</loc>{dated}</url>")
    entries.append(f"<url><loc>{base}/news/undated</loc></url>")  # no date: never picked
    return (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        + "".join(entries)
        + "</urlset>"
    )


@pytest.fixture
def site() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    base = srv.url("")
    srv.routes["/sitemap_index.xml"] = page(
        f"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
        <sitemap><loc>{base}/sitemap-news.xml</loc><lastmod>2024-05-04</lastmod></sitemap>
        <sitemap><loc>{base}/sitemap-2019.xml</loc><lastmod>2019-01-01</lastmod></sitemap>
        </sitemapindex>""",
        "application/xml",
    )
    srv.routes["/sitemap-news.xml"] = page(_urlset(base), "application/xml")
    srv.routes["/news/gone"] = status(404)
    for path in [*DATED, "/news/undated"]:
        if path != "/news/gone":
            title = IN_RANGE.get(path, f"Other story {path}")
            srv.routes[path] = page(article_html(title, sample_paragraphs(title)))
    try:
        yield srv
    finally:
        srv.stop()


def _local(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "allow_private": Settings(allow_private="127.0.0.1").allow_private,
            "per_host_delay": 0.0,
            "http_retries": 0,
        }
    )


def _snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(db_rows(settings, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def _page_hits(srv: FaultServer) -> dict[str, int]:
    return {path: srv.count(path) for path in [*DATED, "/news/undated"]}


@pytest.mark.usefixtures("prefect_harness")
def test_sitemaps_backfill_loads_the_range_and_twice_changes_nothing(
    settings: Settings, site: FaultServer
) -> None:
    settings = _local(settings)
    request = BackfillRequest(
        since=date(2024, 5, 1),
        until=date(2024, 5, 3),
        mode=BackfillMode.sitemaps,
        sitemaps=[site.url("/sitemap_index.xml")],
    )
    first = run_backfill(request, settings)
    assert first["items"] == 3  # harbour, ferry, gone
    assert first["sitemaps"] == {
        "sitemaps": 1,
        "unreadable": 0,
        "in_range": 3,
        "already_loaded": 0,
        "already_failed": 0,
        "fetched": 3,
    }
    # The run's artifact: the request, the sitemaps read, and what each day brought.
    report = "\n".join(first["sections"])
    assert "**Mode:** sitemaps" in report and "**Days:** 2024-05-01 to 2024-05-03" in report
    assert f"**Sitemaps read:** {site.url('/sitemap_index.xml')}" in report
    assert "| day | URLs in the sitemaps | already loaded | already failed | fetched |" in report
    assert sum(int(line.split("|")[5]) for line in report.splitlines() if "| 2024-05" in line) == 3
    base = site.url("")
    loaded = db_rows(settings, "SELECT url, title, origin FROM articles ORDER BY url")
    assert loaded == [(base + p, IN_RANGE[p], "url") for p in sorted(IN_RANGE)]
    # the sitemap's news date is the page's only date claim
    assert db_rows(
        settings,
        "SELECT strftime(published_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'), published_source "
        "FROM articles WHERE url LIKE '%harbour'",
    ) == [("2024-05-02 09:30", "sitemap")]
    assert db_rows(settings, "SELECT source, stage, reason FROM rejects") == [
        (base + "/news/gone", "fetch", "http_404")
    ]
    hits = _page_hits(site)
    assert hits == {
        "/news/harbour": 1,
        "/news/ferry": 1,
        "/news/gone": 1,
        "/news/early": 0,
        "/news/late": 0,
        "/news/undated": 0,
    }
    assert site.count("/sitemap-2019.xml") == 0  # an index entry older than the range
    # request times per host for the summary: the index, the news sitemap, three pages
    host = f"127.0.0.1:{site.port}"
    assert list(first["hosts"]) == [host] and first["hosts"][host]["requests"] == 5
    before = _snapshot(settings)

    again = run_backfill(request, settings)
    assert again["sitemaps"]["in_range"] == 3
    assert again["sitemaps"]["already_loaded"] == 2
    assert again["sitemaps"]["already_failed"] == 1  # left to the refetch backfill
    assert again["sitemaps"]["fetched"] == 0
    assert _page_hits(site) == hits  # no article page fetched again
    assert again["hosts"][host]["requests"] == 2  # the two sitemaps only
    assert _snapshot(settings) == before
    assert db_rows(settings, "SELECT count(*) FROM runs WHERE flow = 'backfill'") == [(2,)]


@pytest.mark.usefixtures("prefect_harness")
def test_sitemaps_backfill_domain_filter_and_unreadable_sitemap(
    settings: Settings, site: FaultServer
) -> None:
    settings = _local(settings)
    other = "http://127.0.0.2:9/never-fetched"  # a URL of another site in the same sitemap
    site.routes["/mixed.xml"] = page(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{site.url('/news/ferry')}</loc><lastmod>2024-05-03</lastmod></url>"
        f"<url><loc>{other}</loc><lastmod>2024-05-03</lastmod></url></urlset>",
        "application/xml",
    )
    request = BackfillRequest(
        since=date(2024, 5, 3),
        mode=BackfillMode.sitemaps,
        sitemaps=[site.url("/mixed.xml"), site.url("/missing.xml")],
        domains=["127.0.0.1"],
    )
    result = run_backfill(request, settings)
    assert result["sitemaps"]["in_range"] == 1 and result["sitemaps"]["unreadable"] == 1
    assert db_rows(settings, "SELECT title FROM articles") == [("Ferry timetable",)]
    assert db_rows(settings, "SELECT source, stage, reason FROM rejects") == [
        (site.url("/missing.xml"), "sitemap", "http_404")
    ]


def test_site_sitemaps_from_robots_else_sitemap_xml(settings: Settings) -> None:
    from newsflow.tasks.fetcher import Fetcher
    from newsflow.tasks.sitemap_backfill import site_sitemaps

    settings = _local(settings)
    listed, bare = FaultServer().start(), FaultServer().start()
    listed.routes["/robots.txt"] = page(
        f"User-agent: *\nAllow: /\nSitemap: {listed.url('/news.xml')}\n"
        f"Sitemap: {listed.url('/pages.xml.gz')}\n",
        "text/plain",
    )

    async def go() -> tuple[list[str], list[str]]:
        async with Fetcher(settings) as fetcher:
            return (
                await site_sitemaps(fetcher, listed.url("")),
                await site_sitemaps(fetcher, bare.url("")),
            )

    try:
        from_robots, fallback = asyncio.run(go())
    finally:
        listed.stop()
        bare.stop()
    assert from_robots == [listed.url("/news.xml"), listed.url("/pages.xml.gz")]
    assert fallback == [bare.url("/sitemap.xml")]


def test_request_rules_for_sitemaps() -> None:
    with pytest.raises(ValueError, match="needs sitemap URLs or domains"):
        BackfillRequest(since=date(2024, 5, 1), mode=BackfillMode.sitemaps)
    with pytest.raises(ValueError, match="feeds do not apply"):
        BackfillRequest(
            since=date(2024, 5, 1),
            mode=BackfillMode.sitemaps,
            domains=["example.com"],
            feeds=["https://example.com/rss"],
        )
    with pytest.raises(ValueError, match="http"):
        BackfillRequest(since=date(2024, 5, 1), mode=BackfillMode.sitemaps, sitemaps=["ftp://x"])
    with pytest.raises(ValueError, match="only to mode sitemaps"):
        BackfillRequest(since=date(2024, 5, 1), sitemaps=["https://example.com/s.xml"])
    ok = BackfillRequest(
        since=date(2024, 5, 1), mode=BackfillMode.sitemaps, domains=["https://WWW.Example.com/"]
    )
    assert ok.domains == ["example.com"] and ok.sitemaps == []


@pytest.mark.usefixtures("prefect_harness")
def test_cli_backfill_sitemaps(settings: Settings, site: FaultServer) -> None:
    from newsflow.cli import app

    args = ["backfill", "--mode", "sitemaps", "--since", "2024-05-01", "--until", "2024-05-03"]
    args += ["--sitemap", site.url("/sitemap_index.xml"), "--db", str(settings.db)]
    env = {
        "NEWSFLOW_SPOOL": settings.spool,
        "NEWSFLOW_ALLOW_PRIVATE": "127.0.0.1",
        "NEWSFLOW_PER_HOST_DELAY": "0",
        "NEWSFLOW_HTTP_RETRIES": "0",
    }
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "dated in the range: 3" in out and "fetched: 3" in out
    assert db_rows(settings, "SELECT count(*) FROM articles") == [(2,)]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "already loaded: 2" in out and "fetched: 0" in out
    assert db_rows(settings, "SELECT count(*) FROM articles") == [(2,)]
