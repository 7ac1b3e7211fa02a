"""The bounded fetcher against a real local HTTP server: faults, caps, SSRF guard, robots."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from newsflow.settings import Settings
from newsflow.tasks.errors import FetchRefused, TransientError
from newsflow.tasks.fetcher import Fetcher
from newsflow.tasks.http import address_allowed, retry_after_seconds
from tests.fetch_server import (
    FaultServer,
    article_html,
    conditional,
    gzip_bomb,
    huge,
    page,
    redirect,
    sample_paragraphs,
    status,
    trickle,
)

ARTICLE = article_html("Harbour budget", sample_paragraphs("Bergen"))


@pytest.fixture
def server() -> Iterator[FaultServer]:
    srv = FaultServer().start()
    srv.routes["/robots.txt"] = page("User-agent: *\nDisallow: /private/\n", "text/plain")
    yield srv
    srv.stop()


@pytest.fixture
def fast(tmp_path: Path) -> Settings:
    return Settings(
        db=tmp_path / "news.duckdb",
        spool=str(tmp_path / "spool"),
        allow_private="127.0.0.1",
        http_timeout=1.5,
        per_host_delay=0,
        http_retries=1,
        retry_max_wait=5,
        _env_file=None,  # type: ignore[call-arg]
    )


def get(settings: Settings, url: str, **kw: Any) -> Any:
    async def go() -> Any:
        async with Fetcher(settings) as fetcher:
            return await fetcher.page(url, **kw)

    return asyncio.run(go())


def refused(settings: Settings, url: str) -> str:
    with pytest.raises((FetchRefused, TransientError)) as info:
        get(settings, url)
    assert info.value.item == url
    return info.value.reason


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", True),  # listed in NEWSFLOW_ALLOW_PRIVATE below
        ("127.0.0.2", False),
        ("10.1.2.3", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.2", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:127.0.0.1", True),  # IPv4-mapped form of the allowed address
    ],
)
def test_address_guard(address: str, allowed: bool) -> None:
    allow = [ipaddress.ip_network("127.0.0.1/32")]
    assert address_allowed(address, allow) is allowed


def test_numeric_and_private_hosts_are_refused_before_connecting(fast: Settings) -> None:
    # 2130706434 and 0x7f.0.0.2 are 127.0.0.2; the resolver turns them into it and the guard
    # refuses; nothing listens there anyway, so a connection attempt would say otherwise.
    for url in ("http://2130706434:9/", "http://0x7f.0.0.2:9/", "http://[::1]:9/"):
        assert refused(fast, url) == "blocked_private"
    closed = Settings(**{**fast.model_dump(), "allow_private": []})
    assert refused(closed, "http://127.0.0.1:9/x") == "blocked_private"


def test_ok_page_and_final_url(fast: Settings, server: FaultServer) -> None:
    server.routes["/old"] = redirect("/new", 301)
    server.routes["/new"] = page(ARTICLE)
    resp = get(fast, server.url("/old"))
    assert resp.status == 200
    assert resp.final_url == server.url("/new")
    assert b"Harbour budget" in resp.body
    ua = [h.headers.get("User-Agent", "") for h in server.hits if h.path == "/new"]
    assert ua and ua[0].startswith("newsflow/")


def test_500_is_retried_then_rejected(fast: Settings, server: FaultServer) -> None:
    server.routes["/err"] = status(500)
    assert refused(fast, server.url("/err")) == "http_500"
    assert server.count("/err") == 1 + fast.http_retries


def test_503_then_200(fast: Settings, server: FaultServer) -> None:
    server.routes["/flaky"] = lambda h: (
        status(503)(h) if server.nth("/flaky") == 1 else page(ARTICLE)(h)
    )
    assert get(fast, server.url("/flaky")).status == 200
    assert server.count("/flaky") == 2


def test_429_retry_after_is_honoured(fast: Settings, server: FaultServer) -> None:
    server.routes["/busy"] = lambda h: (
        status(429, **{"Retry-After": "2"})(h) if server.nth("/busy") == 1 else page(ARTICLE)(h)
    )
    assert get(fast, server.url("/busy")).status == 200
    first, second = [h.at for h in server.hits if h.path == "/busy"]
    assert second - first >= 1.9  # waited what the server asked, not the shorter backoff


def test_retry_after_longer_than_allowed_gives_up(fast: Settings, server: FaultServer) -> None:
    server.routes["/later"] = status(503, **{"Retry-After": "3600"})
    assert refused(fast, server.url("/later")) == "http_503"
    assert server.count("/later") == 1


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_trickling_server_hits_the_whole_request_deadline(
    fast: Settings, server: FaultServer
) -> None:
    server.routes["/trickle"] = trickle(0.5, total=40)
    started = time.monotonic()
    assert refused(fast, server.url("/trickle")) == "timeout"
    # two attempts of 1.5 s each plus one backoff: never the 20 s the trickle would take
    assert time.monotonic() - started < 10


def test_declared_50mb_is_refused_before_reading(fast: Settings, server: FaultServer) -> None:
    server.routes["/big"] = huge(50_000_000, declare=True)
    assert refused(fast, server.url("/big")) == "too_large"


def test_undeclared_50mb_stops_at_the_cap(fast: Settings, server: FaultServer) -> None:
    server.routes["/stream"] = huge(50_000_000, declare=False)
    capped = Settings(**{**fast.model_dump(), "max_bytes": 1_000_000})
    assert refused(capped, server.url("/stream")) == "too_large"


def test_gzip_bomb_is_decompressed_with_a_bound(fast: Settings, server: FaultServer) -> None:
    import resource

    bomb = gzip_bomb(1 << 30)
    assert len(bomb) < 1_200_000
    server.routes["/bomb"] = page(bomb, "text/html", headers={"Content-Encoding": "gzip"})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert refused(fast, server.url("/bomb")) == "too_large"
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100


def test_gzip_and_deflate_bodies_decode(fast: Settings, server: FaultServer) -> None:
    import gzip
    import zlib

    server.routes["/gz"] = page(
        gzip.compress(ARTICLE.encode()), headers={"Content-Encoding": "gzip"}
    )
    server.routes["/zl"] = page(
        zlib.compress(ARTICLE.encode()), headers={"Content-Encoding": "deflate"}
    )
    raw = zlib.compressobj(wbits=-15)
    server.routes["/raw"] = page(
        raw.compress(ARTICLE.encode()) + raw.flush(), headers={"Content-Encoding": "deflate"}
    )
    for path in ("/gz", "/zl", "/raw"):
        assert get(fast, server.url(path)).body == ARTICLE.encode()


def test_redirect_loop(fast: Settings, server: FaultServer) -> None:
    server.routes["/a"] = redirect("/b")
    server.routes["/b"] = redirect("/a")
    assert refused(fast, server.url("/a")) == "redirect_loop"
    for i in range(7):
        server.routes[f"/hop{i}"] = redirect(f"/hop{i + 1}")
    assert refused(fast, server.url("/hop0")) == "redirect_loop"
    assert server.count("/hop6") == 0  # at most 5 redirects followed


def test_redirect_into_another_loopback_address_is_blocked(
    fast: Settings, server: FaultServer
) -> None:
    inside = FaultServer(host="127.0.0.2").start()
    try:
        inside.routes["/admin"] = page(ARTICLE)
        server.routes["/go"] = redirect(inside.url("/admin"))
        assert refused(fast, server.url("/go")) == "blocked_private"
        assert inside.hits == []  # neither the page nor its robots.txt was requested
    finally:
        inside.stop()


def test_robots_disallowed_page_is_never_requested(fast: Settings, server: FaultServer) -> None:
    server.routes["/private/page"] = page(ARTICLE)
    assert refused(fast, server.url("/private/page")) == "robots"
    assert server.count("/private/page") == 0
    assert server.count("/robots.txt") == 1


def refusal(settings: Settings, url: str) -> FetchRefused:
    with pytest.raises(FetchRefused) as info:
        get(settings, url)
    return info.value


def test_robots_rfc9309_status_rules(fast: Settings, server: FaultServer) -> None:
    server.routes["/robots.txt"] = status(503)
    server.routes["/page"] = page(ARTICLE)
    # 5xx: disallow for now, and say so: the site is down, no rule refuses the page
    error = refusal(fast, server.url("/page"))
    assert error.reason == "robots_unavailable" and "http_503" in error.detail
    assert server.count("/page") == 0
    other = FaultServer().start()
    try:
        other.routes["/page"] = page(ARTICLE)  # robots.txt is a 404 there: all allowed
        assert get(fast, other.url("/page")).status == 200
    finally:
        other.stop()


def test_unreachable_robots_txt_means_no_fetch_and_robots_unavailable(
    fast: Settings, server: FaultServer
) -> None:
    """RFC 9309 2.3.1.4: robots.txt unreachable -> nothing is fetched; the reject names the
    outage (``robots_unavailable``, cause in the detail), distinct from a rule (``robots``)."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    error = refusal(fast, f"http://127.0.0.1:{dead}/news/1")
    assert error.reason == "robots_unavailable"
    assert "connection_error" in error.detail and "robots.txt" in error.detail
    # a rule still says robots; a 4xx robots.txt allows every page
    server.routes["/private/page"] = page(ARTICLE)
    assert refused(fast, server.url("/private/page")) == "robots"
    other = FaultServer().start()
    try:
        other.routes["/robots.txt"] = status(403)
        other.routes["/page"] = page(ARTICLE)
        assert get(fast, other.url("/page")).status == 200
    finally:
        other.stop()


def test_crawl_delay_spaces_requests(fast: Settings, server: FaultServer) -> None:
    server.routes["/robots.txt"] = page("User-agent: *\nCrawl-delay: 1\n", "text/plain")
    for i in range(3):
        server.routes[f"/p{i}"] = page(ARTICLE)

    async def go() -> None:
        async with Fetcher(fast) as fetcher:
            await asyncio.gather(*(fetcher.page(server.url(f"/p{i}")) for i in range(3)))

    asyncio.run(go())
    times = sorted(h.at for h in server.hits if h.path.startswith("/p"))
    assert [round(b - a, 1) >= 0.9 for a, b in itertools.pairwise(times)] == [True] * 2


def test_conditional_get_304(fast: Settings, server: FaultServer) -> None:
    server.routes["/feed"] = conditional(b"<rss/>", '"v1"', "application/rss+xml")

    async def go() -> tuple[int, int]:
        async with Fetcher(fast) as fetcher:
            first = await fetcher.feed(server.url("/feed"))
            second = await fetcher.feed(server.url("/feed"), etag=first.headers["etag"])
            return first.status, second.status

    assert asyncio.run(go()) == (200, 304)


def test_pdf_and_404(fast: Settings, server: FaultServer) -> None:
    server.routes["/doc.pdf"] = page(b"%PDF-1.7\n...", "application/pdf")
    assert refused(fast, server.url("/doc.pdf")) == "not_html"
    assert refused(fast, server.url("/missing")) == "http_404"
    server.routes["/gone"] = status(410)
    assert refused(fast, server.url("/gone")) == "http_410"
    assert server.count("/missing") == 1  # permanent: not retried


def test_sitemap_index_is_followed_and_filtered_by_date(
    fast: Settings, server: FaultServer
) -> None:
    import gzip

    from newsflow.tasks.sitemap_intake import sitemap_urls

    base = server.url("")
    server.routes["/sitemap.xml"] = page(
        f"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
        <sitemap><loc>{base}/news.xml.gz</loc><lastmod>2024-05-02</lastmod></sitemap>
        <sitemap><loc>{base}/old.xml</loc><lastmod>2019-01-01</lastmod></sitemap>
        <sitemap><loc>{base}/private/x.xml</loc></sitemap></sitemapindex>""",
        "application/xml",
    )
    news = f"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
      xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
      <url><loc>{base}/a</loc><news:news><news:publication_date>2024-05-01</news:publication_date>
      </news:news></url><url><loc>{base}/b</loc><lastmod>2023-12-31</lastmod></url></urlset>"""
    server.routes["/news.xml.gz"] = page(gzip.compress(news.encode()), "application/gzip")

    async def go() -> Any:
        async with Fetcher(fast) as fetcher:
            return await sitemap_urls(
                fetcher, server.url("/sitemap.xml"), datetime(2024, 1, 1, tzinfo=UTC)
            )

    found, problems = asyncio.run(go())
    assert [u.loc for u in found] == [f"{base}/a"]
    assert problems == [f"{base}/private/x.xml: robots"]
    assert server.count("/old.xml") == 0


def test_canonical_is_the_pages_own_when_on_the_same_site() -> None:
    from newsflow.tasks.extract import Extracted
    from newsflow.tasks.http import Response
    from newsflow.tasks.page_assembly import page_candidate
    from newsflow.tasks.records import Candidate

    item = Candidate(origin="feed", source="f", url="https://m.example.com/x?utm_source=rss")
    resp = Response(item.url, "https://www.example.com/x?utm_source=rss", 200, httpx.Headers())
    same = page_candidate(item, resp, "<p/>", Extracted("t", canonical_url="https://example.com/x"))
    assert same.canonical == "https://example.com/x"
    other = page_candidate(item, resp, "<p/>", Extracted("t", canonical_url="https://evil.test/"))
    assert other.canonical == "https://www.example.com/x?utm_source=rss"  # the final URL
    assert other.url == item.url  # the URL as seen stays for the sighting


def test_robots_txt_is_cached_a_day_across_runs(fast: Settings, server: FaultServer) -> None:
    server.routes["/page"] = page(ARTICLE)
    for _ in range(3):  # three runs (fetchers) in a row: one robots.txt request
        assert get(fast, server.url("/page")).status == 200
    assert server.count("/robots.txt") == 1
    assert server.count("/page") == 3
